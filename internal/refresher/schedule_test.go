package refresher

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
)

func TestRenewAt(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := time.Hour
	cases := []struct {
		name        string
		life        time.Duration
		margin      time.Duration
		jitter      float64
		wantElapsed time.Duration // renewal instant after issue
	}{
		{"aws 1h, margin 30m: half-life", h, 30 * time.Minute, 0, 30 * time.Minute},
		{"aws with full jitter: 6 min earlier", h, 30 * time.Minute, 1, 24 * time.Minute},
		{"gcp 1h, margin 10m: two thirds", h, 10 * time.Minute, 0, 40 * time.Minute},
		{"azure 25m, margin 10m", 25 * time.Minute, 10 * time.Minute, 0, 15 * time.Minute},
		{"sentry 48h, margin 24h", 48 * h, 24 * h, 0, 24 * h},
		{"websocktunnel 96h, margin 24h: two thirds", 96 * h, 24 * h, 0, 64 * h},
		{"60s test credentials: half-life", time.Minute, 30 * time.Minute, 0, 30 * time.Second},
		{"60s with jitter", time.Minute, 30 * time.Minute, 0.5, 27 * time.Second},
		{"already expired", 0, 30 * time.Minute, 0, 0},
	}
	for _, c := range cases {
		got := RenewAt(t0, t0.Add(c.life), c.margin, c.jitter).Sub(t0)
		if got != c.wantElapsed {
			t.Errorf("%s: renew after %s, want %s", c.name, got, c.wantElapsed)
		}
		if c.life > 2*c.margin && c.life-got < c.margin {
			t.Errorf("%s: leaves %s, less than the margin %s", c.name, c.life-got, c.margin)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	if d := retryDelay(1, false, 0.5); d != time.Second {
		t.Errorf("first transient retry %s, want 1s", d)
	}
	if d := retryDelay(4, false, 0.5); d != 8*time.Second {
		t.Errorf("fourth transient retry %s, want 8s", d)
	}
	if d := retryDelay(40, false, 0.999); d != BackoffMax {
		t.Errorf("capped retry %s, want %s", d, BackoffMax)
	}
	if d := retryDelay(1, true, 0); d < SlowRetry*9/10 {
		t.Errorf("permanent retry %s is faster than the slow rate", d)
	}
}

func TestUsableUntil(t *testing.T) {
	t0 := time.Unix(0, 0)
	c := &Credential{Kind: AWS, Issued: t0, Expires: t0.Add(time.Hour)}
	if got := UsableUntil(c); !got.Equal(t0.Add(59 * time.Minute)) {
		t.Errorf("aws usable until %s", got)
	}
	c.Kind = GCP
	if got := UsableUntil(c); !got.Equal(t0.Add(55 * time.Minute)) {
		t.Errorf("gcp usable until %s", got)
	}
	c.Expires = t0.Add(time.Minute)
	if got := UsableUntil(c); !got.Equal(t0.Add(45 * time.Second)) {
		t.Errorf("short credential usable until %s", got)
	}
}

// TestSchedulesUseTheWallClock: the refresher's times carry no monotonic
// reading, which would make comparisons ignore a suspend or a clock step.
func TestSchedulesUseTheWallClock(t *testing.T) {
	r := New(Options{})
	if now := r.now(); strings.Contains(now.String(), "m=") {
		t.Fatalf("refresher time %s carries a monotonic reading", now)
	}
}

func TestNextRetry(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	// held returns an aws credential served for another d (expired when
	// d is negative).
	held := func(d time.Duration) *Credential {
		exp := now.Add(d + time.Minute)
		return &Credential{Kind: AWS, Issued: exp.Add(-time.Hour), Expires: exp}
	}
	busy := func(status int, d time.Duration) error {
		return &authclient.Error{Route: "awsS3Credentials", StatusCode: status, RetryAfter: d}
	}
	refused := &authclient.Error{Route: "awsS3Credentials", StatusCode: 401, Code: "AuthenticationFailed"}
	cases := []struct {
		name     string
		err      error
		failures int
		held     *Credential
		jitter   float64
		min, max time.Duration
		asked    time.Duration
	}{
		// Without Retry-After: backoff, slow retry, recovery pace.
		{"500, nothing served: recovery pace", busy(500, 0), 12, nil, 0.5, 24 * time.Second, 30 * time.Second, 0},
		{"500, served long: full backoff", busy(500, 0), 12, held(time.Hour), 0.5, BackoffMax * 8 / 10, BackoffMax, 0},
		{"401, served long: slow retry", refused, 1, held(time.Hour), 0.5, SlowRetry * 9 / 10, SlowRetry * 11 / 10, 0},
		{"500, served 40 s more: retry as it lapses", busy(500, 0), 12, held(40 * time.Second), 0.5, 40 * time.Second, 40 * time.Second, 0},
		// Retry-After outranks the backoff, both ways.
		{"503 60, nothing served: later than the recovery pace", busy(503, time.Minute), 1, nil, 0, time.Minute, time.Minute, time.Minute},
		{"503 60 with full jitter", busy(503, time.Minute), 1, nil, 0.999, 71 * time.Second, 72 * time.Second, time.Minute},
		{"expired credential counts as nothing", busy(503, time.Minute), 1, held(-time.Minute), 0, time.Minute, time.Minute, time.Minute},
		{"429 10 after long backoff: sooner", busy(429, 10*time.Second), 12, held(time.Hour), 0.5, 10 * time.Second, 12 * time.Second, 10 * time.Second},
		// Our jitter stops where the credential stops being served.
		{"jitter clipped at the end of service", busy(503, time.Minute), 3, held(65 * time.Second), 0.999, 65 * time.Second, 65 * time.Second, time.Minute},
		{"jitter inside the service time", busy(503, time.Minute), 3, held(65 * time.Second), 0.1, 61 * time.Second, 62 * time.Second, time.Minute},
		// The service's own wait may run past it.
		{"asked past the end of service", busy(503, 2*time.Minute), 3, held(30 * time.Second), 0, 2 * time.Minute, 2 * time.Minute, 2 * time.Minute},
		// At the bound the window ends at the bound, still spread.
		{"bound, no jitter", busy(503, authclient.MaxRetryAfter), 1, nil, 0, 12 * time.Minute, 12 * time.Minute, authclient.MaxRetryAfter},
		{"bound, full jitter", busy(503, authclient.MaxRetryAfter), 1, nil, 0.999, 14*time.Minute + 59*time.Second, authclient.MaxRetryAfter, authclient.MaxRetryAfter},
	}
	for _, c := range cases {
		got := NextRetry(now, c.err, c.failures, c.held, fixed(c.jitter))
		if got.Wait < c.min || got.Wait > c.max || got.Asked != c.asked {
			t.Errorf("%s: wait %s asked %s; want wait in [%s, %s], asked %s", c.name, got.Wait, got.Asked, c.min, c.max, c.asked)
		}
	}
}

// TestRetryAfterSpreadsAFleet: a thousand hosts told "60" at the same
// instant come back over more than ten distinct seconds, none sooner.
func TestRetryAfterSpreadsAFleet(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	err := &authclient.Error{Route: "awsS3Credentials", StatusCode: 503, RetryAfter: time.Minute}
	rng := rand.New(rand.NewPCG(3, 4))
	seconds := map[time.Duration]int{}
	for range 1000 {
		w := NextRetry(now, err, 1, nil, rng.Float64).Wait
		if w < time.Minute {
			t.Fatalf("wait %s is sooner than asked", w)
		}
		seconds[w.Truncate(time.Second)]++
	}
	if len(seconds) <= 10 {
		t.Fatalf("a fleet told 60 returns over %d seconds: %v", len(seconds), seconds)
	}
	for s, n := range seconds {
		if n > 150 {
			t.Errorf("%d of 1000 hosts return in second %s", n, s)
		}
	}
}
