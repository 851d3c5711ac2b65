package refresher

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// Options configure a Refresher. Zero values take the defaults.
type Options struct {
	Fetcher Fetcher
	Clock   clock.Clock
	Logger  *zap.Logger
	// MaxConcurrent bounds simultaneous upstream calls (default 4).
	MaxConcurrent int
	// FetchTimeout bounds one upstream call (default 30 s).
	FetchTimeout time.Duration
	// WaitBound is how long Get waits for a source's first fetch before
	// answering ErrNotReady (default 300 ms, well under the Go IMDS
	// client's 500 ms header timeout).
	WaitBound time.Duration
	// Rand returns values in [0,1) for jitter (default math/rand/v2).
	Rand func() float64
}

// Refresher keeps a set of sources fresh. Create it with New, give it
// sources with Set, and run it with Run.
type Refresher struct {
	o   Options
	log *zap.Logger
	// store holds the one copy of every served credential, by source key.
	// Its own expiry is off: it reads the real clock, and whether a
	// credential may still be served is decided on the injected one.
	store *gocache.Cache
	sem   chan struct{}

	setMu   sync.Mutex   // serialises Set
	mu      sync.RWMutex // guards the fields below
	entries map[string]*entry
	order   []string
	runCtx  context.Context
	wg      sync.WaitGroup
	subs    map[*Subscription]struct{}
}

// entry is a source's renewal state. Its credential is in the store.
type entry struct {
	src    Source
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once the first attempt has finished
	once   sync.Once

	wake chan struct{} // a send makes the loop look at the clock again

	mu sync.Mutex
	renewal
}

// renewal is what a source's loop knows; it moves to the new entry when a
// reload keeps the source's credential.
type renewal struct {
	renewAt     time.Time
	nextAttempt time.Time
	failures    int
	retryAfter  time.Duration // the wait Taskcluster asked for on the last failure
	lastErr     error
	loggedErr   string
	status      Status
	calls       int64
	codes       map[string]int64 // HTTP requests by status code
	renewals    int64
	failTotal   int64
	fetched     bool // the first attempt has finished
}

func newEntry(s Source) *entry {
	return &entry{src: s, ready: make(chan struct{}), wake: make(chan struct{}, 1), renewal: renewal{status: StatusPending}}
}

// poke wakes e's loop, if it sleeps.
func (e *entry) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// New returns a Refresher with no sources.
func New(o Options) *Refresher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 4
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 30 * time.Second
	}
	if o.WaitBound <= 0 {
		o.WaitBound = 300 * time.Millisecond
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &Refresher{
		o:       o,
		log:     o.Logger,
		store:   gocache.New(gocache.NoExpiration, 0),
		sem:     make(chan struct{}, o.MaxConcurrent),
		entries: map[string]*entry{},
		subs:    map[*Subscription]struct{}{},
	}
}

// Set replaces the set of sources. A source is identified by its kind and
// the parameters sent to Taskcluster, not by its name or margin: one whose
// identity is unchanged keeps its credential and renewal state, even under
// a new name, and a changed margin only reschedules its next renewal. New
// sources start fetching at once. Removed ones, and ones whose parameters
// changed, stop, and their credential is dropped before Set returns and
// never served again.
func (r *Refresher) Set(sources []Source) error {
	keys := map[string]Source{}
	order := make([]string, 0, len(sources))
	for _, s := range sources {
		if s.Name == "" {
			return fmt.Errorf("refresher: a source of kind %s has no name", s.Kind)
		}
		if _, dup := keys[s.Key()]; dup {
			return fmt.Errorf("refresher: duplicate source %s", s.Key())
		}
		keys[s.Key()] = s
		order = append(order, s.Key())
	}
	r.setMu.Lock()
	defer r.setMu.Unlock()
	r.mu.Lock()
	match := r.match(order, keys)
	next := make(map[string]*entry, len(order))
	carried := map[string]*Credential{}
	var started []*entry
	for _, key := range order {
		e, s := match[key], keys[key]
		switch {
		case e == nil:
			e = newEntry(s)
			started = append(started, e)
		case e.src != s:
			carried[key] = r.held(e.src.Key())
			e = r.carry(e, s, carried[key])
			started = append(started, e)
		}
		next[key] = e
	}
	var stopped, gone []*entry
	for key, e := range r.entries {
		if next[key] == e {
			continue
		}
		gone = append(gone, e)
		// Cancelled under r.mu, which a loop holds to record an attempt:
		// nothing it fetched from now on reaches the store.
		if e.cancel != nil {
			e.cancel()
			stopped = append(stopped, e)
		}
		if carried[key] != nil {
			// The same key keeps its credential: stored again below, never
			// absent in between for a reader that does not take r.mu.
			continue
		}
		r.store.Delete(key)
		r.publish(key, nil)
	}
	for key, c := range carried {
		if c != nil {
			r.store.Set(key, c, gocache.NoExpiration)
			r.publish(key, c)
		}
	}
	r.entries, r.order = next, order
	if r.runCtx != nil {
		for _, e := range started {
			r.start(e)
		}
	}
	r.mu.Unlock()
	for _, e := range stopped {
		<-e.done
	}
	// A replaced entry will never finish a first fetch: whoever waits for
	// it (WaitFirstRound) looks at the entries now in place instead.
	for _, e := range gone {
		e.once.Do(func() { close(e.ready) })
	}
	return nil
}

// match pairs each new source with the running entry that keeps serving
// it: the one under the same key if its identity is unchanged, else an
// unclaimed one of the same identity (a rename); r.mu is held.
func (r *Refresher) match(order []string, keys map[string]Source) map[string]*entry {
	match := map[string]*entry{}
	claimed := map[*entry]bool{}
	for _, key := range order {
		if e, ok := r.entries[key]; ok && e.src.identity() == keys[key].identity() {
			match[key], claimed[e] = e, true
		}
	}
	for _, key := range order {
		if match[key] != nil {
			continue
		}
		for _, old := range r.order {
			if e := r.entries[old]; !claimed[e] && e.src.identity() == keys[key].identity() {
				match[key], claimed[e] = e, true
				break
			}
		}
	}
	return match
}

// carry returns a new entry for s that continues old, whose credential c
// s keeps; r.mu is held. A changed margin moves the next renewal, unless
// the source is retrying after a failure.
func (r *Refresher) carry(old *entry, s Source, c *Credential) *entry {
	e := newEntry(s)
	old.mu.Lock()
	e.renewal = old.renewal
	e.codes = maps.Clone(old.codes)
	old.mu.Unlock()
	if e.fetched {
		close(e.ready)
		e.once.Do(func() {})
	}
	if c != nil && s.margin() != old.src.margin() {
		e.renewAt = RenewAt(c.Issued, c.Expires, s.margin(), r.o.Rand())
		if e.failures == 0 {
			e.nextAttempt = e.renewAt
		}
	}
	r.log.Info("source keeps its credential", zap.String("source", s.Key()), zap.String("was", old.src.Key()), zap.Time("nextRenewal", e.nextAttempt))
	return e
}

// start runs e's loop; r.mu is held.
func (r *Refresher) start(e *entry) {
	ctx, cancel := context.WithCancel(r.runCtx)
	e.cancel, e.done = cancel, make(chan struct{})
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(e.done)
		r.loop(ctx, e)
	}()
}

// Run fetches every source and keeps them fresh until ctx ends.
func (r *Refresher) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.runCtx != nil {
		r.mu.Unlock()
		return errors.New("refresher: already running")
	}
	r.runCtx = ctx
	for _, key := range r.order {
		r.start(r.entries[key])
	}
	r.mu.Unlock()
	// Set may start loops until ctx ends; then every loop ends.
	<-ctx.Done()
	r.wg.Wait()
	return nil
}

// RetryFailing makes every source whose last fetch failed try again now,
// rather than at its scheduled retry: the cause (the config, or
// tc-credd's own credentials) may just have been fixed. A source that
// Taskcluster asked to wait (Retry-After) keeps its wait.
func (r *Refresher) RetryFailing() {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range r.entries {
		e.mu.Lock()
		// A wait Taskcluster asked for stands: it answered about its
		// load, which new credentials or a new config do not lighten,
		// and a fleet rotating credentials together would return at once.
		failing := e.failures > 0 && e.retryAfter == 0 && e.nextAttempt.After(now)
		if failing {
			e.nextAttempt = now
		}
		e.mu.Unlock()
		if failing {
			e.poke()
		}
	}
}

// now reads the injected clock without its monotonic reading. Schedules
// are compared with the wall clock: a time carrying a monotonic reading
// compares by that reading, which stands still while the machine sleeps.
func (r *Refresher) now() time.Time { return r.o.Clock.Now().Round(0) }

// Sources returns the configured sources in order.
func (r *Refresher) Sources() []Source {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Source, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.entries[k].src)
	}
	return out
}
