//go:build linux

package main_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/nodetest"
)

// waitLogN waits for the n-th log line with msg whose fields match, on a
// deadline.
func (d *daemon) waitLogN(t *testing.T, msg string, n int, match func(map[string]any) bool) {
	t.Helper()
	count := func() int {
		c := 0
		for _, m := range d.seen {
			if m["msg"] == msg && match(m) {
				c++
			}
		}
		return c
	}
	deadline := time.After(30 * time.Second)
	for count() < n {
		select {
		case m, ok := <-d.lines:
			if !ok {
				t.Fatalf("tc-credd exited before logging %q ×%d", msg, n)
			}
			d.seen = append(d.seen, m)
		case <-deadline:
			t.Fatalf("no %q ×%d within 30 s", msg, n)
		}
	}
}

// vmHWM is a process's peak resident memory, in KiB.
func vmHWM(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// TestProxyAndGitHubTokens runs the real binary with the proxy and a
// github source: the official taskcluster-client calls Taskcluster through
// the proxy with no credentials and gets its policy's narrowed scopes; a
// bewit from POST /bewit is accepted; a 100 MB upload streams through
// without the daemon's memory growing by 10 MiB; `git credential fill`
// gets the current GitHub token, and the new one after a renewal, which
// the env sink holds too.
func TestProxyAndGitHubTokens(t *testing.T) {
	conformance, _ := filepath.Abs(filepath.Join("..", "..", "internal", "authtest", "testdata", "conformance"))
	if _, err := os.Stat(filepath.Join(conformance, "node_modules", "taskcluster-client")); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("taskcluster-client is not installed (run `make deps`): %v", err)
		}
		t.Fatalf("taskcluster-client is not installed: CI must run `make deps` first: %v", err)
	}
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git on this machine")
	}
	bin := buildBinary(t)
	fake := authtest.New(authtest.Options{Lifetimes: authtest.Lifetimes{GitHub: 8 * time.Second}})
	uploaded := make(chan int64, 1)
	mux := http.NewServeMux()
	mux.Handle("/api/auth/", fake)
	mux.HandleFunc("/api/upload/v1/blob", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), `Hawk id="e2e"`) {
			http.Error(w, "unsigned", http.StatusUnauthorized)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		uploaded <- n
		w.WriteHeader(http.StatusNoContent)
	})
	deployment := httptest.NewServer(mux)
	defer deployment.Close()
	tok := fake.AddClient("e2e", "auth:current-scopes", "auth:expand-scopes", "auth:aws-s3:read-only:my-bucket/builds/", "auth:sentry:*", "queue:*",
		"auth:github-repo-token:tc-credd-dev/octo-org/hello-world:contents:read")

	dir := t.TempDir()
	listen, ops, proxyAddr := freePort(t), freePort(t), freePort(t)
	localTok, ghEnv, cfgPath := filepath.Join(dir, "run", "token"), filepath.Join(dir, "gh.env"), filepath.Join(dir, "config.yml")
	cfg := fmt.Sprintf(`rootUrl: %s
credentials:
  clientId: e2e
  accessToken: %s
listen: %s
opsListen: %s
localTokenFile: %s
github:
  - name: ci
    app: tc-credd-dev
    owner: octo-org
    repositories: [hello-world]
    permissions: {contents: read}
sinks:
  - source: github/ci
    path: %s
    format: env
proxy:
  listen: %s
  policies:
    - allow: {uids: [%d]}
      scopes: [auth:current-scopes, auth:expand-scopes, "auth:aws-s3:read-only:my-bucket/builds/", "queue:get-artifact:public/*"]
`, deployment.URL, tok.Reveal(), listen, ops, localTok, ghEnv, proxyAddr, os.Getuid())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "run", "--config", cfgPath)
	d.waitLog(t, "first fetch of every source done")

	// The official client, with the proxy as its root URL.
	in := map[string]any{"proxyUrl": "http://" + proxyAddr, "expand": []string{"auth:current-scopes"},
		"bucket": "my-bucket", "prefix": "builds/", "sentryProject": "p"}
	var res struct {
		CurrentScopes struct{ Scopes []string }
		ExpandScopes  struct{ Scopes []string }
		S3            struct {
			Credentials struct{ AccessKeyID string }
		} `json:"awsS3Credentials"`
		SentryDSN struct {
			Error struct {
				StatusCode int
				Code       string
			}
		}
	}
	nodetest.Run(t, conformance, "proxy.mjs", in, &res)
	if !slices.Contains(res.CurrentScopes.Scopes, "queue:get-artifact:public/*") || slices.Contains(res.CurrentScopes.Scopes, "queue:*") || slices.Contains(res.CurrentScopes.Scopes, "auth:sentry:*") {
		t.Errorf("currentScopes through the proxy: %v, want the policy's scopes only", res.CurrentScopes.Scopes)
	}
	if !slices.Equal(res.ExpandScopes.Scopes, []string{"auth:current-scopes"}) {
		t.Errorf("expandScopes through the proxy: %v", res.ExpandScopes.Scopes)
	}
	if issued := fake.Issued("awsS3Credentials"); len(issued) != 1 || res.S3.Credentials.AccessKeyID != issued[0].Reveal() {
		t.Errorf("awsS3Credentials through the proxy: %q", res.S3.Credentials.AccessKeyID)
	}
	if res.SentryDSN.Error.StatusCode != 403 || res.SentryDSN.Error.Code != "InsufficientScopes" {
		t.Errorf("sentryDSN, beyond the policy: %+v, want 403 InsufficientScopes", res.SentryDSN.Error)
	}

	// A signed URL from POST /bewit, used with no other credentials.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Post("http://"+proxyAddr+"/bewit", "text/plain", strings.NewReader(deployment.URL+"/api/auth/v1/scopes/current"))
	if err != nil {
		t.Fatal(err)
	}
	signed, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /bewit: %d %s", resp.StatusCode, signed)
	}
	resp, err = http.Get(string(signed))
	if err != nil {
		t.Fatalf("the signed URL: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the fake Auth service on the signed URL: %d", resp.StatusCode)
	}

	// 100 MB through the proxy, streamed.
	const size = 100 << 20
	before := vmHWM(t, d.cmd.Process.Pid)
	req, _ := http.NewRequest(http.MethodPut, "http://"+proxyAddr+"/api/upload/v1/blob", io.LimitReader(rand.Reader, size))
	req.ContentLength = size
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || <-uploaded != size {
		t.Fatalf("upload through the proxy: %d", resp.StatusCode)
	}
	if grew := vmHWM(t, d.cmd.Process.Pid) - before; grew >= 10<<10 {
		t.Errorf("a 100 MB upload grew the daemon's peak memory by %d KiB", grew)
	}

	// git's credential helper protocol, through the real git.
	fill := func() string {
		t.Helper()
		cmd := exec.Command(git, "-c", "credential.helper=", "-c", "credential.helper=!"+bin+" git-credential --config "+cfgPath,
			"-c", "credential.useHttpPath=true", "credential", "fill")
		cmd.Env = append(cleanEnv(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0")
		cmd.Stdin = strings.NewReader("url=https://github.com/octo-org/hello-world.git\n\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git credential fill: %v: %s", err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if p, ok := strings.CutPrefix(line, "password="); ok {
				return p
			}
		}
		t.Fatalf("git credential fill gave no password: %s", out)
		return ""
	}
	latest := func() string { i := fake.Issued("githubRepoToken"); return i[len(i)-1].Reveal() }
	envHolds := func(token string) bool {
		b, _ := os.ReadFile(ghEnv)
		return strings.Contains(string(b), "GH_TOKEN='"+token+"'") && strings.Contains(string(b), "GITHUB_TOKEN='"+token+"'")
	}
	first := fill()
	if first != latest() || !envHolds(first) {
		t.Fatal("git got a token other than the one issued, or the env sink does not hold it")
	}
	// The 8-second token is renewed at about half its life.
	d.waitLogN(t, "sink written", 2, func(m map[string]any) bool { return m["path"] == ghEnv })
	second := fill()
	if second == first || second != latest() || !envHolds(second) {
		t.Fatal("after a renewal git or the env sink does not have the new token")
	}
}
