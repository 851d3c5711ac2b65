package metadata_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzRequest throws arbitrary requests at the credential listener's
// handler. Whatever arrives, it must not panic, must answer with a status
// the protocols use, and must hand a secret only to a request that carried
// what an SSRF cannot send: a valid IMDSv2 token, Metadata-Flavor: Google
// without forwarding, or the local token.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/latest/meta-data/iam/security-credentials/artifacts", true, false, "", false, "127.0.0.1")
	f.Add("GET", "/latest/meta-data/iam/security-credentials/artifacts", false, false, "", false, "127.0.0.1")
	f.Add("PUT", "/latest/api/token", false, false, "", true, "localhost")
	f.Add("GET", "/computeMetadata/v1/instance/service-accounts/default/token?scopes=x", false, true, "", false, "127.0.0.1")
	f.Add("GET", "/computeMetadata/v1/instance/service-accounts/default/token", false, true, "", true, "127.0.0.1")
	f.Add("GET", "/v1/credentials/sentry/app", false, false, "TOKEN", false, "127.0.0.1")
	f.Add("GET", "/v1/credentials/gcp/x", false, false, "Bearer nope", false, "evil.example")
	f.Add("POST", "/v1/credentials/aws/artifacts", false, false, "TOKEN", false, "[::1]")
	f.Add("GET", "//latest/../latest/meta-data/iam/info", true, false, "", false, "127.0.0.1")
	f.Add("GET", "/latest/meta-data/iam/security-credentials/%2e%2e", true, false, "", false, "127.0.0.1")

	e := newEnv(f, envOpts{})
	secrets := e.secrets()[1:] // the local token itself is checked separately
	imdsTok := e.imdsToken()
	allowed := map[int]bool{200: true, 301: true, 400: true, 401: true, 403: true, 404: true, 405: true, 503: true}

	f.Fuzz(func(t *testing.T, method, path string, withIMDSToken, withFlavor bool, auth string, forwarded bool, host string) {
		u, err := url.ParseRequestURI(path)
		if err != nil || !strings.HasPrefix(path, "/") {
			t.Skip()
		}
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			t.Skip()
		}
		auth = strings.ReplaceAll(auth, "TOKEN", e.token)
		req := &http.Request{Method: method, URL: u, RequestURI: path, Host: host, Header: http.Header{}, RemoteAddr: "127.0.0.1:40000", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
		req = req.WithContext(t.Context())
		if withIMDSToken {
			req.Header.Set("X-aws-ec2-metadata-token", imdsTok)
		}
		if withFlavor {
			req.Header.Set("Metadata-Flavor", "Google")
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if forwarded {
			req.Header.Set("X-Forwarded-For", "203.0.113.7")
		}
		rec := httptest.NewRecorder()
		e.handler.ServeHTTP(rec, req)
		if !allowed[rec.Code] {
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		body := rec.Body.String()
		leaked := false
		for _, s := range secrets {
			leaked = leaked || strings.Contains(body, s)
		}
		if !leaked {
			return
		}
		presentedLocal := strings.TrimPrefix(auth, "Bearer ") == e.token
		gce := withFlavor && !forwarded && strings.HasPrefix(u.Path, "/computeMetadata/")
		if !(withIMDSToken && !forwarded) && !gce && !presentedLocal {
			t.Fatalf("%s %s (imds=%v flavor=%v auth=%q xff=%v) received a secret", method, path, withIMDSToken, withFlavor, auth, forwarded)
		}
	})
}
