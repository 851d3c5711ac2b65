package refresher

import (
	"context"
	"errors"
	"fmt"
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
	// MaxPoll caps every wait, so a suspended machine or a clock jump
	// cannot skip a renewal (default 1 min).
	MaxPoll time.Duration
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

	mu          sync.Mutex
	renewAt     time.Time
	nextAttempt time.Time
	failures    int
	lastErr     error
	loggedErr   string
	status      Status
	calls       int64
	renewals    int64
	failTotal   int64
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
	if o.MaxPoll <= 0 {
		o.MaxPoll = time.Minute
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

// Set replaces the set of sources. Sources whose Source value is unchanged
// keep their credential and schedule; new ones start fetching at once;
// removed ones stop and their credential is dropped; changed ones restart.
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
	var stale []*entry
	for key, e := range r.entries {
		if s, ok := keys[key]; !ok || s != e.src {
			stale = append(stale, e)
			delete(r.entries, key)
		}
	}
	r.mu.Unlock()
	// Stop outside r.mu: a loop finishing an attempt takes r.mu to publish.
	for _, e := range stale {
		stop(e)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range stale {
		r.store.Delete(e.src.Key())
		r.publish(e.src.Key(), nil)
	}
	for _, key := range order {
		if _, ok := r.entries[key]; ok {
			continue
		}
		e := &entry{src: keys[key], ready: make(chan struct{}), status: StatusPending}
		r.entries[key] = e
		if r.runCtx != nil {
			r.start(e)
		}
	}
	r.order = order
	return nil
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

// stop ends e's loop and waits for it.
func stop(e *entry) {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
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
	<-ctx.Done()
	r.wg.Wait()
	return nil
}

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
