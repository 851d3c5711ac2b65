package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/secret"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// unitPath is the canonical unit: the packages ship it and `tc-credd
// install` embeds it.
const unitPath = "internal/unit/tc-credd.service"

func TestSystemdUnit(t *testing.T) {
	root := repoRoot(t)
	unit, err := os.ReadFile(filepath.Join(root, unitPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nUser=tc-credd\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nPrivateTmp=yes\n",
		"\nCapabilityBoundingSet=\n", "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK\n", "\nLimitCORE=0\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n", "\nType=notify\n", "\nRuntimeDirectoryPreserve=yes\n",
	} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", strings.TrimSpace(want))
		}
	}
	// systemd-analyze checks that ExecStart exists: point it at a build.
	dir := t.TempDir()
	bin := filepath.Join(dir, "tc-credd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/tc-credd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	local := filepath.Join(dir, "tc-credd.service")
	if err := os.WriteFile(local, []byte(strings.ReplaceAll(string(unit), "/usr/bin/tc-credd", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", local).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure level systemd computes from the sandbox settings stays
	// at 1.5 or below (the threshold counts tenths).
	out, err = exec.Command("systemd-analyze", "security", "--offline=true", "--threshold=15", local).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: exposure above 1.5 (%v)\n%s", err, out)
	}
}

// buildPackages runs `make package` with the binary and the packages in a
// temporary folder, and returns the .deb and the .rpm.
func buildPackages(t *testing.T) (deb, rpm string) {
	t.Helper()
	out := t.TempDir()
	mk := exec.Command("make", "package", "PKG_VERSION=0.0.1~test",
		"BIN="+filepath.Join(out, "bin", "tc-credd"), "DIST="+filepath.Join(out, "dist"))
	mk.Dir = repoRoot(t)
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, b)
	}
	debs, _ := filepath.Glob(filepath.Join(out, "dist", "tc-credd_0.0.1~test_*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(out, "dist", "tc-credd-0.0.1~test-1.*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("packages: deb %v rpm %v", debs, rpms)
	}
	return debs[0], rpms[0]
}

func TestPackages(t *testing.T) {
	root := repoRoot(t)
	deb, _ := buildPackages(t)
	for _, p := range []string{"bin", "dist"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("make package wrote %s/ into the work tree", p)
		}
	}
	list, err := exec.Command("dpkg-deb", "-c", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, list)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/tc-credd",
		"./lib/systemd/system/tc-credd.service",
		"-rw-r----- root/tc-credd", "./etc/tc-credd/config.yml",
		"drwxr-x--- root/tc-credd", "./etc/tc-credd/\n",
		"-rw-r--r-- root/root", "./usr/share/doc/tc-credd/copyright",
	} {
		if !strings.Contains(string(list), want) {
			t.Errorf("dpkg-deb -c lacks %q:\n%s", want, list)
		}
	}
	dist := t.TempDir()
	ctrl := exec.Command("dpkg-deb", "-e", deb, filepath.Join(dist, "DEBIAN"))
	if out, err := ctrl.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	conffiles, _ := os.ReadFile(filepath.Join(dist, "DEBIAN", "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/tc-credd/config.yml" {
		t.Errorf("conffiles = %q", conffiles)
	}
	// Each maintainer script is the one in packaging/scripts.
	for deb, src := range map[string]string{"preinst": "internal/unit/preinstall.sh", "postinst": "packaging/scripts/postinstall.sh", "prerm": "packaging/scripts/preremove.sh", "postrm": "packaging/scripts/postremove.sh"} {
		got, _ := os.ReadFile(filepath.Join(dist, "DEBIAN", deb))
		want, err := os.ReadFile(filepath.Join(root, src))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("the package's %s is not %s:\n%s", deb, src, got)
		}
	}
	// The synopsis is one whole phrase; the long description follows.
	desc, err := exec.Command("dpkg-deb", "-f", deb, "Description").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -f: %v\n%s", err, desc)
	}
	lines := strings.Split(strings.TrimSpace(string(desc)), "\n")
	synopsis := lines[0]
	if len(lines) < 2 || len(synopsis) > 80 || strings.Contains(synopsis, ". ") || strings.HasSuffix(synopsis, ".") {
		t.Fatalf("synopsis %q: want one phrase under 80 characters, without a period, then a long description", synopsis)
	}
	if first := strings.TrimSpace(lines[1]); first == "" || strings.ToUpper(first[:1]) != first[:1] {
		t.Errorf("the long description does not start a sentence of its own: %q", lines[1])
	}
	// The copyright file is the MPL-2.0 the packages declare.
	lic, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(lic), "Mozilla Public License Version 2.0\n") {
		t.Errorf("LICENSE is not the MPL-2.0 text: %.60q", lic)
	}
}

// validate checks an example config as tc-credd would, with the access
// token that a real install supplies.
func validate(t *testing.T, name, text string) {
	t.Helper()
	c, err := config.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c.Credentials.AccessTokenFile, c.Credentials.AccessToken = "", secret.New("supplied-at-install")
	c.ApplyDefaults()
	if _, err := c.Validate(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type podProbe struct {
	Exec struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

type podContainer struct {
	Name            string    `yaml:"name"`
	Image           string    `yaml:"image"`
	RestartPolicy   string    `yaml:"restartPolicy"`
	StartupProbe    *podProbe `yaml:"startupProbe"`
	LivenessProbe   *podProbe `yaml:"livenessProbe"`
	Env             []struct{ Name, Value string }
	SecurityContext struct {
		RunAsUser *int `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

// imageName is the image `make image` builds.
func imageName(t *testing.T) string {
	t.Helper()
	mk := exec.Command("make", "-s", "image-name")
	mk.Dir = repoRoot(t)
	out, err := mk.Output()
	if err != nil {
		t.Fatalf("make image-name: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestExampleConfigsAreValid(t *testing.T) {
	root := repoRoot(t)
	example, err := os.ReadFile(filepath.Join(root, "packaging", "config.example.yml"))
	if err != nil {
		t.Fatal(err)
	}
	validate(t, "config.example.yml", string(example))

	pod, err := os.ReadFile(filepath.Join(root, "packaging", "kubernetes", "pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(pod)))
	found := false
	for {
		var doc struct {
			Kind       string            `yaml:"kind"`
			StringData map[string]string `yaml:"stringData"`
			Spec       struct {
				SecurityContext struct {
					FSGroup *int `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Volumes []struct {
					Name   string    `yaml:"name"`
					Secret *struct{} `yaml:"secret"`
				} `yaml:"volumes"`
				InitContainers []podContainer `yaml:"initContainers"`
				Containers     []podContainer `yaml:"containers"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc.Kind {
		case "Secret":
			validate(t, "pod.yaml config", doc.StringData["config.yml"])
			if !strings.Contains(doc.StringData["config.yml"], `localTokenMode: "0640"`) {
				t.Error("the pod's config keeps the local token from the app's group")
			}
		case "Pod":
			found = true
			if len(doc.Spec.InitContainers) != 1 || doc.Spec.InitContainers[0].RestartPolicy != "Always" {
				t.Fatalf("tc-credd is not a native sidecar: %+v", doc.Spec.InitContainers)
			}
			side, app := doc.Spec.InitContainers[0], doc.Spec.Containers[0]
			if side.Image != imageName(t) {
				t.Errorf("the sidecar's image %q is not the one `make image` builds (%s)", side.Image, imageName(t))
			}
			probes := map[string]*podProbe{"startupProbe": side.StartupProbe, "livenessProbe": side.LivenessProbe}
			for name, p := range probes {
				if p == nil || len(p.Exec.Command) < 2 || p.Exec.Command[1] != "ready" {
					t.Errorf("the sidecar has no %s running tc-credd ready: %+v", name, p)
				}
			}
			if p := side.LivenessProbe; p != nil && !slices.Contains(p.Exec.Command, "--live") {
				t.Errorf("the liveness probe waits for readiness: a Taskcluster outage would restart the sidecar: %v", p.Exec.Command)
			}
			env := map[string]string{}
			for _, e := range app.Env {
				env[e.Name] = e.Value
			}
			for _, k := range []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP"} {
				if env[k] == "" {
					t.Errorf("the app container lacks %s", k)
				}
			}
			if !strings.HasSuffix(env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], "/") {
				t.Errorf("AWS_EC2_METADATA_SERVICE_ENDPOINT %q lacks its final /", env["AWS_EC2_METADATA_SERVICE_ENDPOINT"])
			}
			// The access token is mounted into tc-credd alone; the app
			// runs as another user, in the group of the token's volume.
			secrets := map[string]bool{}
			for _, v := range doc.Spec.Volumes {
				secrets[v.Name] = v.Secret != nil
			}
			for _, m := range app.VolumeMounts {
				if secrets[m.Name] {
					t.Errorf("the app mounts the Secret %s", m.Name)
				}
				if m.MountPath == "/run/tc-credd" && !m.ReadOnly {
					t.Error("the app may write the local token's volume")
				}
			}
			if app.SecurityContext.RunAsUser == nil || side.SecurityContext.RunAsUser == nil || *app.SecurityContext.RunAsUser == *side.SecurityContext.RunAsUser {
				t.Error("the app and tc-credd must run as different users")
			}
			if doc.Spec.SecurityContext.FSGroup == nil {
				t.Error("no fsGroup: the app cannot read the local token")
			}
		}
	}
	if !found {
		t.Fatal("no Pod in pod.yaml")
	}
}

// The Docker build context leaves out what builds and tests leave behind,
// and the image publishes no port: tc-credd listens on loopback only.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(ignore), "\n")
	for _, want := range []string{".git", "**/node_modules", "bin", "dist"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	docker, err := os.ReadFile(filepath.Join(root, "packaging", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(docker), "\n") {
		if strings.HasPrefix(line, "EXPOSE") {
			t.Errorf("the Dockerfile exposes loopback-only ports: %s", line)
		}
	}
	if !strings.Contains(string(docker), "\nUSER 65532:65533\n") {
		t.Error("the Dockerfile's user is not the one `make image` sets")
	}
}

// Every IMDS endpoint the README documents ends in "/": botocore appends
// "latest/api/token" as it is.
func TestDocumentedIMDSEndpoints(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, m := range regexp.MustCompile(`AWS_EC2_METADATA_SERVICE_ENDPOINT=(\S+)`).FindAllSubmatch(readme, -1) {
		found++
		if !strings.HasSuffix(string(m[1]), "/") {
			t.Errorf("README: AWS_EC2_METADATA_SERVICE_ENDPOINT=%s lacks its final /", m[1])
		}
	}
	if found == 0 {
		t.Fatal("the README documents no IMDS endpoint")
	}
}
