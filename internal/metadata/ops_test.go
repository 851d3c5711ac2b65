package metadata_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/metrics"
	"github.com/taskcluster/tc-credd/internal/status"
)

func opsGet(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:5555"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// secrets returns every secret the fake Auth service has issued so far,
// plus the local token.
func (e *env) secrets() []string {
	out := []string{e.token}
	for _, c := range []string{"aws/" + role, "gcp/" + gcpMail, "azure/results", "sentry/app", "websocktunnel/tunnel"} {
		cred := e.current(c)
		switch {
		case cred.AWS != nil:
			out = append(out, cred.AWS.SecretAccessKey.Reveal(), cred.AWS.SessionToken.Reveal(), cred.AWS.AccessKeyID)
		case cred.GCP != nil:
			out = append(out, cred.GCP.AccessToken.Reveal())
		case cred.Azure != nil:
			out = append(out, cred.Azure.SAS.Reveal())
		case cred.Sentry != nil:
			out = append(out, cred.Sentry.Secret.Reveal(), cred.Sentry.Public.Reveal())
		case cred.Websocktunnel != nil:
			out = append(out, cred.Websocktunnel.Token.Reveal())
		}
	}
	return out
}

func TestOpsListener(t *testing.T) {
	e := newEnv(t, envOpts{})
	// Serve some traffic first so request metrics exist.
	tok := e.imdsToken()
	e.do(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+role, map[string]string{"X-aws-ec2-metadata-token": tok})
	e.do(http.MethodGet, "/nope", nil)

	core, logs := observer.New(zap.InfoLevel)
	ops := metadata.NewOps(metadata.OpsOptions{View: e.r, Metrics: e.metrics, Logger: zap.New(core)})
	if st, body := opsGet(t, ops, "/healthz"); st != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", st, body)
	}
	if st, _ := opsGet(t, ops, "/readyz"); st != 200 {
		t.Errorf("readyz when ready: %d", st)
	}
	st, body := opsGet(t, ops, "/v1/status")
	var status struct {
		Ready   bool
		Sources []map[string]any
	}
	if err := json.Unmarshal([]byte(body), &status); err != nil || st != 200 || !status.Ready || len(status.Sources) != 6 {
		t.Fatalf("status: %d %v %s", st, err, body)
	}
	for _, s := range status.Sources {
		for _, k := range []string{"status", "issued", "expires", "nextRenewal"} {
			if s[k] == nil || s[k] == "" {
				t.Errorf("status of %v lacks %s", s["key"], k)
			}
		}
	}
	st, scraped := opsGet(t, ops, "/metrics")
	for _, want := range []string{
		`tc_credd_requests_total{code="200",route="imds_credentials"} 1`,
		`tc_credd_requests_total{code="404",route="not_found"} 1`,
		`tc_credd_renewals_total{outcome="success",source="aws/artifacts"} 1`,
		`tc_credd_source_status{source="sentry/app",status="ok"} 1`,
		`tc_credd_upstream_requests_total{code="200",source="aws/artifacts"} 1`,
		fmt.Sprintf(`tc_credd_credential_expiry_timestamp_seconds{source="aws/artifacts"} %g`, float64(e.current("aws/"+role).Expires.UnixMilli())/1000),
	} {
		if st != 200 || !strings.Contains(scraped, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// No secret on any ops page, in any log line of either listener.
	pages := body + scraped
	var logText strings.Builder
	for _, l := range append(e.logs.All(), logs.All()...) {
		b, _ := json.Marshal(l.ContextMap())
		logText.WriteString(l.Message + string(b))
	}
	// The full key id is in the log only as the audit event's credential
	// (it is no secret, and it joins the audit trail with CloudTrail).
	keyID := e.current("aws/" + role).AWS.AccessKeyID
	for _, s := range e.secrets() {
		if strings.Contains(pages, s) {
			t.Errorf("an ops page shows a secret")
		}
		if s != keyID && len(s) > 4 && strings.Contains(logText.String(), s) {
			t.Errorf("a log line shows a secret")
		}
	}
	if n := strings.Count(logText.String(), keyID); n != 1 || !strings.Contains(logText.String(), `"credential":"`+keyID+`"`) {
		t.Errorf("the full key id is in the log %d times, not once as the audit credential: %s", n, logText.String())
	}
	if !strings.Contains(logText.String(), `"keyIdSuffix":"`+e.current("aws/" + role).AWS.AccessKeyID[16:]+`"`) {
		t.Errorf("access log lacks the key id suffix: %s", logText.String())
	}
	if n := e.logs.FilterMessage("request").Len(); n != 3 {
		t.Errorf("%d access-log lines for 3 requests", n)
	}
}

// TestExpiryMetricOnlyWhileServed: once the held credentials can no longer
// be served, their expiry leaves the metrics.
func TestExpiryMetricOnlyWhileServed(t *testing.T) {
	e := newEnv(t, envOpts{})
	ops := metadata.NewOps(metadata.OpsOptions{View: e.r, Metrics: e.metrics})
	if _, m := opsGet(t, ops, "/metrics"); !strings.Contains(m, "tc_credd_credential_expiry_timestamp_seconds{") {
		t.Fatal("no expiry while credentials are served")
	}
	e.fake.InjectFault("", authtest.Fault500, -1)
	e.clk.Add(100 * time.Hour) // past every credential's lifetime
	if _, m := opsGet(t, ops, "/metrics"); strings.Contains(m, "tc_credd_credential_expiry_timestamp_seconds{") || !strings.Contains(m, `status="expired"} 1`) {
		t.Fatalf("expired sources still report an expiry:\n%s", m)
	}
}

func TestReadyzBeforeFirstFetch(t *testing.T) {
	gate := make(chan struct{})
	e := newEnv(t, envOpts{gate: gate})
	ops := metadata.NewOps(metadata.OpsOptions{View: e.r, Metrics: e.metrics})
	st, body := opsGet(t, ops, "/readyz")
	if st != 503 || !strings.Contains(body, "aws/artifacts (pending)") {
		t.Fatalf("readyz before the first fetch: %d %s", st, body)
	}
}

// TestOpsClientExpiry: the status page and metrics show tc-credd's own
// credentials, and how long temporary ones have left on the daemon's
// clock; permanent ones have no expiry at all.
func TestOpsClientExpiry(t *testing.T) {
	e := newEnv(t, envOpts{})
	client := status.Client{ClientID: "project/tc-credd/host1", Expires: e.clk.Now().Add(90 * time.Minute)}
	get := func() status.Client { return client }
	m := metrics.New(metrics.Options{States: e.r.States, Client: get, Clock: e.clk})
	ops := metadata.NewOps(metadata.OpsOptions{View: e.r, Metrics: m, Daemon: func() status.Daemon { return status.Daemon{Client: client} }})

	statusPage := func() map[string]any {
		t.Helper()
		st, body := opsGet(t, ops, "/v1/status")
		var s struct{ Client map[string]any }
		if err := json.Unmarshal([]byte(body), &s); err != nil || st != 200 {
			t.Fatalf("status: %d %v %s", st, err, body)
		}
		return s.Client
	}
	metric := func() string {
		t.Helper()
		_, m := opsGet(t, ops, "/metrics")
		for _, l := range strings.Split(m, "\n") {
			if strings.HasPrefix(l, "tc_credd_client_expiry_seconds ") {
				return l
			}
		}
		return ""
	}

	c := statusPage()
	if c["clientId"] != client.ClientID || c["expires"] != client.Expires.UTC().Format(time.RFC3339Nano) {
		t.Errorf("status client %v, want %s expiring %s", c, client.ClientID, client.Expires.UTC().Format(time.RFC3339Nano))
	}
	if got := metric(); got != "tc_credd_client_expiry_seconds 5400" {
		t.Errorf("metric %q, want 5400 s left", got)
	}
	client.Expires = e.clk.Now().Add(-30 * time.Minute)
	if got := metric(); got != "tc_credd_client_expiry_seconds -1800" {
		t.Errorf("metric %q after expiry, want -1800", got)
	}

	client = status.Client{ClientID: "project/tc-credd/permanent"}
	if c := statusPage(); c["clientId"] != client.ClientID || c["expires"] != nil {
		t.Errorf("status of permanent credentials %v: want no expiry", c)
	}
	if got := metric(); got != "" {
		t.Errorf("metric %q for permanent credentials: want none", got)
	}
}
