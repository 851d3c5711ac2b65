package refresher

import (
	"context"
	"errors"
	"fmt"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/clock"
)

func (r *Refresher) loop(ctx context.Context, e *entry) {
	key := e.src.Key()
	for ctx.Err() == nil {
		now := r.o.Clock.Now()
		e.mu.Lock()
		due := !now.Before(e.nextAttempt)
		wake := e.nextAttempt
		e.mu.Unlock()
		if c := r.held(key); c != nil {
			if u := usableUntil(c); u.After(now) && u.Before(wake) {
				wake = u // wake to report the expiry as it happens
			}
		}
		if due {
			r.attempt(ctx, e)
			continue
		}
		r.observe(e, now)
		if err := clock.Sleep(ctx, r.o.Clock, min(wake.Sub(now), r.o.MaxPoll)); err != nil {
			return
		}
	}
}

// attempt makes one upstream call for e and records the outcome.
func (r *Refresher) attempt(ctx context.Context, e *entry) {
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	fctx, cancel := clock.WithTimeout(ctx, r.o.Clock, r.o.FetchTimeout)
	cred, err := r.o.Fetcher.Fetch(fctx, e.src)
	timedOut := fctx.Err() != nil && ctx.Err() == nil
	cancel()
	<-r.sem
	if ctx.Err() != nil {
		return // shutting down or removed: not a failure of the source
	}
	now := r.o.Clock.Now()
	if timedOut {
		err = fmt.Errorf("no answer from Taskcluster within %s", r.o.FetchTimeout)
	} else if err == nil && (cred == nil || !cred.Expires.After(now)) {
		err = errors.New("Taskcluster returned a credential that has already expired (is this machine's clock right?)")
	}

	key := e.src.Key()
	if err == nil {
		cred.Kind = e.src.Kind
		cred.Issued = now
		e.mu.Lock()
		e.calls++
		e.renewAt = RenewAt(now, cred.Expires, e.src.margin(), r.o.Rand())
		e.nextAttempt = e.renewAt
		e.failures, e.lastErr, e.loggedErr = 0, nil, ""
		e.renewals++
		e.mu.Unlock()
		r.mu.Lock()
		r.store.Set(key, cred, gocache.NoExpiration)
		r.publish(key, cred)
		r.mu.Unlock()
	} else {
		held := r.held(key)
		e.mu.Lock()
		e.calls++
		e.failures++
		e.failTotal++
		e.lastErr = err
		permanent := isPermanent(err)
		delay := retryDelay(e.failures, permanent, r.o.Rand())
		if held != nil {
			// Try once more just before the last good credential stops
			// being served, rather than sleeping past it.
			if u := usableUntil(held).Sub(now); u > 0 && u < delay {
				delay = u
			}
		}
		e.nextAttempt = now.Add(delay)
		// Log the first failure of a run, and a refusal whenever its
		// reason changes; the rest go to debug.
		msg := err.Error()
		logNow := e.failures == 1 || (permanent && msg != e.loggedErr)
		e.loggedErr = msg
		failures := e.failures
		e.mu.Unlock()
		r.logFailure(e.src, err, permanent, logNow, failures, delay)
	}
	e.once.Do(func() { close(e.ready) })
	r.observe(e, now)
}

// isPermanent reports a 4xx other than 429: wrong credentials, a missing
// scope, a bad parameter. Everything else (network, 5xx, 429, malformed
// replies, timeouts) is worth a quicker retry.
func isPermanent(err error) bool {
	var ae *authclient.Error
	return errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != 429
}

func (r *Refresher) logFailure(s Source, err error, permanent, first bool, failures int, delay time.Duration) {
	fields := []zap.Field{zap.String("source", s.Key()), zap.String("what", s.Describe()), zap.String("error", err.Error()),
		zap.Int("consecutiveFailures", failures), zap.Duration("retryIn", delay)}
	if m := authclient.MissingScopes(err); len(m) > 0 {
		fields = append(fields, zap.Strings("missingScopes", m))
	}
	if skew, ok := authclient.ClockSkew(err, r.o.Clock.Now()); ok {
		// The service allows ±15 min and says nothing else: say it here.
		fields = append(fields, zap.Duration("localClockAheadOfServer", skew),
			zap.String("hint", "this machine's clock is off by more than 15 minutes; fix NTP"))
	}
	switch {
	case permanent && first:
		r.log.Error("fetch refused by Taskcluster; retrying slowly", fields...)
	case first:
		r.log.Warn("fetch failed; retrying with backoff", fields...)
	default:
		r.log.Debug("fetch failed again", fields...)
	}
}
