package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/daemon"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// testGrace is the daemon's shutdown grace in these tests.
const testGrace = 200 * time.Millisecond

type fixture struct {
	t       *testing.T
	logged  chan struct{} // signalled after each log line
	fake    *authtest.Server
	dir     string
	path    string
	reload  chan struct{}
	logs    *observer.ObservedLogs
	addrs   daemon.Addrs
	env     map[string]string
	done    chan error
	cancel  context.CancelFunc
	authURL string
	// tokenFile and certFile, when set, are where the config reads the
	// access token and the certificate.
	tokenFile, certFile string
}

// startOpts vary start.
type startOpts struct {
	clock clock.Clock // the daemon's; default the real one
	// prepare runs before the daemon starts: it may set faults or write
	// the token file.
	prepare func(f *fixture)
	// extra, after prepare, adds to the config.
	extra func(f *fixture) string
}

func (f *fixture) write(text string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(text), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) config(extra string) string {
	creds := "accessToken: " + f.env["token"]
	if f.tokenFile != "" {
		creds = "accessTokenFile: " + f.tokenFile
	}
	if f.certFile != "" {
		creds += "\n  certificateFile: " + f.certFile
	}
	return fmt.Sprintf(`rootUrl: %s
credentials:
  clientId: d
  %s
listen: 127.0.0.1:0
localTokenFile: %s
sentry:
  - name: app
    project: p
`, f.authURL, creds, filepath.Join(f.dir, "token")) + extra
}

func start(t *testing.T, extra string) *fixture {
	t.Helper()
	return startWith(t, extra, startOpts{})
}

func startWith(t *testing.T, extra string, o startOpts) *fixture {
	t.Helper()
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tok := fake.AddClient("d", "auth:sentry:*", "auth:aws-s3:*")
	dir := t.TempDir()
	core, logs := observer.New(zap.DebugLevel)
	f := &fixture{t: t, fake: fake, dir: dir, path: filepath.Join(dir, "config.yml"), reload: make(chan struct{}, 1),
		logs: logs, env: map[string]string{"token": tok.Reveal()}, done: make(chan error, 1), authURL: srv.URL, logged: make(chan struct{}, 1)}
	// systemd's notification socket.
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	if o.prepare != nil {
		o.prepare(f)
	}
	if o.extra != nil {
		extra += o.extra(f)
	}
	f.write(f.config(extra))
	cfg, _, err := daemon.Load(f.path, func(k string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	started := make(chan daemon.Addrs, 1)
	go func() {
		f.done <- daemon.Run(ctx, cfg, daemon.Options{Path: f.path, Version: "v9.8.7", Logger: zap.New(core, zap.Hooks(f.onLog)), Reload: f.reload, ShutdownGrace: testGrace, Clock: o.clock,
			Getenv:  func(k string) string { return "" },
			Started: func(a daemon.Addrs) { started <- a }})
	}()
	select {
	case f.addrs = <-started:
	case err := <-f.done:
		t.Fatalf("daemon did not start: %v", err)
	}
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := conn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("sd_notify: %q %v", buf[:n], err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-f.done; err != nil {
			t.Errorf("daemon exit: %v", err)
		}
	})
	return f
}

// onLog signals waitLog that a line was logged.
func (f *fixture) onLog(zapcore.Entry) error {
	select {
	case f.logged <- struct{}{}:
	default:
	}
	return nil
}

// waitLog waits for the n-th occurrence of a message, on a deadline.
func (f *fixture) waitLog(msg string, n int) {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for f.logs.FilterMessage(msg).Len() < n {
		select {
		case <-f.logged:
		case err := <-f.done:
			f.t.Fatalf("daemon stopped while waiting for %q (×%d): %v", msg, n, err)
		case <-deadline:
			f.t.Fatalf("no %q (×%d) in the log within 10 s", msg, n)
		}
	}
}

func get(t *testing.T, url string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func imdsRoles(t *testing.T, addr string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://"+addr+"/latest/api/token", nil)
	req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	tok := make([]byte, 128)
	n, _ := resp.Body.Read(tok)
	resp.Body.Close()
	return get(t, "http://"+addr+"/latest/meta-data/iam/security-credentials/", map[string]string{"X-aws-ec2-metadata-token": string(tok[:n])})
}

func TestReloadManagesPerSourceListeners(t *testing.T) {
	f := start(t, "")
	if st, _ := imdsRoles(t, f.addrs.Listen); st != 404 {
		t.Fatalf("no aws source yet: %d", st)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	own := ln.Addr().String()
	ln.Close()
	f.write(f.config(fmt.Sprintf(`aws:
  - name: main
    bucket: my-bucket
    prefix: a/
    level: read-only
  - name: other
    bucket: my-bucket
    prefix: b/
    level: read-only
    listen: %s
`, own)))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	if st, body := imdsRoles(t, f.addrs.Listen); st != 200 || body != "main" {
		t.Fatalf("main listener roles: %d %q", st, body)
	}
	if st, body := imdsRoles(t, own); st != 200 || body != "other" {
		t.Fatalf("own listener roles: %d %q", st, body)
	}
	// An invalid file keeps everything as it is.
	f.write("bogus: true\n")
	f.reload <- struct{}{}
	f.waitLog("config reload failed; the running config stays in force", 1)
	if st, body := imdsRoles(t, own); st != 200 || body != "other" {
		t.Fatalf("after a bad reload: %d %q", st, body)
	}
	// Removing the source closes its listener; the main one is untouched.
	sentryCalls := f.fake.Calls("sentryDSN")
	f.write(f.config(""))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 2)
	if st, _ := imdsRoles(t, own); st != 0 {
		t.Fatalf("removed source's listener still answers: %d", st)
	}
	if f.fake.Calls("sentryDSN") != sentryCalls {
		t.Fatal("reload refetched an unchanged source")
	}
	tok, _ := os.ReadFile(filepath.Join(f.dir, "token"))
	if st, _ := get(t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/app", map[string]string{"Authorization": string(tok)}); st != 200 {
		t.Fatalf("sentry after reloads: %d", st)
	}
}

func TestReloadSwapsCredentials(t *testing.T) {
	f := start(t, "")
	// A new client with the same scopes: new fetches must use it.
	tok2 := f.fake.AddClient("d2", "auth:sentry:*")
	f.env["token"] = tok2.Reveal()
	text := strings.Replace(f.config(`websocktunnel: []
sentry:
  - name: other
    project: q
`), "clientId: d\n", "clientId: d2\n", 1)
	// The config above has two sentry keys; keep the second list only.
	text = strings.Replace(text, "sentry:\n  - name: app\n    project: p\n", "", 1)
	f.write(text)
	f.reload <- struct{}{}
	f.waitLog("Taskcluster credentials or rootUrl changed; new fetches use them", 1)
	f.waitLog("config reloaded", 1)
	tok, _ := os.ReadFile(filepath.Join(f.dir, "token"))
	f.waitFor("the new source under the new credentials", func() bool {
		st, _ := get(t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/other", map[string]string{"Authorization": string(tok)})
		return st == 200
	})
}

func TestTakenPortFailsStartAndFreesTheRest(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tok := fake.AddClient("d", "auth:aws-s3:*")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	mainAddr := free.Addr().String()
	free.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yml")
	text := fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: d\n  accessToken: %s\nlisten: %s\nlocalTokenFile: %s\naws:\n  - name: a\n    bucket: my-bucket\n    level: read-only\n    listen: %s\n",
		srv.URL, tok.Reveal(), mainAddr, filepath.Join(dir, "t"), taken.Addr())
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := daemon.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	err = daemon.Run(context.Background(), cfg, daemon.Options{})
	if err == nil || !strings.Contains(err.Error(), "aws[a].listen") {
		t.Fatalf("Run with a taken port: %v", err)
	}
	// The main listener it had bound is free again.
	ln, err := net.Listen("tcp", mainAddr)
	if err != nil {
		t.Fatalf("main listener left open after a failed start: %v", err)
	}
	ln.Close()
}

func TestLocalTokenModeFromConfig(t *testing.T) {
	f := start(t, "localTokenMode: \"0640\"\n")
	st, err := os.Stat(filepath.Join(f.dir, "token"))
	if err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("local token file mode: %v %v", st.Mode(), err)
	}
}

// TestTemporaryCredentialsExpiry: a reload to temporary credentials works
// (the fake Auth service checks the certificate) and says in the log how
// long they have left, as a warning within a day and an error once past.
func TestTemporaryCredentialsExpiry(t *testing.T) {
	f := start(t, "")
	if n := f.logs.FilterMessageSnippet("temporary Taskcluster credentials").Len(); n != 0 {
		t.Fatalf("%d lines about temporary credentials for permanent ones", n)
	}
	issuer := &hawk.Credentials{ClientID: "d", AccessToken: secret.New(f.env["token"])}
	reloadWith := func(start, expiry time.Time) *hawk.Credentials {
		t.Helper()
		tmp, err := hawk.CreateTemporaryCredentials(issuer, hawk.TemporaryOptions{Scopes: []string{"auth:sentry:*"}, Start: start, Expiry: expiry})
		if err != nil {
			t.Fatal(err)
		}
		cert, err := json.Marshal(tmp.Certificate)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Replace(f.config(""), "accessToken: "+f.env["token"]+"\n",
			"accessToken: "+tmp.AccessToken.Reveal()+"\n  certificate: '"+string(cert)+"'\n", 1)
		f.write(text)
		f.reload <- struct{}{}
		return tmp
	}
	expires := func(msg string, n int) time.Time {
		t.Helper()
		f.waitLog(msg, n)
		e := f.logs.FilterMessage(msg).All()[n-1]
		at, _ := e.ContextMap()["expires"].(time.Time)
		return at
	}
	now := time.Now()

	soon := reloadWith(now.Add(-time.Minute), now.Add(2*time.Hour))
	at := expires("tc-credd's temporary Taskcluster credentials expire soon: put new ones in the config and reload (SIGHUP) before then", 1)
	if !at.Equal(time.UnixMilli(soon.Certificate.Expiry)) {
		t.Errorf("warning gives expiry %v, certificate says %v", at, time.UnixMilli(soon.Certificate.Expiry))
	}
	// The daemon fetches with them: the certificate reached the client.
	f.waitLog("config reloaded", 1)
	tok, _ := os.ReadFile(filepath.Join(f.dir, "token"))
	f.waitFor("a sentry credential under temporary credentials", func() bool {
		st, _ := get(t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/app", map[string]string{"Authorization": string(tok)})
		return st == 200
	})

	later := reloadWith(now.Add(-time.Minute), now.Add(48*time.Hour))
	if at := expires("tc-credd's Taskcluster credentials are temporary", 1); !at.Equal(time.UnixMilli(later.Certificate.Expiry)) {
		t.Errorf("info gives expiry %v, certificate says %v", at, time.UnixMilli(later.Certificate.Expiry))
	}

	reloadWith(now.Add(-2*time.Hour), now.Add(-time.Minute))
	expires("tc-credd's temporary Taskcluster credentials have expired: every fetch fails until new ones are in the config and it is reloaded (SIGHUP)", 1)
}

// TestCheckReportsTemporaryCredentials: check says when temporary
// credentials expire, and why they fail once they have.
func TestCheckReportsTemporaryCredentials(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	issuer := &hawk.Credentials{ClientID: "c", AccessToken: fake.AddClient("c", "auth:sentry:*", "auth:current-scopes")}
	dir := t.TempDir()
	check := func(start, expiry time.Time) (string, error) {
		t.Helper()
		tmp, err := hawk.CreateTemporaryCredentials(issuer, hawk.TemporaryOptions{Scopes: []string{"auth:sentry:*", "auth:current-scopes"}, Start: start, Expiry: expiry})
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := json.Marshal(tmp.Certificate)
		path := filepath.Join(dir, "config.yml")
		text := fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: c\n  accessToken: %s\n  certificate: '%s'\nlocalTokenFile: %s\nsentry:\n  - name: app\n    project: p\n",
			srv.URL, tmp.AccessToken.Reveal(), cert, filepath.Join(dir, "token"))
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _, err := daemon.Load(path, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		_, err = daemon.Check(context.Background(), cfg, &out)
		return out.String(), err
	}
	now := time.Now()
	out, err := check(now.Add(-time.Minute), now.Add(3*time.Hour))
	if err != nil || !strings.Contains(out, "the credentials are temporary: they expire at "+time.UnixMilli(now.Add(3*time.Hour).UnixMilli()).UTC().Format(time.RFC3339)) ||
		!strings.Contains(out, "(in 3h0m0s)") {
		t.Errorf("check of temporary credentials: %v\n%s", err, out)
	}
	// Past the 5 minutes of clock skew Taskcluster allows.
	_, err = check(now.Add(-2*time.Hour), now.Add(-10*time.Minute))
	if err == nil || !strings.Contains(err.Error(), "these temporary credentials expired at") {
		t.Errorf("check of expired credentials: %v", err)
	}
}

// TestReloadRemovesListenerWithIdleConnection: a client holding a
// connection open to a per-source listener without sending a request does
// not stop a reload from removing that listener, nor the daemon from
// serving: the connection is closed after the grace.
func TestReloadRemovesListenerWithIdleConnection(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	own := ln.Addr().String()
	ln.Close()
	f := start(t, fmt.Sprintf("aws:\n  - name: other\n    bucket: my-bucket\n    prefix: b/\n    level: read-only\n    listen: %s\n", own))
	conn, err := net.Dial("tcp", own)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f.write(f.config(""))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	// The held connection is closed once the grace has passed.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the removed listener's idle connection is still open (read %d, %v)", n, err)
	}
	tok, _ := os.ReadFile(filepath.Join(f.dir, "token"))
	if st, body := get(t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/app", map[string]string{"Authorization": string(tok)}); st != 200 {
		t.Fatalf("main listener after the reload: %d %s", st, body)
	}
	select {
	case err := <-f.done:
		t.Fatalf("the daemon stopped: %v", err)
	default:
	}
	if n := f.logs.FilterLevelExact(zapcore.ErrorLevel).Len(); n != 0 {
		t.Fatalf("%d error lines, first %v", n, f.logs.FilterLevelExact(zapcore.ErrorLevel).All()[0])
	}
}

// TestStatusPageShowsDaemon: /v1/status names the build, how long it has
// run and how the last reload went; the metrics say the same.
func TestStatusPageShowsDaemon(t *testing.T) {
	f := start(t, "opsListen: 127.0.0.1:0\n")
	statusPage := func() map[string]any {
		t.Helper()
		st, body := get(t, "http://"+f.addrs.OpsListen+"/v1/status", nil)
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil || st != 200 {
			t.Fatalf("status: %d %v %s", st, err, body)
		}
		return m
	}
	m := statusPage()
	if m["version"] != "v9.8.7" || m["uptimeSeconds"] == nil || m["started"] == nil || m["lastReload"] != nil {
		t.Fatalf("status before any reload: %v", m)
	}
	f.write("bogus: true\n")
	f.reload <- struct{}{}
	f.waitLog("config reload failed; the running config stays in force", 1)
	last, _ := statusPage()["lastReload"].(map[string]any)
	if last["ok"] != false || !strings.Contains(fmt.Sprint(last["error"]), "bogus (line 1): is not a known key") || last["time"] == nil {
		t.Fatalf("lastReload after a failed reload: %v", last)
	}
	f.write(f.config("opsListen: 127.0.0.1:0\n"))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	if last, _ := statusPage()["lastReload"].(map[string]any); last["ok"] != true || last["error"] != nil {
		t.Fatalf("lastReload after a good reload: %v", last)
	}
	_, metrics := get(t, "http://"+f.addrs.OpsListen+"/metrics", nil)
	for _, want := range []string{`tc_credd_build_info{goversion=`, `version="v9.8.7"} 1`, `tc_credd_reloads_total{outcome="failure"} 1`,
		`tc_credd_reloads_total{outcome="success"} 1`, "tc_credd_last_reload_successful 1",
		`tc_credd_upstream_request_duration_seconds_count{endpoint="sentryDSN"} `} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
