package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"golang.org/x/oauth2/google"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/cli"
	credd "github.com/taskcluster/tc-credd/internal/daemon"
	"github.com/taskcluster/tc-credd/internal/sdktest"
)

// built is the binary the tests share, in a folder TestMain removes.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// buildBinary builds tc-credd once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "tc-credd-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "tc-credd")
		cmd := exec.Command("go", "build", "-o", built.bin, ".")
		cmd.Stderr = os.Stderr
		built.err = cmd.Run()
	})
	if built.err != nil {
		t.Fatalf("go build: %v", built.err)
	}
	return built.bin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemon is a running tc-credd process whose JSON log lines are read as
// they come.
type daemon struct {
	cmd   *exec.Cmd
	lines chan map[string]any
	seen  []map[string]any
}

func startDaemon(t *testing.T, bin string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, lines: make(chan map[string]any, 1000)}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				d.lines <- m
			}
		}
		close(d.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return d
}

// waitLog waits for a log line with msg (a deadline, not a sleep).
func (d *daemon) waitLog(t *testing.T, msg string) map[string]any {
	t.Helper()
	for _, m := range d.seen {
		if m["msg"] == msg {
			return m
		}
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-d.lines:
			if !ok {
				t.Fatalf("tc-credd exited before logging %q", msg)
			}
			d.seen = append(d.seen, m)
			if m["msg"] == msg {
				return m
			}
			if m["level"] == "error" {
				t.Logf("tc-credd error: %v", m)
			}
		case <-deadline:
			t.Fatalf("no %q log line within 30 s", msg)
		}
	}
}

func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "TASKCLUSTER_") || strings.HasPrefix(kv, "GCE_") || strings.HasPrefix(kv, "NOTIFY_SOCKET") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

const cfgTemplate = `rootUrl: %s
credentials:
  clientId: e2e
  accessTokenFile: %s
listen: %s
opsListen: %s
localTokenFile: %s
aws:
  - name: artifacts
    bucket: my-bucket
    prefix: builds/
    level: read-write
gcp:
  - projectId: tc-credd-dev
    serviceAccount: builder@tc-credd-dev.iam.gserviceaccount.com
sentry:
  - name: app
    project: my-project
sinks:
  - source: sentry/app
    path: %s
    format: env
`

func TestEndToEnd(t *testing.T) {
	bin := buildBinary(t)
	fake := authtest.New(authtest.Options{})
	auth := httptest.NewServer(fake)
	defer auth.Close()
	tok := fake.AddClient("e2e", "auth:aws-s3:read-write:my-bucket/builds/", "auth:gcp:*", "auth:sentry:*", "auth:websocktunnel-token:*", "auth:current-scopes")
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tc-token")
	if err := os.WriteFile(tokFile, []byte(tok.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, ops := freePort(t), freePort(t)
	localTok, sinkPath, cfgPath := filepath.Join(dir, "run", "token"), filepath.Join(dir, "sentry.env"), filepath.Join(dir, "config.yml")
	cfg := fmt.Sprintf(cfgTemplate, auth.URL, tokFile, listen, ops, localTok, sinkPath)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "run", "--config", cfgPath)
	d.waitLog(t, "first fetch of every source done")
	if out, err := exec.Command(bin, "ready", "--config", cfgPath).CombinedOutput(); err != nil || string(out) != "ready\n" {
		t.Fatalf("tc-credd ready: %v %s", err, out)
	}

	// 1. aws-sdk-go-v2 through IMDSv2, then through container credentials.
	lastKey := func() string { k := fake.Issued("awsS3Credentials"); return k[len(k)-1].Reveal() }
	for name, env := range map[string]map[string]string{
		"IMDSv2":    {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://" + listen, "AWS_EC2_METADATA_V1_DISABLED": "true"},
		"container": {"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://" + listen + "/v1/credentials/aws/artifacts", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": localTok},
	} {
		t.Run("aws "+name, func(t *testing.T) {
			sdktest.CleanAWSEnv(t)
			for k, v := range env {
				t.Setenv(k, v)
			}
			c, err := config.LoadDefaultConfig(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			creds, err := c.Credentials.Retrieve(context.Background())
			if err != nil || creds.AccessKeyID != lastKey() {
				t.Fatalf("got %q (%v), the Auth service issued %q", creds.AccessKeyID, err, lastKey())
			}
		})
	}

	// 2. A GCP token through golang.org/x/oauth2/google.
	t.Setenv("GCE_METADATA_HOST", listen)
	gt, err := google.ComputeTokenSource("").Token()
	if err != nil {
		t.Fatal(err)
	}
	if issued := fake.Issued("gcpCredentials"); gt.AccessToken != issued[len(issued)-1].Reveal() {
		t.Fatal("the GCP token is not the one the Auth service issued")
	}

	// 3. The sink file.
	d.waitLog(t, "sink written")
	b, err := os.ReadFile(sinkPath)
	if err != nil || !strings.Contains(string(b), "SENTRY_DSN='"+fake.Issued("sentryDSN")[0].Reveal()+"'") {
		t.Fatalf("sink file: %q %v", b, err)
	}
	if st, _ := os.Stat(sinkPath); st.Mode().Perm() != 0o600 {
		t.Fatalf("sink mode %o", st.Mode().Perm())
	}

	// credential_process, against the running daemon.
	out, err := exec.Command(bin, "credential-process", "--config", cfgPath, "artifacts").Output()
	var cp map[string]any
	if err != nil || json.Unmarshal(out, &cp) != nil || cp["Version"] != 1.0 || cp["AccessKeyId"] != lastKey() || cp["SessionToken"] == "" {
		t.Fatalf("credential-process: %s %v", out, err)
	}

	// 4. SIGHUP with an added source, then served.
	apiGet := func(path string) (int, map[string]any) {
		lt, _ := os.ReadFile(localTok)
		req, _ := http.NewRequest(http.MethodGet, "http://"+listen+path, nil)
		req.Header.Set("Authorization", string(lt))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &m)
		return resp.StatusCode, m
	}
	if st, _ := apiGet("/v1/credentials/websocktunnel/tunnel"); st != 404 {
		t.Fatalf("websocktunnel before reload: %d", st)
	}
	awsBefore := fake.Calls("awsS3Credentials")
	cfg += "websocktunnel:\n  - name: tunnel\n    audience: aud\n    client: cli\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "config reloaded")
	st, m := apiGet("/v1/credentials/websocktunnel/tunnel")
	if st != 200 || m["token"] != fake.Issued("websocktunnelToken")[0].Reveal() {
		t.Fatalf("websocktunnel after reload: %d %v", st, m["wstClient"])
	}
	if fake.Calls("awsS3Credentials") != awsBefore {
		t.Fatal("the reload refetched an unchanged source")
	}
	// An invalid config keeps the old one running.
	if err := os.WriteFile(cfgPath, []byte(cfg+"bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = d.cmd.Process.Signal(syscall.SIGHUP)
	failed := d.waitLog(t, "config reload failed; the running config stays in force")
	if !strings.Contains(fmt.Sprint(failed["error"]), `bogus (line 27): is not a known key`) {
		t.Fatalf("reload failure does not name the key: %v", failed)
	}
	if st, _ := apiGet("/v1/credentials/websocktunnel/tunnel"); st != 200 {
		t.Fatal("a bad reload disturbed the running config")
	}

	// 5. SIGTERM: a clean exit.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "tc-credd stopped")
	err = d.cmd.Wait()
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	for _, line := range d.seen {
		s := fmt.Sprint(line)
		for _, sec := range []string{tok.Reveal(), fake.Issued("sentryDSN")[0].Reveal(), gt.AccessToken} {
			if strings.Contains(s, sec) {
				t.Fatalf("a log line leaks a secret: %v", line)
			}
		}
	}
}

func TestExitCodes(t *testing.T) {
	bin := buildBinary(t)
	fake := authtest.New(authtest.Options{})
	auth := httptest.NewServer(fake)
	defer auth.Close()
	tok := fake.AddClient("e2e", "auth:sentry:*", "auth:current-scopes")
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokFile := write("tok", tok.Reveal())
	good := fmt.Sprintf(cfgTemplate, auth.URL, tokFile, freePort(t), freePort(t), filepath.Join(dir, "lt"), filepath.Join(dir, "s.env"))
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no command", nil, 2, "Usage"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"bad flag", []string{"run", "--nope"}, 2, "flag provided but not defined"},
		{"missing config", []string{"run"}, 2, "--config FILE is required"},
		{"invalid config", []string{"run", "--config", write("bad.yml", good+"bogus: 1\n")}, 3, `bogus (line 23): is not a known key`},
		{"invalid field", []string{"check", "--config", write("bad2.yml", strings.Replace(good, "my-bucket", "My.Bucket", 1))}, 3, "aws[0].bucket (line 10)"},
		{"install refuses an invalid config", []string{"install", "--config", filepath.Join(dir, "bad.yml")}, 3, `bogus (line 23): is not a known key`},
		{"check with missing scopes", []string{"check", "--config", write("ok.yml", good)}, 4, "MISSING  aws/artifacts"},
		{"version", []string{"version"}, 0, "tc-credd"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Env = cleanEnv()
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != c.code || !strings.Contains(string(out), c.out) {
				t.Fatalf("exit %d, want %d; output:\n%s", code, c.code, out)
			}
			if strings.Contains(string(out), tok.Reveal()) {
				t.Fatal("output leaks the access token")
			}
		})
	}
	fake.SetClientScopes("e2e", "auth:aws-s3:*", "auth:gcp:*", "auth:sentry:*", "auth:current-scopes")
	out, err := exec.Command(bin, "check", "--config", filepath.Join(dir, "ok.yml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok       aws/artifacts") {
		t.Fatalf("check with every scope: %v\n%s", err, out)
	}
}

// TestDevMode runs the README's "run" command as a user would and follows
// its printed instructions with the AWS SDK.
func TestDevMode(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "dev", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, _ := cmd.StderrPipe()
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	exports := sdktest.ReadDevExports(stdout)
	for _, k := range []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "GCE_METADATA_HOST", "GCE_METADATA_IP"} {
		if exports[k] == "" {
			t.Fatalf("dev printed no %s: %v", k, exports)
		}
	}
	// botocore (the AWS CLI, boto3) appends "latest/api/token" to the
	// endpoint as it is: the printed endpoint must work that way too.
	put, err := http.NewRequest(http.MethodPut, exports["AWS_EC2_METADATA_SERVICE_ENDPOINT"]+"latest/api/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	put.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", "60")
	resp, err := http.DefaultClient.Do(put)
	if err != nil {
		t.Fatalf("IMDS token at the printed endpoint: %v", err)
	}
	session, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(session) == 0 {
		t.Fatalf("IMDS token at %slatest/api/token: %s %q", exports["AWS_EC2_METADATA_SERVICE_ENDPOINT"], resp.Status, session)
	}
	if exports["GCE_METADATA_ROOT"] != exports["GCE_METADATA_HOST"] {
		t.Errorf("GCE_METADATA_ROOT %q, GCE_METADATA_HOST %q: gcloud reads the first", exports["GCE_METADATA_ROOT"], exports["GCE_METADATA_HOST"])
	}
	sdktest.GetDemoCredentials(t, exports)
	if runtime.GOOS == "linux" {
		// The signing proxy, for this user, narrowed to its policy's scope.
		resp, err := http.Get(exports["TASKCLUSTER_PROXY_URL"] + "/api/auth/v1/scopes/current")
		if err != nil {
			t.Fatalf("through the printed proxy: %v", err)
		}
		var cur struct{ Scopes []string }
		err = json.NewDecoder(resp.Body).Decode(&cur)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !slices.Contains(cur.Scopes, "auth:current-scopes") || slices.Contains(cur.Scopes, "auth:sentry:demo") {
			t.Fatalf("through the proxy: %s, scopes %v (%v); want only the policy's", resp.Status, cur.Scopes, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dev after Ctrl-C: %v", err)
	}
}

// TestStopWithIdleConnections: SIGTERM while clients hold connections
// open, one that never sent a request and one idle between keep-alive
// requests, is a clean stop: exit status 0 within the stop grace.
func TestStopWithIdleConnections(t *testing.T) {
	bin := buildBinary(t)
	listen := freePort(t)
	d := startDaemon(t, bin, "dev", "--listen", listen, "--ops-listen", freePort(t))
	d.waitLog(t, "first fetch of every source done")
	silent, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	keepAlive := &http.Client{Transport: &http.Transport{}}
	resp, err := keepAlive.Get("http://" + listen + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The daemon's own bound: the grace for requests in flight, then the
	// rest of the stop.
	bound := credd.ShutdownGrace + cli.StopGrace
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit with idle connections open: %v", err)
		}
	case <-time.After(bound):
		_ = d.cmd.Process.Kill()
		<-exited
		t.Fatalf("still running %s after SIGTERM", bound)
	}
	d.waitLog(t, "tc-credd stopped")
}
