package localtoken_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/atomicfile"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/localtoken"
)

// watched loads a token file and watches it until the test ends.
func watched(t *testing.T) (*localtoken.Token, string, *clock.Fake, *observer.ObservedLogs) {
	t.Helper()
	return watchedAt(t, filepath.Join(t.TempDir(), "token"))
}

// watchedAt loads and watches the token file at path.
func watchedAt(t *testing.T, path string) (*localtoken.Token, string, *clock.Fake, *observer.ObservedLogs) {
	t.Helper()
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	core, logs := observer.New(zap.InfoLevel)
	lt, err := localtoken.Load(path, 0o600, clk, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	w, err := lt.Watch()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return lt, path, clk, logs
}

// current reads the file as a consumer would.
func current(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// awaitChange waits for the token to change after write, with a deadline.
func awaitChange(t *testing.T, lt *localtoken.Token, what string, write func()) {
	t.Helper()
	changed := lt.Changed()
	write()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatalf("the token did not change within 10 s after %s", what)
	}
}

func TestCreatedPrivateWithoutNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	lt, err := localtoken.Load(path, 0o600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	tok := current(t, path)
	if err != nil || st.Mode().Perm() != 0o600 || len(tok) < 43 || strings.ContainsAny(tok, "\n\r ") {
		t.Fatalf("token file: mode %v, %q", st.Mode(), tok)
	}
	if !lt.Check(tok) || lt.Check(tok+"x") || lt.Check("") {
		t.Fatal("Check is wrong for the created token")
	}
	if localtoken.New() == localtoken.New() {
		t.Fatal("two new tokens are equal")
	}
}

func TestRotationInPlaceAndByRename(t *testing.T) {
	lt, path, clk, _ := watched(t)
	first := current(t, path)

	second := "rotated-in-place-" + strings.Repeat("a", 30)
	awaitChange(t, lt, "a write in place", func() {
		if err := os.WriteFile(path, []byte(second), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if !lt.Check(second) || !lt.Check(first) {
		t.Fatal("after a rotation the new token and, for the grace period, the old one are valid")
	}
	third := "rotated-by-rename-" + strings.Repeat("b", 30)
	awaitChange(t, lt, "an atomic replace", func() {
		if err := atomicfile.Write(path, []byte(third), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	if !lt.Check(third) || !lt.Check(second) {
		t.Fatal("after a rename the new token and the previous one are valid")
	}
	clk.Add(localtoken.RotationGrace)
	if lt.Check(second) || lt.Check(first) || !lt.Check(third) {
		t.Fatal("after the grace period only the new token is valid")
	}
}

// A token mounted from a Kubernetes secret is a symlink through "..data",
// and rotation swaps "..data" by rename: no event names the file, yet the
// new token must be in force.
func TestRotationOfAMountedSecret(t *testing.T) {
	dir := t.TempDir()
	version := func(name, tok string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "token"), []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first := "mounted-first-" + strings.Repeat("c", 30)
	version("..v1", first)
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "token")
	if err := os.Symlink("..data/token", path); err != nil {
		t.Fatal(err)
	}
	lt, _, _, _ := watchedAt(t, path)
	if !lt.Check(first) {
		t.Fatal("the mounted token is not in force")
	}
	second := "mounted-second-" + strings.Repeat("d", 30)
	version("..v2", second)
	awaitChange(t, lt, "swapping ..data", func() {
		if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	})
	if !lt.Check(second) || !lt.Check(first) {
		t.Fatal("after the swap the new token and, for the grace period, the old one are valid")
	}
}

// A deleted file is written anew, once, with a new token: consumers get a
// token to read again, and the log says so once, not every few seconds.
func TestDeletedFileIsRecreatedOnce(t *testing.T) {
	lt, path, _, logs := watched(t)
	old := current(t, path)
	awaitChange(t, lt, "deleting the file", func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	})
	fresh := current(t, path)
	if fresh == old || !lt.Check(fresh) {
		t.Fatal("the recreated file does not hold the token now in force")
	}
	if n := logs.FilterMessageSnippet("local token file was deleted").Len(); n != 1 {
		t.Errorf("recreation logged %d times, want 1", n)
	}
}

// A file that turns unreadable keeps the current token in force.
func TestBadFileKeepsToken(t *testing.T) {
	lt, path, _, logs := watched(t)
	tok := current(t, path)
	changed := lt.Changed()
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for logs.FilterMessage("local token file unreadable; keeping the current token").Len() == 0 {
		select {
		case <-changed:
			t.Fatal("a too-short token replaced the current one")
		case <-deadline:
			t.Fatal("no warning within 10 s about the unreadable token file")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if !lt.Check(tok) || lt.Check("short") {
		t.Fatal("a bad token file replaced the token")
	}
}
