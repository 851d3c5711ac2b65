package config_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/config"
)

const good = `rootUrl: https://tc.example.com
credentials:
  clientId: project/example/credd
  accessToken: super-secret-token-value
listen: 127.0.0.1:8765
opsListen: 127.0.0.1:8766
localTokenFile: /run/tc-credd/token
imds:
  allowV1: false
  region: us-east-1
aws:
  - name: artifacts
    bucket: my-bucket
    prefix: builds/
    level: read-write
  - name: other
    bucket: my-bucket
    prefix: other/
    level: read-only
    listen: 127.0.0.1:8767
gcp:
  - projectId: my-project
    serviceAccount: builder@my-project.iam.gserviceaccount.com
azure:
  - name: results
    account: myaccount
    container: results
    level: read-only
sentry:
  - name: app
    project: my-project
websocktunnel:
  - name: tunnel
    audience: my-audience
    client: my-client
sinks:
  - source: sentry/app
    path: /run/tc-credd/sentry.env
    format: env
    command: [systemctl, reload, my-app]
  - source: aws/artifacts
    path: /run/tc-credd/aws
    format: aws-credentials
  - source: gcp/builder@my-project.iam.gserviceaccount.com
    path: /run/tc-credd/gcp.txt
    format: template
    template: "{{.AccessToken}}"
`

func load(t *testing.T, text string) (*config.Config, []string, error) {
	t.Helper()
	c, err := config.Parse(strings.NewReader(text))
	if err != nil {
		return nil, nil, err
	}
	c.ApplyEnv(func(string) string { return "" })
	c.ApplyDefaults()
	w, err := c.Validate()
	return c, w, err
}

func TestGoodConfig(t *testing.T) {
	c, warnings, err := load(t, good)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if c.GCP[0].Name != "builder@my-project.iam.gserviceaccount.com" || c.Sinks[0].FileMode() != 0o600 || c.LogLevel != "info" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c.Credentials); strings.Contains(s, "super-secret") {
		t.Errorf("config leaks the token through fmt: %s", s)
	}
	tok, err := c.AccessToken()
	if err != nil || tok.Reveal() != "super-secret-token-value" {
		t.Errorf("AccessToken = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name    string
		edit    func(string) string
		wantErr error  // nil: a parse error is expected
		want    string // substring of the message
	}{
		{"unknown key", func(s string) string {
			return strings.Replace(s, "  allowV1: false", "  allowV1: false\n  alowV2: true", 1)
		}, config.ErrUnknownKey, `imds.alowV2 (line 10): is not a known key: did you mean allowV1?`},
		{"unknown top key", func(s string) string { return s + "refersh: 5m\n" }, config.ErrUnknownKey, `refersh (line 48): is not a known key`},
		{"bad type", func(s string) string { return strings.Replace(s, "allowV1: false", "allowV1: maybe", 1) }, config.ErrType, "imds.allowV1 (line 9): must be true or false (got text)"},
		{"token under the wrong key", func(s string) string {
			return strings.Replace(s, "  clientId: project/example/credd\n", "  clientId: project/example/credd\n  authorizedScopes: super-secret-pasted-here\n", 1)
		}, config.ErrType, "credentials.authorizedScopes (line 4): must be a list of strings (got text)"},
		{"no rootUrl", func(s string) string { return strings.Replace(s, "rootUrl: https://tc.example.com\n", "", 1) }, config.ErrRequired, "rootUrl (line 1): is required"},
		{"no bucket", func(s string) string {
			return strings.Replace(s, "    bucket: my-bucket\n    prefix: builds/", "    prefix: builds/", 1)
		}, config.ErrRequired, "aws[0].bucket (line 12): is required"},
		{"syntax", func(s string) string { return strings.Replace(s, "  allowV1: false", "  allowV1: [false", 1) }, nil, "config: yaml: line "},
		{"rootUrl path", func(s string) string { return strings.Replace(s, "tc.example.com", "tc.example.com/api", 1) }, config.ErrInvalid, "rootUrl (line 1)"},
		{"no token", func(s string) string { return strings.Replace(s, "  accessToken: super-secret-token-value\n", "", 1) }, config.ErrRequired, "credentials.accessToken"},
		{"token twice", func(s string) string {
			return strings.Replace(s, "  accessToken: super-secret-token-value\n", "  accessToken: x\n  accessTokenFile: /nonexistent\n", 1)
		}, config.ErrConflict, "credentials.accessTokenFile"},
		{"certificate twice", func(s string) string {
			return strings.Replace(s, "  accessToken: super-secret-token-value\n", "  accessToken: super-secret-token-value\n  certificate: '{}'\n  certificateFile: /nonexistent\n", 1)
		}, config.ErrConflict, "credentials.certificateFile"},
		{"missing certificate file", func(s string) string {
			return strings.Replace(s, "  accessToken: super-secret-token-value\n", "  accessToken: super-secret-token-value\n  certificateFile: /nonexistent\n", 1)
		}, config.ErrInvalid, "credentials.certificateFile"},
		{"dotted bucket", func(s string) string { return strings.Replace(s, "bucket: my-bucket", "bucket: my.bucket", 1) }, config.ErrInvalid, `aws[0].bucket (line 13)`},
		{"prefix slash", func(s string) string { return strings.Replace(s, "prefix: builds/", "prefix: /builds/", 1) }, config.ErrInvalid, "aws[0].prefix (line 14): is invalid: must not start with /"},
		{"level", func(s string) string { return strings.Replace(s, "level: read-write", "level: write", 1) }, config.ErrInvalid, "aws[0].level"},
		{"duplicate name", func(s string) string { return strings.Replace(s, "name: other", "name: artifacts", 1) }, config.ErrDuplicate, "aws[1].name"},
		{"bad name", func(s string) string { return strings.Replace(s, "name: other", "name: has space", 1) }, config.ErrInvalid, "aws[1].name"},
		{"public listen", func(s string) string { return strings.Replace(s, "listen: 127.0.0.1:8765", "listen: 0.0.0.0:8765", 1) }, config.ErrInvalid, "listen (line 5)"},
		{"same listen", func(s string) string { return strings.Replace(s, "127.0.0.1:8767", "127.0.0.1:8765", 1) }, config.ErrDuplicate, "aws[1].listen"},
		{"ops = listen", func(s string) string { return strings.Replace(s, "127.0.0.1:8766", "127.0.0.1:8765", 1) }, config.ErrConflict, "opsListen"},
		{"service account", func(s string) string {
			return strings.Replace(s, "serviceAccount: builder@", "serviceAccount: builder-at-", 1)
		}, config.ErrInvalid, "gcp[0].serviceAccount"},
		{"azure both", func(s string) string {
			return strings.Replace(s, "container: results", "container: results\n    table: Results", 1)
		}, config.ErrConflict, "azure[0].container"},
		{"azure account", func(s string) string { return strings.Replace(s, "account: myaccount", "account: My_Account", 1) }, config.ErrInvalid, "azure[0].account"},
		{"sentry project", func(s string) string { return strings.Replace(s, "project: my-project", "project: my project!", 1) }, config.ErrInvalid, "sentry[0].project"},
		{"wst audience", func(s string) string { return strings.Replace(s, "    audience: my-audience\n", "", 1) }, config.ErrRequired, "websocktunnel[0].audience"},
		{"sink source", func(s string) string { return strings.Replace(s, "source: sentry/app", "source: sentry/nope", 1) }, config.ErrInvalid, "sinks[0].source"},
		{"sink format", func(s string) string { return strings.Replace(s, "format: env", "format: yaml", 1) }, config.ErrInvalid, "sinks[0].format"},
		{"sink relative", func(s string) string {
			return strings.Replace(s, "path: /run/tc-credd/sentry.env", "path: sentry.env", 1)
		}, config.ErrInvalid, "sinks[0].path"},
		{"sink mode", func(s string) string {
			return strings.Replace(s, "format: env\n", "format: env\n    mode: \"rw\"\n", 1)
		}, config.ErrInvalid, "sinks[0].mode"},
		{"sink template", func(s string) string { return strings.Replace(s, `"{{.AccessToken}}"`, `"{{.AccessToken"`, 1) }, config.ErrInvalid, "sinks[2].template"},
		{"aws-credentials of sentry", func(s string) string { return strings.Replace(s, "source: aws/artifacts", "source: sentry/app", 1) }, config.ErrInvalid, "sinks[1].format"},
		{"empty command", func(s string) string {
			return strings.Replace(s, "command: [systemctl, reload, my-app]", "command: []", 1)
		}, config.ErrInvalid, "sinks[0].command"},
		{"negative margin", func(s string) string { return s + "margins:\n  aws: -5m\n" }, config.ErrInvalid, "margins.aws"},
		{"log level", func(s string) string { return s + "logLevel: loud\n" }, config.ErrInvalid, "logLevel"},
		{"token mode", func(s string) string { return s + "localTokenMode: \"0400\"\n" }, config.ErrInvalid, "localTokenMode"},
		{"region", func(s string) string { return strings.Replace(s, "region: us-east-1", "region: mars", 1) }, config.ErrInvalid, "imds.region"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := load(t, c.edit(good))
			if err == nil {
				t.Fatal("accepted")
			}
			if c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Errorf("errors.Is(%v, %v) = false", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "super-secret") {
				t.Errorf("error leaks the token")
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	text := strings.Replace(good, "prefix: builds/", "prefix: builds", 1)
	text = strings.Replace(text, "format: env\n", "format: env\n    mode: \"0644\"\n", 1)
	_, warnings, err := load(t, text)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"aws[0].prefix (line 14)", "sinks[0].mode", "every user"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
}

// A shutdownGrace the packaged unit would cut short says how to raise the
// unit's stop timeout.
func TestLongShutdownGraceWarns(t *testing.T) {
	for grace, warned := range map[string]bool{"15s": false, "16s": true} {
		_, warnings, err := load(t, good+"shutdownGrace: "+grace+"\n")
		if err != nil {
			t.Fatal(err)
		}
		joined := strings.Join(warnings, "\n")
		if strings.Contains(joined, "TimeoutStopSec") != warned {
			t.Errorf("shutdownGrace %s: warnings %q, want a TimeoutStopSec warning: %v", grace, joined, warned)
		}
	}
}

func TestEnvironmentFillsCredentials(t *testing.T) {
	text := strings.Replace(good, "rootUrl: https://tc.example.com\n", "", 1)
	text = strings.Replace(text, "credentials:\n  clientId: project/example/credd\n  accessToken: super-secret-token-value\n", "", 1)
	c, err := config.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TASKCLUSTER_ROOT_URL": "https://env.example.com", "TASKCLUSTER_CLIENT_ID": "from-env", "TASKCLUSTER_ACCESS_TOKEN": "env-token"}
	c.ApplyEnv(func(k string) string { return env[k] })
	c.ApplyDefaults()
	if _, err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tok, _ := c.AccessToken()
	if c.RootURL != "https://env.example.com" || c.Credentials.ClientID != "from-env" || tok.Reveal() != "env-token" {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestFilesReadableByOthersWarn(t *testing.T) {
	dir := t.TempDir()
	tokPath := filepath.Join(dir, "token")
	if err := os.WriteFile(tokPath, []byte("file-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	text := strings.Replace(good, "accessToken: super-secret-token-value", "accessTokenFile: "+tokPath, 1)
	if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	warnings, err := c.Validate()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(warnings, "\n")
	if !strings.Contains(joined, "credentials.accessTokenFile") || !strings.Contains(joined, "config file") {
		t.Errorf("warnings = %q", joined)
	}
	tok, err := c.AccessToken()
	if err != nil || tok.Reveal() != "file-token" {
		t.Errorf("token from file: %v", err)
	}
	if err := os.Chmod(tokPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfgPath, 0o600); err != nil {
		t.Fatal(err)
	}
	if warnings, _ := c.Validate(); len(warnings) != 0 {
		t.Errorf("private files still warned about: %v", warnings)
	}
	certPath := filepath.Join(dir, "cert.json")
	if err := os.WriteFile(certPath, []byte(`{"version":1}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Credentials.CertificateFile = certPath
	if _, err := c.Validate(); err != nil {
		t.Errorf("certificateFile: %v", err)
	}
	if text, err := c.CertificateText(); err != nil || text != `{"version":1}` {
		t.Errorf("certificate from file: %q %v", text, err)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yml")); err == nil {
		t.Error("missing file accepted")
	}
}
