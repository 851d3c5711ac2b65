package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
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

func TestSystemdUnit(t *testing.T) {
	root := repoRoot(t)
	unit, err := os.ReadFile(filepath.Join(root, "systemd", "tc-credd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\nUser=tc-credd\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n", "\nPrivateTmp=yes\n",
		"\nCapabilityBoundingSet=\n", "\nRestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n", "\nLimitCORE=0\n",
		"\nExecReload=/bin/kill -HUP $MAINPID\n", "\nType=notify\n",
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
}

func TestPackages(t *testing.T) {
	root := repoRoot(t)
	dist := t.TempDir()
	mk := exec.Command("make", "package", "PKG_VERSION=0.0.1~test")
	mk.Dir = root
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(root, "dist", "tc-credd_0.0.1~test_*.deb"))
	rpms, _ := filepath.Glob(filepath.Join(root, "dist", "tc-credd-0.0.1~test-1.*.rpm"))
	if len(debs) != 1 || len(rpms) != 1 {
		t.Fatalf("packages: deb %v rpm %v", debs, rpms)
	}
	list, err := exec.Command("dpkg-deb", "-c", debs[0]).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb -c: %v\n%s", err, list)
	}
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/tc-credd",
		"./lib/systemd/system/tc-credd.service",
		"-rw-r----- root/tc-credd", "./etc/tc-credd/config.yml",
	} {
		if !strings.Contains(string(list), want) {
			t.Errorf("dpkg-deb -c lacks %q:\n%s", want, list)
		}
	}
	ctrl := exec.Command("dpkg-deb", "-e", debs[0], filepath.Join(dist, "DEBIAN"))
	if out, err := ctrl.CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	conffiles, _ := os.ReadFile(filepath.Join(dist, "DEBIAN", "conffiles"))
	if strings.TrimSpace(string(conffiles)) != "/etc/tc-credd/config.yml" {
		t.Errorf("conffiles = %q", conffiles)
	}
	preinst, _ := os.ReadFile(filepath.Join(dist, "DEBIAN", "preinst"))
	if !strings.Contains(string(preinst), "useradd --system") {
		t.Errorf("preinst does not create the service user:\n%s", preinst)
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
				InitContainers []struct {
					Name          string `yaml:"name"`
					RestartPolicy string `yaml:"restartPolicy"`
				} `yaml:"initContainers"`
				Containers []struct {
					Env []struct{ Name, Value string } `yaml:"env"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc.Kind {
		case "Secret":
			validate(t, "pod.yaml config", doc.StringData["config.yml"])
		case "Pod":
			found = true
			if len(doc.Spec.InitContainers) != 1 || doc.Spec.InitContainers[0].RestartPolicy != "Always" {
				t.Errorf("tc-credd is not a native sidecar: %+v", doc.Spec.InitContainers)
			}
			env := map[string]string{}
			for _, e := range doc.Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			for _, k := range []string{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "GCE_METADATA_HOST", "GCE_METADATA_IP"} {
				if env[k] == "" {
					t.Errorf("the app container lacks %s", k)
				}
			}
		}
	}
	if !found {
		t.Fatal("no Pod in pod.yaml")
	}
}
