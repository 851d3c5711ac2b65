package metadata

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/atomicfile"
	"github.com/taskcluster/tc-credd/internal/clock"
)

func TestIMDSTokenStoreIsBounded(t *testing.T) {
	clk := fixedClock{time.Unix(0, 0)}
	s := newIMDSTokens(clk, 3)
	toks := []string{s.issue(10), s.issue(20), s.issue(30), s.issue(40)}
	held := 0
	s.m.Range(func(any, any) bool { held++; return true })
	if held != 3 || s.n != 3 {
		t.Fatalf("store holds %d tokens (counted %d), want 3", held, s.n)
	}
	if s.validAt(toks[0], clk.t) || !s.validAt(toks[3], clk.t) || !s.validAt(toks[1], clk.t) {
		t.Fatal("the token closest to expiry should be the one evicted")
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }
func (c fixedClock) Timer(time.Duration) (<-chan time.Time, func() bool) {
	return make(chan time.Time), func() bool { return true }
}
func (c fixedClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return true } }

func TestLocalTokenRotation(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	path := filepath.Join(t.TempDir(), "token")
	lt, err := LoadLocalToken(path, clk, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := lt.Value().Reveal()
	if !lt.Check(first) || lt.Check(first+"x") || lt.Check("") {
		t.Fatal("Check is wrong for the created token")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { lt.Watch(ctx, 2*time.Second); close(done) }()
	defer func() { cancel(); <-done }()

	// An operator rotates the token (a different length, so the change
	// shows even where modification times are coarse).
	second := "rotated-token-" + strings.Repeat("z", 40)
	if err := atomicfile.Write(path, []byte(second), 0o600); err != nil {
		t.Fatal(err)
	}
	waitTimer(clk)
	clk.Add(2 * time.Second)
	for !lt.Check(second) {
		runtime.Gosched() // the watcher reloads on its own goroutine
	}
	if !lt.Check(first) {
		t.Fatal("the previous token must stay valid during the grace period")
	}
	clk.Add(RotationGrace + time.Second)
	if lt.Check(first) || !lt.Check(second) {
		t.Fatal("after the grace period only the new token is valid")
	}
	// An unreadable or too-short file keeps the current token.
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := lt.reload(); err == nil || !lt.Check(second) {
		t.Fatalf("a bad token file replaced the token: %v", err)
	}
}

func TestLocalTokenCreatedPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "token")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLocalToken(path, nil, nil); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	b, _ := os.ReadFile(path)
	if err != nil || st.Mode().Perm() != 0o600 || len(b) < 43 || strings.ContainsAny(string(b), "\n\r ") {
		t.Fatalf("token file: mode %v, %q", st.Mode(), b)
	}
}

// waitTimer blocks until a goroutine waits on the fake clock.
func waitTimer(c *clock.Fake) {
	for {
		changed := c.Changed()
		if c.Waiters() > 0 {
			return
		}
		<-changed
	}
}
