package main_test

import (
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/taskcluster/tc-credd/internal/authtest"
)

// TestSecondSignalExitsAtOnce: a connection that never finishes its
// request keeps the first SIGTERM's shutdown waiting; a second SIGTERM
// ends the process at once, with a failure status and a log line saying
// why.
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
	cfg := fmt.Sprintf(cfgTemplate, auth.URL, tokFile, listen, ops, filepath.Join(dir, "token"), filepath.Join(dir, "sentry.env"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, bin, "run", "--config", cfgPath)
	d.waitLog(t, "first fetch of every source done")

	conn, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /latest/meta-data/ HTTP/1.1\r\nHost: " + listen + "\r\n")); err != nil {
		t.Fatal(err)
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
