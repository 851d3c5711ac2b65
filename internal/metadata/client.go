package metadata

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// Client describes the Taskcluster credentials tc-credd itself holds: who
// it is and, for temporary credentials, when their certificate expires.
// Nothing renews them (that is the job of whoever issued them), and once
// they expire every fetch fails, so operators need to see it coming. It
// never carries the access token.
type Client struct {
	ClientID string    `json:"clientId"`
	Expires  time.Time `json:"expires,omitzero"` // zero: permanent credentials
}

var descClientExpiry = prometheus.NewDesc("tc_credd_client_expiry_seconds",
	"Seconds until tc-credd's own temporary Taskcluster credentials expire (negative when expired); absent for permanent ones.",
	nil, nil)

// WatchClient exports the expiry of tc-credd's own credentials, read from
// client at every scrape.
func (m *Metrics) WatchClient(client func() Client) {
	m.Registry.MustRegister(&clientCollector{client: client, clk: m.clk})
}

type clientCollector struct {
	client func() Client
	clk    clock.Clock
}

func (c *clientCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descClientExpiry }

func (c *clientCollector) Collect(ch chan<- prometheus.Metric) {
	if exp := c.client().Expires; !exp.IsZero() {
		ch <- prometheus.MustNewConstMetric(descClientExpiry, prometheus.GaugeValue, exp.Sub(c.clk.Now()).Seconds())
	}
}
