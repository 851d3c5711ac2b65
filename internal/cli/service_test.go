package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/unit"
)

// The service commands write to fixed system paths (/etc/systemd/system,
// /etc/init.d, /etc/rc?.d). The tests run them in a private mount
// namespace with empty tmpfs over those folders, so the machine's own are
// never touched, and with stub tools first on PATH.

// serviceStubs log their arguments to $STUB_LOG. systemctl refuses to
// start, with systemd's own words; getent finds no one, so the user
// commands run (and only log).
var serviceStubs = map[string]string{
	"systemctl": `#!/bin/sh
echo "systemctl $*" >> "$STUB_LOG"
case "$1" in
  start) echo 'Job for tc-credd.service failed because the control process exited with error code.' >&2; exit 1 ;;
  is-active) echo failed; exit 3 ;;
esac
`,
	"getent":   "#!/bin/sh\nexit 2\n",
	"groupadd": "#!/bin/sh\necho \"groupadd $*\" >> \"$STUB_LOG\"\n",
	"useradd":  "#!/bin/sh\necho \"useradd $*\" >> \"$STUB_LOG\"\n",
}

type serviceHost struct {
	t                      *testing.T
	bin, stubs, log, state string
	config                 string
}

func newServiceHost(t *testing.T) *serviceHost {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a private mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare")
	}
	dir := t.TempDir()
	h := &serviceHost{t: t, bin: filepath.Join(dir, "tc-credd"), stubs: filepath.Join(dir, "stubs"), log: filepath.Join(dir, "log"), state: filepath.Join(dir, "state"), config: filepath.Join(dir, "etc", "config.yml")}
	build := exec.Command("go", "build", "-o", h.bin, "github.com/taskcluster/tc-credd/cmd/tc-credd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, d := range []string{h.stubs, h.state, filepath.Dir(h.config)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range serviceStubs {
		if err := os.WriteFile(filepath.Join(h.stubs, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "rootUrl: https://tc.example.com\ncredentials:\n  clientId: host\n  accessToken: not-a-real-token-but-long-enough\nsentry:\n  - name: app\n    project: app\n"
	if err := os.WriteFile(h.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// run runs script (sh) in a private mount namespace, with the stubs first
// on PATH, TC_CREDD=the binary and STATE=a folder to copy results into.
func (h *serviceHost) run(script string, env ...string) string {
	h.t.Helper()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-ec", script)
	cmd.Env = append(os.Environ(), append(env, "PATH="+h.stubs+":"+os.Getenv("PATH"), "STUB_LOG="+h.log, "TC_CREDD="+h.bin, "STATE="+h.state)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

func (h *serviceHost) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(h.state, name))
	return string(b)
}

// On systemd, install writes the packaged unit with this binary and config,
// runs as tc-credd, creates the users, and uninstall removes it all;
// without --config the commands take TC_CREDD_CONFIG; a failed start says
// what systemctl said.
func TestServiceSystemd(t *testing.T) {
	h := newServiceHost(t)
	out := h.run(`
mount -t tmpfs tmpfs /run/systemd
mkdir /run/systemd/system
mount -t tmpfs tmpfs /etc/systemd/system
"$TC_CREDD" install
cp /etc/systemd/system/tc-credd.service "$STATE/tc-credd.service"
if "$TC_CREDD" start 2>"$STATE/start"; then echo "start succeeded" >> "$STATE/start"; fi
if "$TC_CREDD" status >"$STATE/status"; then echo "status succeeded" >> "$STATE/status"; fi
"$TC_CREDD" uninstall
ls -A /etc/systemd/system > "$STATE/after"
`, "TC_CREDD_CONFIG="+h.config)
	want := strings.Replace(unit.Systemd, "ExecStart=/usr/bin/tc-credd run --config /etc/tc-credd/config.yml",
		"ExecStart="+h.bin+` "run" "--config" "`+h.config+`"`, 1)
	if got := h.read("tc-credd.service"); got != want {
		t.Errorf("the installed unit is not the packaged one with this binary and config:\n%s", got)
	}
	// systemd accepts it as written, hardened as the packaged one.
	installed := filepath.Join(h.state, "tc-credd.service")
	if out, err := exec.Command("systemd-analyze", "verify", installed).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=15", installed).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
	if !strings.Contains(out, "install done (system: linux-systemd, config: "+h.config+")") {
		t.Errorf("install output:\n%s", out)
	}
	log, _ := os.ReadFile(h.log)
	for _, want := range []string{"groupadd --system tc-credd\n", "groupadd --system tc-credd-clients\n", "useradd --system --gid tc-credd", "systemctl enable tc-credd.service\n", "systemctl start tc-credd.service\n", "systemctl disable tc-credd.service\n"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("no %q in the commands run:\n%s", want, log)
		}
	}
	if got := h.read("start"); !strings.Contains(got, "failed because the control process exited with error code") || strings.Contains(got, "succeeded") {
		t.Errorf("a failed start printed %q", got)
	}
	if got := h.read("status"); got != "failed\n" {
		t.Errorf("status printed %q, want systemd's state and a failure exit", got)
	}
	if got := h.read("after"); got != "" {
		t.Errorf("uninstall left %q in /etc/systemd/system", got)
	}
}

// On SysV, install writes an init script that runs the daemon as tc-credd,
// and uninstall removes it and its /etc/rc?.d links.
func TestServiceSysV(t *testing.T) {
	h := newServiceHost(t)
	// No systemd in sight: an empty /run/systemd, and no systemctl on PATH
	// (sh is all the commands need).
	if err := os.Remove(filepath.Join(h.stubs, "systemctl")); err != nil {
		t.Fatal(err)
	}
	shell, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shell, filepath.Join(h.stubs, "sh")); err != nil {
		t.Fatal(err)
	}
	// The daemon runs the script as uid 64201: it must reach the binary
	// and read the config (as the packages lay it out: root, group
	// tc-credd, 0640). Taskcluster is unreachable; the daemon runs anyway.
	for _, d := range []string{filepath.Dir(filepath.Dir(h.bin)), filepath.Dir(h.bin), filepath.Dir(h.config)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := "rootUrl: http://127.0.0.1:1\ncredentials:\n  clientId: host\n  accessToken: not-a-real-token-but-long-enough\nlocalTokenMode: \"0640\"\nsentry:\n  - name: app\n    project: app\n"
	if err := os.WriteFile(h.config, []byte(cfg), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(h.config, 0, 64201); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.config, 0o640); err != nil {
		t.Fatal(err)
	}
	// The namespace also gets its own /run, /var/log, and passwd and group
	// files naming tc-credd (64201) and tc-credd-clients (64202).
	out := h.run(`
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /var/log
mount -t tmpfs tmpfs /etc/init.d
for d in /etc/rc?.d; do mount -t tmpfs tmpfs "$d"; done
cp /etc/passwd "$STATE/passwd"; echo 'tc-credd:x:64201:64201::/nonexistent:/usr/sbin/nologin' >> "$STATE/passwd"
cp /etc/group "$STATE/group"; printf 'tc-credd:x:64201:\ntc-credd-clients:x:64202:\n' >> "$STATE/group"
mount --bind "$STATE/passwd" /etc/passwd
mount --bind "$STATE/group" /etc/group
PATH=${PATH%%:*} "$TC_CREDD" install --config "$CONFIG"
cp /etc/init.d/tc-credd "$STATE/script"
ls /etc/rc?.d > "$STATE/installed"
/etc/init.d/tc-credd start
pid=$(cat /run/tc-credd.pid)
# The daemon creates the local token at start-up; wait for it (or its end).
while [ ! -s /run/tc-credd/token ] && kill -0 "$pid" 2>/dev/null; do :; done
stat -c '%U:%G %a' /run/tc-credd/token > "$STATE/token" || true
grep -E '^(Uid|Gid|Groups|NoNewPrivs|CapEff):' "/proc/$pid/status" > "$STATE/proc" || true
/etc/init.d/tc-credd status > "$STATE/status" || echo "exit $?" >> "$STATE/status"
/etc/init.d/tc-credd stop
/etc/init.d/tc-credd status >> "$STATE/status" || echo "exit $?" >> "$STATE/status"
cp /var/log/tc-credd.log "$STATE/daemon.log"
PATH=${PATH%%:*} "$TC_CREDD" uninstall --config "$CONFIG"
ls -A /etc/init.d /etc/rc?.d > "$STATE/after"
`, "CONFIG="+h.config)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", h.read("daemon.log"))
		}
	})
	if !strings.Contains(out, "install done (system: unix-systemv") {
		t.Skipf("this machine's service manager is not SysV here:\n%s", out)
	}
	script := h.read("script")
	for _, want := range []string{"setpriv --reuid=tc-credd --regid=tc-credd-clients --groups=tc-credd", `"` + h.bin + `" "run" "--config" "` + h.config + `"`, "install -d -o tc-credd -g tc-credd-clients -m 0750 /run/tc-credd"} {
		if !strings.Contains(script, want) {
			t.Errorf("the init script lacks %q:\n%s", want, script)
		}
	}
	// The daemon ran as the unit runs it: tc-credd, group tc-credd-clients,
	// supplementary tc-credd, no capabilities, no_new_privs.
	proc := strings.Join(strings.Fields(h.read("proc")), " ")
	for _, want := range []string{"Uid: 64201 64201 64201 64201", "Gid: 64202 64202 64202 64202", "Groups: 64201", "NoNewPrivs: 1", "CapEff: 0000000000000000"} {
		if !strings.Contains(proc, want) {
			t.Errorf("the daemon's credentials lack %q: %s\n%s", want, proc, out)
		}
	}
	if got := h.read("token"); got != "tc-credd:tc-credd-clients 640\n" {
		t.Errorf("the local token is %q, want tc-credd:tc-credd-clients 640", got)
	}
	if got := h.read("status"); got != "running\nstopped\nexit 3\n" {
		t.Errorf("status while running, then after stop: %q", got)
	}
	if !strings.Contains(h.read("installed"), "S50tc-credd") {
		t.Errorf("install made no rc links:\n%s", h.read("installed"))
	}
	if got := h.read("after"); strings.Contains(got, "tc-credd") {
		t.Errorf("uninstall left:\n%s", got)
	}
}
