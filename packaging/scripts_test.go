package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The stubs stand for the system tools the maintainer scripts call. They
// keep the state a real system would (users, groups, whether the service
// runs) in files under $STUB, and refuse what the real tools refuse.
var stubs = map[string]string{
	"systemctl": `#!/bin/sh
echo "systemctl $*" >> "$STUB/log"
verb= now=
for a in "$@"; do
  case "$a" in
    --now) now=yes ;;
    --*) ;;
    *) [ -n "$verb" ] || verb=$a ;;
  esac
done
case "$verb" in
  daemon-reload) ;;
  start | restart) touch "$STUB/active"; echo started >> "$STUB/starts" ;;
  try-restart) if [ -e "$STUB/active" ]; then echo started >> "$STUB/starts"; fi ;;
  stop) rm -f "$STUB/active" ;;
  enable) touch "$STUB/enabled"; if [ -n "$now" ]; then touch "$STUB/active"; echo started >> "$STUB/starts"; fi ;;
  disable) rm -f "$STUB/enabled"; if [ -n "$now" ]; then rm -f "$STUB/active"; fi ;;
  is-active) [ -e "$STUB/active" ] ;;
  *) echo "stub systemctl: unknown command $verb" >&2; exit 1 ;;
esac
`,
	// getent DATABASE NAME: passwd lines are NAME:GROUP, group lines NAME.
	"getent": `#!/bin/sh
touch "$STUB/$1"
grep -q "^$2\(:\|$\)" "$STUB/$1"
`,
	"groupadd": `#!/bin/sh
echo "groupadd $*" >> "$STUB/log"
for n; do :; done
touch "$STUB/group"
if grep -qx "$n" "$STUB/group"; then echo "groupadd: group '$n' already exists" >&2; exit 9; fi
echo "$n" >> "$STUB/group"
`,
	"useradd": `#!/bin/sh
echo "useradd $*" >> "$STUB/log"
g=
while [ $# -gt 1 ]; do
  case "$1" in --gid) g=$2; shift ;; esac
  shift
done
touch "$STUB/passwd" "$STUB/group"
if grep -q "^$1:" "$STUB/passwd"; then echo "useradd: user '$1' already exists" >&2; exit 9; fi
if ! grep -qx "$g" "$STUB/group"; then echo "useradd: group '$g' does not exist" >&2; exit 6; fi
echo "$1:$g" >> "$STUB/passwd"
`,
	"userdel": `#!/bin/sh
echo "userdel $*" >> "$STUB/log"
grep -q "^$1:" "$STUB/passwd" || { echo "userdel: user '$1' does not exist" >&2; exit 6; }
grep -v "^$1:" "$STUB/passwd" > "$STUB/passwd.new" || true
mv "$STUB/passwd.new" "$STUB/passwd"
`,
	"groupdel": `#!/bin/sh
echo "groupdel $*" >> "$STUB/log"
grep -qx "$1" "$STUB/group" || { echo "groupdel: group '$1' does not exist" >&2; exit 6; }
if grep -q ":$1$" "$STUB/passwd"; then echo "groupdel: cannot remove the primary group of a user" >&2; exit 8; fi
grep -vx "$1" "$STUB/group" > "$STUB/group.new" || true
mv "$STUB/group.new" "$STUB/group"
`,
}

// machine is a fake system the maintainer scripts run against: stub tools
// first on PATH, and DPKG_ROOT pointing at a folder that stands for /.
type machine struct {
	t               *testing.T
	stub, root, bin string
	scripts         map[string]string // nfpm script name → path
}

func newMachine(t *testing.T, systemd bool) *machine {
	t.Helper()
	m := &machine{t: t, stub: t.TempDir(), root: t.TempDir(), bin: t.TempDir(), scripts: map[string]string{}}
	for name, text := range stubs {
		if err := os.WriteFile(filepath.Join(m.bin, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dirs := []string{"etc/tc-credd", "run/tc-credd"}
	if systemd {
		dirs = append(dirs, "run/systemd/system")
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(m.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/tc-credd/config.yml", "etc/tc-credd/access-token", "run/tc-credd/token"} {
		if err := os.WriteFile(filepath.Join(m.root, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The scripts the recipe names, by nfpm's names for them.
	var recipe struct {
		Scripts map[string]string `yaml:"scripts"`
	}
	text, err := os.ReadFile(filepath.Join(repoRoot(t), "packaging", "nfpm.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(text, &recipe); err != nil {
		t.Fatal(err)
	}
	for name, path := range recipe.Scripts {
		m.scripts[name] = filepath.Join(repoRoot(t), path)
	}
	for _, name := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		if m.scripts[name] == "" {
			t.Fatalf("nfpm.yaml has no %s script", name)
		}
	}
	return m
}

// run runs one maintainer script with the arguments dpkg or rpm pass, and
// returns what it printed.
func (m *machine) run(script string, args ...string) string {
	m.t.Helper()
	cmd := exec.Command("sh", append([]string{m.scripts[script]}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+m.bin+":"+os.Getenv("PATH"), "STUB="+m.stub, "DPKG_ROOT="+m.root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		m.t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (m *machine) exists(rel string) bool {
	_, err := os.Stat(filepath.Join(m.root, rel))
	return err == nil
}

func (m *machine) state(name string) string {
	b, _ := os.ReadFile(filepath.Join(m.stub, name))
	return string(b)
}

// has reports whether the stubs' state holds a file: "active" while the
// service runs, "enabled" while it is enabled.
func (m *machine) has(name string) bool {
	_, err := os.Stat(filepath.Join(m.stub, name))
	return err == nil
}

func (m *machine) active() bool { return m.has("active") }

func (m *machine) starts() int { return strings.Count(m.state("starts"), "started") }

// setService puts the service in a state: installed, enabled, and running
// or stopped.
func (m *machine) setService(running bool) {
	m.t.Helper()
	for _, f := range []string{"enabled", "active"} {
		os.Remove(filepath.Join(m.stub, f))
	}
	if err := os.WriteFile(filepath.Join(m.stub, "enabled"), nil, 0o644); err != nil {
		m.t.Fatal(err)
	}
	if running {
		if err := os.WriteFile(filepath.Join(m.stub, "active"), nil, 0o644); err != nil {
			m.t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(m.stub, "starts"))
}

// Debian's order (Policy chapter 6): a fresh install runs preinst install,
// postinst configure; an upgrade runs the old prerm upgrade NEW, the new
// preinst upgrade OLD, the old postrm upgrade NEW and the new postinst
// configure OLD; removal prerm remove, postrm remove; purge postrm purge.
// RPM's: %pre and %post get 1 on install, 2 on upgrade; then the old
// package's %preun and %postun get 1; on erase they get 0.
var (
	debInstall = [][]string{{"preinstall", "install"}, {"postinstall", "configure", ""}}
	debUpgrade = [][]string{{"preremove", "upgrade", "0.2.0"}, {"preinstall", "upgrade", "0.1.0"}, {"postremove", "upgrade", "0.2.0"}, {"postinstall", "configure", "0.1.0"}}
	debRemove  = [][]string{{"preremove", "remove"}, {"postremove", "remove"}}
	debPurge   = [][]string{{"postremove", "purge"}}
	rpmInstall = [][]string{{"preinstall", "1"}, {"postinstall", "1"}}
	rpmUpgrade = [][]string{{"preinstall", "2"}, {"postinstall", "2"}, {"preremove", "1"}, {"postremove", "1"}}
	rpmErase   = [][]string{{"preremove", "0"}, {"postremove", "0"}}
)

func (m *machine) steps(steps [][]string) string {
	m.t.Helper()
	var out strings.Builder
	for _, s := range steps {
		out.WriteString(m.run(s[0], s[1:]...))
	}
	return out.String()
}

func TestMaintainerScriptsInstall(t *testing.T) {
	for name, steps := range map[string][][]string{"deb": debInstall, "rpm": rpmInstall} {
		t.Run(name, func(t *testing.T) {
			m := newMachine(t, true)
			out := m.steps(steps)
			if got := m.state("group"); got != "tc-credd\ntc-credd-clients\n" {
				t.Errorf("groups after install: %q", got)
			}
			if got := m.state("passwd"); got != "tc-credd:tc-credd\n" {
				t.Errorf("users after install: %q", got)
			}
			// The config needs the operator's access token first.
			if m.active() || m.has("enabled") || m.starts() > 0 {
				t.Errorf("a fresh install started the service: %s", m.state("log"))
			}
			for _, want := range []string{"tc-credd-clients", "-g tc-credd ", "/etc/tc-credd/access-token"} {
				if !strings.Contains(out, want) {
					t.Errorf("the post-install note lacks %q:\n%s", want, out)
				}
			}
			// Installing again over an existing user and groups is fine.
			m.steps(steps)
			if got := m.state("group"); got != "tc-credd\ntc-credd-clients\n" {
				t.Errorf("groups after a second install: %q", got)
			}
		})
	}
}

func TestMaintainerScriptsUpgrade(t *testing.T) {
	for name, steps := range map[string][][]string{"deb": debUpgrade, "rpm": rpmUpgrade} {
		for _, running := range []bool{true, false} {
			t.Run(name+map[bool]string{true: " running", false: " stopped"}[running], func(t *testing.T) {
				m := newMachine(t, true)
				m.steps(debInstall[:1])
				m.setService(running)
				out := m.steps(steps)
				if m.active() != running {
					t.Errorf("running before the upgrade: %v, after: %v\n%s", running, m.active(), m.state("log"))
				}
				// A running service runs the new binary: it was restarted.
				want := map[bool]int{true: 1, false: 0}[running]
				if m.starts() != want {
					t.Errorf("%d (re)starts, want %d\n%s", m.starts(), want, m.state("log"))
				}
				if !m.has("enabled") {
					t.Errorf("the upgrade disabled the service\n%s", m.state("log"))
				}
				if !m.exists("run/tc-credd/token") || !m.exists("etc/tc-credd/access-token") {
					t.Error("the upgrade removed the local token or the access token")
				}
				if strings.Contains(out, "tc-credd installed") {
					t.Errorf("an upgrade printed the first-install note:\n%s", out)
				}
			})
		}
	}
}

func TestMaintainerScriptsRemoveAndPurge(t *testing.T) {
	for name, steps := range map[string][][]string{"deb": debRemove, "rpm": rpmErase} {
		t.Run(name, func(t *testing.T) {
			m := newMachine(t, true)
			m.steps(debInstall[:1])
			m.setService(true)
			m.steps(steps)
			if m.active() {
				t.Errorf("removal left the service running\n%s", m.state("log"))
			}
			if m.has("enabled") {
				t.Errorf("removal left the service enabled\n%s", m.state("log"))
			}
			if m.exists("run/tc-credd") {
				t.Error("removal left /run/tc-credd (the unit preserves it across restarts)")
			}
			// Removal keeps the configuration; only a purge removes it.
			if !m.exists("etc/tc-credd/access-token") || m.state("passwd") == "" {
				t.Error("removal (not purge) removed the configuration or the user")
			}
			if name != "deb" {
				return
			}
			m.steps(debPurge)
			if m.exists("etc/tc-credd") {
				t.Error("purge left /etc/tc-credd")
			}
			if m.state("passwd") != "" || m.state("group") != "" {
				t.Errorf("purge left users %q and groups %q", m.state("passwd"), m.state("group"))
			}
		})
	}
}

func TestMaintainerScriptsWithoutSystemd(t *testing.T) {
	m := newMachine(t, false)
	m.steps(debInstall)
	m.steps(debUpgrade)
	m.steps(debRemove)
	if strings.Contains(m.state("log"), "systemctl") {
		t.Errorf("systemctl called on a machine without systemd:\n%s", m.state("log"))
	}
	if !strings.Contains(m.state("log"), "useradd") {
		t.Errorf("no user created:\n%s", m.state("log"))
	}
}
