package refresher_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// servedAgainWithin clears the fake's faults and steps the clock until the
// source serves a credential, failing if that takes longer than limit.
func (h *harness) servedAgainWithin(key string, limit time.Duration) time.Duration {
	h.t.Helper()
	h.fake.ClearFaults()
	cleared := h.clk.Now()
	var took time.Duration = -1
	h.advanceTo(cleared.Add(limit), func() {
		if _, err := h.r.Get(context.Background(), key); err == nil && took < 0 {
			took = h.clk.Now().Sub(cleared)
		}
	})
	if took < 0 {
		h.t.Fatalf("%s: not served again within %s of the fault ending (state %+v)", key, limit, h.state(key))
	}
	return took
}

// oneRequestPerAttempt checks that every refresher attempt sent exactly
// one HTTP request: the fake saw as many as the refresher counted.
func (h *harness) oneRequestPerAttempt(endpoint, key string) {
	h.t.Helper()
	st := h.state(key)
	var byCode int64
	for _, n := range st.UpstreamRequests {
		byCode += n
	}
	if got := int64(h.fake.Calls(endpoint)); got != st.UpstreamCalls || byCode != st.UpstreamCalls {
		h.t.Fatalf("fake saw %d requests; refresher counted %d attempts, %d by code (%v)", got, st.UpstreamCalls, byCode, st.UpstreamRequests)
	}
}

func TestRecoveryAfterOutagesLongerThanTheCredential(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	h.settle()
	for _, f := range []struct {
		name  string
		fault authtest.Fault
	}{{"500", authtest.Fault500}, {"401", authtest.Fault401}} {
		start := h.clk.Now()
		before := h.fake.Calls("awsS3Credentials")
		h.fake.InjectFault("awsS3Credentials", f.fault, -1)
		// The credential is served for 59 min; the outage lasts 70.
		var expiredAt time.Time
		var callsWhileServing int
		h.advanceTo(start.Add(70*time.Minute), func() {
			if _, err := h.r.Get(context.Background(), awsSrc.Key()); err != nil && expiredAt.IsZero() {
				expiredAt = h.clk.Now()
				callsWhileServing = h.fake.Calls("awsS3Credentials") - before
			}
		})
		if expiredAt.IsZero() {
			t.Fatalf("%s: the outage did not outlast the credential", f.name)
		}
		if st := h.state(awsSrc.Key()); st.Status != refresher.StatusExpired {
			t.Fatalf("%s: status %s after the credential lapsed", f.name, st.Status)
		}
		// While the last credential was served a refusal is retried
		// slowly (every 4.5 to 5.5 min over at most 59 min, plus one just
		// before the credential stops being served); transient failures
		// back off exponentially.
		if f.fault == authtest.Fault401 && callsWhileServing > 15 {
			t.Errorf("%s: %d requests while a credential was still served, want slow retries", f.name, callsWhileServing)
		}
		took := h.servedAgainWithin(awsSrc.Key(), 35*time.Second)
		h.oneRequestPerAttempt("awsS3Credentials", awsSrc.Key())
		t.Logf("%s outage: %d requests while serving, served again %s after it ended", f.name, callsWhileServing, took)
	}
}

func TestRetryFailingRetriesAtOnce(t *testing.T) {
	h := newHarness(t, hopt{scopes: []string{"auth:sentry:*"}}, awsSrc, sentrySrc)
	h.settle()
	// The sentry credential is held; its renewal is refused, so it waits
	// for the slow retry; the aws source has never been fetched.
	h.fake.SetClientScopes("credd")
	h.advanceTo(t0.Add(25*time.Hour), nil)
	if st := h.state(sentrySrc.Key()); st.Status != refresher.StatusDegraded || st.NextRenewal.Sub(h.clk.Now()) < time.Minute {
		t.Fatalf("sentry: want degraded with a slow retry pending, got %+v", st)
	}
	h.fake.SetClientScopes("credd", "auth:sentry:*", "auth:aws-s3:*")
	h.r.RetryFailing()
	// No clock step: the retries run now.
	h.waitClock("both sources to recover without the clock moving", func() bool {
		return h.state(awsSrc.Key()).Status == refresher.StatusOK && h.state(sentrySrc.Key()).Status == refresher.StatusOK
	})
}

func TestReloadKeepsCredentialWhoseParametersAreUnchanged(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	h.settle()
	first, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil {
		t.Fatal(err)
	}
	before := h.state(awsSrc.Key())
	// Taskcluster fails from now on: only the held credential can serve.
	h.fake.InjectFault("", authtest.Fault500, -1)

	margin := awsSrc
	margin.Margin = 10 * time.Minute
	if err := h.r.Set([]refresher.Source{margin}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	c, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil || c != first {
		t.Fatalf("margin-only reload: got %v, %v; want the same credential", c, err)
	}
	after := h.state(awsSrc.Key())
	if after.UpstreamCalls != before.UpstreamCalls || after.Status != refresher.StatusOK {
		t.Fatalf("margin-only reload fetched or disturbed the source: before %+v after %+v", before, after)
	}
	// A 10 min margin on a 1 h credential renews 44 to 50 min after issue;
	// the default 30 min margin renewed 24 to 30 min after.
	if !after.NextRenewal.After(first.Issued.Add(30 * time.Minute)) {
		t.Fatalf("margin change did not reschedule: before %s after %s", before.NextRenewal, after.NextRenewal)
	}

	renamed := margin
	renamed.Name = "renamed"
	if err := h.r.Set([]refresher.Source{renamed}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if c, err := h.r.Get(context.Background(), renamed.Key()); err != nil || c != first {
		t.Fatalf("rename: got %v, %v; want the same credential under the new name", c, err)
	}
	if _, err := h.r.Get(context.Background(), awsSrc.Key()); !errors.Is(err, refresher.ErrUnknownSource) {
		t.Fatalf("old name still answers: %v", err)
	}
	if got := h.state(renamed.Key()).UpstreamCalls; got != before.UpstreamCalls {
		t.Fatalf("rename lost the renewal state: %d calls, want %d", got, before.UpstreamCalls)
	}
}

func TestChangedBucketNeverServesTheOldKey(t *testing.T) {
	// The old source's renewal is in flight when the reload comes, and
	// completes afterwards, ignoring its cancellation: its credential
	// must not be stored. The new bucket's first fetch waits at its own
	// gate.
	var holdOld, newArrived atomic.Bool
	oldGate, newGate := make(chan struct{}), make(chan struct{})
	h := newHarness(t, hopt{wrap: func(f refresher.Fetcher) refresher.Fetcher {
		return refresher.FetcherFunc(func(ctx context.Context, s refresher.Source) (*refresher.Credential, error) {
			switch {
			case s.Bucket == awsSrc.Bucket && holdOld.Load():
				<-oldGate
				return f.Fetch(context.Background(), s)
			case s.Bucket != awsSrc.Bucket:
				newArrived.Store(true)
				select {
				case <-newGate:
				case <-ctx.Done():
				}
			}
			return f.Fetch(ctx, s)
		})
	}}, awsSrc)
	var releaseOld, releaseNew sync.Once
	t.Cleanup(func() { // before the harness stops
		releaseOld.Do(func() { close(oldGate) })
		releaseNew.Do(func() { close(newGate) })
	})
	h.settle()
	first, _ := h.r.Get(context.Background(), awsSrc.Key())
	holdOld.Store(true)
	h.clk.Set(h.state(awsSrc.Key()).NextRenewal)
	h.waitClock("the renewal to be held", func() bool { return h.tracker.live() == 1 })

	moved := awsSrc
	moved.Bucket = "other-bucket"
	done := make(chan error)
	go func() { done <- h.r.Set([]refresher.Source{moved}) }()
	h.waitClock("the held renewal to be cancelled and the new fetch to start", func() bool {
		return newArrived.Load() && h.tracker.live() == 1
	})
	if c := h.r.Current(awsSrc.Key()); c != nil {
		t.Fatalf("the old bucket's credential is served after the reload: %s", c.AWS.AccessKeyID)
	}
	releaseOld.Do(func() { close(oldGate) })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := h.r.Current(awsSrc.Key()); c != nil {
		t.Fatalf("served %s for the new bucket before its first fetch (old key %s)", c.AWS.AccessKeyID, first.AWS.AccessKeyID)
	}
	if st := h.state(awsSrc.Key()); st.Status != refresher.StatusPending || !strings.Contains(st.Description, "other-bucket") {
		t.Fatalf("state after the bucket change: %+v", st)
	}
	releaseNew.Do(func() { close(newGate) })
	h.settle()
	c, err := h.r.Get(context.Background(), awsSrc.Key())
	if err != nil || c.AWS.AccessKeyID == first.AWS.AccessKeyID {
		t.Fatalf("after the new fetch: %v, %v", c, err)
	}
	// Two credentials were issued after the first: the discarded renewal
	// and the new bucket's; the one served is the last.
	issued := h.fake.Issued("awsS3Credentials")
	if len(issued) != 3 || c.AWS.AccessKeyID != issued[2].Reveal() {
		t.Fatalf("served %s; issued %d credentials", c.AWS.AccessKeyID, len(issued))
	}
}

func TestWallClockAheadOfMonotonicRunsTheDueRenewal(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	h.settle()
	// The machine sleeps for 2 hours: its monotonic clock, which timers
	// follow, stands still; the wall clock jumps.
	h.clk.StepWall(2 * time.Hour)
	woke := h.clk.Now()
	// No time passes after the wake-up: the renewal must come at once,
	// not when some later timer fires.
	h.waitClock("the due renewal as the machine wakes", func() bool {
		st := h.state(awsSrc.Key())
		return st.Status == refresher.StatusOK && !st.Issued.Before(woke)
	})
	if now := h.clk.Now(); !now.Equal(woke) {
		t.Fatalf("the clock moved from %s to %s", woke, now)
	}
	if calls := h.fake.Calls("awsS3Credentials"); calls != 2 {
		t.Fatalf("upstream calls = %d, want the first fetch and the renewal", calls)
	}
}

// A wall-clock step that leaves the renewal still ahead wakes the loop,
// which looks at the clock and sleeps again without calling upstream.
func TestWallClockStepBeforeRenewalCallsNothing(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	h.settle()
	renewAt := h.state(awsSrc.Key()).NextRenewal
	h.clk.StepWall(time.Minute)
	h.settle()
	if calls := h.fake.Calls("awsS3Credentials"); calls != 1 {
		t.Fatalf("upstream calls = %d after a one-minute step, want only the first fetch", calls)
	}
	if next, ok := h.clk.Next(); !ok || !next.Equal(renewAt) {
		t.Fatalf("next wake-up %s (pending %v), want the renewal at %s", next, ok, renewAt)
	}
}

func TestLastErrorNamesStatusAndCodeNeverAnUpstreamPage(t *testing.T) {
	h := newHarness(t, hopt{before: func(f *authtest.Server) {
		f.InjectFault("awsS3Credentials", authtest.Fault503, -1)
		f.InjectFault("sentryDSN", authtest.Fault500, -1)
	}}, awsSrc, sentrySrc)
	h.settle()
	aws, sentry := h.state(awsSrc.Key()), h.state(sentrySrc.Key())
	if strings.Contains(aws.LastError, "<") || strings.Contains(aws.LastError, "Temporarily") || !strings.Contains(aws.LastError, "503") {
		t.Errorf("aws lastError = %q, want the status without the HTML page", aws.LastError)
	}
	if !strings.Contains(sentry.LastError, "500 InternalServerError") || !strings.Contains(sentry.LastError, "incidentId") {
		t.Errorf("sentry lastError = %q, want Taskcluster's code and message", sentry.LastError)
	}
	for _, l := range h.logs.All() {
		for k, v := range l.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "<html") {
				t.Errorf("log %q field %s quotes the upstream page: %q", l.Message, k, s)
			}
		}
	}
	if aws.Status != refresher.StatusPending || aws.UpstreamRequests["503"] != 1 || sentry.UpstreamRequests["500"] != 1 {
		t.Errorf("states: %+v %+v", aws, sentry)
	}
}
