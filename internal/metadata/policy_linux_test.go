//go:build linux

package metadata_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// events records audit events.
type events struct {
	mu  sync.Mutex
	all []audit.Event
}

func (e *events) Keep(ev audit.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) find(outcome, protocol, source string) []audit.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []audit.Event
	for _, ev := range e.all {
		if ev.Outcome == outcome && ev.Protocol == protocol && ev.Source == source {
			out = append(out, ev)
		}
	}
	return out
}

func rule(t *testing.T, field string, uids ...int) *identity.Rule {
	t.Helper()
	r, err := identity.NewRule(field, nil, nil, uids, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// isMe checks that an audit event names this test process as the kernel
// sees it.
func isMe(t *testing.T, ev audit.Event) {
	t.Helper()
	exe, _ := os.Executable()
	if c := ev.Caller; c == nil || c.UID != os.Getuid() || c.PID != os.Getpid() || c.Exe != exe {
		t.Errorf("audit caller %+v is not this process (uid %d pid %d %s)", ev.Caller, os.Getuid(), os.Getpid(), exe)
	}
}

// The rules decide per caller: this process is admitted to some sources
// and refused others, over IMDS, GCE and the JSON API; listings show it
// only what it may have, and the audit trail names it.
func TestRulesDecidePerCaller(t *testing.T) {
	me, other := os.Getuid(), os.Getuid()+1
	rec := &events{}
	e := newEnv(t, envOpts{
		sources:  []refresher.Source{{Kind: refresher.AWS, Name: "mine", Level: "read-only", Bucket: "my-bucket"}},
		awsRoles: []string{role, "mine"},
		rules: map[string]*identity.Rule{
			"aws/" + role:     rule(t, "aws[0].allow", other),
			"aws/mine":        rule(t, "aws[1].allow", me),
			"gcp/" + gcpMail:  rule(t, "gcp[0].allow", other),
			"azure/results":   rule(t, "azure[0].allow", other),
			"sentry/app":      rule(t, "sentry[0].allow", me),
			"gcp/" + gcpMail2: nil,
		},
		audit: rec,
	})
	tok := map[string]string{"X-aws-ec2-metadata-token": e.imdsToken()}

	// IMDS: the caller's own default role is the first one it may have.
	if st, _, body := e.do("GET", "/latest/meta-data/iam/security-credentials/", tok); st != 200 || body != "mine" {
		t.Fatalf("role listing: %d %q", st, body)
	}
	st, _, body := e.do("GET", "/latest/meta-data/iam/security-credentials/"+role, tok)
	if st != http.StatusForbidden || !strings.Contains(body, "aws[0].allow") || !strings.Contains(body, "uids ") {
		t.Fatalf("refused role: %d %q", st, body)
	}
	st, _, body = e.do("GET", "/latest/meta-data/iam/security-credentials/mine", tok)
	var doc struct{ AccessKeyId string }
	if st != 200 || json.Unmarshal([]byte(body), &doc) != nil || doc.AccessKeyId == "" {
		t.Fatalf("own role: %d %q", st, body)
	}
	if st, _, body := e.do("GET", "/latest/meta-data/iam/info", tok); st != 200 || !strings.Contains(body, "/mine") {
		t.Fatalf("iam info: %d %q", st, body)
	}
	served := rec.find(audit.Served, audit.IMDS, "aws/mine")
	if len(served) != 1 || served[0].Credential != doc.AccessKeyId || served[0].Expires.IsZero() {
		t.Fatalf("IMDS hand-outs audited: %+v", served)
	}
	isMe(t, served[0])
	// The event is logged on the request's access-log line.
	var logged map[string]any
	for _, l := range e.logs.FilterMessage("request").All() {
		if m := l.ContextMap(); m["route"] == "imds_credentials" && m["outcome"] == audit.Served {
			logged = m
		}
	}
	if logged == nil || logged["credential"] != doc.AccessKeyId || logged["uid"] != int64(me) || logged["pid"] != int64(os.Getpid()) || logged["source"] != "aws/mine" {
		t.Fatalf("access-log line of the hand-out: %v", logged)
	}
	refused := rec.find(audit.Refused, audit.IMDS, "aws/"+role)
	if len(refused) != 1 || !strings.Contains(refused[0].Reason, "aws[0].allow") {
		t.Fatalf("IMDS refusals audited: %+v", refused)
	}
	isMe(t, refused[0])

	// GCE: the refused account is left out, and default is the next one.
	g := map[string]string{"Metadata-Flavor": "Google"}
	if st, _, body := e.do("GET", "/computeMetadata/v1/instance/service-accounts/", g); st != 200 || body != "default/\n"+gcpMail2+"/\n" {
		t.Fatalf("account listing: %d %q", st, body)
	}
	if st, _, body := e.do("GET", "/computeMetadata/v1/instance/service-accounts/default/email", g); st != 200 || body != gcpMail2 {
		t.Fatalf("default email: %d %q", st, body)
	}
	if st, _, body := e.do("GET", "/computeMetadata/v1/instance/service-accounts/"+gcpMail+"/token", g); st != http.StatusForbidden || !strings.Contains(body, "gcp[0].allow") {
		t.Fatalf("refused account's token: %d %q", st, body)
	}
	if st, _, body := e.do("GET", "/computeMetadata/v1/instance/service-accounts/default/token", g); st != 200 || !strings.Contains(body, "access_token") {
		t.Fatalf("default token: %d %q", st, body)
	}
	if ev := rec.find(audit.Served, audit.GCE, "gcp/"+gcpMail2); len(ev) != 1 || !strings.HasPrefix(ev[0].Credential, "sha256:") || strings.Contains(body, ev[0].Credential) {
		t.Fatalf("GCE hand-out audited: %+v", ev)
	}
	if ev := rec.find(audit.Refused, audit.GCE, "gcp/"+gcpMail); len(ev) != 1 {
		t.Fatalf("GCE refusal audited: %+v", ev)
	}

	// The JSON API.
	auth := map[string]string{"Authorization": e.token}
	st, _, body = e.do("GET", "/v1/credentials/azure/results", auth)
	var apiErr struct{ Code, Message string }
	if st != http.StatusForbidden || json.Unmarshal([]byte(body), &apiErr) != nil || apiErr.Code != "Forbidden" || !strings.Contains(apiErr.Message, "azure[0].allow") {
		t.Fatalf("refused API source: %d %q", st, body)
	}
	if st, _, body := e.do("GET", "/v1/credentials/sentry/app", auth); st != 200 || !strings.Contains(body, "dsn") {
		t.Fatalf("admitted API source: %d %q", st, body)
	}
	if ev := rec.find(audit.Served, audit.API, "sentry/app"); len(ev) != 1 {
		t.Fatalf("API hand-out audited: %+v", ev)
	} else {
		isMe(t, ev[0])
	}
	if ev := rec.find(audit.Refused, audit.API, "azure/results"); len(ev) != 1 {
		t.Fatalf("API refusal audited: %+v", ev)
	}
}

// Without rules the default role is the first, whoever asks, and a
// hand-out is still audited.
func TestNoRulesServeEveryone(t *testing.T) {
	rec := &events{}
	e := newEnv(t, envOpts{
		sources:  []refresher.Source{{Kind: refresher.AWS, Name: "second", Level: "read-only", Bucket: "my-bucket"}},
		awsRoles: []string{role, "second"}, audit: rec,
	})
	tok := map[string]string{"X-aws-ec2-metadata-token": e.imdsToken()}
	if st, _, body := e.do("GET", "/latest/meta-data/iam/security-credentials/", tok); st != 200 || body != role {
		t.Fatalf("role listing: %d %q", st, body)
	}
	if st, _, _ := e.do("GET", "/latest/meta-data/iam/security-credentials/"+role, tok); st != 200 {
		t.Fatalf("default role: %d", st)
	}
	if ev := rec.find(audit.Served, audit.IMDS, "aws/"+role); len(ev) != 1 {
		t.Fatalf("hand-out audited: %+v", rec.all)
	}
	// The second role is not this listener's role for anyone.
	if st, _, _ := e.do("GET", "/latest/meta-data/iam/security-credentials/second", tok); st != http.StatusNotFound {
		t.Fatalf("second role: %d", st)
	}
}

// The Unix socket listener serves the JSON API only, and the kernel names
// its caller through SO_PEERCRED.
func TestUnixSocketListener(t *testing.T) {
	e := newEnv(t, envOpts{})
	rec := &events{}
	path := filepath.Join(t.TempDir(), "api.sock")
	ln, err := metadata.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o666 {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
	h := metadata.New(metadata.Options{View: e.r, Clock: e.clk, Token: tokenChecker(e.token), APIOnly: true, Audit: rec,
		Rules: map[string]*identity.Rule{"sentry/app": rule(t, "sentry[0].allow", os.Getuid())}, Guard: metadata.GuardOptions{Unix: true}})
	srv := metadata.NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	get := func(p string) (int, string) {
		req, _ := http.NewRequest("GET", "http://tc-credd"+p, nil)
		req.Header.Set("Authorization", e.token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get("/v1/credentials/sentry/app"); st != 200 || !strings.Contains(body, "dsn") {
		t.Fatalf("JSON API over the socket: %d %q", st, body)
	}
	ev := rec.find(audit.Served, audit.API, "sentry/app")
	if len(ev) != 1 || ev[0].Caller.Via != "unix" {
		t.Fatalf("audit: %+v", rec.all)
	}
	isMe(t, ev[0])
	if st, _ := get("/latest/meta-data/iam/security-credentials/"); st != http.StatusNotFound {
		t.Fatalf("IMDS over the socket: %d", st)
	}
	// A stale socket from an earlier run is replaced; another file is not.
	srv.Close()
	stale := filepath.Join(t.TempDir(), "stale.sock")
	old, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	old.(*net.UnixListener).SetUnlinkOnClose(false)
	old.Close()
	if ln, err := metadata.ListenUnix(stale); err != nil {
		t.Fatalf("stale socket: %v", err)
	} else {
		ln.Close()
	}
	plain := filepath.Join(t.TempDir(), "file")
	_ = os.WriteFile(plain, []byte("x"), 0o600)
	if _, err := metadata.ListenUnix(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("a regular file in the way: %v", err)
	}
}

type tokenChecker string

func (c tokenChecker) Check(p string) bool { return p == string(c) }
