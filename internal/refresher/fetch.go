package refresher

import (
	"context"
	"fmt"
	"strings"

	"github.com/taskcluster/tc-credd/internal/authclient"
)

// Fetcher obtains one credential from upstream.
type Fetcher interface {
	Fetch(ctx context.Context, s Source) (*Credential, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, s Source) (*Credential, error)

func (f FetcherFunc) Fetch(ctx context.Context, s Source) (*Credential, error) { return f(ctx, s) }

// AuthFetcher fetches through the Taskcluster Auth API. Issued is filled
// in by the refresher.
type AuthFetcher struct {
	Client *authclient.Client
}

func (a AuthFetcher) Fetch(ctx context.Context, s Source) (*Credential, error) {
	c := a.Client
	switch s.Kind {
	case AWS:
		r, err := c.AWSS3Credentials(ctx, s.Level, s.Bucket, s.Prefix)
		if err != nil {
			return nil, err
		}
		return &Credential{Kind: AWS, Expires: r.Expires, AWS: &AWSCredential{
			AccessKeyID: r.Credentials.AccessKeyID, SecretAccessKey: r.Credentials.SecretAccessKey, SessionToken: r.Credentials.SessionToken,
		}}, nil
	case GCP:
		r, err := c.GCPCredentials(ctx, s.ProjectID, s.ServiceAccount)
		if err != nil {
			return nil, err
		}
		return &Credential{Kind: GCP, Expires: r.ExpireTime, GCP: &GCPCredential{AccessToken: r.AccessToken}}, nil
	case Azure:
		var r *authclient.AzureSASResponse
		var err error
		if s.Table != "" {
			r, err = c.AzureTableSAS(ctx, s.Account, s.Table, s.Level)
		} else {
			r, err = c.AzureContainerSAS(ctx, s.Account, s.Container, s.Level)
		}
		if err != nil {
			return nil, err
		}
		return &Credential{Kind: Azure, Expires: r.Expiry, Azure: &AzureCredential{SAS: r.SAS}}, nil
	case Sentry:
		r, err := c.SentryDSN(ctx, s.Project)
		if err != nil {
			return nil, err
		}
		return &Credential{Kind: Sentry, Expires: r.Expires, Sentry: &SentryCredential{Project: r.Project, Secret: r.DSN.Secret, Public: r.DSN.Public}}, nil
	case Websocktunnel:
		r, err := c.WebsocktunnelToken(ctx, s.Audience, s.Client)
		if err != nil {
			return nil, err
		}
		return &Credential{Kind: Websocktunnel, Expires: r.Expires, Websocktunnel: &WebsocktunnelCredential{Audience: r.WstAudience, Client: r.WstClient, Token: r.Token}}, nil
	case GitHub:
		repos, perms := s.githubRequest()
		r, err := c.GitHubRepoToken(ctx, s.App, s.Owner, &authclient.GitHubRepoTokenRequest{Permissions: perms, Repositories: repos})
		if err != nil {
			return nil, err
		}
		return &Credential{Kind: GitHub, Expires: r.Expires, GitHub: &GitHubCredential{Owner: s.Owner, Repositories: repos, Token: r.Token}}, nil
	}
	return nil, fmt.Errorf("refresher: unknown kind %q", s.Kind)
}

// RequiredScopes are the scopes a source needs (for `tc-credd check`):
// all of need, or all of alternative when it is not empty (read-only S3
// and Azure sources are also satisfied by the read-write scope).
func RequiredScopes(s Source) (need, alternative []string) {
	one := func(scope string) []string { return []string{scope} }
	switch s.Kind {
	case AWS:
		rw := one("auth:aws-s3:read-write:" + s.Bucket + "/" + s.Prefix)
		if s.Level == authclient.ReadOnly {
			return one("auth:aws-s3:read-only:" + s.Bucket + "/" + s.Prefix), rw
		}
		return rw, nil
	case GCP:
		return one("auth:gcp:access-token:" + s.ProjectID + "/" + s.ServiceAccount), nil
	case Azure:
		kind, name := "container", s.Container
		if s.Table != "" {
			kind, name = "table", s.Table
		}
		base := "auth:azure-" + kind + ":"
		if s.Level == authclient.ReadOnly {
			return one(base + "read-only:" + s.Account + "/" + name), one(base + "read-write:" + s.Account + "/" + name)
		}
		return one(base + s.Level + ":" + s.Account + "/" + name), nil
	case Sentry:
		return one("auth:sentry:" + s.Project), nil
	case Websocktunnel:
		return one("auth:websocktunnel-token:" + s.Audience + "/" + s.Client), nil
	case GitHub:
		// One scope per repository and permission, owner and repository in
		// lowercase, as the service checks them.
		repos, _ := s.githubRequest()
		for _, perm := range strings.Split(s.Permissions, ",") {
			for _, r := range repos {
				need = append(need, "auth:github-repo-token:"+s.App+"/"+strings.ToLower(s.Owner)+"/"+r+":"+perm)
			}
		}
		return need, nil
	}
	return nil, nil
}
