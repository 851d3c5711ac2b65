package metadata_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/localtoken"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/metrics"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

const (
	role     = "artifacts"
	gcpMail  = "builder@tc-credd-dev.iam.gserviceaccount.com"
	gcpMail2 = "other@tc-credd-dev.iam.gserviceaccount.com"
)

var testSources = []refresher.Source{
	{Kind: refresher.AWS, Name: role, Level: "read-write", Bucket: "my-bucket", Prefix: "builds/"},
	{Kind: refresher.GCP, Name: gcpMail, ProjectID: "tc-credd-dev", ServiceAccount: gcpMail},
	{Kind: refresher.GCP, Name: gcpMail2, ProjectID: "tc-credd-dev", ServiceAccount: gcpMail2},
	{Kind: refresher.Azure, Name: "results", Account: "devaccount", Container: "results", Level: "read-only"},
	{Kind: refresher.Sentry, Name: "app", Project: "my-project"},
	{Kind: refresher.Websocktunnel, Name: "tunnel", Audience: "aud", Client: "cli"},
}

// env is a credential listener on loopback over the real refresher and the
// fake Auth service, on a fake clock that starts at the real time (the
// SDKs compare expiry with their own clock).
type env struct {
	t         testing.TB
	clk       *clock.Fake
	fake      *authtest.Server
	r         *refresher.Refresher
	url       string
	host      string // 127.0.0.1:PORT
	tokenPath string
	token     string
	logs      *observer.ObservedLogs
	metrics   *metrics.Metrics
	handler   http.Handler
}

type envOpts struct {
	allowV1 bool
	region  string
	wrap    func(http.Handler) http.Handler
	gate    chan struct{} // holds every fetch until closed
	fail    bool          // the client lacks every scope
	jsonLog zapcore.Core  // replaces the observed log (benchmarks)
	// Caller policy: extra sources, the IMDS roles in order (default: the
	// one role), rules by source key and the audit trail.
	sources  []refresher.Source
	awsRoles []string
	rules    map[string]*identity.Rule
	audit    metadata.Auditor
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	clk := clock.NewFake(time.Now())
	fake := authtest.New(authtest.Options{Now: clk.Now})
	auth := httptest.NewServer(fake)
	t.Cleanup(auth.Close)
	scopes := []string{"auth:aws-s3:*", "auth:gcp:*", "auth:azure-container:*", "auth:sentry:*", "auth:websocktunnel-token:*"}
	if o.fail {
		scopes = nil
	}
	tok := fake.AddClient("credd", scopes...)
	ac, err := authclient.New(authclient.Options{RootURL: auth.URL, Credentials: &hawk.Credentials{ClientID: "credd", AccessToken: tok}, Now: clk.Now, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	var f refresher.Fetcher = refresher.AuthFetcher{Client: ac}
	if o.gate != nil {
		inner := f
		f = refresher.FetcherFunc(func(ctx context.Context, s refresher.Source) (*refresher.Credential, error) {
			select {
			case <-o.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return inner.Fetch(ctx, s)
		})
	}
	r := refresher.New(refresher.Options{Fetcher: f, Clock: clk})
	if err := r.Set(append(append([]refresher.Source{}, testSources...), o.sources...)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if o.gate != nil {
			select {
			case <-o.gate:
			default:
				close(o.gate)
			}
		}
		<-done
	})
	if o.gate == nil && !o.fail {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		if err := r.WaitFirstRound(wctx); err != nil || !r.Ready() {
			t.Fatalf("refresher not ready: %v", err)
		}
	}

	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	core, logs := observer.New(zap.InfoLevel)
	log := zap.New(core)
	if o.jsonLog != nil {
		log = zap.New(o.jsonLog)
	}
	lt, err := localtoken.Load(tokenPath, 0o600, clk, log)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tokenPath)

	ln, err := metadata.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{States: r.States, Clock: clk})
	roles := o.awsRoles
	if roles == nil {
		roles = []string{role}
	}
	h := metadata.New(metadata.Options{
		View: r, Clock: clk, Logger: log, Metrics: m,
		AWSRoles: roles, Rules: o.rules, Audit: o.audit, AllowIMDSv1: o.allowV1, Region: o.region,
		GCP: []metadata.GCPAccount{
			{Key: "gcp/" + gcpMail, Email: gcpMail, ProjectID: "tc-credd-dev", NumericProjectID: "123456789012"},
			{Key: "gcp/" + gcpMail2, Email: gcpMail2, ProjectID: "tc-credd-dev"},
		},
		Token: lt,
		Guard: metadata.GuardOptions{Port: metadata.PortOf(ln)},
	})
	var served http.Handler = h
	if o.wrap != nil {
		served = o.wrap(h)
	}
	srv := &httptest.Server{Listener: ln, Config: metadata.NewServer(served)}
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, clk: clk, fake: fake, r: r, url: srv.URL, host: ln.Addr().String(), tokenPath: tokenPath,
		token: string(b), logs: logs, metrics: m, handler: h}
}

// do sends a request and returns status, headers and body.
func (e *env) do(method, path string, hdr map[string]string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// imdsToken opens an IMDSv2 session.
func (e *env) imdsToken() string {
	e.t.Helper()
	st, _, body := e.do(http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "300"})
	if st != 200 {
		e.t.Fatalf("token PUT: %d %s", st, body)
	}
	return body
}

// renew moves the fake clock, deadline by deadline and only while every
// source loop sleeps on it, until the refresher holds a new credential for
// key. Waiting is on channels (a subscription, the clock's changes), never
// on wall time.
func (e *env) renew(key string) *refresher.Credential {
	e.t.Helper()
	sub := e.r.Subscribe()
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := sub.Next(ctx); err != nil { // the initial credentials
		e.t.Fatal(err)
	}
	events := make(chan *refresher.Credential, 1)
	go func() {
		for {
			evs, err := sub.Next(ctx)
			if err != nil {
				return
			}
			for _, ev := range evs {
				if ev.Key == key && ev.Credential != nil {
					events <- ev.Credential
					return
				}
			}
		}
	}()
	for {
		for {
			// Take the change channel before reading the count, or a change
			// between the two would be missed.
			changed := e.clk.Changed()
			if e.clk.Waiters() >= len(testSources) { // every source loop
				break
			}
			select {
			case c := <-events:
				return c
			case <-changed:
			case <-ctx.Done():
				nx, _ := e.clk.Next()
				e.t.Fatalf("no renewal of %s: %v (now %s, next %s, waiters %d, aws state %+v)", key, ctx.Err(), e.clk.Now(), nx, e.clk.Waiters(), e.r.States()[0])
			}
		}
		select {
		case c := <-events:
			return c
		default:
		}
		e.clk.AdvanceToNext()
	}
}

func (e *env) current(key string) *refresher.Credential {
	e.t.Helper()
	c, err := e.r.Get(context.Background(), key)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// withFields keeps the log lines that carry every one of fields, logged
// as fields of their own or inline in an object.
func withFields(logs *observer.ObservedLogs, fields ...zap.Field) *observer.ObservedLogs {
	want := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(want)
	}
	return logs.Filter(func(e observer.LoggedEntry) bool {
		got := e.ContextMap()
		for k, v := range want.Fields {
			if !reflect.DeepEqual(got[k], v) {
				return false
			}
		}
		return true
	})
}

// waitWaiters blocks until n goroutines wait on the fake clock, on a
// deadline.
func waitWaiters(t testing.TB, c *clock.Fake, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := c.Changed()
		if c.Waiters() >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("waited 10 s for %d goroutines to wait on the clock (%d do)", n, c.Waiters())
		}
	}
}

// waitFor blocks until cond holds, re-checking whenever the fake clock
// changes (every refresher attempt ends by waiting on it), on a deadline.
func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := e.clk.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			e.t.Fatalf("waited 10 s for %s", what)
		}
	}
}
