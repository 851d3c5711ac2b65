// Package metrics is tc-credd's Prometheus registry: request counts from
// the listeners, and source and client gauges read at scrape time from
// the refresher's states, so they can never disagree with /v1/status. No
// metric carries a secret.
package metrics

import (
	"net/http"
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
}

// Options say where the scrape-time collectors read from.
type Options struct {
	// States returns every source's state (the refresher's States).
	States func() []refresher.State
	// Client describes tc-credd's own credentials; nil leaves out their
	// expiry.
	Client func() status.Client
	Clock  clock.Clock
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
	}
	reg.MustRegister(m.requests, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.States != nil {
		reg.MustRegister(&sourceCollector{states: o.States, clk: o.Clock})
	}
	if o.Client != nil {
		reg.MustRegister(&clientCollector{client: o.Client, clk: o.Clock})
	}
	return m
}

// ObserveRequest counts one served request.
func (m *Metrics) ObserveRequest(route string, code int, _ time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// Handler serves the registry in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

var (
	descRenewals = prometheus.NewDesc("tc_credd_renewals_total",
		"Upstream fetches per source, by outcome.", []string{"source", "outcome"}, nil)
	descExpiry = prometheus.NewDesc("tc_credd_credential_expiry_seconds",
		"Seconds until the held credential expires (negative when expired).", []string{"source"}, nil)
	descStatus = prometheus.NewDesc("tc_credd_source_status",
		"1 for the source's current status.", []string{"source", "status"}, nil)
	descFailures = prometheus.NewDesc("tc_credd_consecutive_failures",
		"Consecutive failed fetches per source.", []string{"source"}, nil)
	descClientExpiry = prometheus.NewDesc("tc_credd_client_expiry_seconds",
		"Seconds until tc-credd's own temporary Taskcluster credentials expire (negative when expired); absent for permanent ones.",
		nil, nil)
)

type sourceCollector struct {
	states func() []refresher.State
	clk    clock.Clock
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRenewals, descExpiry, descStatus, descFailures} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.clk.Now()
	for _, s := range c.states() {
		ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(s.Renewals), s.Key, "success")
		ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(s.Failures), s.Key, "failure")
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(s.ConsecutiveFailures), s.Key)
		if !s.Expires.IsZero() {
			ch <- prometheus.MustNewConstMetric(descExpiry, prometheus.GaugeValue, s.Expires.Sub(now).Seconds(), s.Key)
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
