package refresher

import (
	"context"
	"errors"
	"time"
)

// Errors Get returns. Both mean "try again later" to a consumer.
var (
	ErrNotReady      = errors.New("credential not available yet: the first fetch is still running")
	ErrExpired       = errors.New("credential not available: upstream is failing and the last one expired")
	ErrUnknownSource = errors.New("no such credential source")
)

// Get returns the current credential of a source. While the source's
// first fetch is running it waits for that same fetch, at most WaitBound.
// It never calls upstream itself.
func (r *Refresher) Get(ctx context.Context, key string) (*Credential, error) {
	if c := r.Current(key); c != nil {
		return c, nil
	}
	r.mu.RLock()
	e, ok := r.entries[key]
	r.mu.RUnlock()
	if !ok {
		return nil, ErrUnknownSource
	}
	select {
	case <-e.ready:
	default:
		timer, stop := r.o.Clock.Timer(r.o.WaitBound)
		defer stop()
		select {
		case <-e.ready:
		case <-timer:
			return nil, ErrNotReady
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if c := r.Current(key); c != nil {
		return c, nil
	}
	return nil, ErrExpired
}

// Current returns a source's credential if one may be served now, without
// waiting; nil otherwise.
func (r *Refresher) Current(key string) *Credential {
	c := r.held(key)
	if !usableAt(c, r.now()) {
		return nil
	}
	return c
}

// held returns the credential stored for a source, servable or not.
func (r *Refresher) held(key string) *Credential {
	v, ok := r.store.Get(key)
	if !ok {
		return nil
	}
	return v.(*Credential)
}

// usableAt reports whether c may be served at now.
func usableAt(c *Credential, now time.Time) bool {
	return c != nil && now.Before(UsableUntil(c))
}

// Ready reports whether every source holds a credential it may serve.
func (r *Refresher) Ready() bool {
	r.mu.RLock()
	keys := append([]string(nil), r.order...)
	r.mu.RUnlock()
	for _, k := range keys {
		if r.Current(k) == nil {
			return false
		}
	}
	return true
}

// WaitFirstRound blocks until every current source has finished its first
// fetch, successful or not, or ctx ends. A reload that replaces a source
// meanwhile makes it wait for the new one.
func (r *Refresher) WaitFirstRound(ctx context.Context) error {
	for {
		r.mu.RLock()
		chans := make([]chan struct{}, 0, len(r.entries))
		for _, e := range r.entries {
			chans = append(chans, e.ready)
		}
		r.mu.RUnlock()
		done := true
		for _, ch := range chans {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		r.mu.RLock()
		for _, e := range r.entries {
			select {
			case <-e.ready:
			default:
				done = false
			}
		}
		r.mu.RUnlock()
		if done {
			return nil
		}
	}
}
