package metadata_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestJSONAPIEveryKind(t *testing.T) {
	e := newEnv(t, envOpts{})
	auth := map[string]string{"Authorization": e.token}
	// aws uses the container shape.
	st, h, body := e.do(http.MethodGet, "/v1/credentials/aws/"+role+"?any=query&is=accepted", auth)
	var awsDoc map[string]string
	if err := json.Unmarshal([]byte(body), &awsDoc); err != nil || st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("aws: %d %v", st, err)
	}
	c := e.current("aws/" + role)
	if awsDoc["AccessKeyId"] != c.AWS.AccessKeyID || awsDoc["SecretAccessKey"] != c.AWS.SecretAccessKey.Reveal() ||
		awsDoc["Token"] != c.AWS.SessionToken.Reveal() || !awsTimeRe.MatchString(awsDoc["Expiration"]) || len(awsDoc) != 4 {
		t.Errorf("aws document = %v", awsDoc)
	}
	cases := []struct {
		path, issuedBy, field string
	}{
		{"/v1/credentials/gcp/" + gcpMail, "gcpCredentials", "accessToken"},
		{"/v1/credentials/azure/results", "azureContainerSAS", "sas"},
		{"/v1/credentials/sentry/app", "sentryDSN", "dsn.secret"},
		{"/v1/credentials/websocktunnel/tunnel", "websocktunnelToken", "token"},
	}
	for _, c := range cases {
		st, _, body := e.do(http.MethodGet, c.path, map[string]string{"Authorization": "Bearer " + e.token})
		var doc map[string]any
		if err := json.Unmarshal([]byte(body), &doc); err != nil || st != 200 {
			t.Errorf("%s: %d %v", c.path, st, err)
			continue
		}
		var got any = doc
		for _, part := range strings.Split(c.field, ".") {
			got = got.(map[string]any)[part]
		}
		if v, ok := got.(string); !ok || !issuedBy(e, c.issuedBy, v) {
			t.Errorf("%s: %s is not what %s issued", c.path, c.field, c.issuedBy)
		}
	}
	for path, want := range map[string]int{
		"/v1/credentials/aws/nope":           404,
		"/v1/credentials/ftp/x":              404,
		"/v1/credentials/aws":                404,
		"/v1/credentials/aws/" + role + "/x": 404,
	} {
		if st, _, _ := e.do(http.MethodGet, path, auth); st != want {
			t.Errorf("%s: %d, want %d", path, st, want)
		}
	}
}

func TestJSONAPIAuthorization(t *testing.T) {
	e := newEnv(t, envOpts{})
	path := "/v1/credentials/aws/" + role
	for name, c := range map[string]struct {
		hdr  map[string]string
		want int
	}{
		"missing":       {nil, 401},
		"wrong":         {map[string]string{"Authorization": "wrong-token-wrong-token"}, 403},
		"wrong bearer":  {map[string]string{"Authorization": "Bearer wrong-token"}, 403},
		"token+newline": {map[string]string{"Authorization": e.token + "x"}, 403},
		"raw":           {map[string]string{"Authorization": e.token}, 200},
		"bearer":        {map[string]string{"Authorization": "Bearer " + e.token}, 200},
	} {
		st, h, body := e.do(http.MethodGet, path, c.hdr)
		if st != c.want {
			t.Errorf("%s: %d, want %d", name, st, c.want)
		}
		if c.want != 200 {
			var doc map[string]string
			if json.Unmarshal([]byte(body), &doc) != nil || doc["Code"] == "" || doc["Message"] == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("%s: error body %q is not {Code, Message} JSON", name, body)
			}
			if strings.Contains(body, "Secret") {
				t.Errorf("%s: error body leaks", name)
			}
		}
	}
}

func TestLocalTokenFile(t *testing.T) {
	e := newEnv(t, envOpts{})
	st, err := os.Stat(e.tokenPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", st.Mode(), err)
	}
	if strings.ContainsAny(e.token, "\r\n ") || len(e.token) < 32 {
		t.Fatalf("token %q must be ≥ 32 printable characters without a newline", e.token)
	}
}

func TestAPINotAvailableIs503(t *testing.T) {
	gate := make(chan struct{})
	e := newEnv(t, envOpts{gate: gate})
	auth := map[string]string{"Authorization": e.token}
	// Before the first fetch: the wait is bounded (300 ms on the fake
	// clock), then a retryable 503. Move the clock on while the
	// request waits.
	done := make(chan int)
	go func() {
		st, _, _ := e.do(http.MethodGet, "/v1/credentials/sentry/app", auth)
		done <- st
	}()
	waitWaiters(t, e.clk, 1) // the request's bounded wait
	e.clk.Add(300 * time.Millisecond)
	if st := <-done; st != 503 {
		t.Fatalf("before the first credential: %d, want 503", st)
	}
}

func TestExpiredCredentialIs503(t *testing.T) {
	e := newEnv(t, envOpts{fail: true})
	// The client has no scopes: every fetch is refused and nothing is held.
	e.waitFor("every source to have asked upstream once", func() bool {
		for _, s := range e.r.States() {
			if s.UpstreamCalls == 0 {
				return false
			}
		}
		return true
	})
	for _, path := range []string{"/v1/credentials/sentry/app", "/v1/credentials/aws/" + role} {
		done := make(chan int)
		go func() {
			st, _, _ := e.do(http.MethodGet, path, map[string]string{"Authorization": e.token})
			done <- st
		}()
		if st := <-done; st != 503 {
			t.Fatalf("%s with nothing to serve: %d, want 503", path, st)
		}
	}
	tok := e.imdsToken()
	if st, _, _ := e.do(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+role, map[string]string{"X-aws-ec2-metadata-token": tok}); st != 503 {
		t.Fatalf("IMDS with nothing to serve: %d, want 503", st)
	}
	if st, _, _ := e.do(http.MethodGet, "/computeMetadata/v1/instance/service-accounts/default/token", map[string]string{"Metadata-Flavor": "Google"}); st != 503 {
		t.Fatalf("GCE with nothing to serve: %d, want 503", st)
	}
}
