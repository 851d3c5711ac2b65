package refresher

import (
	"strings"
	"testing"
	"time"
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
	if got := usableUntil(c); !got.Equal(t0.Add(59 * time.Minute)) {
		t.Errorf("aws usable until %s", got)
	}
	c.Kind = GCP
	if got := usableUntil(c); !got.Equal(t0.Add(55 * time.Minute)) {
		t.Errorf("gcp usable until %s", got)
	}
	c.Expires = t0.Add(time.Minute)
	if got := usableUntil(c); !got.Equal(t0.Add(45 * time.Second)) {
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
