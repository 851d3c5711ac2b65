// Package metrics is tc-credd's Prometheus registry: request counts from
// the listeners, and source and client gauges read at scrape time from
// the refresher's states, so they can never disagree with /v1/status. No
// metric carries a secret.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/status"
)

// Metrics is the registry and the collectors the daemon feeds.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	reloads  *prometheus.CounterVec
	upstream *prometheus.HistogramVec
	handouts *prometheus.CounterVec
	byUID    *prometheus.CounterVec // nil unless Options.UIDLabels
}

// Options say where the scrape-time collectors read from.
type Options struct {
	// States returns every source's state (the refresher's States).
	States func() []refresher.State
	// Client describes tc-credd's own credentials; nil leaves out their
	// expiry.
	Client func() status.Client
	Clock  clock.Clock
	// LastReload returns the last reload's outcome, nil before the first;
	// nil leaves out the reload gauges.
	LastReload func() *status.Reload
	// Version is the build's version, for tc_credd_build_info.
	Version string
	// UIDLabels adds tc_credd_handouts_by_uid_total, whose uid label makes
	// a series per caller: off unless an operator asks for it.
	UIDLabels bool
}

// New builds the registry.
func New(o Options) *Metrics {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tc_credd_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		// Answers come from memory in microseconds; the buckets reach up to
		// the first fetch's bounded wait (300 ms) and past it.
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "tc_credd_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1, 0.3, 1},
		}, []string{"route"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tc_credd_upstream_request_duration_seconds",
			Help: "Time of each HTTP request to Taskcluster's Auth service, by API method (endpoint).",
			// From a nearby deployment's tens of milliseconds to the
			// request timeout.
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tc_credd_reloads_total",
			Help: "Configuration reloads, by outcome (success or failure).",
		}, []string{"outcome"}),
	}
	// Source, protocol and outcome are each bounded by the config and the
	// code, so the series are few.
	m.handouts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tc_credd_handouts_total",
		Help: "Credentials handed out (served, or written by a sink) and refused, by source, protocol and outcome.",
	}, []string{"source", "protocol", "outcome"})
	reg.MustRegister(m.handouts)
	if o.UIDLabels {
		m.byUID = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tc_credd_handouts_by_uid_total",
			Help: "Credentials handed out and refused, by source, outcome and the caller's uid (-1: unknown).",
		}, []string{"source", "outcome", "uid"})
		reg.MustRegister(m.byUID)
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "tc_credd_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	// Both outcomes exist from the start, so a rate over them is defined.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	reg.MustRegister(m.requests, m.latency, m.reloads, m.upstream, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.States != nil {
		reg.MustRegister(&sourceCollector{states: o.States})
	}
	if o.Client != nil {
		reg.MustRegister(&clientCollector{client: o.Client, clk: o.Clock})
	}
	if o.LastReload != nil {
		reg.MustRegister(&reloadCollector{last: o.LastReload})
	}
	return m
}

// ObserveRequest counts one served request and its duration.
func (m *Metrics) ObserveRequest(route string, code int, elapsed time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(elapsed.Seconds())
}

// ObserveHandout counts one audit event.
func (m *Metrics) ObserveHandout(source, protocol, outcome string, uid int) {
	m.handouts.WithLabelValues(source, protocol, outcome).Inc()
	if m.byUID != nil {
		m.byUID.WithLabelValues(source, outcome, strconv.Itoa(uid)).Inc()
	}
}

// ObserveUpstream records one request to the Auth service; the status is
// in tc_credd_upstream_requests_total, per source.
func (m *Metrics) ObserveUpstream(endpoint string, _ int, elapsed time.Duration) {
	m.upstream.WithLabelValues(endpoint).Observe(elapsed.Seconds())
}

// ObserveReload counts a reload by outcome.
func (m *Metrics) ObserveReload(ok bool) {
	outcome := "success"
	if !ok {
		outcome = "failure"
	}
	m.reloads.WithLabelValues(outcome).Inc()
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	descRenewals = prometheus.NewDesc("tc_credd_renewals_total",
		"Upstream fetches per source, by outcome.", []string{"source", "outcome"}, nil)
	descExpiry = prometheus.NewDesc("tc_credd_credential_expiry_timestamp_seconds",
		"When the credential being served expires, in Unix seconds; absent while none is served.", []string{"source"}, nil)
	descUpstream = prometheus.NewDesc("tc_credd_upstream_requests_total",
		"HTTP requests sent to Taskcluster per source, by status code (network or timeout when there was no reply).", []string{"source", "code"}, nil)
	descStatus = prometheus.NewDesc("tc_credd_source_status",
		"1 for the source's current status.", []string{"source", "status"}, nil)
	descFailures = prometheus.NewDesc("tc_credd_consecutive_failures",
		"Consecutive failed fetches per source.", []string{"source"}, nil)
	descRetryAfter = prometheus.NewDesc("tc_credd_retry_after_seconds",
		"The wait Taskcluster asked for with Retry-After (429 or 503) on the source's last failed fetch, bounded at 15 minutes; 0 when none.", []string{"source"}, nil)
	descClientExpiry = prometheus.NewDesc("tc_credd_client_expiry_seconds",
		"Seconds until tc-credd's own temporary Taskcluster credentials expire (negative when expired); absent for permanent ones.",
		nil, nil)
)

type sourceCollector struct {
	states func() []refresher.State
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRenewals, descExpiry, descStatus, descFailures, descUpstream, descRetryAfter} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.states() {
		ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(s.Renewals), s.Key, "success")
		ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(s.Failures), s.Key, "failure")
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(s.ConsecutiveFailures), s.Key)
		ch <- prometheus.MustNewConstMetric(descRetryAfter, prometheus.GaugeValue, s.RetryAfterSeconds, s.Key)
		if s.Status == refresher.StatusOK || s.Status == refresher.StatusDegraded {
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, float64(s.Expires.UnixMilli())/1000, s.Key)
		}
		for code, n := range s.UpstreamRequests {
			ch <- prometheus.MustNewConstMetric(descUpstream, prometheus.CounterValue, float64(n), s.Key, code)
		}
		for _, st := range []refresher.Status{refresher.StatusPending, refresher.StatusOK, refresher.StatusDegraded, refresher.StatusExpired} {
			v := 0.0
			if s.Status == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descStatus, prometheus.GaugeValue, v, s.Key, string(st))
		}
	}
}

// clientCollector exports the expiry of tc-credd's own credentials, read
// at every scrape.
type clientCollector struct {
	client func() status.Client
	clk    clock.Clock
}

func (c *clientCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descClientExpiry }

func (c *clientCollector) Collect(ch chan<- prometheus.Metric) {
	if exp := c.client().Expires; !exp.IsZero() {
		ch <- prometheus.MustNewConstMetric(descClientExpiry, prometheus.GaugeValue, exp.Sub(c.clk.Now()).Seconds())
	}
}

var (
	descLastReload = prometheus.NewDesc("tc_credd_last_reload_timestamp_seconds",
		"When the last configuration reload was tried, as a Unix time; absent before the first.", nil, nil)
	descLastReloadOK = prometheus.NewDesc("tc_credd_last_reload_successful",
		"1 if the last configuration reload succeeded, 0 if it failed; absent before the first.", nil, nil)
)

// reloadCollector exports the last reload's outcome, read at every scrape.
type reloadCollector struct{ last func() *status.Reload }

func (c *reloadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLastReload
	ch <- descLastReloadOK
}

func (c *reloadCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.last()
	if r == nil {
		return
	}
	ok := 0.0
	if r.OK {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(descLastReload, prometheus.GaugeValue, float64(r.Time.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(descLastReloadOK, prometheus.GaugeValue, ok)
}
