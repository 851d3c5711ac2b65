package refresher

import "time"

// MaxJitter is the largest share of a credential's lifetime by which its
// renewal is moved earlier, so that daemons started together spread out.
const MaxJitter = 0.10

// RenewAt decides when a credential should be renewed. It is a pure
// function of the credential's issue and expiry times, the least validity
// that must remain (margin), and a jitter in [0,1) drawn once per
// credential.
//
//   - Normally: when margin remains, but no later than two thirds of the
//     lifetime (so a 96 h token with a 24 h margin renews at 64 h).
//   - When the lifetime is too short for the margin (margin ≥ half of it,
//     e.g. 60-second test credentials): at half-life.
//
// Jitter then moves the instant earlier by up to MaxJitter of the lifetime,
// never later, so the margin holds.
func RenewAt(issued, expires time.Time, margin time.Duration, jitter float64) time.Time {
	life := expires.Sub(issued)
	if life <= 0 {
		return issued
	}
	var at time.Time
	if margin >= life/2 {
		at = issued.Add(life / 2)
	} else {
		at = expires.Add(-margin)
		if twoThirds := issued.Add(life * 2 / 3); twoThirds.Before(at) {
			at = twoThirds
		}
	}
	return at.Add(-time.Duration(jitter * MaxJitter * float64(life)))
}

// usableUntil is when a credential stops being served: the kind's floor
// before expiry, but never more than a quarter of a short lifetime.
func usableUntil(c *Credential) time.Time {
	if c == nil {
		return time.Time{}
	}
	floor := min(defaultFloor(c.Kind), c.Expires.Sub(c.Issued)/4)
	return c.Expires.Add(-floor)
}

// Backoff after failures.
const (
	BackoffBase = time.Second
	BackoffMax  = 5 * time.Minute
	// SlowRetry spaces retries after 401/403/4xx while the last good
	// credential is still served: the credentials or the config are
	// wrong, and hammering Taskcluster will not fix them.
	SlowRetry = 5 * time.Minute
	// RecoveryRetry is the longest wait between retries while a source
	// has nothing to serve, whatever the failure.
	RecoveryRetry = 30 * time.Second
)

// recoveryDelay is RecoveryRetry less up to 20 %, so that hosts that lost
// their credentials together do not retry together. jitter is in [0,1).
func recoveryDelay(jitter float64) time.Duration {
	return time.Duration(float64(RecoveryRetry) * (0.8 + 0.2*jitter))
}

// retryDelay returns the wait after the n-th consecutive failure (from 1).
// Transient failures back off exponentially from BackoffBase, capped at
// BackoffMax, with ±20 % jitter; permanent ones wait SlowRetry ±10 %.
// jitter is in [0,1).
func retryDelay(n int, permanent bool, jitter float64) time.Duration {
	if permanent {
		return time.Duration(float64(SlowRetry) * (0.9 + 0.2*jitter))
	}
	d := BackoffBase << min(n-1, 20)
	if d > BackoffMax {
		d = BackoffMax
	}
	return min(time.Duration(float64(d)*(0.8+0.4*jitter)), BackoffMax)
}
