//go:build linux

// Package identitytest runs a test binary again as another user, so that
// tests can see how tc-credd names a caller that is not themselves. It
// needs root (CI runs as root) and Linux.
package identitytest

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// Skip skips t unless it can start processes as other users.
func Skip(t testing.TB) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("caller identity is Linux only")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting a process as another uid needs root")
	}
}

// Executable copies the running test binary where any user may run it:
// go test builds it in a folder only its owner can enter. It returns the
// copy's path.
func Executable(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := SharedDir(t)
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(dir, filepath.Base(self))
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// SharedDir returns a temporary folder every user can enter and list:
// t.TempDir's folders are private, so the path down to it is opened.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Command returns a command that runs exe as uid and gid, with env added
// to a minimal environment. The test binary's TestMain decides what to do
// from env.
func Command(exe string, uid, gid uint32, env ...string) *exec.Cmd {
	cmd := exec.Command(exe)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=/"}, env...)
	// Its only group is gid: it must not keep the test's supplementary groups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{gid}}}
	return cmd
}
