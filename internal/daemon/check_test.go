package daemon_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/daemon"
)

// checkSources has one source of every kind, for sinks to name.
const checkSources = `rootUrl: https://tc.example.com
credentials:
  clientId: c
  accessToken: sekrit-check-token
aws:
  - name: a
    bucket: my-bucket
    prefix: a/
    level: read-only
gcp:
  - name: g
    projectId: my-project
    serviceAccount: sa@my-project.iam.gserviceaccount.com
azure:
  - name: z
    account: myaccount
    container: results
    level: read-only
sentry:
  - name: s
    project: my-project
websocktunnel:
  - name: w
    audience: aud
    client: cli
sinks:
`

// checkOffline writes a config with one template sink per entry of
// templates (source, template) and runs CheckOffline on it.
func checkOffline(t *testing.T, templates ...[2]string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	text := checkSources
	for i, tpl := range templates {
		text += fmt.Sprintf("  - source: %s\n    path: %s\n    format: template\n    template: '%s'\n", tpl[0], filepath.Join(dir, fmt.Sprint(i)), tpl[1])
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := daemon.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	err = daemon.CheckOffline(cfg, &out)
	if err != nil && strings.Contains(err.Error(), "sekrit") {
		t.Errorf("check error repeats the access token: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("check wrote sink files: %v", entries)
	}
	return out.String(), err
}

// TestCheckRendersEachKindsTemplate: a template using the fields of its
// source's kind renders against the sample credential of that kind.
func TestCheckRendersEachKindsTemplate(t *testing.T) {
	out, err := checkOffline(t,
		[2]string{"aws/a", "{{.AccessKeyID}} {{.SecretAccessKey}} {{.SessionToken}} {{.Env.AWS_SESSION_TOKEN}} {{.Expires.Unix}}"},
		[2]string{"gcp/g", "{{.AccessToken}} {{.Env.CLOUDSDK_AUTH_ACCESS_TOKEN}}"},
		[2]string{"azure/z", "https://{{.Account}}.blob.core.windows.net/?{{.SAS}}"},
		[2]string{"sentry/s", "{{.DSN}} {{.PublicDSN}} {{.Project}}"},
		[2]string{"websocktunnel/w", "{{.Token}} {{.Audience}} {{.Client}} {{.Key}}"},
	)
	if err != nil {
		t.Fatalf("valid templates refused: %v", err)
	}
	for _, kind := range []string{"aws", "gcp", "azure", "sentry", "websocktunnel"} {
		if !strings.Contains(out, "renders a sample "+kind+" credential") {
			t.Errorf("no line for the %s sink:\n%s", kind, out)
		}
	}
}

// TestCheckRefusesTemplateFieldOfAnotherKind: a typo, or a field of
// another kind, fails check with the sink's field, line and a suggestion.
func TestCheckRefusesTemplateFieldOfAnotherKind(t *testing.T) {
	for _, tc := range []struct {
		source, template, want string
	}{
		{"gcp/g", "{{.AccesToken}}", `sinks[0].template (line 30): is invalid: does not render with a sample credential of kind gcp: template: sinks[0]:1:2: executing "sinks[0]" at <.AccesToken>: map has no entry for key "AccesToken"; did you mean .AccessToken?`},
		{"aws/a", "{{.Env.AWS_SECRET_ACESS_KEY}}", "did you mean .Env.AWS_SECRET_ACCESS_KEY?"},
		{"sentry/s", "{{.SAS}}", "; a sentry template has .DSN, .Env, .Expires, .Issued, .Key, .Kind, .Name, .Project, .PublicDSN"},
	} {
		_, err := checkOffline(t, [2]string{tc.source, tc.template})
		var errs config.Errors
		if !errors.As(err, &errs) || !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%s: %v is not a config error", tc.template, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error\n%v\nlacks\n%s", tc.template, err, tc.want)
		}
	}
}
