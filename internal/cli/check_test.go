package cli

import (
	"bytes"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/authtest"
)

// fakeAuth serves a fake Auth service, until the test ends, with one
// client holding scopes; it returns the service, its root URL and the
// client's access token.
func fakeAuth(t *testing.T, clientID string, scopes ...string) (*authtest.Server, string, string) {
	t.Helper()
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return fake, srv.URL, fake.AddClient(clientID, scopes...).Reveal()
}

// checkConfig writes a config for the fake Auth service at rootURL with a
// sentry source and a template sink.
func checkConfig(t *testing.T, rootURL, token, template string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yml")
	text := fmt.Sprintf(`rootUrl: %s
credentials:
  clientId: checker
  accessToken: %s
localTokenFile: %s
sentry:
  - name: app
    project: my-project
sinks:
  - source: sentry/app
    path: %s
    format: template
    template: '%s'
`, rootURL, token, filepath.Join(dir, "token"), filepath.Join(dir, "sentry.txt"), template)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCheckOffline: --offline validates and renders without a single call
// to Taskcluster; without it, check asks for the scopes.
func TestCheckOffline(t *testing.T) {
	fake, rootURL, tok := fakeAuth(t, "checker", "auth:sentry:my-project", "auth:current-scopes")
	path := checkConfig(t, rootURL, tok, "SENTRY_DSN={{.DSN}}")

	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--offline", "--config", path}, &out, &errb); code != ExitOK {
		t.Fatalf("check --offline: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if n := fake.Calls("currentScopes"); n != 0 {
		t.Errorf("check --offline called Taskcluster %d times", n)
	}
	for _, want := range []string{"every field is valid", "renders a sample sentry credential", "offline: Taskcluster was not asked"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check --offline output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if code := Main([]string{"check", "--config", path}, &out, &errb); code != ExitOK {
		t.Fatalf("check: exit %d\n%s%s", code, out.String(), errb.String())
	}
	if n := fake.Calls("currentScopes"); n != 1 {
		t.Errorf("check called currentScopes %d times, want 1", n)
	}
	if !strings.Contains(out.String(), "ok       sentry/app") || strings.Contains(out.String(), "offline") {
		t.Errorf("check output:\n%s", out.String())
	}
}

// TestCheckOfflineUnreachableTaskcluster: a config for another network
// passes --offline and fails the full check, which needs Taskcluster.
func TestCheckOfflineUnreachableTaskcluster(t *testing.T) {
	srv := httptest.NewServer(nil)
	rootURL := srv.URL
	srv.Close() // nothing listens there any more
	path := checkConfig(t, rootURL, "some-token-value", "{{.DSN}}")
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--offline", "--config", path}, &out, &errb); code != ExitOK {
		t.Errorf("check --offline: exit %d\n%s", code, errb.String())
	}
	errb.Reset()
	if code := Main([]string{"check", "--config", path}, &out, &errb); code != ExitFailure || !strings.Contains(errb.String(), "check --offline checks the rest") {
		t.Errorf("check without Taskcluster: exit %d\n%s", code, errb.String())
	}
}

// TestCheckRendersTemplates: a template naming a field the source's kind
// lacks is a config error, with or without --offline, and the message
// suggests the field meant.
func TestCheckRendersTemplates(t *testing.T) {
	_, rootURL, tok := fakeAuth(t, "checker", "auth:sentry:my-project", "auth:current-scopes")
	path := checkConfig(t, rootURL, tok, "{{.Dsn}}")
	for _, args := range [][]string{{"check", "--offline", "--config", path}, {"check", "--config", path}} {
		var out, errb bytes.Buffer
		if code := Main(args, &out, &errb); code != ExitConfig {
			t.Errorf("%v: exit %d, want %d", args, code, ExitConfig)
		}
		if want := "sinks[0].template (line 13): is invalid: does not render with a sample credential of kind sentry"; !strings.Contains(errb.String(), want) ||
			!strings.Contains(errb.String(), "did you mean .DSN?") {
			t.Errorf("%v: stderr lacks %q and a suggestion:\n%s", args, want, errb.String())
		}
		if strings.Contains(errb.String()+out.String(), tok) {
			t.Errorf("%v: output repeats the access token", args)
		}
	}
}

// TestCheckAllowNames: check resolves every user and group an allow rule
// names against the system, and exits with a config error naming each one
// it does not find.
func TestCheckAllowNames(t *testing.T) {
	_, rootURL, tok := fakeAuth(t, "checker", "auth:sentry:my-project")
	path := checkConfig(t, rootURL, tok, "SENTRY_DSN={{.DSN}}")
	b, _ := os.ReadFile(path)
	text := strings.Replace(string(b), "    project: my-project\n",
		"    project: my-project\n    allow: {users: [no-such-user-tc-credd], groups: [no-such-group-tc-credd]}\n", 1)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := Main([]string{"check", "--offline", "--config", path}, &out, &errb)
	if code != ExitConfig || !strings.Contains(errb.String(), `sentry[0].allow.users[0] (line 9): is invalid: no user "no-such-user-tc-credd" on this system`) ||
		!strings.Contains(errb.String(), `sentry[0].allow.groups[0] (line 9): is invalid: no group "no-such-group-tc-credd" on this system`) {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
}
