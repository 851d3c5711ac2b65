package refresher

import (
	"context"
	"fmt"

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
	}
	return nil, fmt.Errorf("refresher: unknown kind %q", s.Kind)
}

// RequiredScope is the scope a source needs (for `tc-credd check`);
// read-only S3 and Azure sources are also satisfied by the read-write
// scope, which the second result names.
func RequiredScope(s Source) (scope, alternative string) {
	switch s.Kind {
	case AWS:
		rw := "auth:aws-s3:read-write:" + s.Bucket + "/" + s.Prefix
		if s.Level == authclient.ReadOnly {
			return "auth:aws-s3:read-only:" + s.Bucket + "/" + s.Prefix, rw
		}
		return rw, ""
	case GCP:
		return "auth:gcp:access-token:" + s.ProjectID + "/" + s.ServiceAccount, ""
	case Azure:
		kind, name := "container", s.Container
		if s.Table != "" {
			kind, name = "table", s.Table
		}
		base := "auth:azure-" + kind + ":"
		if s.Level == authclient.ReadOnly {
			return base + "read-only:" + s.Account + "/" + name, base + "read-write:" + s.Account + "/" + name
		}
		return base + s.Level + ":" + s.Account + "/" + name, ""
	case Sentry:
		return "auth:sentry:" + s.Project, ""
	case Websocktunnel:
		return "auth:websocktunnel-token:" + s.Audience + "/" + s.Client, ""
	}
	return "", ""
}
