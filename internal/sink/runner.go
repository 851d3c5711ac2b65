package sink

import (
	"context"
	"errors"
	"github.com/taskcluster/tc-credd/internal/logging"
	"github.com/taskcluster/tc-credd/internal/status"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// Retry backoff after a failed write: a missing folder or a full disk is
// fixed by someone else, and the file should appear soon after.
const (
	RetryBase = time.Second
	RetryMax  = 30 * time.Second
)

// State is a sink's health, for status pages, readiness and metrics.
type State = status.Sink

// sinkState is a sink and what the runner knows of it.
type sinkState struct {
	sink     Sink
	state    State
	failures int       // consecutive
	retryAt  time.Time // zero unless a failed write waits for a retry
	// commandPending: the file was written but its command failed, so the
	// retry runs the command even though the file is current.
	commandPending bool
}

// Runner feeds refresher events to a set of sinks, and retries failed
// writes with backoff until they succeed.
type Runner struct {
	r    *refresher.Refresher
	sub  *refresher.Subscription
	log  *zap.Logger
	clk  clock.Clock
	sets chan []Sink

	mu    sync.Mutex
	sinks []*sinkState
	audit Auditor
}

// Auditor is told of every file a sink wrote: a hand-out of the
// credential to whoever reads the file.
type Auditor interface {
	SinkWritten(path, source string, c *refresher.Credential)
}

// AuditWith makes the runner tell a of every write; call it before Run.
func (r *Runner) AuditWith(a Auditor) { r.audit = a }

// NewRunner subscribes to r. Call Run to start writing. Retries wait on
// clk (nil: the real clock).
func NewRunner(r *refresher.Refresher, log *zap.Logger, clk clock.Clock) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	if clk == nil {
		clk = clock.Real{}
	}
	return &Runner{r: r, sub: r.Subscribe(), log: log, clk: clk, sets: make(chan []Sink, 1)}
}

// Set replaces the sinks (config reload). Each is written at once with its
// source's current credential, if one is held; unchanged files stay as
// they are.
func (r *Runner) Set(sinks []Sink) {
	select {
	case <-r.sets:
	default:
	}
	r.sets <- sinks
}

// States returns every sink's state, in configuration order.
func (r *Runner) States() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]State, 0, len(r.sinks))
	for _, s := range r.sinks {
		out = append(out, s.state)
	}
	return out
}

// Run writes each change until ctx ends.
func (r *Runner) Run(ctx context.Context, initial []Sink) {
	defer r.sub.Close()
	r.replace(initial)
	events := make(chan []refresher.Event)
	go func() {
		defer close(events)
		for {
			evs, err := r.sub.Next(ctx)
			if err != nil {
				return
			}
			select {
			case events <- evs:
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		retry, stop := r.retryTimer()
		select {
		case <-ctx.Done():
			stop()
			return
		case next := <-r.sets:
			r.replace(next)
			r.writeAll(ctx, func(*sinkState) bool { return true })
		case evs, ok := <-events:
			if !ok {
				stop()
				return
			}
			for _, ev := range evs {
				if ev.Credential == nil {
					continue // a removed source: leave its file as it was
				}
				r.writeAll(ctx, func(s *sinkState) bool { return s.sink.Source.Key() == ev.Key })
			}
		case <-retry:
			// Retry times are wall-clock times, as the timer that fired
			// reads them: a monotonic reading left behind by a suspend would
			// find nothing due, and the timer would fire again at once.
			now := r.clk.Now().Round(0)
			r.writeAll(ctx, func(s *sinkState) bool { return !s.retryAt.IsZero() && !now.Before(s.retryAt) })
		}
		stop()
	}
}

// replace installs a new set of sinks, keeping the state of those whose
// path and source are unchanged.
func (r *Runner) replace(sinks []Sink) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := map[string]*sinkState{}
	for _, s := range r.sinks {
		old[s.sink.Path+"\x00"+s.sink.Source.Key()] = s
	}
	next := make([]*sinkState, 0, len(sinks))
	for _, k := range sinks {
		st, ok := old[k.Path+"\x00"+k.Source.Key()]
		if !ok {
			st = &sinkState{state: State{Path: k.Path, Source: k.Source.Key()}}
		}
		st.sink = k
		next = append(next, st)
	}
	r.sinks = next
}

// retryTimer waits for the earliest pending retry; it never fires when
// none is pending.
func (r *Runner) retryTimer() (<-chan time.Time, func() bool) {
	r.mu.Lock()
	var at time.Time
	for _, s := range r.sinks {
		if !s.retryAt.IsZero() && (at.IsZero() || s.retryAt.Before(at)) {
			at = s.retryAt
		}
	}
	r.mu.Unlock()
	if at.IsZero() {
		return nil, func() bool { return false }
	}
	return r.clk.WallTimer(at)
}

// writeAll writes, in order, every sink that pick selects, with its
// source's current credential.
func (r *Runner) writeAll(ctx context.Context, pick func(*sinkState) bool) {
	r.mu.Lock()
	var todo []*sinkState
	for _, s := range r.sinks {
		if pick(s) {
			todo = append(todo, s)
		}
	}
	r.mu.Unlock()
	for _, s := range todo {
		c := r.r.Current(s.sink.Source.Key())
		if c == nil {
			// Nothing to write: the source's next credential is an event.
			r.mu.Lock()
			s.retryAt = time.Time{}
			r.mu.Unlock()
			continue
		}
		r.mu.Lock()
		pending := s.commandPending
		r.mu.Unlock()
		wrote, err := s.sink.Write(ctx, c, r.log, pending)
		r.record(s, wrote, err)
		// The file is handed out once written, whatever its command did.
		if wrote && r.audit != nil {
			r.audit.SinkWritten(s.sink.Path, s.sink.Source.Key(), c)
		}
	}
}

// record notes a write's outcome and schedules the retry of a failure.
func (r *Runner) record(s *sinkState, wrote bool, err error) {
	now := r.clk.Now().Round(0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if wrote {
		s.state.Writes++
	}
	var ce *CommandError
	switch {
	case err == nil:
		s.commandPending = false
	case errors.As(err, &ce):
		s.commandPending = true
	}
	if err == nil {
		s.state.LastWrite, s.state.LastError = now, ""
		s.failures, s.retryAt = 0, time.Time{}
		return
	}
	s.failures++
	s.state.Failures++
	s.state.LastError = err.Error()
	delay := min(RetryBase<<min(s.failures-1, 10), RetryMax)
	s.retryAt = now.Add(delay)
	fields := []zap.Field{zap.String(logging.KeySource, s.sink.Source.Key()), zap.String(logging.KeyPath, s.sink.Path), zap.Error(err), zap.Duration("retryIn", delay)}
	if s.failures == 1 {
		r.log.Error("sink failed; the previous file is kept", fields...)
	} else {
		r.log.Debug("sink failed again", fields...)
	}
}

var descWrites = prometheus.NewDesc("tc_credd_sink_writes_total",
	"File sink writes, by outcome: written, or failed (and to be retried).", []string{"sink", "outcome"}, nil)

// Describe and Collect make the runner a Prometheus collector of its
// sinks' writes.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) { ch <- descWrites }

func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	for _, s := range r.States() {
		ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(s.Writes), s.Path, "written")
		ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(s.Failures), s.Path, "failed")
	}
}
