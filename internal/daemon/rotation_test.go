package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/daemon"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/secret"
	"github.com/taskcluster/tc-credd/internal/sink"
)

const msgCredsChanged = "Taskcluster credentials or rootUrl changed; new fetches use them"

// waitFor polls cond every 5 ms until it holds, failing after 10 s with
// what it waited for, or at once if the daemon stops.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			f.t.Fatalf("timed out waiting for %s", what)
		}
		select {
		case err := <-f.done:
			f.t.Fatalf("daemon stopped: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// sentry returns the status and body of the sentry credential request.
func (f *fixture) sentry() (int, string) {
	f.t.Helper()
	tok, _ := os.ReadFile(filepath.Join(f.dir, "token"))
	return get(f.t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/app", map[string]string{"Authorization": string(tok)})
}

// replace writes data to path the way renewers do: a new file renamed
// over the old one.
func replace(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestOneRequestPerAttempt: the daemon's Auth client does not retry on
// its own. The fake clock never moves, so the refresher makes one attempt.
func TestOneRequestPerAttempt(t *testing.T) {
	f := startWith(t, "", startOpts{clock: clock.NewFake(time.Now()), prepare: func(f *fixture) {
		f.fake.InjectFault("sentryDSN", authtest.Fault500, -1)
	}})
	if st, _ := f.sentry(); st != 503 {
		t.Fatalf("sentry during the outage: %d", st)
	}
	if n := f.fake.Calls("sentryDSN"); n != 1 {
		t.Fatalf("the first attempt sent %d HTTP requests, want 1", n)
	}
}

// TestRotatedTokenFileUsedWithoutReload: the token file rewritten in place
// and then replaced by a rename; no SIGHUP. The daemon's clock is fake
// and only moves for the renewal, so a failing source recovering shows
// the change was acted on.
func TestRotatedTokenFileUsedWithoutReload(t *testing.T) {
	clk := clock.NewFake(time.Now())
	f := startWith(t, "", startOpts{clock: clk, prepare: func(f *fixture) {
		f.tokenFile = filepath.Join(f.dir, "access-token")
		if err := os.WriteFile(f.tokenFile, []byte("not-the-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}})
	if st, _ := f.sentry(); st != 503 {
		t.Fatalf("sentry with a wrong token: %d", st)
	}
	// In place.
	if err := os.WriteFile(f.tokenFile, []byte(f.env["token"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the source to recover with the rewritten token", func() bool { st, _ := f.sentry(); return st == 200 })
	f.waitLog(msgCredsChanged, 1)

	// By rename, after Taskcluster reset the token: the old one fails.
	newTok := secret.New("rotated-" + strings.Repeat("x", 36))
	f.fake.PutClient(&authtest.Client{ID: "d", AccessToken: newTok, Scopes: []string{"auth:sentry:*"}, Expires: time.Now().Add(time.Hour * 24 * 365)})
	replace(t, f.tokenFile, newTok.Reveal()+"\n")
	f.waitLog(msgCredsChanged, 2)
	clk.Add(25 * time.Hour) // the sentry renewal is due
	f.waitFor("the renewal under the new token", func() bool {
		issued := f.fake.Issued("sentryDSN")
		_, body := f.sentry()
		return len(issued) == 2 && strings.Contains(body, issued[1].Reveal())
	})
	if n := f.fake.Calls("sentryDSN"); n != 3 {
		t.Fatalf("sentryDSN saw %d requests, want 3: the refusal, the recovery and the renewal", n)
	}
}

// TestRotatedCertificateFollowedByStatus: temporary credentials in two
// files, replaced by a renewer; the status page shows the new expiry.
func TestRotatedCertificateFollowedByStatus(t *testing.T) {
	var issuer *hawk.Credentials
	write := func(f *fixture, expiry time.Time) {
		t.Helper()
		tmp, err := hawk.CreateTemporaryCredentials(issuer, hawk.TemporaryOptions{Scopes: []string{"auth:sentry:*"}, Start: time.Now().Add(-time.Minute), Expiry: expiry})
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := json.Marshal(tmp.Certificate)
		replace(t, f.certFile, string(cert))
		replace(t, f.tokenFile, tmp.AccessToken.Reveal())
	}
	first := time.Now().Add(48 * time.Hour).Truncate(time.Millisecond)
	f := startWith(t, "opsListen: 127.0.0.1:0\n", startOpts{prepare: func(f *fixture) {
		issuer = &hawk.Credentials{ClientID: "d", AccessToken: secret.New(f.env["token"])}
		f.tokenFile, f.certFile = filepath.Join(f.dir, "access-token"), filepath.Join(f.dir, "certificate.json")
		write(f, first)
	}})
	expiry := func() time.Time {
		_, body := get(t, "http://"+f.addrs.OpsListen+"/v1/status", nil)
		var s struct{ Client struct{ Expires time.Time } }
		_ = json.Unmarshal([]byte(body), &s)
		return s.Client.Expires
	}
	if got := expiry(); !got.Equal(first) {
		t.Fatalf("status shows expiry %s, certificate says %s", got, first)
	}
	second := first.Add(24 * time.Hour)
	write(f, second)
	f.waitFor("the status to show the new certificate's expiry", func() bool { return expiry().Equal(second) })
	if st, _ := f.sentry(); st != 200 {
		t.Fatalf("sentry under rotated temporary credentials: %d", st)
	}
}

// TestSinkIntoMissingFolder: status and readiness report a sink that was
// never written, check names it, and the file appears once its folder
// exists, within the first retry's backoff.
func TestSinkIntoMissingFolder(t *testing.T) {
	clk := clock.NewFake(time.Now())
	var path string
	f := startWith(t, "opsListen: 127.0.0.1:0\n", startOpts{clock: clk, extra: func(f *fixture) string {
		f.fake.SetClientScopes("d", "auth:sentry:*", "auth:current-scopes")
		path = filepath.Join(f.dir, "later", "sentry.env")
		return "sinks:\n  - source: sentry/app\n    path: " + path + "\n    format: env\n"
	}})
	type sinkState struct {
		Path, LastError string
		LastWrite       time.Time
	}
	status := func() (int, string, []sinkState) {
		st, ready := get(t, "http://"+f.addrs.OpsListen+"/readyz", nil)
		_, body := get(t, "http://"+f.addrs.OpsListen+"/v1/status", nil)
		var s struct{ Sinks []sinkState }
		_ = json.Unmarshal([]byte(body), &s)
		return st, ready, s.Sinks
	}
	f.waitFor("the failed write in /v1/status", func() bool { _, _, s := status(); return len(s) == 1 && s[0].LastError != "" })
	st, ready, sinks := status()
	if st != 503 || !strings.Contains(ready, "sink "+path+" (never written)") || sinks[0].Path != path || !sinks[0].LastWrite.IsZero() {
		t.Fatalf("readyz %d %s; sinks %+v", st, ready, sinks)
	}
	cfg, _, err := daemon.Load(f.path, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if n, err := daemon.Check(context.Background(), cfg, &out); err != nil || n != 1 || !strings.Contains(out.String(), "sinks[0] "+path) {
		t.Fatalf("check: %d %v\n%s", n, err, out.String())
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	clk.Add(sink.RetryBase)
	f.waitFor("the sink file", func() bool { b, _ := os.ReadFile(path); return len(b) > 0 })
	f.waitFor("readiness", func() bool { st, _, _ := status(); return st == 200 })
}

// TestReloadRetriesFailingSourcesAtOnce: a reload that fixes the token
// brings a failing source back without waiting for its scheduled retry
// (the daemon's clock does not move).
func TestReloadRetriesFailingSourcesAtOnce(t *testing.T) {
	var good string
	f := startWith(t, "", startOpts{clock: clock.NewFake(time.Now()), prepare: func(f *fixture) {
		good, f.env["token"] = f.env["token"], "not-the-token"
	}})
	if st, _ := f.sentry(); st != 503 {
		t.Fatalf("sentry with a wrong token: %d", st)
	}
	f.env["token"] = good
	f.write(f.config(""))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	f.waitFor("the source to recover after the reload", func() bool { st, _ := f.sentry(); return st == 200 })
}

// TestMarginOnlyReloadKeepsTheCredential: with Taskcluster failing, a
// reload that changes only a source's margin and name keeps serving its
// credential.
func TestMarginOnlyReloadKeepsTheCredential(t *testing.T) {
	f := startWith(t, "", startOpts{clock: clock.NewFake(time.Now())})
	_, before := f.sentry()
	f.fake.InjectFault("", authtest.Fault500, -1)
	text := strings.Replace(f.config(""), "  - name: app\n    project: p\n", "  - name: renamed\n    project: p\n    margin: 30h\n", 1)
	f.write(text)
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	tok, _ := os.ReadFile(filepath.Join(f.dir, "token"))
	st, after := get(t, "http://"+f.addrs.Listen+"/v1/credentials/sentry/renamed", map[string]string{"Authorization": string(tok)})
	if st != 200 || after != before {
		t.Fatalf("after a margin and name change during an outage: %d, same credential %v", st, after == before)
	}
	if n := f.fake.Calls("sentryDSN"); n != 1 {
		t.Fatalf("sentryDSN saw %d requests, want only the first fetch", n)
	}
}
