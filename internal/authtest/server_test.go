package authtest_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/hawk"
)

// The service signs against what the client saw, behind a proxy: port
// from X-Forwarded-Port, else 443 for X-Forwarded-Proto: https.
func TestMACInputsBehindAProxy(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	tok := fake.AddClient("c", "auth:sentry:*")
	creds := &hawk.Credentials{ClientID: "c", AccessToken: tok}
	public, _ := url.Parse("https://tc.example.com/api/auth/v1/sentry/p/dsn")
	hdr, err := creds.Header("GET", public, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		headers map[string]string
		want    int
	}{
		"forwarded proto https":  {map[string]string{"X-Forwarded-Proto": "https"}, 200},
		"forwarded port 443":     {map[string]string{"X-Forwarded-Port": "443"}, 200},
		"no forwarding: port 80": {nil, 401},
		"wrong forwarded port":   {map[string]string{"X-Forwarded-Port": "8443"}, 401},
	} {
		req := httptest.NewRequest(http.MethodGet, "/api/auth/v1/sentry/p/dsn", nil)
		req.Host = "tc.example.com"
		req.Header.Set("Authorization", hdr)
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		fake.ServeHTTP(rec, req)
		if rec.Code != c.want {
			body, _ := io.ReadAll(rec.Body)
			t.Errorf("%s: %d, want %d: %s", name, rec.Code, c.want, body)
		}
	}
	if got := fake.Calls("sentryDSN"); got != 4 {
		t.Errorf("Calls = %d, want 4", got)
	}
}

func TestUnknownQueryAndBadPayload(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/auth/v1/ping?nope=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "InvalidRequestArguments") {
		t.Errorf("unknown query key: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(srv.URL+"/api/auth/v1/test-authenticate", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), "MalformedPayload") {
		t.Errorf("non-JSON payload: %d %s", resp.StatusCode, body)
	}
	// The web framework's own 404, for an unknown path or method.
	for _, c := range []struct{ method, path string }{{"GET", "/api/auth/v1/no/such/endpoint"}, {"DELETE", "/api/auth/v1/ping"}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"error":"Not found"}` || resp.Header.Get("Cache-Control") != "no-store no-cache must-revalidate" {
			t.Errorf("%s %s: %d %s %v", c.method, c.path, resp.StatusCode, body, resp.Header)
		}
	}
}

// Invalid URL parameters are reported together, in the route's order.
func TestInvalidParametersInRouteOrder(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	tok := fake.AddClient("c", "auth:azure-table:*")
	u, _ := url.Parse(srv.URL + "/api/auth/v1/azure/ACCOUNT/table/x/read-everything")
	hdr, err := (&hawk.Credentials{ClientID: "c", AccessToken: tok}).Header("GET", u, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", u.String(), nil)
	req.Header.Set("Authorization", hdr)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Code, Message string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	want := "Invalid URL patterns:\n" +
		"URL parameter 'account' given as 'ACCOUNT' must match regular expression: '/^[a-z0-9]{3,24}$/'\n" +
		"URL parameter 'table' given as 'x' must match regular expression: '/^[A-Za-z][A-Za-z0-9]{2,62}$/'\n" +
		"URL parameter 'level' given as 'read-everything' must match regular expression: '/^(read-write|read-only)$/'\n\n---"
	if resp.StatusCode != 400 || body.Code != "InvalidRequestArguments" || !strings.HasPrefix(body.Message, want) {
		t.Errorf("%d %s %q", resp.StatusCode, body.Code, body.Message)
	}
}

// Hawk failures that no client library produces, in the words the
// service passes on from the hawk library (server.js and utils.js there).
func TestHawkFailureMessages(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	b64 := base64.RawURLEncoding.EncodeToString
	path := "/api/auth/v1/scopes/current"
	for _, c := range []struct{ query, authorization, want string }{
		{"?bewit=", "", "Unauthorized: Empty bewit"},
		{"?bewit=!!", "", "Bad Request: Invalid bewit encoding"},
		{"?bewit=" + b64([]byte(`id\1\mac`)), "", "Bad Request: Invalid bewit structure"},
		{"?bewit=" + b64([]byte(`\1\mac\`)), "", "Bad Request: Missing bewit attributes"},
		{"?bewit=x&pad=" + strings.Repeat("a", 4100), "", "Bad Request: Resource path exceeds max length"},
		{"?bewit=" + b64([]byte(`id\1\mac\`)), `Hawk id="a"`, "Cannot use two authentication schemes at once this request has both bewit in querystring and 'authorization' header"},
		{"", "Bearer token", "Unauthorized: Unauthorized"},
		{"", "Hawk", "Bad Request: Invalid header syntax"},
		{"", `Hawk id="a", ts="1"`, "Bad Request: Missing attributes"},
		{"", `Hawk id="a", ts="1", nonce="n", mac="m", color="red"`, "Bad Request: Unknown attribute: color"},
		{"", "Hawk " + strings.Repeat("x", 4100), "Bad Request: Header length too long"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+path+c.query, nil)
		if c.authorization != "" {
			req.Header.Set("Authorization", c.authorization)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code, Message string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || body.Code != "AuthenticationFailed" || !strings.HasPrefix(body.Message, c.want+"\n\n---\n") {
			t.Errorf("%q %q: %d %s %q, want %q", c.query, c.authorization, resp.StatusCode, body.Code, body.Message, c.want)
		}
	}
}
