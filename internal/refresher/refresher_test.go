package refresher_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var (
	awsSrc    = refresher.Source{Kind: refresher.AWS, Name: "artifacts", Level: "read-write", Bucket: "my-bucket", Prefix: "builds/"}
	sentrySrc = refresher.Source{Kind: refresher.Sentry, Name: "app", Project: "my-project"}
	gcpSrc    = refresher.Source{Kind: refresher.GCP, Name: "builder@tc-credd-dev.iam.gserviceaccount.com", ProjectID: "tc-credd-dev", ServiceAccount: "builder@tc-credd-dev.iam.gserviceaccount.com"}
	wstSrc    = refresher.Source{Kind: refresher.Websocktunnel, Name: "tunnel", Audience: "aud", Client: "cli"}
	azureSrc  = refresher.Source{Kind: refresher.Azure, Name: "results", Account: "devaccount", Container: "results", Level: "read-only"}
)

type harness struct {
	t       *testing.T
	clk     *clock.Fake
	fake    *authtest.Server
	r       *refresher.Refresher
	logs    *observer.ObservedLogs
	tracker *tracker
	cancel  context.CancelFunc
	done    chan struct{}
}

type hopt struct {
	lifetimes authtest.Lifetimes
	scopes    []string
	wrap      func(refresher.Fetcher) refresher.Fetcher
	before    func(*authtest.Server) // runs before the refresher starts
}

func newHarness(t *testing.T, o hopt, sources ...refresher.Source) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	fake := authtest.New(authtest.Options{Now: clk.Now, Lifetimes: o.lifetimes})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	if o.scopes == nil {
		o.scopes = []string{"auth:aws-s3:*", "auth:sentry:*", "auth:gcp:*", "auth:websocktunnel-token:*", "auth:azure-container:*"}
	}
	tok := fake.AddClient("credd", o.scopes...)
	if o.before != nil {
		o.before(fake)
	}
	ac, err := authclient.New(authclient.Options{
		RootURL:     srv.URL,
		Credentials: &hawk.Credentials{ClientID: "credd", AccessToken: tok},
		Now:         clk.Now,
		Retries:     -1, // the refresher owns retries, on the fake clock
	})
	if err != nil {
		t.Fatal(err)
	}
	var f refresher.Fetcher = refresher.AuthFetcher{Client: ac}
	if o.wrap != nil {
		f = o.wrap(f)
	}
	tr := &tracker{next: f, alive: map[*context.Context]struct{}{}}
	core, logs := observer.New(zap.DebugLevel)
	rng := rand.New(rand.NewPCG(1, 2))
	var rmu sync.Mutex
	r := refresher.New(refresher.Options{
		Fetcher: tr,
		Clock:   clk,
		Logger:  zap.New(core),
		Rand: func() float64 {
			rmu.Lock()
			defer rmu.Unlock()
			return rng.Float64()
		},
	})
	if err := r.Set(sources); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, clk: clk, fake: fake, r: r, logs: logs, cancel: cancel, done: make(chan struct{}), tracker: tr}
	go func() {
		defer close(h.done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	h.fake.ClearFaults()
	<-h.done
}

// tracker counts fetches in flight whose context is still live.
type tracker struct {
	next  refresher.Fetcher
	mu    sync.Mutex
	alive map[*context.Context]struct{}
}

func (tr *tracker) Fetch(ctx context.Context, s refresher.Source) (*refresher.Credential, error) {
	tr.mu.Lock()
	tr.alive[&ctx] = struct{}{}
	tr.mu.Unlock()
	defer func() {
		tr.mu.Lock()
		delete(tr.alive, &ctx)
		tr.mu.Unlock()
	}()
	return tr.next.Fetch(ctx, s)
}

// live returns how many fetches are in flight and not yet cancelled.
func (tr *tracker) live() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for ctx := range tr.alive {
		if (*ctx).Err() == nil {
			n++
		}
	}
	return n
}

// settle waits until every source loop is idle: each is blocked on the
// clock or in a fetch that the fake service is holding (FaultHang), no
// cancelled request is still winding down, and the refresher's wall-clock
// check sleeps too.
func (h *harness) settle() {
	h.t.Helper()
	n := len(h.r.Sources())
	h.waitClock(fmt.Sprintf("%d source loops to sleep", n), func() bool {
		live := h.tracker.live()
		return h.clk.Waiters()+live == n && h.fake.Hanging() == live
	})
}

// waitClock waits until cond holds, looking again whenever the fake clock
// gains or loses a waiter; it fails the test after 10 s, naming what it
// waited for. A fetch finishing changes nothing the clock sees, so it
// also looks again every millisecond.
func (h *harness) waitClock(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		changed := h.clk.Changed()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-time.After(time.Millisecond):
		case <-deadline:
			h.t.Fatalf("timed out waiting for %s (clock waiters %d, live fetches %d, hanging %d)", what, h.clk.Waiters(), h.tracker.live(), h.fake.Hanging())
		}
	}
}

// advanceTo steps the clock deadline by deadline up to end, calling each
// after every step once the loops are idle.
func (h *harness) advanceTo(end time.Time, each func()) {
	for {
		h.settle()
		if each != nil {
			each()
		}
		next, ok := h.clk.Next()
		if !ok || next.After(end) {
			h.clk.Set(end)
			h.settle()
			return
		}
		h.clk.Set(next)
	}
}

func (h *harness) state(key string) refresher.State {
	for _, s := range h.r.States() {
		if s.Key == key {
			return s
		}
	}
	h.t.Fatalf("no state for %s", key)
	return refresher.State{}
}

func (h *harness) countLogs(msg string) int {
	return h.logs.FilterMessage(msg).Len()
}

func TestThousandConcurrentFirstRequestsMakeOneCall(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, hopt{wrap: func(f refresher.Fetcher) refresher.Fetcher {
		return refresher.FetcherFunc(func(ctx context.Context, s refresher.Source) (*refresher.Credential, error) {
			<-gate // hold the first fetch until every caller is waiting
			return f.Fetch(ctx, s)
		})
	}}, awsSrc)
	const n = 1000
	var wg sync.WaitGroup
	keys := make([]string, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := h.r.Get(context.Background(), awsSrc.Key())
			errs[i] = err
			if err == nil {
				keys[i] = c.AWS.AccessKeyID
			}
		}(i)
	}
	// Every caller is then waiting on its bounded wait.
	h.waitClock("every caller to wait", func() bool { return h.clk.Waiters() == n })
	close(gate)
	wg.Wait()
	for i := range keys {
		if errs[i] != nil || keys[i] == "" || keys[i] != keys[0] {
			t.Fatalf("caller %d: key %q err %v (caller 0 got %q)", i, keys[i], errs[i], keys[0])
		}
	}
	if calls := h.fake.Calls("awsS3Credentials"); calls != 1 {
		t.Fatalf("upstream calls = %d, want exactly 1", calls)
	}
}

func TestFirstRequestWaitIsBounded(t *testing.T) {
	gate := make(chan struct{})
	h := newHarness(t, hopt{wrap: func(f refresher.Fetcher) refresher.Fetcher {
		return refresher.FetcherFunc(func(ctx context.Context, s refresher.Source) (*refresher.Credential, error) {
			select {
			case <-gate:
			case <-ctx.Done():
			}
			return f.Fetch(ctx, s)
		})
	}}, awsSrc)
	defer close(gate)
	done := make(chan error)
	go func() {
		_, err := h.r.Get(context.Background(), awsSrc.Key())
		done <- err
	}()
	h.waitClock("the caller to wait", func() bool { return h.clk.Waiters() == 1 })
	h.clk.Add(300 * time.Millisecond)
	if err := <-done; !errors.Is(err, refresher.ErrNotReady) {
		t.Fatalf("err = %v, want ErrNotReady", err)
	}
	if _, err := h.r.Get(context.Background(), "aws/nope"); !errors.Is(err, refresher.ErrUnknownSource) {
		t.Fatalf("unknown source: %v", err)
	}
	if h.r.Ready() {
		t.Fatal("ready before the first fetch")
	}
}

func TestDayOfHourlyAWSCredentials(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	end := t0.Add(24 * time.Hour)
	checks := 0
	var minLeft time.Duration = 1 << 62
	// Look every minute, between the renewals as well as at them.
	for at := t0; !at.After(end); at = at.Add(time.Minute) {
		h.advanceTo(at, nil)
		c, err := h.r.Get(context.Background(), awsSrc.Key())
		if err != nil {
			t.Fatalf("at %s: %v", h.clk.Now().Sub(t0), err)
		}
		left := c.Expires.Sub(h.clk.Now())
		minLeft = min(minLeft, left)
		if left < 30*time.Minute {
			t.Fatalf("at %s: served credential has %s left, want ≥ 30m", h.clk.Now().Sub(t0), left)
		}
		checks++
	}
	calls := h.fake.Calls("awsS3Credentials")
	// Renewal comes when 30 min remain, up to 10 % of the lifetime (6 min)
	// earlier: every 24 to 30 min, so 1 + 1440/30 = 49 to 1 + 1440/24 = 61
	// calls; allow 48 for the boundary at exactly 24 h.
	if calls < 48 || calls > 61 {
		t.Fatalf("upstream calls in 24 h = %d, want 48..61", calls)
	}
	if checks != 24*60+1 {
		t.Fatalf("%d checks, want one a minute for 24 h", checks)
	}
	t.Logf("24 h: %d upstream calls, least validity served %s, %d checks", calls, minLeft, checks)
	st := h.state(awsSrc.Key())
	if st.Status != refresher.StatusOK || st.UpstreamCalls != int64(calls) || st.Renewals != int64(calls) {
		t.Fatalf("state = %+v", st)
	}
}

func TestOutageServesLastGoodThenRecovers(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	h.settle()
	first, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil {
		t.Fatal(err)
	}
	// The outage starts before the first renewal (24..30 min) and lasts
	// 40 min: 500s, then hangs, then resets.
	h.advanceTo(t0.Add(20*time.Minute), nil)
	before := h.fake.Calls("awsS3Credentials")
	h.fake.InjectFault("awsS3Credentials", authtest.Fault500, -1)
	h.advanceTo(t0.Add(33*time.Minute), nil)
	h.fake.ClearFaults()
	h.fake.InjectFault("awsS3Credentials", authtest.FaultHang, -1)
	h.advanceTo(t0.Add(46*time.Minute), nil)
	h.fake.ClearFaults()
	h.fake.InjectFault("awsS3Credentials", authtest.FaultReset, -1)
	h.advanceTo(t0.Add(60*time.Minute), func() {
		now := h.clk.Now()
		c, err := h.r.Get(context.Background(), awsSrc.Key())
		switch {
		case now.Before(first.Expires.Add(-time.Minute)):
			if err != nil || c.AWS.AccessKeyID != first.AWS.AccessKeyID {
				t.Fatalf("at %s: last good credential not served: %v", now.Sub(t0), err)
			}
		default:
			if !errors.Is(err, refresher.ErrExpired) {
				t.Fatalf("at %s: want ErrExpired after expiry, got %v", now.Sub(t0), err)
			}
		}
	})
	outageCalls := h.fake.Calls("awsS3Credentials") - before
	// Backoff from 1 s doubling to 5 min (±20 %) over at most 36 min of
	// failures: about 9 quick retries, then one every 4 to 6 min.
	if outageCalls < 5 || outageCalls > 25 {
		t.Fatalf("calls during the 40-minute outage = %d, want 5..25", outageCalls)
	}
	st := h.state(awsSrc.Key())
	if st.Status != refresher.StatusExpired || st.ConsecutiveFailures != outageCalls || st.LastError == "" {
		t.Fatalf("state after outage = %+v", st)
	}
	h.fake.ClearFaults()
	recovered := h.clk.Now()
	for h.settle(); h.state(awsSrc.Key()).Status != refresher.StatusOK; h.settle() {
		h.clk.AdvanceToNext()
	}
	if d := h.clk.Now().Sub(recovered); d > refresher.BackoffMax {
		t.Fatalf("recovery took %s, want ≤ %s", d, refresher.BackoffMax)
	}
	c, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil || c.AWS.AccessKeyID == first.AWS.AccessKeyID {
		t.Fatalf("after recovery: %v", err)
	}
	for msg, want := range map[string]int{
		"credential source degraded: serving the last good credential": 1,
		"credential source expired: nothing to serve":                  1,
		"fetch failed; retrying with backoff":                          1, // the first failure; the rest are debug
	} {
		if got := h.countLogs(msg); got != want {
			t.Errorf("log %q appeared %d times, want %d", msg, got, want)
		}
	}
	if got := h.countLogs("credential source healthy"); got != 2 {
		t.Errorf("healthy logged %d times, want 2 (start, recovery)", got)
	}
	t.Logf("outage: %d calls, recovered after %s", outageCalls, h.clk.Now().Sub(recovered))
}

func TestMissingScopeIsNamedAndRetriedSlowly(t *testing.T) {
	h := newHarness(t, hopt{scopes: []string{"auth:sentry:*"}}, awsSrc, sentrySrc)
	h.advanceTo(t0.Add(time.Hour), nil)
	st := h.state(awsSrc.Key())
	want := "auth:aws-s3:read-write:my-bucket/builds/"
	// Never fetched: pending, not expired.
	if st.Status != refresher.StatusPending || len(st.MissingScopes) != 1 || st.MissingScopes[0] != want || !strings.Contains(st.LastError, want) {
		t.Fatalf("state = %+v", st)
	}
	calls := h.fake.Calls("awsS3Credentials")
	// Nothing to serve, so a refusal is retried every 24 to 30 s rather
	// than slowly: 1 + 3600/30 = 121 to 1 + 3600/24 = 151 calls.
	if calls < 121 || calls > 151 {
		t.Fatalf("calls in 1 h = %d, want 121..151", calls)
	}
	if got := h.countLogs("fetch refused by Taskcluster; retrying slowly"); got != 1 {
		t.Fatalf("refusal logged %d times, want once", got)
	}
	entry := h.logs.FilterMessage("fetch refused by Taskcluster; retrying slowly").All()[0]
	if ms, ok := entry.ContextMap()["missingScopes"].([]any); !ok || len(ms) != 1 || ms[0] != want {
		t.Fatalf("log does not name the scope: %v", entry.ContextMap())
	}
	if h.state(sentrySrc.Key()).Status != refresher.StatusOK {
		t.Fatal("a failing source disturbed a healthy one")
	}
	// Granting the scope restores service without a restart.
	h.fake.SetClientScopes("credd", "auth:sentry:*", "auth:aws-s3:*")
	h.advanceTo(h.clk.Now().Add(refresher.RecoveryRetry), nil)
	if st := h.state(awsSrc.Key()); st.Status != refresher.StatusOK {
		t.Fatalf("after grant: %+v", st)
	}
}

func TestShortLifetimesRenewBeforeExpiry(t *testing.T) {
	h := newHarness(t, hopt{lifetimes: authtest.Lifetimes{S3: time.Minute, GCP: time.Minute, Sentry: time.Minute, Websocktunnel: time.Minute, Azure: time.Minute}},
		awsSrc, gcpSrc, sentrySrc, wstSrc, azureSrc)
	h.advanceTo(t0.Add(10*time.Minute), func() {
		for _, s := range []refresher.Source{awsSrc, gcpSrc, sentrySrc, wstSrc, azureSrc} {
			c, err := h.r.Get(context.Background(), s.Key())
			if err != nil {
				t.Fatalf("%s at %s: %v", s.Key(), h.clk.Now().Sub(t0), err)
			}
			if !c.Expires.After(h.clk.Now()) {
				t.Fatalf("%s served expired", s.Key())
			}
		}
	})
	if calls := h.fake.Calls("awsS3Credentials"); calls < 20 {
		t.Fatalf("60 s credentials renewed only %d times in 10 min", calls)
	}
}

func TestAddRemoveLeavesOthersUntouched(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc, sentrySrc)
	h.advanceTo(t0.Add(10*time.Minute), nil)
	awsBefore, _ := h.r.Get(context.Background(), awsSrc.Key())
	stBefore := h.state(awsSrc.Key())

	if err := h.r.Set([]refresher.Source{awsSrc, gcpSrc}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	awsAfter, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil || awsAfter != awsBefore {
		t.Fatalf("aws credential replaced by an unrelated change: %v", err)
	}
	stAfter := h.state(awsSrc.Key())
	if stAfter.NextRenewal != stBefore.NextRenewal || stAfter.UpstreamCalls != stBefore.UpstreamCalls {
		t.Fatalf("aws schedule disturbed: before %+v after %+v", stBefore, stAfter)
	}
	if _, err := h.r.Get(context.Background(), sentrySrc.Key()); !errors.Is(err, refresher.ErrUnknownSource) {
		t.Fatalf("removed source still served: %v", err)
	}
	if _, err := h.r.Get(context.Background(), gcpSrc.Key()); err != nil {
		t.Fatalf("added source: %v", err)
	}
	// Changing a source's parameters restarts it alone.
	changed := awsSrc
	changed.Prefix = "other/"
	if err := h.r.Set([]refresher.Source{changed, gcpSrc}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	c, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil || c.AWS.AccessKeyID == awsBefore.AWS.AccessKeyID {
		t.Fatalf("changed source not refetched: %v", err)
	}
	if err := h.r.Set([]refresher.Source{awsSrc, awsSrc}); err == nil {
		t.Fatal("duplicate sources accepted")
	}
}

func TestSubscribersSeeEveryChange(t *testing.T) {
	h := newHarness(t, hopt{}, sentrySrc)
	h.settle()
	sub := h.r.Subscribe()
	defer sub.Close()
	ctx := context.Background()
	evs, err := sub.Next(ctx)
	if err != nil || len(evs) != 1 || evs[0].Key != sentrySrc.Key() || evs[0].Credential == nil {
		t.Fatalf("initial events = %+v, %v", evs, err)
	}
	first := evs[0].Credential.Sentry.Secret
	h.advanceTo(t0.Add(25*time.Hour), nil)
	evs, err = sub.Next(ctx)
	if err != nil || len(evs) != 1 || evs[0].Credential.Sentry.Secret.Equal(first) {
		t.Fatalf("renewal events = %+v, %v", evs, err)
	}
	if err := h.r.Set(nil); err != nil {
		t.Fatal(err)
	}
	evs, _ = sub.Next(ctx)
	if len(evs) != 1 || evs[0].Credential != nil {
		t.Fatalf("removal events = %+v", evs)
	}
	if !h.r.Ready() {
		t.Fatal("no sources: trivially ready")
	}
}
