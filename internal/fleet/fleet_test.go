package fleet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/fleet"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// checkBooks: the service counted every request a source made, each
// second's answers add up, and every source that had nothing to serve
// when the outage ended served again.
func checkBooks(t *testing.T, r *fleet.Result) {
	t.Helper()
	if r.Requests != r.Attempts || r.Requests == 0 {
		t.Errorf("service received %d requests, sources made %d", r.Requests, r.Attempts)
	}
	var during, window int64
	outage := int(r.Config.Outage / time.Second)
	for i, s := range r.Seconds {
		if s.OK+s.Rejected+s.Failed != s.Received {
			t.Fatalf("second %d: %d answers for %d requests", i, s.OK+s.Rejected+s.Failed, s.Received)
		}
		if i < outage {
			during += int64(s.Received)
			if s.OK != 0 {
				t.Fatalf("second %d of the outage served %d credentials", i, s.OK)
			}
		}
		window += int64(s.Received)
	}
	if during != r.DuringOutage || window > r.Requests {
		t.Errorf("outage total %d, seconds say %d; window %d of %d", r.DuringOutage, during, window, r.Requests)
	}
	if r.Lapsed == 0 {
		t.Fatal("the outage did not outlast any credential")
	}
	if r.Unrecovered != 0 || len(r.Recovery) != r.Lapsed {
		t.Errorf("%d of %d lapsed sources served again, %d never did", len(r.Recovery), r.Lapsed, r.Unrecovered)
	}
}

func TestSmallFleetWithoutLimit(t *testing.T) {
	r, err := fleet.Run(fleet.Config{Hosts: 200, SourcesPerHost: 2, Outage: time.Hour, After: time.Hour, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	checkBooks(t, r)
	// Sources with nothing to serve retry at the recovery pace, so all
	// are back within one interval of the service's return.
	if worst := r.Percentile(100); worst > refresher.RecoveryRetry {
		t.Errorf("slowest recovery %s, want at most %s", worst, refresher.RecoveryRetry)
	}
	for i, s := range r.Seconds {
		if s.Rejected != 0 {
			t.Fatalf("second %d: %d rejected without a capacity limit", i, s.Rejected)
		}
	}
}

func TestSmallFleetWithLimit(t *testing.T) {
	c := fleet.Config{Hosts: 300, SourcesPerHost: 2, Lifetimes: []time.Duration{time.Hour, 2 * time.Hour}, Outage: 90 * time.Minute,
		After: time.Hour, Capacity: 5, LimitDuringOutage: true, Seed: 7}
	r, err := fleet.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	checkBooks(t, r)
	// The default Retry-After is the fleet's sources over the capacity,
	// and the sources were told it.
	if want := 120 * time.Second; r.Config.RetryAfter != want || r.MaxRetryAfterAsked != want {
		t.Errorf("Retry-After %s, sources told at most %s; want %s", r.Config.RetryAfter, r.MaxRetryAfterAsked, want)
	}
	rejected := 0
	for i, s := range r.Seconds {
		if s.OK+s.Failed > c.Capacity {
			t.Fatalf("second %d: the service admitted %d, capacity %d", i, s.OK+s.Failed, c.Capacity)
		}
		rejected += s.Rejected
	}
	if rejected == 0 {
		t.Fatal("the capacity limit never answered 503")
	}
	// The same seed gives the same run.
	again, err := fleet.Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if again.Requests != r.Requests || again.Percentile(99) != r.Percentile(99) {
		t.Errorf("seed %d: %d then %d requests", c.Seed, r.Requests, again.Requests)
	}
	var out strings.Builder
	r.Print(&out, 10*time.Minute)
	if !strings.Contains(out.String(), "| requests during the outage |") || !strings.Contains(out.String(), "never: 0") {
		t.Errorf("report:\n%s", out.String())
	}
}

func TestRunRefusesNonsense(t *testing.T) {
	for _, c := range []fleet.Config{
		{Hosts: -1},
		{Capacity: -5},
		{Lifetimes: []time.Duration{time.Second}},
		// An explicit zero is not replaced by a default.
		{Hosts: 0, SourcesPerHost: 2, After: time.Hour},
		{Hosts: 10, SourcesPerHost: 2, After: 0},
	} {
		if _, err := fleet.Run(c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
