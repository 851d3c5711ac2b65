package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/metrics"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/status"
)

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestBuildInfoRequestsAndReloads(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	var last *status.Reload
	m := metrics.New(metrics.Options{Clock: clk, Version: "v1.2.3", LastReload: func() *status.Reload { return last },
		States: func() []refresher.State { return nil }})
	m.ObserveRequest("imds_credentials", 200, 300*time.Microsecond)
	m.ObserveRequest("imds_credentials", 200, 2*time.Millisecond)
	m.ObserveRequest("not_found", 404, 50*time.Microsecond)
	out := scrape(t, m)
	for _, want := range []string{
		`tc_credd_build_info{goversion="go`,
		`version="v1.2.3"} 1`,
		`tc_credd_requests_total{code="200",route="imds_credentials"} 2`,
		`tc_credd_request_duration_seconds_bucket{route="imds_credentials",le="0.0005"} 1`,
		`tc_credd_request_duration_seconds_bucket{route="imds_credentials",le="0.0025"} 2`,
		`tc_credd_request_duration_seconds_count{route="not_found"} 1`,
		`tc_credd_reloads_total{outcome="failure"} 0`,
		`tc_credd_reloads_total{outcome="success"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(out, "tc_credd_last_reload") {
		t.Error("reload gauges before any reload")
	}
	m.ObserveReload(false)
	last = &status.Reload{Time: clk.Now(), OK: false}
	out = scrape(t, m)
	for _, want := range []string{
		`tc_credd_reloads_total{outcome="failure"} 1`,
		`tc_credd_last_reload_timestamp_seconds 1.7e+09`,
		`tc_credd_last_reload_successful 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("after a failed reload, metrics lack %q", want)
		}
	}
	m.ObserveReload(true)
	last = &status.Reload{Time: clk.Now(), OK: true}
	if out := scrape(t, m); !strings.Contains(out, `tc_credd_last_reload_successful 1`) || !strings.Contains(out, `tc_credd_reloads_total{outcome="success"} 1`) {
		t.Errorf("after a good reload: %s", out)
	}
}

func TestHandouts(t *testing.T) {
	for _, uidLabels := range []bool{false, true} {
		m := metrics.New(metrics.Options{UIDLabels: uidLabels})
		m.ObserveHandout("aws/build", "imds", "served", 1001)
		m.ObserveHandout("aws/build", "imds", "served", 1001)
		m.ObserveHandout("aws/build", "api", "refused", -1)
		out := scrape(t, m)
		for _, want := range []string{
			`tc_credd_handouts_total{outcome="served",protocol="imds",source="aws/build"} 2`,
			`tc_credd_handouts_total{outcome="refused",protocol="api",source="aws/build"} 1`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
		withUID := `tc_credd_handouts_by_uid_total{outcome="served",source="aws/build",uid="1001"} 2`
		if strings.Contains(out, withUID) != uidLabels || strings.Contains(out, `uid="`) != uidLabels {
			t.Errorf("uid labels %v, metrics:\n%s", uidLabels, out)
		}
	}
}

// TestRetryAfterGauge: the wait Taskcluster asked for is exported per
// source, 0 when it asked for none.
func TestRetryAfterGauge(t *testing.T) {
	m := metrics.New(metrics.Options{States: func() []refresher.State {
		return []refresher.State{
			{Key: "aws/busy", Status: refresher.StatusPending, RetryAfterSeconds: 120},
			{Key: "aws/calm", Status: refresher.StatusOK},
		}
	}})
	out := scrape(t, m)
	for _, want := range []string{
		`tc_credd_retry_after_seconds{source="aws/busy"} 120`,
		`tc_credd_retry_after_seconds{source="aws/calm"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestUpstreamLatency(t *testing.T) {
	m := metrics.New(metrics.Options{Clock: clock.NewFake(time.Unix(0, 0))})
	m.ObserveUpstream("awsS3Credentials", 200, 40*time.Millisecond)
	m.ObserveUpstream("awsS3Credentials", 0, 3*time.Second)
	out := scrape(t, m)
	for _, want := range []string{
		`tc_credd_upstream_request_duration_seconds_bucket{endpoint="awsS3Credentials",le="0.05"} 1`,
		`tc_credd_upstream_request_duration_seconds_bucket{endpoint="awsS3Credentials",le="5"} 2`,
		`tc_credd_upstream_request_duration_seconds_count{endpoint="awsS3Credentials"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
