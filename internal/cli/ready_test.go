package cli

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/daemon"
)

// A daemon whose source Taskcluster refuses is alive but not ready: the
// liveness probe (ready --live) passes where the readiness probe fails.
func TestReadyLiveWhileNotReady(t *testing.T) {
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	// The client lacks auth:sentry:app, so the one source never gets a
	// credential.
	tok := fake.AddClient("host", "auth:aws-s3:*")
	dir := t.TempDir()
	config := func(ops string) string {
		return fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: host\n  accessToken: %s\nlisten: 127.0.0.1:0\nopsListen: %s\nlocalTokenFile: %s\nsentry:\n  - name: app\n    project: app\n",
			srv.URL, tok.Reveal(), ops, filepath.Join(dir, "token"))
	}
	runPath := filepath.Join(dir, "run.yml")
	if err := os.WriteFile(runPath, []byte(config("127.0.0.1:0")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := daemon.Load(runPath, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan daemon.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- daemon.Run(ctx, cfg, daemon.Options{Logger: zap.NewNop(), Getenv: func(string) string { return "" },
			Started: func(a daemon.Addrs) { started <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var addrs daemon.Addrs
	select {
	case addrs = <-started:
	case err := <-done:
		t.Fatalf("daemon did not start: %v", err)
	}
	// The probes read the config the daemon runs with; here that names
	// the port it bound.
	probePath := filepath.Join(dir, "probe.yml")
	if err := os.WriteFile(probePath, []byte(config(addrs.OpsListen)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := Main([]string{"ready", "--live", "--config", probePath}, &out, &errb); code != ExitOK || out.String() != "alive\n" {
		t.Errorf("ready --live: exit %d, %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if code := Main([]string{"ready", "--config", probePath}, &out, &errb); code != ExitFailure || !bytes.Contains(errb.Bytes(), []byte("not ready")) {
		t.Errorf("ready on a daemon without credentials: exit %d, %q %q", code, out.String(), errb.String())
	}
}
