package refresher

import (
	"context"
	"sync"
)

// Event says a source's credential changed. Credential is nil when the
// source was removed.
type Event struct {
	Key        string
	Credential *Credential
}

// Subscription receives credential changes. Changes coalesce: a slow
// reader sees the latest credential of each source, never a stale one,
// and never blocks the refresher.
type Subscription struct {
	r       *Refresher
	mu      sync.Mutex
	pending map[string]*Credential
	order   []string
	notify  chan struct{}
}

// Subscribe returns a subscription that first delivers every credential
// already held, then each change.
func (r *Refresher) Subscribe() *Subscription {
	s := &Subscription{r: r, pending: map[string]*Credential{}, notify: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.order {
		if c := r.held(k); c != nil {
			s.push(k, c)
		}
	}
	r.subs[s] = struct{}{}
	return s
}

// Close stops delivery.
func (s *Subscription) Close() {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	delete(s.r.subs, s)
}

func (s *Subscription) push(key string, c *Credential) {
	s.mu.Lock()
	if _, ok := s.pending[key]; !ok {
		s.order = append(s.order, key)
	}
	s.pending[key] = c
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Next blocks until there are changes and returns them, oldest key first.
func (s *Subscription) Next(ctx context.Context) ([]Event, error) {
	for {
		s.mu.Lock()
		if len(s.order) > 0 {
			out := make([]Event, 0, len(s.order))
			for _, k := range s.order {
				out = append(out, Event{Key: k, Credential: s.pending[k]})
			}
			s.order, s.pending = nil, map[string]*Credential{}
			s.mu.Unlock()
			return out, nil
		}
		s.mu.Unlock()
		select {
		case <-s.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// publish tells subscribers; r.mu is held.
func (r *Refresher) publish(key string, c *Credential) {
	for s := range r.subs {
		s.push(key, c)
	}
}
