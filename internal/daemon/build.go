// Package daemon wires a validated config into a running tc-credd: the
// Auth client, the refresher, the credential and ops listeners and the
// sinks, with reload on demand. cmd/tc-credd only parses flags and
// signals; everything it runs lives here so that tests can run it too.
package daemon

import (
	"fmt"
	"os"
	"reflect"
	"text/template"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/secret"
	"github.com/taskcluster/tc-credd/internal/sink"
	"github.com/taskcluster/tc-credd/internal/status"
)

// Load reads, completes and validates a config file. Warnings are worth
// logging; an error names every problem.
func Load(path string, getenv func(string) string) (*config.Config, []string, error) {
	c, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	return Complete(c, getenv)
}

// Complete applies the environment and defaults, then validates.
func Complete(c *config.Config, getenv func(string) string) (*config.Config, []string, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	c.ApplyEnv(getenv)
	c.ApplyDefaults()
	warnings, err := c.Validate()
	if err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// Credentials are tc-credd's own Taskcluster credentials as read from the
// config and the files it names: contents, not paths, so that comparing
// two says whether anything changed.
type Credentials struct {
	RootURL          string
	ClientID         string
	AccessToken      secret.String
	Certificate      string // JSON text; "" for permanent credentials
	AuthorizedScopes *[]string
}

// ReadCredentials reads the config's credentials, and the files it names.
func ReadCredentials(c *config.Config) (Credentials, error) {
	tok, err := c.AccessToken()
	if err != nil {
		return Credentials{}, err
	}
	cert, err := c.CertificateText()
	if err != nil {
		return Credentials{}, err
	}
	return Credentials{RootURL: c.RootURL, ClientID: c.Credentials.ClientID, AccessToken: tok, Certificate: cert,
		AuthorizedScopes: c.Credentials.AuthorizedScopes}, nil
}

// Equal reports whether a and b sign requests alike.
func (a Credentials) Equal(b Credentials) bool {
	return a.RootURL == b.RootURL && a.ClientID == b.ClientID && a.AccessToken.Equal(b.AccessToken) &&
		a.Certificate == b.Certificate && reflect.DeepEqual(a.AuthorizedScopes, b.AuthorizedScopes)
}

// NewAuthClient builds the Auth client from the config's credentials,
// with the client's own retries, and describes them for the status page
// and metrics: the client id and, for temporary credentials, when their
// certificate expires.
func NewAuthClient(c *config.Config) (*authclient.Client, status.Client, error) {
	cr, err := ReadCredentials(c)
	if err != nil {
		return nil, status.Client{}, err
	}
	return cr.client(0, nil)
}

// client builds an Auth client; retries as in authclient.Options.
// observe, when set, is told of every request the client sends.
func (cr Credentials) client(retries int, observe func(endpoint string, status int, elapsed time.Duration)) (*authclient.Client, status.Client, error) {
	creds, err := cr.hawk()
	if err != nil {
		return nil, status.Client{}, err
	}
	ac, err := authclient.New(authclient.Options{RootURL: cr.RootURL, Credentials: creds, Retries: retries, Observe: observe})
	if err != nil {
		return nil, status.Client{}, err
	}
	desc := status.Client{ClientID: creds.ClientID}
	if creds.Certificate != nil {
		desc.Expires = time.UnixMilli(creds.Certificate.Expiry).UTC()
	}
	return ac, desc, nil
}

// hawk returns the credentials requests are signed with.
func (cr Credentials) hawk() (*hawk.Credentials, error) {
	cert, err := hawk.ParseCertificate(cr.Certificate)
	if err != nil {
		return nil, fmt.Errorf("credentials.certificate: %w", err)
	}
	creds := &hawk.Credentials{ClientID: cr.ClientID, AccessToken: cr.AccessToken, Certificate: cert}
	if cr.AuthorizedScopes != nil {
		creds.AuthorizedScopes = append([]string{}, *cr.AuthorizedScopes...)
	}
	return creds, nil
}

// margin prefers a source's own margin to the per-kind one; zero means
// the refresher's default.
func margin(own, global time.Duration) time.Duration {
	if own > 0 {
		return own
	}
	return global
}

// Sources converts the config's sources, in file order.
func Sources(c *config.Config) []refresher.Source {
	var out []refresher.Source
	m := c.Margins
	for _, s := range c.AWS {
		out = append(out, refresher.Source{Kind: refresher.AWS, Name: s.Name, Level: s.Level, Bucket: s.Bucket, Prefix: s.Prefix, Margin: margin(s.Margin, m.AWS)})
	}
	for _, s := range c.GCP {
		out = append(out, refresher.Source{Kind: refresher.GCP, Name: s.Name, ProjectID: s.ProjectID, ServiceAccount: s.ServiceAccount, Margin: margin(s.Margin, m.GCP)})
	}
	for _, s := range c.Azure {
		out = append(out, refresher.Source{Kind: refresher.Azure, Name: s.Name, Account: s.Account, Table: s.Table, Container: s.Container, Level: s.Level, Margin: margin(s.Margin, m.Azure)})
	}
	for _, s := range c.Sentry {
		out = append(out, refresher.Source{Kind: refresher.Sentry, Name: s.Name, Project: s.Project, Margin: margin(s.Margin, m.Sentry)})
	}
	for _, s := range c.Websocktunnel {
		out = append(out, refresher.Source{Kind: refresher.Websocktunnel, Name: s.Name, Audience: s.Audience, Client: s.Client, Margin: margin(s.Margin, m.Websocktunnel)})
	}
	for _, s := range c.GitHub {
		out = append(out, refresher.Source{Kind: refresher.GitHub, Name: s.Name, App: s.App, Owner: s.Owner,
			Repositories: refresher.GitHubRepositories(s.Repositories), Permissions: refresher.GitHubPermissions(s.Permissions),
			Margin: margin(s.Margin, m.GitHub)})
	}
	return out
}

// GCPAccounts lists the gcp sources as the GCE metadata server shows them.
func GCPAccounts(c *config.Config) []metadata.GCPAccount {
	var out []metadata.GCPAccount
	for _, s := range c.GCP {
		out = append(out, metadata.GCPAccount{Key: "gcp/" + s.Name, Email: s.ServiceAccount, ProjectID: s.ProjectID, NumericProjectID: s.NumericProjectID})
	}
	return out
}

// SharedRoles are the aws sources the main listener may list as its IMDS
// role, in order: those without a listener of their own. Each caller sees
// the first one its rule admits; without rules, the first one.
func SharedRoles(c *config.Config) []string {
	var out []string
	for _, s := range c.AWS {
		if s.Listen == "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// Rules resolves the sources' allow rules against the system's users and
// groups, by source key.
func Rules(c *config.Config) (map[string]*identity.Rule, error) {
	out := map[string]*identity.Rule{}
	for _, a := range c.Allows() {
		r, err := identity.NewRule(a.Field, a.Allow.Users, a.Allow.Groups, a.Allow.UIDs, a.Allow.Cgroups)
		if err != nil {
			return nil, err
		}
		out[a.Key] = r
	}
	return out, nil
}

// Sinks converts the config's sinks.
func Sinks(c *config.Config) ([]sink.Sink, error) {
	byKey := map[string]refresher.Source{}
	for _, s := range Sources(c) {
		byKey[s.Key()] = s
	}
	var out []sink.Sink
	for i, s := range c.Sinks {
		k := sink.Sink{Source: byKey[s.Source], Path: s.Path, Format: s.Format, Profile: s.Profile, Mode: s.FileMode(), Command: s.Command}
		if s.Format == sink.Template {
			t, err := template.New(fmt.Sprintf("sinks[%d]", i)).Option("missingkey=error").Parse(s.Template)
			if err != nil {
				return nil, fmt.Errorf("sinks[%d].template: %w", i, err)
			}
			k.Template = t
		}
		out = append(out, k)
	}
	return out, nil
}
