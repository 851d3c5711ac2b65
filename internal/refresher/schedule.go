package refresher

import (
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
)

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
func UsableUntil(c *Credential) time.Time {
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

// Retry is the schedule after a failed attempt.
type Retry struct {
	// Wait is how long to wait before the next attempt.
	Wait time.Duration
	// Asked is the wait the service asked for with Retry-After, bounded;
	// 0 when it asked for none.
	Asked time.Duration
}

// NextRetry decides when to try again after an attempt at now failed with
// err, the failures-th failure in a row; held is the credential still
// stored (nil if none), servable or not, and rnd draws jitter in [0,1).
// It depends on nothing else, so the daemon's loop and the fleet
// simulator schedule by the same rule.
//
// Without Retry-After: the backoff of retryDelay, but one attempt just as
// the held credential stops being served rather than sleeping past it,
// and at most RecoveryRetry apart while nothing is servable.
//
// With Retry-After on a 429 or 503, the service's wait replaces all of
// that, in both directions: sooner than a long backoff or the slow retry
// of a refusal, and later than RecoveryRetry even with nothing to serve,
// because the service knows its load and the fleet's size and a client
// does not. The wait is jittered later (retryAfterDelay) so a fleet told
// the same value spreads out. One exception protects the clients: the
// jitter never carries a wait past the moment the held credential stops
// being served; if the service's own value runs past it, that was the
// service's choice and it is honoured.
func NextRetry(now time.Time, err error, failures int, held *Credential, rnd func() float64) Retry {
	served := UsableUntil(held).Sub(now)
	if held == nil || served < 0 {
		served = 0
	}
	if asked := authclient.RetryAfter(err); asked > 0 {
		wait := retryAfterDelay(asked, rnd())
		if asked <= served && wait > served {
			wait = served
		}
		return Retry{Wait: wait, Asked: asked}
	}
	delay := retryDelay(failures, isPermanent(err), rnd())
	if served > 0 && served < delay {
		// Try once more just before the last good credential stops
		// being served, rather than sleeping past it.
		delay = served
	}
	if served == 0 {
		// Nothing to serve: every client is failing, and one request
		// per RecoveryRetry costs Taskcluster little.
		delay = min(delay, recoveryDelay(rnd()))
	}
	return Retry{Wait: delay}
}

// RetryAfterSpread is how much later than asked a Retry-After wait may
// end, as a share of the wait: a fleet told "60" returns over 12 s, not
// in one second.
const RetryAfterSpread = 0.20

// retryAfterDelay jitters the service's wait later by up to
// RetryAfterSpread of it, never sooner than asked. Near the bound, where
// the wait would pass MaxRetryAfter, the window ends at the bound
// instead, so that even a fleet told a wait above it spreads out.
// jitter is in [0,1).
func retryAfterDelay(asked time.Duration, jitter float64) time.Duration {
	span := time.Duration(float64(asked) * RetryAfterSpread)
	lo := asked
	if lo+span > authclient.MaxRetryAfter {
		lo = authclient.MaxRetryAfter - span
	}
	return lo + time.Duration(jitter*float64(span))
}
