package packaging_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/taskcluster/tc-credd/internal/authtest"
)

// Numeric ids for the accounts of the test: the packages create the names,
// the test needs no entries in /etc/passwd.
const (
	daemonUID   = 64101
	consumerUID = 64103
)

var groupIDs = map[string]uint32{"root": 0, "tc-credd": 64101, "tc-credd-clients": 64102}

// unitSettings reads the unit's [Service] settings (the last value of each
// key wins, as in systemd).
func unitSettings(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(t), unitPath))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			set[k] = v
		}
	}
	return set
}

// owned is a path's mode and owners as the package or its instructions
// set them.
type owned struct {
	mode         os.FileMode
	owner, group string
}

func (o owned) apply(t *testing.T, path string) {
	t.Helper()
	uid := map[string]int{"root": 0, "tc-credd": daemonUID}[o.owner]
	gid, ok := groupIDs[o.group]
	if !ok {
		t.Fatalf("%s: unknown group %q", path, o.group)
	}
	if err := os.Chown(path, uid, int(gid)); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, o.mode); err != nil {
		t.Fatal(err)
	}
}

func parseMode(t *testing.T, s string) os.FileMode {
	t.Helper()
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		t.Fatalf("mode %q: %v", s, err)
	}
	return os.FileMode(m)
}

// packagedFiles reads the modes and owners the nfpm recipe gives its
// destinations.
func packagedFiles(t *testing.T) map[string]owned {
	t.Helper()
	var recipe struct {
		Contents []struct {
			Dst      string `yaml:"dst"`
			FileInfo struct {
				Mode  string `yaml:"mode"`
				Owner string `yaml:"owner"`
				Group string `yaml:"group"`
			} `yaml:"file_info"`
		} `yaml:"contents"`
	}
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(text, &recipe); err != nil {
		t.Fatal(err)
	}
	files := map[string]owned{}
	for _, c := range recipe.Contents {
		fi := c.FileInfo
		files[c.Dst] = owned{parseMode(t, strings.TrimPrefix(fi.Mode, "0o")), fi.Owner, fi.Group}
	}
	return files
}

// TestConsumerReadsOnlyTheLocalToken lays out the files as the package,
// its post-install instructions and the unit do, runs the daemon with the
// unit's user and groups, then reads each file as a consumer: a user in
// tc-credd-clients only. CI runs as root, which can take any ids.
func TestConsumerReadsOnlyTheLocalToken(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run processes as other users")
	}
	unit := unitSettings(t)
	files := packagedFiles(t)

	// The access token as the post-install note tells the operator to
	// create it.
	note, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "scripts", "postinstall.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`install -m (\d+) -o (\S+) -g (\S+) /dev/stdin /etc/tc-credd/access-token`).FindSubmatch(note)
	if m == nil {
		t.Fatal("the post-install note does not say how to create the access token file")
	}
	tokenFile := owned{parseMode(t, string(m[1])), string(m[2]), string(m[3])}

	// A root the other ids can walk into: t.TempDir's folders are 0700.
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	etc := filepath.Join(root, "etc", "tc-credd")
	run := filepath.Join(root, "run", unit["RuntimeDirectory"])
	for _, d := range []string{etc, run, filepath.Join(root, "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files["/etc/tc-credd"].apply(t, etc)
	// systemd creates the RuntimeDirectory owned by User and Group.
	owned{parseMode(t, unit["RuntimeDirectoryMode"]), "tc-credd", unit["Group"]}.apply(t, run)

	fake := authtest.New(authtest.Options{})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	access := fake.AddClient("host", "auth:sentry:*")
	accessPath := filepath.Join(etc, "access-token")
	if err := os.WriteFile(accessPath, []byte(access.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile.apply(t, accessPath)

	// The packaged config's local token settings.
	var example struct {
		LocalTokenMode string `yaml:"localTokenMode"`
	}
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "config.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(text, &example); err != nil {
		t.Fatal(err)
	}
	localToken := filepath.Join(run, "token")
	configPath := filepath.Join(etc, "config.yml")
	config := fmt.Sprintf("rootUrl: %s\ncredentials:\n  clientId: host\n  accessTokenFile: %s\nlisten: 127.0.0.1:0\nlocalTokenFile: %s\nlocalTokenMode: %q\nsentry:\n  - name: app\n    project: app\n",
		srv.URL, accessPath, localToken, example.LocalTokenMode)
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	files["/etc/tc-credd/config.yml"].apply(t, configPath)

	bin := filepath.Join(root, "bin", "tc-credd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tc-credd")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// The daemon reports readiness on a notification socket, as under
	// systemd; it has read the config and the access token by then.
	sock := filepath.Join(root, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	var supplementary []uint32
	for _, g := range strings.Fields(unit["SupplementaryGroups"]) {
		supplementary = append(supplementary, groupIDs[g])
	}
	if unit["User"] != "tc-credd" {
		t.Fatalf("the unit runs as %q", unit["User"])
	}
	daemon := exec.Command(bin, "run", "--config", configPath)
	daemon.Env = []string{"NOTIFY_SOCKET=" + sock, "PATH=/usr/bin:/bin"}
	daemon.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: daemonUID, Gid: groupIDs[unit["Group"]], Groups: supplementary}}
	var logs strings.Builder
	daemon.Stderr = &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		err := daemon.Wait()
		exited <- err
		// A daemon that dies before it is ready ends the read below.
		conn.Close()
	}()
	t.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		<-exited
	})
	buf := make([]byte, 64)
	n, _, err := conn.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("the daemon did not report ready (%q, %v):\n%s", buf[:n], err, logs.String())
	}

	want, err := os.ReadFile(localToken)
	if err != nil {
		t.Fatal(err)
	}
	consumer := &syscall.Credential{Uid: consumerUID, Gid: consumerUID, Groups: []uint32{groupIDs["tc-credd-clients"]}}
	cat := func(path string) (string, error) {
		c := exec.Command("cat", path)
		c.SysProcAttr = &syscall.SysProcAttr{Credential: consumer}
		out, err := c.CombinedOutput()
		return string(out), err
	}
	if got, err := cat(localToken); err != nil || got != string(want) {
		t.Errorf("a consumer in tc-credd-clients cannot read the local token: %v %s", err, got)
	}
	for _, secret := range []string{accessPath, configPath} {
		if got, err := cat(secret); err == nil || strings.Contains(got, access.Reveal()) {
			t.Errorf("a consumer in tc-credd-clients reads %s", secret)
		}
	}
}
