package refresher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/clock"
)

// loop renews one source. Between attempts it sleeps until the next one is
// due, or until its credential stops being served (to report that as it
// happens), or until poked. Both are wall-clock times, so it waits on a
// WallTimer: a machine that slept past them renews as it wakes, and an
// idle refresher has no other timer.
func (r *Refresher) loop(ctx context.Context, e *entry) {
	key := e.src.Key()
	for ctx.Err() == nil {
		now := r.now()
		e.mu.Lock()
		due := !now.Before(e.nextAttempt)
		wake := e.nextAttempt
		e.mu.Unlock()
		if c := r.held(key); c != nil {
			if u := UsableUntil(c); u.After(now) && u.Before(wake) {
				wake = u
			}
		}
		if due {
			r.attempt(ctx, e)
			continue
		}
		r.observe(e, now)
		timer, stop := r.o.Clock.WallTimer(wake)
		select {
		case <-ctx.Done():
		case <-timer:
		case <-e.wake:
		}
		stop()
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
	now := r.now()
	code := requestCode(err, timedOut)
	if timedOut {
		err = fmt.Errorf("no answer from Taskcluster within %s", r.o.FetchTimeout)
	} else if err == nil && (cred == nil || !cred.Expires.After(now)) {
		err = errors.New("Taskcluster returned a credential that has already expired (is this machine's clock right?)")
	}

	// Recorded under r.mu, which Set holds to cancel a loop: a source that
	// was removed or changed never gets the credential it was fetching.
	key := e.src.Key()
	r.mu.Lock()
	if ctx.Err() != nil {
		r.mu.Unlock()
		return // shutting down or removed: not a failure of the source
	}
	held := r.held(key)
	e.mu.Lock()
	e.calls++
	if e.codes == nil {
		e.codes = map[string]int64{}
	}
	e.codes[code]++
	e.fetched = true
	var fail func()
	if err == nil {
		cred.Kind = e.src.Kind
		cred.Issued = now
		e.renewAt = RenewAt(now, cred.Expires, e.src.margin(), r.o.Rand())
		e.nextAttempt = e.renewAt
		e.failures, e.lastErr, e.loggedErr, e.retryAfter = 0, nil, "", 0
		e.renewals++
		r.store.Set(key, cred, gocache.NoExpiration)
		r.publish(key, cred)
	} else {
		e.failures++
		e.failTotal++
		e.lastErr = err
		permanent := isPermanent(err)
		next := NextRetry(now, err, e.failures, held, r.o.Rand)
		delay := next.Wait
		e.retryAfter = next.Asked
		e.nextAttempt = now.Add(delay)
		// Log the first failure of a run, and a refusal whenever its
		// reason changes; the rest go to debug.
		msg := errText(err)
		logNow := e.failures == 1 || (permanent && msg != e.loggedErr)
		e.loggedErr = msg
		failures := e.failures
		fail = func() { r.logFailure(e.src, err, permanent, logNow, failures, delay, next.Asked) }
	}
	e.mu.Unlock()
	r.mu.Unlock()
	if fail != nil {
		fail()
	}
	e.once.Do(func() { close(e.ready) })
	r.observe(e, now)
}

// requestCode labels the HTTP request an attempt made: the reply's status
// code, or why there was none.
func requestCode(err error, timedOut bool) string {
	var ae *authclient.Error
	var me *authclient.MalformedResponseError
	var te *authclient.TransportError
	switch {
	case err == nil:
		return strconv.Itoa(http.StatusOK)
	case timedOut:
		return "timeout"
	case errors.As(err, &ae):
		return strconv.Itoa(ae.StatusCode)
	case errors.As(err, &me):
		return strconv.Itoa(me.Status)
	case errors.As(err, &te):
		return "network"
	}
	return "error"
}

// errText describes a failed fetch for logs and status. A reply that was
// not Taskcluster JSON (a proxy's or load balancer's page) is named by
// its status alone: its body is never quoted.
func errText(err error) string {
	var ae *authclient.Error
	if errors.As(err, &ae) && ae.Code == "" {
		return fmt.Sprintf("auth %s: %d %s (not a Taskcluster reply; body not shown)", ae.Route, ae.StatusCode, http.StatusText(ae.StatusCode))
	}
	return err.Error()
}

// isPermanent reports a 4xx other than 429: wrong credentials, a missing
// scope, a bad parameter. Everything else (network, 5xx, 429, malformed
// replies, timeouts) is worth a quicker retry.
func isPermanent(err error) bool {
	var ae *authclient.Error
	return errors.As(err, &ae) && ae.StatusCode < 500 && ae.StatusCode != 429
}

func (r *Refresher) logFailure(s Source, err error, permanent, first bool, failures int, delay, asked time.Duration) {
	fields := []zap.Field{zap.String("source", s.Key()), zap.String("what", s.Describe()), zap.String("error", errText(err)),
		zap.Int("consecutiveFailures", failures), zap.Duration("retryIn", delay)}
	if asked > 0 {
		fields = append(fields, zap.Duration("retryAfter", asked))
	}
	if m := authclient.MissingScopes(err); len(m) > 0 {
		fields = append(fields, zap.Strings("missingScopes", m))
	}
	if skew, ok := authclient.ClockSkew(err, r.now()); ok {
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
