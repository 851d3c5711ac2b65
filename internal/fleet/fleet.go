// Package fleet simulates many tc-credd hosts against one Auth service,
// on a simulated clock: no sleeping, no sockets, no goroutines. Each
// source is scheduled by the refresher's own rules (RenewAt after a
// success, NextRetry after a failure, UsableUntil for what is served),
// and the service's Retry-After goes through the Auth client's parser, so
// the simulation moves with the daemon's code. An event queue holds one
// pending attempt per source, so the cost is one heap operation per
// request.
package fleet

import (
	"container/heap"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// Config describes a fleet, its credentials and the service's trouble.
type Config struct {
	Hosts          int
	SourcesPerHost int
	// Lifetimes of the credentials the service issues, by source slot on
	// a host (cycled): []{1h} is every source an S3-like hour.
	Lifetimes []time.Duration
	// Outage is how long the service fails every request it admits
	// (500), starting once the fleet is in its steady state.
	Outage time.Duration
	// Capacity is the requests per second the service admits; beyond it,
	// within the same second, its front answers 503 with Retry-After.
	// 0 is unlimited.
	Capacity int
	// RetryAfter is the Retry-After value the front sends with its 503s;
	// 0 picks the rule docs/fleet.md gives: the whole fleet's sources
	// divided by the capacity, in whole seconds, from 30 s to 15 min.
	RetryAfter time.Duration
	// LimitDuringOutage is true when the limiter sits in front of what
	// fails (an edge proxy), so it keeps answering 503 with Retry-After
	// during the outage; false when it fails with the service and every
	// request during the outage gets a 500.
	LimitDuringOutage bool
	// OutageRetryAfter, when set, makes the outage's answers 503 with
	// this Retry-After, as a front that knows the service is down can
	// send, instead of the failing service's 500.
	OutageRetryAfter time.Duration
	// After is how long to keep simulating after the outage.
	After time.Duration
	// Seed makes a run repeatable.
	Seed uint64
}

// Defaults fills what a zero cannot mean: no lifetimes is hour-long
// credentials, and with a capacity, no Retry-After is the rule above. A
// zero count or duration is taken as given (no outage, say), and
// validate refuses the ones that cannot be.
func (c *Config) Defaults() {
	if len(c.Lifetimes) == 0 {
		c.Lifetimes = []time.Duration{time.Hour}
	}
	if c.Capacity > 0 && c.RetryAfter == 0 {
		n := c.Hosts * c.SourcesPerHost
		c.RetryAfter = time.Duration((n+c.Capacity-1)/c.Capacity) * time.Second
		// Shorter than the clients' own pace with nothing to serve, a
		// wait would bring them back sooner; longer than the bound, they
		// would not honour it.
		c.RetryAfter = min(max(c.RetryAfter, refresher.RecoveryRetry), authclient.MaxRetryAfter)
	}
}

func (c *Config) validate() error {
	switch {
	case c.Hosts < 1 || c.SourcesPerHost < 1:
		return errors.New("fleet: hosts and sources per host must be at least 1")
	case c.Outage < 0 || c.After <= 0 || c.Capacity < 0 || c.RetryAfter < 0 || c.OutageRetryAfter < 0:
		return errors.New("fleet: outage, capacity and retry-after must not be negative, and after must be positive")
	}
	for _, l := range c.Lifetimes {
		if l < time.Minute {
			return fmt.Errorf("fleet: lifetime %s is shorter than a minute", l)
		}
	}
	return nil
}

// Result is what a run measured. Times are offsets from the start of the
// outage; rates are per simulated second.
type Result struct {
	Config Config
	// Sources is Hosts × SourcesPerHost.
	Sources int
	// Requests is every request the service received, Attempts every
	// attempt the sources made: the two must agree.
	Requests, Attempts int64
	// DuringOutage counts the requests received during the outage.
	DuringOutage int64
	// PeakDuringOutage and PeakAfter are the most requests received in
	// one second, during the outage and after it; PeakAfterAt is when.
	PeakDuringOutage, PeakAfter int
	PeakAfterAt                 time.Duration
	// Lapsed counts the sources with nothing to serve when the outage
	// ended; Recovery holds, sorted, how long each took to serve again.
	Lapsed   int
	Recovery []time.Duration
	// Unrecovered counts lapsed sources that never served again.
	Unrecovered int
	// Seconds is the traffic second by second, from the start of the
	// outage to the end of the run.
	Seconds []Second
	// MaxRetryAfterAsked is the longest Retry-After a source was told.
	MaxRetryAfterAsked time.Duration
}

// Second is one simulated second's traffic and the fleet at its start.
type Second struct {
	Received, OK, Rejected, Failed int
	// Serving counts the sources with a credential to serve, sampled at
	// the start of every minute (-1 between samples).
	Serving int
}

// Percentile returns the p-th percentile (0 < p ≤ 100, nearest rank) of
// the recovery times, or 0 when no source lapsed.
func (r *Result) Percentile(p float64) time.Duration {
	if len(r.Recovery) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(r.Recovery))*p/100)) - 1
	return r.Recovery[min(max(i, 0), len(r.Recovery)-1)]
}

// source is one simulated source's renewal state, as a refresher entry
// holds it.
type source struct {
	life     time.Duration
	cred     *refresher.Credential
	failures int
	attempts int64
	lapsed   bool // nothing to serve when the outage ended
	back     bool // served again since
}

// service is the simulated Auth service and the front that limits it.
type service struct {
	epoch              time.Time
	outageFrom, outage time.Time // [outageFrom, outage) fails
	capacity           int
	limitDuringOutage  bool
	retryAfter         string // the header value the front sends
	outageRetryAfter   string // the same during the outage, if any
	second             int64
	admitted           int
	seconds            []Second // from epoch
}

var errOutage = &authclient.Error{Route: "awsS3Credentials", StatusCode: http.StatusInternalServerError,
	Code: "InternalServerError", Message: "Internal Server Error"}

// request answers one request at now: the expiry of a credential that
// lives life, or the error the client would see.
func (s *service) request(now time.Time, life time.Duration) (time.Time, error) {
	tally := s.tally(now)
	if sec := int64(now.Sub(s.epoch) / time.Second); sec != s.second {
		s.second, s.admitted = sec, 0
	}
	tally.Received++
	down := !now.Before(s.outageFrom) && now.Before(s.outage)
	if s.capacity > 0 && s.admitted >= s.capacity && (!down || s.limitDuringOutage) {
		tally.Rejected++
		return time.Time{}, busy(s.retryAfter, now)
	}
	s.admitted++
	if down {
		tally.Failed++
		if s.outageRetryAfter != "" {
			return time.Time{}, busy(s.outageRetryAfter, now)
		}
		return time.Time{}, errOutage
	}
	tally.OK++
	return now.Add(life), nil
}

// busy is a 503 with a Retry-After header, as the client reads it from a
// real reply.
func busy(header string, now time.Time) error {
	wait, _ := authclient.ParseRetryAfter(header, now)
	return &authclient.Error{Route: "awsS3Credentials", StatusCode: http.StatusServiceUnavailable,
		Message: "Service Unavailable", RetryAfter: wait}
}

// event is a source's next attempt, or (src < 0) a sample of the fleet.
type event struct {
	at  time.Time
	seq int64
	src int
}

type queue []event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// sample and ended mark the queue's own events: a minute's sample of
// the fleet, and the end of the outage.
const (
	sample = -1
	ended  = -2
)

// Run simulates c. Hosts boot at random over the longest lifetime, run
// through two more lifetimes to reach their steady state, then the
// outage starts.
func Run(c Config) (*Result, error) {
	c.Defaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	longest := slices.Max(c.Lifetimes)
	epoch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	outageFrom := epoch.Add(3 * longest)
	outageTo := outageFrom.Add(c.Outage)
	end := outageTo.Add(c.After)
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x5eed))
	svc := &service{epoch: epoch, outageFrom: outageFrom, outage: outageTo, capacity: c.Capacity,
		limitDuringOutage: c.LimitDuringOutage, second: -1}
	svc.retryAfter = seconds(c.RetryAfter)
	svc.outageRetryAfter = seconds(c.OutageRetryAfter)
	margin := refresher.DefaultMargin(refresher.AWS)

	n := c.Hosts * c.SourcesPerHost
	srcs := make([]source, n)
	q := make(queue, 0, n+2)
	var seq int64
	push := func(at time.Time, src int) {
		seq++
		heap.Push(&q, event{at: at, seq: seq, src: src})
	}
	for h := range c.Hosts {
		boot := epoch.Add(time.Duration(rng.Float64() * float64(longest)))
		for k := range c.SourcesPerHost {
			i := h*c.SourcesPerHost + k
			srcs[i].life = c.Lifetimes[k%len(c.Lifetimes)]
			push(boot, i)
		}
	}
	push(outageFrom.Add(-outageFrom.Sub(epoch)%time.Minute), sample)
	push(outageTo, ended)

	res := &Result{Config: c, Sources: n}
	for q.Len() > 0 {
		ev := heap.Pop(&q).(event)
		now := ev.at
		if now.After(end) {
			break
		}
		switch ev.src {
		case sample:
			serving := 0
			for i := range srcs {
				if srcs[i].servingAt(now) {
					serving++
				}
			}
			svc.tally(now).Serving = serving
			push(now.Add(time.Minute), sample)
			continue
		case ended:
			for i := range srcs {
				srcs[i].lapsed = !srcs[i].servingAt(now)
				if srcs[i].lapsed {
					res.Lapsed++
				}
			}
			continue
		}
		s := &srcs[ev.src]
		s.attempts++
		exp, err := svc.request(now, s.life)
		var next time.Time
		if err == nil {
			s.cred = &refresher.Credential{Kind: refresher.AWS, Issued: now, Expires: exp}
			s.failures = 0
			next = refresher.RenewAt(now, exp, margin, rng.Float64())
			if s.lapsed && !s.back {
				s.back = true
				res.Recovery = append(res.Recovery, now.Sub(outageTo))
			}
		} else {
			s.failures++
			r := refresher.NextRetry(now, err, s.failures, s.cred, rng.Float64)
			res.MaxRetryAfterAsked = max(res.MaxRetryAfterAsked, r.Asked)
			next = now.Add(r.Wait)
		}
		push(next, ev.src)
	}

	for i := range srcs {
		res.Attempts += srcs[i].attempts
		if srcs[i].lapsed && !srcs[i].back {
			res.Unrecovered++
		}
	}
	slices.Sort(res.Recovery)
	first := int(outageFrom.Sub(epoch) / time.Second)
	last := int(end.Sub(epoch) / time.Second)
	recovered := int(outageTo.Sub(epoch) / time.Second)
	svc.tally(end)
	for sec, t := range svc.seconds {
		res.Requests += int64(t.Received)
		switch {
		case sec < first || sec >= last:
		case sec < recovered:
			res.DuringOutage += int64(t.Received)
			res.PeakDuringOutage = max(res.PeakDuringOutage, t.Received)
		case t.Received > res.PeakAfter:
			res.PeakAfter, res.PeakAfterAt = t.Received, time.Duration(sec-recovered)*time.Second
		}
	}
	res.Seconds = svc.seconds[first:last]
	return res, nil
}

// seconds writes d as Retry-After delta-seconds; "" for none.
func seconds(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.Itoa(int(d.Round(time.Second) / time.Second))
}

// tally returns the second at now, growing the record to reach it.
func (s *service) tally(now time.Time) *Second {
	sec := int(now.Sub(s.epoch) / time.Second)
	for len(s.seconds) <= sec {
		s.seconds = append(s.seconds, Second{Serving: -1})
	}
	return &s.seconds[sec]
}

// servingAt reports whether the source has a credential clients get.
func (s *source) servingAt(now time.Time) bool {
	return s.cred != nil && now.Before(refresher.UsableUntil(s.cred))
}
