// Package refresher keeps every configured credential valid and in memory:
// it fetches each source at start-up, renews it well before it expires,
// keeps serving the last good credential through an upstream outage, and
// tells subscribers when a credential changes. A request never waits on
// Taskcluster once a source holds a credential.
package refresher

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/secret"
)

// Kind is a credential kind.
type Kind string

// The kinds tc-credd vends.
const (
	AWS           Kind = "aws"
	GCP           Kind = "gcp"
	Azure         Kind = "azure"
	Sentry        Kind = "sentry"
	Websocktunnel Kind = "websocktunnel"
	GitHub        Kind = "github"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{AWS, GCP, Azure, Sentry, Websocktunnel, GitHub}

// DefaultMargin is the least validity a served credential keeps while
// Taskcluster is healthy: past what each kind's most demanding client
// wants left (boto rewrites an AWS expiry under about 25 minutes, Google
// clients refresh a token 5 minutes early, Sentry SDKs read a DSN once).
func DefaultMargin(k Kind) time.Duration {
	switch k {
	case AWS:
		return 30 * time.Minute
	case GCP, Azure:
		return 10 * time.Minute
	case GitHub:
		// Installation tokens live an hour; a clone or push holds one for
		// minutes.
		return 15 * time.Minute
	default:
		return 24 * time.Hour
	}
}

// defaultFloor is how close to expiry a credential is still served during
// an outage: GCP clients refuse tokens with under ~5 min left.
func defaultFloor(k Kind) time.Duration {
	if k == GCP {
		return 5 * time.Minute
	}
	return time.Minute
}

// Source is one credential to keep fresh. It is comparable: a reload
// compares sources by value.
type Source struct {
	Kind Kind
	Name string

	// aws: awsS3Credentials
	Level, Bucket, Prefix string
	// gcp: gcpCredentials
	ProjectID, ServiceAccount string
	// azure: azureTableSAS (Table) or azureContainerSAS (Container); Level too
	Account, Table, Container string
	// sentry: sentryDSN
	Project string
	// websocktunnel: websocktunnelToken
	Audience, Client string
	// github: githubRepoToken. Repositories and Permissions are canonical
	// text (see GitHubRepositories, GitHubPermissions), so that Source
	// stays comparable.
	App, Owner, Repositories, Permissions string

	// Margin overrides DefaultMargin(Kind) when positive.
	Margin time.Duration
}

// identity is what Taskcluster is asked for: the source without the name
// and margin, which stay local.
func (s Source) identity() Source {
	s.Name, s.Margin = "", 0
	return s
}

// Key identifies a source: "<kind>/<name>".
func (s Source) Key() string { return string(s.Kind) + "/" + s.Name }

// margin is the configured or default margin.
func (s Source) margin() time.Duration {
	if s.Margin > 0 {
		return s.Margin
	}
	return DefaultMargin(s.Kind)
}

// Describe names what the source fetches, without secrets, for logs.
func (s Source) Describe() string {
	switch s.Kind {
	case AWS:
		return fmt.Sprintf("S3 %s %s/%s", s.Level, s.Bucket, s.Prefix)
	case GCP:
		return fmt.Sprintf("GCP %s in %s", s.ServiceAccount, s.ProjectID)
	case Azure:
		if s.Table != "" {
			return fmt.Sprintf("Azure table %s/%s %s", s.Account, s.Table, s.Level)
		}
		return fmt.Sprintf("Azure container %s/%s %s", s.Account, s.Container, s.Level)
	case Sentry:
		return "Sentry project " + s.Project
	case Websocktunnel:
		return fmt.Sprintf("websocktunnel %s/%s", s.Audience, s.Client)
	case GitHub:
		return fmt.Sprintf("GitHub app %s for %s/{%s} %s", s.App, s.Owner, s.Repositories, s.Permissions)
	}
	return string(s.Kind)
}

// GitHubRepositories is the canonical text of a github source's
// repositories: lowercase (as GitHub and the scopes take them), sorted,
// comma-separated.
func GitHubRepositories(repos []string) string {
	out := make([]string, len(repos))
	for i, r := range repos {
		out[i] = strings.ToLower(r)
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), ",")
}

// GitHubPermissions is the canonical text of a github source's
// permissions: sorted "name:level" pairs, comma-separated.
func GitHubPermissions(perms map[string]string) string {
	out := make([]string, 0, len(perms))
	for name, level := range perms {
		out = append(out, name+":"+level)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// githubRequest is what a github source asks Taskcluster for.
func (s Source) githubRequest() (repos []string, perms map[string]string) {
	repos = strings.Split(s.Repositories, ",")
	perms = map[string]string{}
	for _, p := range strings.Split(s.Permissions, ",") {
		if name, level, ok := strings.Cut(p, ":"); ok {
			perms[name] = level
		}
	}
	return repos, perms
}

// Credential is one fetched credential. Exactly one of the kind fields is
// set. Secrets redact themselves; renderers call Reveal.
type Credential struct {
	Kind    Kind
	Issued  time.Time // when tc-credd received it
	Expires time.Time

	AWS           *AWSCredential
	GCP           *GCPCredential
	Azure         *AzureCredential
	Sentry        *SentryCredential
	Websocktunnel *WebsocktunnelCredential
	GitHub        *GitHubCredential
}

// AWSCredential is an STS key triple.
type AWSCredential struct {
	AccessKeyID     string
	SecretAccessKey secret.String
	SessionToken    secret.String
}

// GCPCredential is a cloud-platform access token.
type GCPCredential struct {
	AccessToken secret.String
}

// AzureCredential is a SAS, query parameters without a leading "?".
type AzureCredential struct {
	SAS secret.String
}

// SentryCredential is a project's DSNs.
type SentryCredential struct {
	Project string
	Secret  secret.String
	Public  secret.String
}

// WebsocktunnelCredential is a websocktunnel JWT.
type WebsocktunnelCredential struct {
	Audience, Client string
	Token            secret.String
}

// GitHubCredential is a GitHub App installation token for repositories of
// one owner.
type GitHubCredential struct {
	Owner        string
	Repositories []string
	Token        secret.String
}
