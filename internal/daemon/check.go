package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/render"
	"github.com/taskcluster/tc-credd/internal/scopes"
	"github.com/taskcluster/tc-credd/internal/secret"
	"github.com/taskcluster/tc-credd/internal/sink"
)

// Check runs CheckOffline, then asks Taskcluster which scopes the
// configured credentials hold and reports, per source, whether the scope
// it needs is granted. It returns the number of sources lacking a scope;
// sinks that do not render come back as a config.Errors error after the
// scopes are reported.
func Check(ctx context.Context, c *config.Config, out io.Writer) (int, error) {
	sinkErr := CheckOffline(c, out)
	var sinkErrs config.Errors
	if sinkErr != nil && !errors.As(sinkErr, &sinkErrs) {
		return 0, sinkErr
	}
	ac, client, err := NewAuthClient(c)
	if err != nil {
		return 0, err
	}
	// Sinks first: what they find holds even when Taskcluster is unreachable.
	sinkProblems := CheckSinkFolders(c, out)
	expired := !client.Expires.IsZero() && !time.Now().Before(client.Expires)
	cur, err := ac.CurrentScopes(ctx)
	if err != nil {
		hint := ""
		switch {
		case authclient.IsAuthenticationFailed(err) && expired:
			hint = fmt.Sprintf(" (these temporary credentials expired at %s: put new ones in the config)", client.Expires.Format(time.RFC3339))
		case authclient.IsAuthenticationFailed(err):
			hint = " (check credentials.clientId and the access token, and that this machine's clock is right)"
		case authclient.IsMissingScopes(err):
			hint = " (grant auth:current-scopes to let check list scopes)"
		case authclient.IsUnavailable(err):
			hint = " (is rootUrl right and reachable? check --offline checks the rest without it)"
		}
		return 0, fmt.Errorf("asking Taskcluster for this client's scopes: %w%s", err, hint)
	}
	fmt.Fprintf(out, "clientId %s holds %d scopes on %s\n", c.Credentials.ClientID, len(cur.Scopes), c.RootURL)
	problems := 0
	for _, s := range Sources(c) {
		need, alt := refresher.RequiredScopes(s)
		missing := scopes.Missing(cur.Scopes, need)
		mark, shown := "ok     ", need
		if len(missing) > 0 && (len(alt) == 0 || len(scopes.Missing(cur.Scopes, alt)) > 0) {
			mark, shown = "MISSING", missing
			problems++
		}
		fmt.Fprintf(out, "%s  %-32s %s\n", mark, s.Key(), strings.Join(shown, " "))
	}
	if problems > 0 {
		fmt.Fprintf(out, "%d source(s) lack a scope: grant them to %s, or remove the sources\n", problems, c.Credentials.ClientID)
	}
	if c.Proxy != nil {
		// A proxy policy granting a scope the client lacks makes Taskcluster
		// refuse that caller's every request.
		short := 0
		for i, p := range c.Proxy.Policies {
			field := fmt.Sprintf("proxy.policies[%d]", i)
			if missing := scopes.Missing(cur.Scopes, p.Scopes); len(missing) > 0 {
				fmt.Fprintf(out, "MISSING  %-32s %s\n", field, strings.Join(missing, " "))
				short++
			} else {
				fmt.Fprintf(out, "ok       %-32s %s\n", field, strings.Join(p.Scopes, " "))
			}
		}
		if short > 0 {
			fmt.Fprintf(out, "%d proxy policy(ies) grant a scope %s lacks: grant it, or narrow the policy\n", short, c.Credentials.ClientID)
		}
		problems += short
	}
	return problems + sinkProblems, sinkErr
}

// CheckOffline checks what needs no Taskcluster: the credentials can be
// read and parsed (and, when temporary, says when they expire), and every
// sink renders a sample credential of its source's kind, so a template
// naming a field that kind lacks fails here rather than at the first
// real write. Sinks that fail come back as a config.Errors error.
func CheckOffline(c *config.Config, out io.Writer) error {
	_, client, err := NewAuthClient(c)
	if err != nil {
		return err
	}
	if !client.Expires.IsZero() {
		// Nothing renews them: say when they must be replaced.
		left := "expired; Taskcluster allows 5 minutes of clock skew"
		if d := time.Until(client.Expires); d > 0 {
			left = "in " + d.Round(time.Minute).String()
		}
		fmt.Fprintf(out, "the credentials are temporary: they expire at %s (%s)\n", client.Expires.Format(time.RFC3339), left)
	}
	sinks, err := Sinks(c)
	if err != nil {
		return err
	}
	var errs config.Errors
	now := time.Now()
	for i, s := range sinks {
		field := fmt.Sprintf("sinks[%d]", i)
		if s.Format == sink.Template {
			field += ".template"
		}
		if _, err := s.Render(sampleCredential(s.Source, now)); err != nil {
			if inner := errors.Unwrap(err); inner != nil {
				// The renderer's prefix adds nothing to the field's name.
				err = inner
			}
			errs = append(errs, &config.FieldError{Field: field, Line: c.Line(field), Err: config.ErrInvalid,
				Detail: fmt.Sprintf("does not render with a sample credential of kind %s: %v%s", s.Source.Kind, err, templateHint(err, s.Source, now))})
			continue
		}
		fmt.Fprintf(out, "ok       sink %s renders a sample %s credential\n", s.Path, s.Source.Kind)
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// sampleCredential is a credential of s's kind made of placeholders.
// Every field a real one of that kind has is set, so a template renders
// here exactly when it would with a real credential.
func sampleCredential(s refresher.Source, now time.Time) *refresher.Credential {
	c := &refresher.Credential{Kind: s.Kind, Issued: now, Expires: now.Add(time.Hour)}
	switch s.Kind {
	case refresher.AWS:
		c.AWS = &refresher.AWSCredential{AccessKeyID: "ASIASAMPLEACCESSKEY0",
			SecretAccessKey: secret.New("sample-secret-access-key"), SessionToken: secret.New("sample-session-token")}
	case refresher.GCP:
		c.GCP = &refresher.GCPCredential{AccessToken: secret.New("sample-access-token")}
	case refresher.Azure:
		c.Azure = &refresher.AzureCredential{SAS: secret.New("sv=sample&sig=sample")}
	case refresher.Sentry:
		c.Sentry = &refresher.SentryCredential{Project: s.Project,
			Secret: secret.New("https://sample:sample@sentry.example/1"), Public: secret.New("https://sample@sentry.example/1")}
	case refresher.Websocktunnel:
		c.Websocktunnel = &refresher.WebsocktunnelCredential{Audience: s.Audience, Client: s.Client, Token: secret.New("sample.jwt.token")}
	case refresher.GitHub:
		c.GitHub = &refresher.GitHubCredential{Owner: s.Owner, Repositories: strings.Split(s.Repositories, ","), Token: secret.New("ghs_sample")}
	}
	return c
}

// missingKeyRe finds the field a template named that its data lacks, in
// text/template's message ("at <.Env.X>: map has no entry for key").
var missingKeyRe = regexp.MustCompile(`at <\.([A-Za-z0-9_.]+)>: map has no entry for key`)

// templateHint suggests the field a template most likely meant, or lists
// the fields of the source's kind.
func templateHint(err error, s refresher.Source, now time.Time) string {
	m := missingKeyRe.FindStringSubmatch(err.Error())
	if m == nil {
		return ""
	}
	data := render.TemplateData(sampleCredential(s, now), s)
	var top, all []string
	for k, v := range data {
		top = append(top, "."+k)
		all = append(all, "."+k)
		if env, ok := v.(map[string]string); ok {
			for e := range env {
				all = append(all, "."+k+"."+e)
			}
		}
	}
	if near := config.Nearest("."+m[1], all); near != "" {
		return fmt.Sprintf("; did you mean %s?", near)
	}
	slices.Sort(top)
	return fmt.Sprintf("; a %s template has %s", s.Kind, strings.Join(top, ", "))
}

// CheckSinkFolders reports each sink whose folder this user cannot write
// (run check as the daemon's user), and returns how many.
func CheckSinkFolders(c *config.Config, out io.Writer) int {
	problems := 0
	for i, s := range c.Sinks {
		if err := sink.CheckFolder(s.Path); err != nil {
			fmt.Fprintf(out, "PROBLEM  sinks[%d] %s: %v\n", i, s.Path, err)
			problems++
		}
	}
	return problems
}
