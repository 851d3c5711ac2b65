package proxy_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/proxy"
)

// deployment is a Taskcluster deployment on loopback: the fake Auth
// service under /api/auth/v1, and a test service under /api/upload/v1
// that checks what the proxy forwards.
type deployment struct {
	fake     *authtest.Server
	url      string
	creds    *hawk.Credentials
	uploaded chan upload
}

type upload struct {
	bytes  int64
	header http.Header
}

func newDeployment(t *testing.T) *deployment {
	t.Helper()
	fake := authtest.New(authtest.Options{})
	tok := fake.AddClient("credd", "auth:current-scopes", "auth:expand-scopes", "queue:*", "auth:sentry:*")
	d := &deployment{fake: fake, creds: &hawk.Credentials{ClientID: "credd", AccessToken: tok}, uploaded: make(chan upload, 1)}
	mux := http.NewServeMux()
	mux.Handle("/api/auth/", fake)
	mux.HandleFunc("/api/upload/v1/put", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		d.uploaded <- upload{bytes: n, header: r.Header.Clone()}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/api/upload/v1/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://artifacts.example/blob?sig=1", http.StatusSeeOther)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d.url = srv.URL
	return d
}

// granted is what the test policy gives every caller.
var granted = []string{"auth:current-scopes", "auth:expand-scopes", "queue:get-artifact:public/*"}

func (d *deployment) proxy(t *testing.T, authorize func(*http.Request) (proxy.Grant, error)) (*httptest.Server, chan proxy.Event) {
	t.Helper()
	if authorize == nil {
		authorize = func(*http.Request) (proxy.Grant, error) {
			return proxy.Grant{Scopes: granted, Rule: "proxy.policies[0]"}, nil
		}
	}
	events := make(chan proxy.Event, 16)
	h := proxy.New(proxy.Options{
		Upstream:  func() proxy.Upstream { return proxy.Upstream{RootURL: d.url, Credentials: d.creds} },
		Authorize: authorize,
		Audit:     func(e proxy.Event) { events <- e },
		Version:   "test",
	})
	// Behind the checks every tc-credd listener puts in front of it, as the
	// daemon serves it.
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = metadata.Guarded(h, metadata.GuardedOptions{Route: "proxy", Guard: metadata.GuardOptions{Port: metadata.PortOf(srv.Listener)}})
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, events
}

// next returns the next audit event, on a deadline: the proxy audits a
// request once its answer has been sent.
func next(t *testing.T, events chan proxy.Event) proxy.Event {
	t.Helper()
	select {
	case e := <-events:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no audit event within 10 s")
		return proxy.Event{}
	}
}

func getJSON(t *testing.T, u string, hdr map[string]string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

func scopesOf(m map[string]any) []string {
	var out []string
	for _, s := range m["scopes"].([]any) {
		out = append(out, s.(string))
	}
	return out
}

// Both path forms reach the deployment signed with tc-credd's credentials
// narrowed to what the policy grants: the fake Auth service checks the
// signature and reports the narrowed scopes.
func TestSignedAndNarrowed(t *testing.T) {
	d := newDeployment(t)
	p, events := d.proxy(t, nil)
	for _, path := range []string{"/api/auth/v1/scopes/current", "/auth/v1/scopes/current"} {
		st, h, m := getJSON(t, p.URL+path, nil)
		if st != 200 {
			t.Fatalf("%s: %d %v", path, st, m)
		}
		got := scopesOf(m)
		for _, s := range granted {
			if !slices.Contains(got, s) {
				t.Errorf("%s: current scopes %v lack granted %s", path, got, s)
			}
		}
		if slices.Contains(got, "queue:*") || slices.Contains(got, "auth:sentry:*") {
			t.Errorf("%s: current scopes %v hold more than the policy grants", path, got)
		}
		if h.Get("X-Taskcluster-Endpoint") != d.url+"/api/auth/v1/scopes/current" || h.Get("X-Taskcluster-Proxy-Perm-Clientid") != "credd" {
			t.Errorf("%s: headers %v", path, h)
		}
		if v := h.Values("X-Taskcluster-Proxy-Version"); len(v) != 1 || v[0] != "test" {
			t.Errorf("%s: X-Taskcluster-Proxy-Version %q, want it once", path, v)
		}
	}
	for i := 0; i < 2; i++ {
		if e := next(t, events); e.Service != "auth" || e.Status != 200 || e.Rule != "proxy.policies[0]" || e.Path != "/api/auth/v1/scopes/current" && e.Path != "/auth/v1/scopes/current" {
			t.Errorf("audit event %+v", e)
		}
	}
	// A scope the policy does not grant is refused by Taskcluster itself.
	req, _ := http.NewRequest(http.MethodGet, p.URL+"/api/auth/v1/sentry/p/dsn", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("sentryDSN through the proxy with a policy that lacks it: %d, want 403", resp.StatusCode)
	}
}

func TestRequestBodyAndQueryPassThrough(t *testing.T) {
	d := newDeployment(t)
	p, _ := d.proxy(t, nil)
	resp, err := http.Post(p.URL+"/api/auth/v1/scopes/expand", "application/json", strings.NewReader(`{"scopes":["queue:get-artifact:public/x"]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 200 || !slices.Equal(scopesOf(m), []string{"queue:get-artifact:public/x"}) {
		t.Fatalf("expandScopes through the proxy: %d %v", resp.StatusCode, m)
	}
	// The query is signed as sent: an unknown parameter reaches the service,
	// which refuses it, rather than a signature mismatch.
	st, _, m := getJSON(t, p.URL+"/api/auth/v1/scopes/current?x=1", nil)
	if st != 400 || m["code"] != "InvalidRequestArguments" {
		t.Fatalf("unknown query parameter: %d %v", st, m)
	}
}

// A large body streams to the service: it arrives whole, with the
// signature; hop-by-hop headers are not passed on, and the proxy adds no
// forwarding headers of its own.
func TestStreamsBodiesAndDropsHopByHop(t *testing.T) {
	d := newDeployment(t)
	p, _ := d.proxy(t, nil)
	const size = 64 << 20
	req, _ := http.NewRequest(http.MethodPut, p.URL+"/api/upload/v1/put", io.LimitReader(rand.Reader, size))
	req.ContentLength = size
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "should-not-pass")
	req.Header.Set("X-Custom", "passes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	up := <-d.uploaded
	if up.bytes != size {
		t.Fatalf("service received %d bytes, want %d", up.bytes, size)
	}
	if up.header.Get("X-Hop") != "" || up.header.Get("X-Forwarded-For") != "" || up.header.Get("Forwarded") != "" || up.header.Get("X-Custom") != "passes" {
		t.Fatalf("forwarded headers: %v", up.header)
	}
	if !strings.HasPrefix(up.header.Get("Authorization"), `Hawk id="credd"`) {
		t.Fatalf("upload not signed: %q", up.header.Get("Authorization"))
	}
}

func TestRedirectPassesBack(t *testing.T) {
	d := newDeployment(t)
	p, _ := d.proxy(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(p.URL + "/api/upload/v1/moved")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "https://artifacts.example/blob?sig=1" {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestRefusals(t *testing.T) {
	d := newDeployment(t)
	p, events := d.proxy(t, func(r *http.Request) (proxy.Grant, error) {
		if r.Header.Get("X-Test-Caller") == "stranger" {
			return proxy.Grant{}, &proxy.Refusal{Reason: "no proxy policy admits uid 1234 (user stranger)"}
		}
		if r.Header.Get("X-Test-Caller") == "unknown" {
			return proxy.Grant{}, errors.New("identity unknown on this platform")
		}
		return proxy.Grant{Scopes: granted}, nil
	})
	for _, c := range []struct {
		hdr  map[string]string
		want int
		text string
	}{
		{map[string]string{"X-Test-Caller": "stranger"}, 403, "no proxy policy admits uid 1234"},
		{map[string]string{"X-Test-Caller": "unknown"}, 403, "cannot tell who is calling"},
		{map[string]string{"Authorization": "Hawk id=\"mine\""}, 400, "send no Authorization header"},
		{map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403, "forwarded request"},
		{map[string]string{"Forwarded": "for=203.0.113.9"}, 403, "forwarded request"},
	} {
		req, _ := http.NewRequest(http.MethodGet, p.URL+"/api/auth/v1/scopes/current", nil)
		for k, v := range c.hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || !strings.Contains(string(b), c.text) {
			t.Errorf("%v: %d %q, want %d with %q", c.hdr, resp.StatusCode, b, c.want, c.text)
		}
	}
	if n := d.fake.TotalCalls(); n != 0 {
		t.Errorf("refused requests reached the service %d times", n)
	}
	if len(events) != 0 {
		t.Errorf("refused requests audited as proxied: %+v", <-events)
	}
	if st, _, _ := getJSON(t, p.URL+"/not-a-service", nil); st != 404 {
		t.Errorf("a path that is no API path: %d, want 404", st)
	}
	// A hostname in the first segment is not forwarded: tc-credd's
	// credentials go to its own deployment only.
	if st, _, _ := getJSON(t, p.URL+"/evil.example/v1/x", nil); st != 404 {
		t.Errorf("a hostname path: %d, want 404", st)
	}
	// A service name is Taskcluster's kind: lowercase words and dashes.
	for _, path := range []string{"/api/Auth/v1/scopes/current", "/api/a%2Fb/v1/x", "/api/auth/version1/x"} {
		if st, _, _ := getJSON(t, p.URL+path, nil); st != 404 {
			t.Errorf("%s: %d, want 404", path, st)
		}
	}
}

// POST /bewit signs a URL under rootUrl, narrowed like any request; the
// service accepts it without any other credentials.
func TestBewit(t *testing.T) {
	d := newDeployment(t)
	p, _ := d.proxy(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	target := d.url + "/api/auth/v1/scopes/current"
	resp, err := client.Post(p.URL+"/bewit", "text/plain", strings.NewReader(target+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != string(body) {
		t.Fatalf("bewit: %d %q", resp.StatusCode, body)
	}
	signed, _ := url.Parse(string(body))
	if signed.Query().Get("bewit") == "" || !strings.HasPrefix(string(body), target+"?bewit=") {
		t.Fatalf("signed URL %q", body)
	}
	st, _, m := getJSON(t, string(body), nil)
	if st != 200 || slices.Contains(scopesOf(m), "queue:*") || !slices.Contains(scopesOf(m), "auth:current-scopes") {
		t.Fatalf("the service on the signed URL: %d %v", st, m)
	}
	for _, bad := range []string{"https://evil.example/api/auth/v1/scopes/current", "not a url\x7f", ""} {
		resp, err := client.Post(p.URL+"/bewit", "text/plain", strings.NewReader(bad))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("bewit for %q: %d, want 400", bad, resp.StatusCode)
		}
	}
	resp, err = client.Get(p.URL + "/bewit")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET /bewit: %d, want 405", resp.StatusCode)
	}
}

// A deployment that does not answer gives the caller 502, and the audit
// event says so.
func TestUnreachableDeploymentIsAudited502(t *testing.T) {
	d := newDeployment(t)
	p, events := d.proxy(t, nil)
	d.url = "http://127.0.0.1:1"
	resp, err := http.Get(p.URL + "/api/auth/v1/scopes/current")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("unreachable deployment: %d, want 502", resp.StatusCode)
	}
	if e := next(t, events); e.Status != http.StatusBadGateway {
		t.Fatalf("audit event %+v, want status 502", e)
	}
}
