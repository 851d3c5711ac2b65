package refresher_test

import (
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// TestRetryAfterHoldsANewSource: a source with nothing to serve would
// retry within 30 s; told to wait 120 s, it waits at least that long, a
// reload's retry-at-once does not cut the wait, and the wait shows in the
// state until the next fetch succeeds.
func TestRetryAfterHoldsANewSource(t *testing.T) {
	h := newHarness(t, hopt{before: func(f *authtest.Server) {
		f.InjectRetryAfter("awsS3Credentials", authtest.Fault503, "120", 1)
	}}, awsSrc)
	h.settle()
	st := h.state(awsSrc.Key())
	if st.Status != refresher.StatusPending || st.RetryAfterSeconds != 120 {
		t.Fatalf("after a 503 with Retry-After 120: %+v", st)
	}
	if wait := st.NextRenewal.Sub(t0); wait < 120*time.Second || wait > 144*time.Second {
		t.Fatalf("next attempt %s after the 503, want 120 s to 144 s", wait)
	}
	h.r.RetryFailing()
	if got := h.state(awsSrc.Key()).NextRenewal; !got.Equal(st.NextRenewal) {
		t.Fatalf("retry-at-once moved the attempt the service put off to %s (was %s)", got, st.NextRenewal)
	}
	h.advanceTo(t0.Add(119*time.Second), nil)
	if n := h.fake.Calls("awsS3Credentials"); n != 1 {
		t.Fatalf("%d requests within the 120 s asked for, want 1", n)
	}
	h.advanceTo(st.NextRenewal, nil)
	st = h.state(awsSrc.Key())
	if st.Status != refresher.StatusOK || st.RetryAfterSeconds != 0 || h.fake.Calls("awsS3Credentials") != 2 {
		t.Fatalf("at the end of the wait: %d requests, state %+v", h.fake.Calls("awsS3Credentials"), st)
	}
	h.oneRequestPerAttempt("awsS3Credentials", awsSrc.Key())
}

// TestRetryAfterShortensALongBackoff: a source still serving, whose 500s
// have backed off to minutes, retries within seconds when a 429 asks it
// to.
func TestRetryAfterShortensALongBackoff(t *testing.T) {
	h := newHarness(t, hopt{}, awsSrc)
	h.settle()
	first := h.state(awsSrc.Key())
	h.fake.InjectFault("awsS3Credentials", authtest.Fault500, -1)
	// From the renewal on, 500s back off: 1, 2, 4 ... 256 s, then 5 min.
	h.advanceTo(first.NextRenewal.Add(10*time.Minute), nil)
	st := h.state(awsSrc.Key())
	if st.Status != refresher.StatusDegraded || st.NextRenewal.Sub(h.clk.Now()) < time.Minute {
		t.Fatalf("want a degraded source on a long backoff, got %+v", st)
	}
	h.fake.ClearFaults()
	h.fake.InjectRetryAfter("awsS3Credentials", authtest.Fault429, "5", 1)
	h.fake.InjectFault("awsS3Credentials", authtest.Fault500, -1)
	calls := h.fake.Calls("awsS3Credentials")
	var told refresher.State
	var at time.Time
	h.advanceTo(h.clk.Now().Add(6*time.Minute), func() {
		if at.IsZero() && h.fake.Calls("awsS3Credentials") == calls+1 {
			told, at = h.state(awsSrc.Key()), h.clk.Now()
		}
	})
	if at.IsZero() {
		t.Fatal("no attempt within the backoff")
	}
	if wait := told.NextRenewal.Sub(at); told.RetryAfterSeconds != 5 || wait < 5*time.Second || wait > 6*time.Second {
		t.Fatalf("after a 429 with Retry-After 5: next attempt in %s, state %+v", wait, told)
	}
	// The 500 that follows brings the backoff back.
	if st := h.state(awsSrc.Key()); st.RetryAfterSeconds != 0 || st.UpstreamRequests["429"] != 1 {
		t.Fatalf("after the following 500: %+v", st)
	}
	h.oneRequestPerAttempt("awsS3Credentials", awsSrc.Key())
}
