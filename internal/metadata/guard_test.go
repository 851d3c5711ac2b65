package metadata_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/metadata"
)

func TestHostAllowList(t *testing.T) {
	e := newEnv(t, envOpts{})
	port := e.host[strings.LastIndex(e.host, ":")+1:]
	for host, want := range map[string]int{
		"127.0.0.1:" + port:    200,
		"localhost:" + port:    200,
		"[::1]:" + port:        200,
		"127.0.0.1":            200,
		"evil.example:" + port: 403,
		"evil.example":         403,
		"127.0.0.1:1":          403,
		"169.254.169.254":      403,
	} {
		if st, _, _ := e.do(http.MethodGet, "/", map[string]string{"Host": host}); st != want {
			t.Errorf("Host %q: %d, want %d", host, st, want)
		}
	}
}

// The listener remembers the last Host it allowed; one it refuses must
// stay refused however requests interleave.
func TestHostAllowListAfterAllowedHost(t *testing.T) {
	e := newEnv(t, envOpts{})
	for i, tc := range []struct {
		host string
		want int
	}{{e.host, 200}, {"evil.example", 403}, {e.host, 200}, {e.host, 200}, {"evil.example", 403}, {"localhost", 200}, {"evil.example", 403}} {
		if st, _, _ := e.do(http.MethodGet, "/", map[string]string{"Host": tc.host}); st != tc.want {
			t.Errorf("request %d, Host %q: %d, want %d", i, tc.host, st, tc.want)
		}
	}
}

func TestRemotePeerRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "192.0.2.10:4567"
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("non-loopback peer: %d, want 403", rec.Code)
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", ":0"} {
		if ln, err := metadata.Listen(addr, false); err == nil {
			ln.Close()
			t.Errorf("%s: bound without allowNonLoopback", addr)
		}
	}
	ln, err := metadata.Listen("localhost:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	srv := metadata.NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("server timeouts unset: %+v", srv)
	}
}

// TestRouting covers the router as mux serves it: unclean paths redirect
// to their clean form, a known path with the wrong method is 405, route
// variables reach the handlers through mux.Vars, and every outcome is
// named in the access log.
func TestRouting(t *testing.T) {
	e := newEnv(t, envOpts{})
	serve := func(method, target string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, target, nil)
		req.Host, req.RemoteAddr = "127.0.0.1", "127.0.0.1:40000"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		return rec
	}
	for target, want := range map[string]string{
		"/latest/meta-data/iam/../iam/info": "/latest/meta-data/iam/info",
		"//":                                "/",
		"/computeMetadata/v1/./project/":    "/computeMetadata/v1/project/",
	} {
		rec := serve(http.MethodGet, target, map[string]string{"Metadata-Flavor": "Google"})
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != want {
			t.Errorf("%s: %d to %q, want 301 to %q", target, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	if n := withFields(e.logs, zap.String("route", "redirect")).Len(); n != 3 {
		t.Errorf("%d redirects logged, want 3", n)
	}

	if rec := serve(http.MethodPost, "/latest/meta-data/iam/info", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}
	if n := withFields(e.logs, zap.String("route", "method_not_allowed")).Len(); n != 1 {
		t.Errorf("405 logged %d times as method_not_allowed, want 1", n)
	}
	if rec := serve(http.MethodGet, "/latest/api/token", nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET token: %d, want 405", rec.Code)
	}
	if n := withFields(e.logs, zap.String("route", "imds_token"), zap.Int("status", 405)).Len(); n != 1 {
		t.Errorf("405 on the token path logged %d times under imds_token, want 1", n)
	}

	// Variables: the account in the path picks the email answered, the
	// kind and name pick the credential, the role must be the listener's.
	flavor := map[string]string{"Metadata-Flavor": "Google"}
	for acct, want := range map[string]string{"default": gcpMail, gcpMail2: gcpMail2} {
		rec := serve(http.MethodGet, "/computeMetadata/v1/instance/service-accounts/"+acct+"/email", flavor)
		if rec.Code != 200 || rec.Body.String() != want {
			t.Errorf("%s email: %d %q, want %q", acct, rec.Code, rec.Body.String(), want)
		}
	}
	if n := withFields(e.logs, zap.String("route", "gce_email")).Len(); n != 2 {
		t.Errorf("gce_email logged %d times, want 2", n)
	}
	auth := map[string]string{"Authorization": e.token}
	if rec := serve(http.MethodGet, "/v1/credentials/sentry/app", auth); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"project":"my-project"`) {
		t.Errorf("sentry/app through the API: %d %s", rec.Code, rec.Body.String())
	}
	if rec := serve(http.MethodGet, "/v1/credentials/sentry/other", auth); rec.Code != 404 {
		t.Errorf("an unknown name: %d, want 404", rec.Code)
	}
	tok := map[string]string{"X-aws-ec2-metadata-token": e.imdsToken()}
	if rec := serve(http.MethodGet, "/latest/meta-data/iam/security-credentials/other-role", tok); rec.Code != 404 {
		t.Errorf("another role: %d, want 404", rec.Code)
	}
}

// A route added the ordinary gorilla way gets its variables through
// mux.Vars: the router is served by mux itself, not matched by hand.
func TestMuxVarsReachHandlers(t *testing.T) {
	r := mux.NewRouter()
	var got map[string]string
	r.HandleFunc("/things/{kind}/{name}", func(w http.ResponseWriter, r *http.Request) { got = mux.Vars(r) })
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/things/aws/artifacts", nil))
	if got["kind"] != "aws" || got["name"] != "artifacts" {
		t.Fatalf("mux.Vars = %v", got)
	}
}

// Every path an SSRF could reach refuses a forwarded request, whether it
// says X-Forwarded-For (even empty) or Forwarded.
func TestForwardedRequestsRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok := e.imdsToken()
	for _, fwd := range []map[string]string{{"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": ""}, {"Forwarded": "for=203.0.113.9"}} {
		for _, c := range []struct {
			method, path string
			hdr          map[string]string
		}{
			{http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "300"}},
			{http.MethodGet, "/latest/meta-data/iam/security-credentials/" + role, map[string]string{"X-aws-ec2-metadata-token": tok}},
			{http.MethodGet, "/computeMetadata/v1/instance/service-accounts/default/token", map[string]string{"Metadata-Flavor": "Google"}},
			{http.MethodGet, "/v1/credentials/aws/" + role, map[string]string{"Authorization": e.token}},
		} {
			req := httptest.NewRequest(c.method, c.path, nil)
			req.Host, req.RemoteAddr = "127.0.0.1", "127.0.0.1:40000"
			for k, v := range c.hdr {
				req.Header.Set(k, v)
			}
			for k, v := range fwd {
				req.Header[k] = []string{v}
			}
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden {
				t.Errorf("%s %s with %v: %d, want 403", c.method, c.path, fwd, rec.Code)
			}
			for _, s := range e.secrets() {
				if strings.Contains(rec.Body.String(), s) {
					t.Errorf("%s %s with %v: answer holds a secret", c.method, c.path, fwd)
				}
			}
		}
	}
}
