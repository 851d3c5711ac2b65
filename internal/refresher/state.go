package refresher

import (
	"maps"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/authclient"
)

// Status is a source's health.
type Status string

// Statuses. Transitions between them are logged once each.
const (
	// StatusPending: no credential has been fetched yet.
	StatusPending Status = "pending"
	// StatusOK: a valid credential, and the last fetch succeeded.
	StatusOK Status = "ok"
	// StatusDegraded: the last fetch failed; the last good credential is
	// still served.
	StatusDegraded Status = "degraded"
	// StatusExpired: the last credential can no longer be served and no
	// new one has been fetched.
	StatusExpired Status = "expired"
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
	// RetryAfterSeconds is the wait Taskcluster asked for with
	// Retry-After on the last failed fetch (bounded at 15 minutes); the
	// jittered end of the wait is NextRenewal. 0 when it asked for none.
	RetryAfterSeconds float64 `json:"retryAfterSeconds,omitempty"`
	// UpstreamCalls counts the HTTP requests sent to Taskcluster, and
	// UpstreamRequests the same by status code ("network" or "timeout"
	// when there was no reply).
	UpstreamCalls    int64            `json:"upstreamCalls"`
	UpstreamRequests map[string]int64 `json:"upstreamRequests,omitempty"`
	Renewals         int64            `json:"renewals"`
	Failures         int64            `json:"failures"`
}

// States returns every source's state, in configuration order.
func (r *Refresher) States() []State {
	r.mu.RLock()
	entries := make([]*entry, 0, len(r.order))
	for _, k := range r.order {
		entries = append(entries, r.entries[k])
	}
	r.mu.RUnlock()
	now := r.now()
	out := make([]State, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.state(r.held(e.src.Key()), now))
	}
	return out
}

// state describes e holding c; it takes e.mu.
func (e *entry) state(c *Credential, now time.Time) State {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := State{
		Key: e.src.Key(), Kind: e.src.Kind, Name: e.src.Name, Description: e.src.Describe(),
		Status: e.statusAt(c, now), ConsecutiveFailures: e.failures, RetryAfterSeconds: e.retryAfter.Seconds(),
		UpstreamCalls: e.calls, UpstreamRequests: maps.Clone(e.codes), Renewals: e.renewals, Failures: e.failTotal,
	}
	if c != nil {
		s.Issued, s.Expires = c.Issued, c.Expires
	}
	if e.calls > 0 || e.cancel != nil {
		s.NextRenewal = e.nextAttempt
	}
	if e.lastErr != nil {
		s.LastError = errText(e.lastErr)
		s.MissingScopes = authclient.MissingScopes(e.lastErr)
	}
	return s
}

// statusAt computes the status of e holding c; e.mu is held.
func (e *entry) statusAt(c *Credential, now time.Time) Status {
	if usableAt(c, now) {
		if e.failures > 0 {
			return StatusDegraded
		}
		return StatusOK
	}
	if e.renewals == 0 {
		return StatusPending
	}
	return StatusExpired
}

// observe logs a status transition once.
func (r *Refresher) observe(e *entry, now time.Time) {
	c := r.held(e.src.Key())
	e.mu.Lock()
	st := e.statusAt(c, now)
	prev := e.status
	e.status = st
	var lastErr string
	if e.lastErr != nil {
		lastErr = errText(e.lastErr)
	}
	e.mu.Unlock()
	if st == prev {
		return
	}
	fields := []zap.Field{zap.String("source", e.src.Key()), zap.String("from", string(prev)), zap.String("to", string(st))}
	if c != nil {
		fields = append(fields, zap.Time("expires", c.Expires))
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
