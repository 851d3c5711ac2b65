package metadata

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// Metrics is tc-credd's Prometheus registry. Source metrics are read from
// the refresher's states at scrape time, so they can never disagree with
// /v1/status, and they carry no secret.
type Metrics struct {
	Registry *prometheus.Registry
	clk      clock.Clock
	requests *prometheus.CounterVec
	counters sync.Map // routeCode → prometheus.Counter
}

// NewMetrics builds the registry over a view of the refresher.
func NewMetrics(view View, clk clock.Clock) *Metrics {
	if clk == nil {
		clk = clock.Real{}
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		clk:      clk,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tc_credd_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
	}
	reg.MustRegister(m.requests, &sourceCollector{view: view, clk: clk},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *Metrics) observe(route string, status int) {
	k := routeCode{route, status}
	if c, ok := m.counters.Load(k); ok {
		c.(prometheus.Counter).Inc()
		return
	}
	c := m.requests.WithLabelValues(route, itoa(status))
	m.counters.Store(k, c)
	c.Inc()
}

// routeCode keys the cache of request counters: label hashing on every
// request is measurable on the hot path; routes and codes are few.
type routeCode struct {
	route  string
	status int
}

func itoa(n int) string {
	if n >= 100 && n < 600 {
		return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
	}
	return "other"
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
)

type sourceCollector struct {
	view View
	clk  clock.Clock
}

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRenewals, descExpiry, descStatus, descFailures, descUpstream} {
		ch <- d
	}
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.view.States() {
		ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(s.Renewals), s.Key, "success")
		ch <- prometheus.MustNewConstMetric(descRenewals, prometheus.CounterValue, float64(s.Failures), s.Key, "failure")
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(s.ConsecutiveFailures), s.Key)
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
