package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/daemon"
)

// A status with every field /v1/status may carry, as of showNow.
const fullStatus = `{
  "ready": false,
  "version": "1.4.0",
  "uptimeSeconds": 11532.7,
  "lastReload": {"time": "2026-12-02T11:00:00Z", "ok": false, "error": "aws[0].bucket (line 8): is required"},
  "client": {"clientId": "project/example/credd", "expires": "2026-12-02T17:30:00Z"},
  "sources": [
    {"key": "aws/artifacts", "kind": "aws", "name": "artifacts", "status": "ok",
     "issued": "2026-12-02T11:54:00Z", "expires": "2026-12-02T12:54:00Z", "nextRenewal": "2026-12-02T12:24:00Z"},
    {"key": "sentry/app", "kind": "sentry", "name": "app", "status": "degraded",
     "expires": "2026-12-03T11:00:00Z", "nextRenewal": "2026-12-02T11:59:00Z",
     "lastError": "taskcluster: 503\n  Service Unavailable", "consecutiveFailures": 3},
    {"key": "gcp/builder@p.iam.gserviceaccount.com", "kind": "gcp", "status": "pending", "lastError": "insufficient scopes"},
    {"key": "azure/results", "kind": "azure", "status": "expired", "expires": "2026-12-02T11:50:00Z", "nextRenewal": "2026-12-02T12:00:30Z"}
  ],
  "sinks": [
    {"path": "/run/tc-credd/sentry.env", "source": "sentry/app", "lastWrite": "2026-12-02T11:57:00Z"},
    {"path": "/run/tc-credd/aws", "source": "aws/artifacts", "lastWrite": null, "lastError": "open /run/tc-credd/aws: permission denied"}
  ]
}`

var showNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// TestShowTable: every field of a full status lands in the summary or its
// table column, with times relative to now.
func TestShowTable(t *testing.T) {
	doc, err := parseStatus([]byte(fullStatus))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeStatus(&out, doc, showNow)
	want := `tc-credd 1.4.0, up 3h12m, not ready
last reload 1h00m ago (2026-12-02T11:00:00Z): failed: aws[0].bucket (line 8): is required
client project/example/credd, temporary credentials that expire in 5h30m (2026-12-02T17:30:00Z)

SOURCE                                 STATE     EXPIRES IN       NEXT RENEWAL  LAST ERROR
aws/artifacts                          ok        54m              in 24m        -
sentry/app                             degraded  23h00m           now           taskcluster: 503 Service Unavailable
gcp/builder@p.iam.gserviceaccount.com  pending   -                -             insufficient scopes
azure/results                          expired   expired 10m ago  in 30s        -

SINK                      SOURCE         LAST WRITE  LAST ERROR
/run/tc-credd/sentry.env  sentry/app     3m ago      -
/run/tc-credd/aws         aws/artifacts  never       open /run/tc-credd/aws: permission denied
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestShowWithoutNewerFields: a status without version, uptime, reload
// or sinks (an older daemon) shows what it has and no empty sections.
func TestShowWithoutNewerFields(t *testing.T) {
	doc, err := parseStatus([]byte(`{"ready": true, "client": {"clientId": "d"},
	  "sources": [{"key": "sentry/app", "status": "ok", "expires": "2026-12-05T12:00:00Z", "nextRenewal": "2026-12-04T00:00:00Z"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeStatus(&out, doc, showNow)
	want := `tc-credd, ready
client d

SOURCE      STATE  EXPIRES IN  NEXT RENEWAL  LAST ERROR
sentry/app  ok     3d0h        in 36h00m     -
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestSpan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                     "0s",
		59*time.Second + 400*time.Millisecond: "59s",
		59*time.Second + 600*time.Millisecond: "1m",
		59 * time.Minute:                      "59m",
		time.Hour + 5*time.Minute:             "1h05m",
		47*time.Hour + 59*time.Minute:         "47h59m",
		49 * time.Hour:                        "2d1h",
	} {
		if got := span(d); got != want {
			t.Errorf("span(%v) = %q, want %q", d, got, want)
		}
	}
}

// showConfig writes a valid config whose opsListen is ops ("" for none).
func showConfig(t *testing.T, rootURL, token, ops string) string {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: d\n  accessToken: %s\nlisten: 127.0.0.1:0\nlocalTokenFile: %s\nsentry:\n  - name: app\n    project: p\n",
		rootURL, token, filepath.Join(dir, "token"))
	if ops != "" {
		text += "opsListen: " + ops + "\n"
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestShowRunningDaemon runs a daemon against the fake Auth service and
// shows it, finding the config through TC_CREDD_CONFIG.
func TestShowRunningDaemon(t *testing.T) {
	_, rootURL, tok := fakeAuth(t, "d", "auth:sentry:*")
	path := showConfig(t, rootURL, tok, "127.0.0.1:0")
	cfg, _, err := daemon.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := make(chan daemon.Addrs, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{Getenv: func(string) string { return "" }, Started: func(a daemon.Addrs) { started <- a }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon exit: %v", err)
		}
	}()
	var addrs daemon.Addrs
	select {
	case addrs = <-started:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	waitReady(t, addrs.OpsListen)
	// show reads the same file, now naming the port the daemon bound.
	path2 := showConfig(t, rootURL, tok, addrs.OpsListen)
	t.Setenv("TC_CREDD_CONFIG", path2)

	var out, errb bytes.Buffer
	if code := Main([]string{"show"}, &out, &errb); code != ExitOK {
		t.Fatalf("show: exit %d: %s", code, errb.String())
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.HasPrefix(lines[0], "tc-credd") || !strings.HasSuffix(lines[0], ", ready") {
		t.Errorf("summary line %q", lines[0])
	}
	if !strings.Contains(out.String(), "\nclient d\n") {
		t.Errorf("no client line:\n%s", out.String())
	}
	header := regexp.MustCompile(`(?m)^SOURCE +STATE +EXPIRES IN +NEXT RENEWAL +LAST ERROR$`)
	row := regexp.MustCompile(`(?m)^sentry/app +ok +(\d+h\d\dm|\d+d\d+h) +in (\d+h\d\dm|\d+d\d+h) +-$`)
	if !header.MatchString(out.String()) || !row.MatchString(out.String()) {
		t.Errorf("no sentry/app row in the table:\n%s", out.String())
	}
	if strings.Contains(out.String(), tok) {
		t.Error("show prints the access token")
	}
}

// waitReady waits, on a deadline, for the ops listener's /readyz.
func waitReady(t *testing.T, ops string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + ops + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon not ready: %v", err)
		}
		runtime.Gosched() // yield; never sleep
	}
}

// TestShowErrors: show says what is wrong when it cannot reach a daemon.
func TestShowErrors(t *testing.T) {
	closed := httptest.NewServer(nil)
	closedAddr := closed.Listener.Addr().String()
	closed.Close()
	notFound := httptest.NewServer(http.NotFoundHandler())
	defer notFound.Close()
	for _, tc := range []struct {
		name, ops string
		code      int
		want      string
	}{
		{"no opsListen", "", ExitUsage, "the config has no opsListen"},
		{"port 0", "127.0.0.1:0", ExitUsage, "set a fixed port"},
		{"not running", closedAddr, ExitFailure, "no answer from the ops listener " + closedAddr + ": is tc-credd running?"},
		{"not tc-credd", notFound.Listener.Addr().String(), ExitFailure, "answered 404 Not Found: 404 page not found"},
	} {
		path := showConfig(t, "https://tc.example.com", "some-token-value", tc.ops)
		var out, errb bytes.Buffer
		if code := Main([]string{"show", "--config", path}, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, errb.String(), tc.code, tc.want)
		}
	}
}

// TestShowReceivers: who received each source recently gets a table, in
// the sources' order, unknown callers included.
func TestShowReceivers(t *testing.T) {
	doc, err := parseStatus([]byte(`{"ready": true,
  "sources": [{"key": "aws/build", "status": "ok"}, {"key": "sentry/app", "status": "ok"}],
  "receivers": {
    "sentry/app": [{"uid": -1, "protocol": "api", "last": "2026-12-02T11:59:00Z", "count": 1}],
    "aws/build": [{"uid": 1001, "user": "builder", "pid": 42, "exe": "/usr/bin/aws", "protocol": "imds", "last": "2026-12-02T11:50:00Z", "count": 7}]
  }}`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeStatus(&out, doc, showNow)
	got := out.String()
	i := strings.Index(got, "SOURCE      RECEIVED BY")
	if i < 0 {
		t.Fatalf("no receivers table:\n%s", got)
	}
	lines := strings.Split(strings.TrimSpace(got[i:]), "\n")
	if len(lines) != 3 ||
		strings.Join(strings.Fields(lines[1]), " ") != "aws/build uid 1001 (builder) /usr/bin/aws [pid 42] imds 10m ago 7" ||
		strings.Join(strings.Fields(lines[2]), " ") != "sentry/app unknown caller api 1m ago 1" {
		t.Fatalf("receivers table:\n%s", got[i:])
	}
	doc.Receivers = nil
	out.Reset()
	writeStatus(&out, doc, showNow)
	if strings.Contains(out.String(), "RECEIVED BY") {
		t.Fatalf("a receivers table without receivers:\n%s", out.String())
	}
}
