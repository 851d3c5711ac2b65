package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
)

// TestReliabilityReport runs the real binary against the fake Auth
// service through every fault mode and prints the figures recorded in
// docs/reliability.md. It takes about a quarter of an hour of real time,
// so it runs only when TC_CREDD_RELIABILITY is set; with
// TC_CREDD_RELIABILITY_OUT it also writes the table there.
func TestReliabilityReport(t *testing.T) {
	if os.Getenv("TC_CREDD_RELIABILITY") == "" {
		t.Skip("set TC_CREDD_RELIABILITY=1 to run (about 15 minutes)")
	}
	const (
		lifetime = 40 * time.Second // served until 10 s before expiry
		floor    = 10 * time.Second
		outage   = 45 * time.Second // longer than a credential is served
		long     = 3 * time.Minute
	)
	bin := buildBinary(t)
	fake := authtest.New(authtest.Options{Lifetimes: authtest.Lifetimes{S3: lifetime}})
	auth := httptest.NewServer(fake)
	defer auth.Close()
	tok := fake.AddClient("rel", "auth:aws-s3:*")
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tc-token")
	if err := os.WriteFile(tokFile, []byte(tok.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, localTok, cfgPath := freePort(t), filepath.Join(dir, "token"), filepath.Join(dir, "config.yml")
	cfg := fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: rel\n  accessTokenFile: %s\nlisten: %s\nlocalTokenFile: %s\naws:\n  - name: a\n    bucket: my-bucket\n    level: read-write\n",
		auth.URL, tokFile, listen, localTok)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "run", "--config", cfgPath)
	go func() { // keep the log pipe drained
		for range d.lines {
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	token, _ := os.ReadFile(localTok)
	for len(token) == 0 {
		time.Sleep(10 * time.Millisecond)
		token, _ = os.ReadFile(localTok)
	}
	// get asks for the credential as a container SDK does; it returns the
	// credential's expiry, or zero on failure.
	get := func() time.Time {
		req, _ := http.NewRequest(http.MethodGet, "http://"+listen+"/v1/credentials/aws/a", nil)
		req.Header.Set("Authorization", string(token))
		resp, err := client.Do(req)
		if err != nil {
			return time.Time{}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var c struct{ Expiration time.Time }
		if resp.StatusCode != 200 || json.Unmarshal(b, &c) != nil {
			return time.Time{}
		}
		return c.Expiration
	}
	healthy := func() time.Time {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			if exp := get(); !exp.IsZero() {
				return exp
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("tc-credd did not serve within 2 minutes")
		return time.Time{}
	}
	// freshCredential waits for a renewal, so that an outage starts with
	// a whole credential held.
	freshCredential := func() {
		healthy()
		n := len(fake.Issued("awsS3Credentials"))
		for len(fake.Issued("awsS3Credentials")) == n {
			time.Sleep(50 * time.Millisecond)
		}
		healthy()
	}
	type result struct {
		mode                  string
		duration              time.Duration
		requests              int
		failuresWhileValid    int
		failuresAfterExpiry   int
		recovery              time.Duration
		requestsPerMinuteDown float64
	}
	run := func(mode string, f authtest.Fault, d time.Duration) result {
		freshCredential()
		lastExp := healthy()
		before := fake.Calls("awsS3Credentials")
		fake.InjectFault("awsS3Credentials", f, -1)
		r := result{mode: mode, duration: d}
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			now := time.Now()
			if exp := get(); !exp.IsZero() {
				lastExp = exp
			} else if now.Before(lastExp.Add(-floor)) {
				r.failuresWhileValid++
			} else {
				r.failuresAfterExpiry++
			}
			time.Sleep(250 * time.Millisecond)
		}
		fake.ClearFaults()
		r.requests = fake.Calls("awsS3Credentials") - before
		cleared := time.Now()
		for get().IsZero() {
			time.Sleep(100 * time.Millisecond)
		}
		r.recovery = time.Since(cleared)
		r.requestsPerMinuteDown = float64(r.requests) / d.Minutes()
		t.Logf("%s: %+v", mode, r)
		return r
	}
	var results []result
	for _, m := range []struct {
		name string
		f    authtest.Fault
	}{
		{"500 InternalServerError", authtest.Fault500},
		{"503 with an HTML page", authtest.Fault503},
		{"connection reset", authtest.FaultReset},
		{"request hangs", authtest.FaultHang},
		{"200 with malformed JSON", authtest.FaultMalformedJSON},
		{"401 AuthenticationFailed", authtest.Fault401},
		{"403 InsufficientScopes", authtest.Fault403},
	} {
		results = append(results, run(m.name, m.f, outage))
	}
	results = append(results, run("500 InternalServerError, 3 minutes", authtest.Fault500, long))

	var b strings.Builder
	fmt.Fprintf(&b, "| fault | outage | HTTP requests during it | client failures while a valid credential was held | client failures after it lapsed | recovery after the fault ended |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %.1f s |\n", r.mode, r.duration, r.requests, r.failuresWhileValid, r.failuresAfterExpiry, r.recovery.Seconds())
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("TC_CREDD_RELIABILITY_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range results {
		if r.failuresWhileValid != 0 {
			t.Errorf("%s: %d client-visible failures while a valid credential was held", r.mode, r.failuresWhileValid)
		}
	}
}
