//go:build linux

package main_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
)

// TestSecondSignalExitsAtOnce: a proxied request that Taskcluster holds
// keeps the first SIGTERM's shutdown waiting (its grace is long); a second
// SIGTERM ends the process at once, with a failure status and a log line
// saying why.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	bin := buildBinary(t)
	fake := authtest.New(authtest.Options{})
	auth := httptest.NewServer(fake)
	defer auth.Close()
	tok := fake.AddClient("e2e", "auth:aws-s3:*", "auth:gcp:*", "auth:sentry:*")
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "tc-token")
	if err := os.WriteFile(tokFile, []byte(tok.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	listen, ops := freePort(t), freePort(t)
	cfgPath := filepath.Join(dir, "config.yml")
	// A long grace: the held request below must still hold the first
	// shutdown when the second signal comes, however loaded the machine.
	proxyAddr := freePort(t)
	cfg := fmt.Sprintf(cfgTemplate, auth.URL, tokFile, listen, ops, filepath.Join(dir, "token"), filepath.Join(dir, "sentry.env")) +
		fmt.Sprintf("shutdownGrace: 2m\nproxy:\n  listen: %s\n  policies:\n    - allow: {uids: [%d]}\n      scopes: [auth:sentry:x]\n", proxyAddr, os.Getuid())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "run", "--config", cfgPath)
	d.waitLog(t, "first fetch of every source done")

	fake.InjectFault("sentryDSN", authtest.FaultHang, -1)
	defer fake.ClearFaults()
	go func() {
		if resp, err := http.Get("http://" + proxyAddr + "/api/auth/v1/sentry/x/dsn"); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.After(30 * time.Second)
	for fake.Hanging() == 0 {
		select {
		case <-deadline:
			t.Fatal("the proxied request did not reach the Auth service within 30 s")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "stopping; a second SIGTERM or SIGINT exits at once")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	line := d.waitLog(t, "second stop signal; exiting without finishing shutdown")
	if line["signal"] != "terminated" {
		t.Errorf("log names signal %v", line["signal"])
	}
	var ee *exec.ExitError
	if err := d.cmd.Wait(); !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit after two SIGTERMs: %v, want status 1", err)
	}
	for _, m := range d.seen {
		if m["msg"] == "tc-credd stopped" {
			t.Fatal("the shutdown finished: the second signal was not what ended the process")
		}
	}
}
