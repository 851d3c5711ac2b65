package packaging_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/sdktest"
)

// podman runs podman as it works on a machine without systemd as PID 1 and
// with hybrid cgroups: vfs storage (where `make image` puts the image),
// runc, cgroupfs, and no default ulimits (which such a machine may refuse).
func podman(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("podman", append([]string{"--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager", "cgroupfs"}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+conf)
	return cmd
}

// container runs the image with the host's network and returns the
// exports tc-credd dev prints, or nil for another command; it stops the
// container when the test ends.
func container(t *testing.T, image string, runArgs, args []string) map[string]string {
	t.Helper()
	name := fmt.Sprintf("tc-credd-test-%d", os.Getpid())
	cmd := podman(t, append(append(append([]string{"run", "--rm", "--name", name, "--network", "host"}, runArgs...), image), args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// podman passes the signal on to tc-credd, which stops cleanly.
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the container after SIGINT: %v\n%s", err, logs.String())
		}
	})
	exports := sdktest.ReadDevExports(stdout)
	if len(exports) == 0 {
		t.Fatalf("the container printed no SDK settings:\n%s", logs.String())
	}
	return exports
}

// TestImage runs the image `make image` built (named by TC_CREDD_IMAGE;
// .ci/run builds it and sets it) and gets credentials from it with the real
// AWS and Google libraries.
func TestImage(t *testing.T) {
	image := os.Getenv("TC_CREDD_IMAGE")
	if image == "" {
		t.Skip("TC_CREDD_IMAGE names no image (make image builds one)")
	}
	out, err := podman(t, "image", "inspect", "--format", "{{.Config.User}} {{len .RootFS.Layers}}", image).CombinedOutput()
	if err != nil {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	// A non-root user, and one layer: nothing but what build.sh put there.
	if got := strings.TrimSpace(string(out)); got != "65532:65533 1" {
		t.Errorf("image user and layers: %q, want \"65532:65533 1\"", got)
	}

	exports := container(t, image, nil, []string{"dev", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"})
	sdktest.GetDemoCredentials(t, exports)
}

// TestImageRun runs the image's default command, tc-credd run, against the
// fake Auth service with a config mounted as an operator would, and shares
// the local token with the host through a volume.
func TestImageRun(t *testing.T) {
	image := os.Getenv("TC_CREDD_IMAGE")
	if image == "" {
		t.Skip("TC_CREDD_IMAGE names no image (make image builds one)")
	}
	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tok := fake.AddClient("pod", "auth:aws-s3:*")

	// The config is the container user's alone; /run/tc-credd a volume.
	etc, run := t.TempDir(), t.TempDir()
	cfg := fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: pod\n  accessToken: %s\nlisten: 127.0.0.1:0\nlocalTokenFile: /run/tc-credd/token\nlocalTokenMode: \"0640\"\naws:\n  - name: app\n    bucket: app-bucket\n    prefix: builds/\n    level: read-only\n",
		srv.URL, tok.Reveal())
	path := filepath.Join(etc, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o400); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, etc} {
		if err := os.Chown(p, 65532, 65532); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(run, 65532, 65533); err != nil {
		t.Fatal(err)
	}
	// tc-credd run logs its listener; the test reads the port from there.
	name := fmt.Sprintf("tc-credd-run-%d", os.Getpid())
	cmd := podman(t, "run", "--rm", "--name", name, "--network", "host",
		"-v", etc+":/etc/tc-credd:ro", "-v", run+":/run/tc-credd", image)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Errorf("the container after SIGINT: %v", err)
		}
	})
	var listen string
	var logs strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && listen == "" {
		logs.WriteString(sc.Text() + "\n")
		if _, rest, ok := strings.Cut(sc.Text(), `"msg":"tc-credd started","listen":"`); ok {
			listen, _, _ = strings.Cut(rest, `"`)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	if listen == "" {
		t.Fatalf("tc-credd run did not start in the container:\n%s", logs.String())
	}
	// The local token on the shared volume belongs to tc-credd-clients.
	st, err := os.Stat(filepath.Join(run, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Gid != 65533 || st.Mode().Perm() != 0o640 {
		t.Errorf("local token: group %d mode %v, want 65533 and 0640", sys.Gid, st.Mode().Perm())
	}
	sdktest.CleanAWSEnv(t)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://"+listen+"/v1/credentials/aws/app")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", filepath.Join(run, "token"))
	c, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.Credentials.Retrieve(context.Background())
	if err != nil || !strings.HasPrefix(creds.AccessKeyID, "ASIA") {
		t.Fatalf("the AWS SDK got %q from tc-credd run in the container: %v", creds.AccessKeyID, err)
	}
}
