package refresher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	gocache "github.com/patrickmn/go-cache"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/clock"
)

// Status is a source's health.
type Status string

// Statuses. Transitions between them are logged once each.
const (
	// StatusPending: the first fetch has not finished.
	StatusPending Status = "pending"
	// StatusOK: a valid credential, and the last fetch succeeded.
	StatusOK Status = "ok"
	// StatusDegraded: the last fetch failed; the last good credential is
	// still served.
	StatusDegraded Status = "degraded"
	// StatusExpired: no credential can be served.
	StatusExpired Status = "expired"
)

// Errors Get returns. Both mean "try again later" to a consumer.
var (
	ErrNotReady      = errors.New("credential not available yet: the first fetch is still running")
	ErrExpired       = errors.New("credential not available: upstream is failing and the last one expired")
	ErrUnknownSource = errors.New("no such credential source")
)

// State is a source's state, for status pages, readiness and metrics. It
// holds no secret.
type State struct {
	Key                 string    `json:"key"`
	Kind                Kind      `json:"kind"`
	Name                string    `json:"name"`
	Description         string    `json:"description"`
	Status              Status    `json:"status"`
	Issued              time.Time `json:"issued,omitzero"`
	Expires             time.Time `json:"expires,omitzero"`
	NextRenewal         time.Time `json:"nextRenewal,omitzero"`
	LastError           string    `json:"lastError,omitempty"`
	MissingScopes       []string  `json:"missingScopes,omitempty"`
	ConsecutiveFailures int       `json:"consecutiveFailures"`
	UpstreamCalls       int64     `json:"upstreamCalls"`
	Renewals            int64     `json:"renewals"`
	Failures            int64     `json:"failures"`
}

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
	o     Options
	log   *zap.Logger
	store *gocache.Cache // key → *Credential; expiry is ours, on the injected clock
	sem   chan struct{}

	setMu   sync.Mutex   // serialises Set
	mu      sync.RWMutex // guards the fields below; the request path only reads
	entries map[string]*entry
	// lookup is a copy of entries for Get, replaced whenever entries
	// changes: the request path reads it without taking mu, whose reader
	// count would otherwise bounce between cores on every request.
	lookup  atomic.Pointer[map[string]*entry]
	order   []string
	runCtx  context.Context
	wg      sync.WaitGroup
	changed chan struct{} // closed and replaced on every credential change
	subs    map[*Subscription]struct{}
}

type entry struct {
	src    Source
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{} // closed once the first attempt has finished
	once   sync.Once

	mu          sync.Mutex
	cred        *Credential
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
	r := &Refresher{
		o:       o,
		log:     o.Logger,
		store:   gocache.New(gocache.NoExpiration, 0),
		sem:     make(chan struct{}, o.MaxConcurrent),
		entries: map[string]*entry{},
		changed: make(chan struct{}),
		subs:    map[*Subscription]struct{}{},
	}
	r.publishLookup()
	return r
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
	r.publishLookup()
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
	r.publishLookup()
	return nil
}

// publishLookup copies entries for Get; r.mu is held.
func (r *Refresher) publishLookup() {
	m := make(map[string]*entry, len(r.entries))
	for k, e := range r.entries {
		m[k] = e
	}
	r.lookup.Store(&m)
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

func (r *Refresher) loop(ctx context.Context, e *entry) {
	for ctx.Err() == nil {
		now := r.o.Clock.Now()
		e.mu.Lock()
		due := !now.Before(e.nextAttempt)
		wake := e.nextAttempt
		if e.cred != nil {
			if u := usableUntil(e.cred); u.After(now) && u.Before(wake) {
				wake = u // wake to report the expiry as it happens
			}
		}
		e.mu.Unlock()
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

	e.mu.Lock()
	e.calls++
	if err == nil {
		cred.Kind = e.src.Kind
		cred.Issued = now
		e.cred = cred
		e.renewAt = RenewAt(now, cred.Expires, e.src.margin(), r.o.Rand())
		e.nextAttempt = e.renewAt
		e.failures, e.lastErr, e.loggedErr = 0, nil, ""
		e.renewals++
		e.mu.Unlock()
		r.store.Set(e.src.Key(), cred, gocache.NoExpiration)
		r.mu.Lock()
		r.publish(e.src.Key(), cred)
		r.mu.Unlock()
	} else {
		e.failures++
		e.failTotal++
		e.lastErr = err
		permanent := isPermanent(err)
		delay := retryDelay(e.failures, permanent, r.o.Rand())
		if e.cred != nil {
			// Try once more just before the last good credential stops
			// being served, rather than sleeping past it.
			if u := usableUntil(e.cred).Sub(now); u > 0 && u < delay {
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

// observe logs a status transition once.
func (r *Refresher) observe(e *entry, now time.Time) {
	e.mu.Lock()
	st := e.statusAt(now)
	prev := e.status
	e.status = st
	var lastErr string
	if e.lastErr != nil {
		lastErr = e.lastErr.Error()
	}
	var expires time.Time
	if e.cred != nil {
		expires = e.cred.Expires
	}
	e.mu.Unlock()
	if st == prev {
		return
	}
	fields := []zap.Field{zap.String("source", e.src.Key()), zap.String("from", string(prev)), zap.String("to", string(st))}
	if !expires.IsZero() {
		fields = append(fields, zap.Time("expires", expires))
	}
	switch st {
	case StatusOK:
		r.log.Info("credential source healthy", fields...)
	case StatusDegraded:
		r.log.Warn("credential source degraded: serving the last good credential", append(fields, zap.String("lastError", lastErr))...)
	case StatusExpired:
		r.log.Error("credential source expired: nothing to serve", append(fields, zap.String("lastError", lastErr))...)
	}
}

// statusAt computes the status; e.mu is held.
func (e *entry) statusAt(now time.Time) Status {
	if e.cred != nil && now.Before(usableUntil(e.cred)) {
		if e.failures > 0 {
			return StatusDegraded
		}
		return StatusOK
	}
	if e.calls == 0 {
		return StatusPending
	}
	return StatusExpired
}

// Get returns the current credential of a source. While the source's
// first fetch is running it waits for that same fetch, at most WaitBound.
// It never calls upstream itself.
func (r *Refresher) Get(ctx context.Context, key string) (*Credential, error) {
	return r.GetAt(ctx, key, r.o.Clock.Now())
}

// GetAt is Get for a caller that has already read the clock: now decides
// whether the held credential may be served without waiting. On a busy
// loopback server each clock read is a measurable part of a request.
func (r *Refresher) GetAt(ctx context.Context, key string, now time.Time) (*Credential, error) {
	e, ok := (*r.lookup.Load())[key]
	if !ok {
		return nil, ErrUnknownSource
	}
	if c := r.usableAt(key, now); c != nil {
		return c, nil
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
	if c := r.usable(key); c != nil {
		return c, nil
	}
	return nil, ErrExpired
}

// Current returns a source's credential if one may be served now, without
// waiting; nil otherwise.
func (r *Refresher) Current(key string) *Credential { return r.usable(key) }

// usable returns the stored credential if it may still be served.
func (r *Refresher) usable(key string) *Credential { return r.usableAt(key, r.o.Clock.Now()) }

// usableAt returns the stored credential if it may be served at now.
func (r *Refresher) usableAt(key string, now time.Time) *Credential {
	v, ok := r.store.Get(key)
	if !ok {
		return nil
	}
	c := v.(*Credential)
	if !now.Before(usableUntil(c)) {
		return nil
	}
	return c
}

// Sources returns the configured sources in order.
func (r *Refresher) Sources() []Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Source, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.entries[k].src)
	}
	return out
}

// States returns every source's state, in configuration order.
func (r *Refresher) States() []State {
	r.mu.Lock()
	entries := make([]*entry, 0, len(r.order))
	for _, k := range r.order {
		entries = append(entries, r.entries[k])
	}
	r.mu.Unlock()
	now := r.o.Clock.Now()
	out := make([]State, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.state(now))
	}
	return out
}

func (e *entry) state(now time.Time) State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{
		Key: e.src.Key(), Kind: e.src.Kind, Name: e.src.Name, Description: e.src.Describe(),
		Status: e.statusAt(now), ConsecutiveFailures: e.failures,
		UpstreamCalls: e.calls, Renewals: e.renewals, Failures: e.failTotal,
	}
	if e.cred != nil {
		s.Issued, s.Expires = e.cred.Issued, e.cred.Expires
	}
	if e.calls > 0 || e.cancel != nil {
		s.NextRenewal = e.nextAttempt
	}
	if e.lastErr != nil {
		s.LastError = e.lastErr.Error()
		s.MissingScopes = authclient.MissingScopes(e.lastErr)
	}
	return s
}

// Ready reports whether every source holds a credential it may serve.
func (r *Refresher) Ready() bool {
	r.mu.Lock()
	keys := append([]string(nil), r.order...)
	r.mu.Unlock()
	for _, k := range keys {
		if r.usable(k) == nil {
			return false
		}
	}
	return true
}

// WaitFirstRound blocks until every current source has finished its first
// fetch, successful or not, or ctx ends.
func (r *Refresher) WaitFirstRound(ctx context.Context) error {
	r.mu.Lock()
	chans := make([]chan struct{}, 0, len(r.entries))
	for _, e := range r.entries {
		chans = append(chans, e.ready)
	}
	r.mu.Unlock()
	for _, ch := range chans {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// WaitReady blocks until Ready or ctx ends.
func (r *Refresher) WaitReady(ctx context.Context) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if r.Ready() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
