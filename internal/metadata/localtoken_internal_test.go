package metadata

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// TestDeletedLocalTokenRecreatedOnce: a deleted token file comes back
// with a new token, logged once, not an error every interval.
func TestDeletedLocalTokenRecreatedOnce(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	core, logs := observer.New(zap.InfoLevel)
	path := filepath.Join(t.TempDir(), "token")
	lt, err := LoadLocalToken(path, clk, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { lt.Watch(ctx, 2*time.Second); close(done) }()
	defer func() { cancel(); <-done }()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		waitTimer(clk) // the watch has finished its pass and sleeps
		clk.Add(2 * time.Second)
	}
	waitTimer(clk)
	now, err := os.ReadFile(path)
	if err != nil || len(now) < 43 || string(now) == string(old) {
		t.Fatalf("token file after deletion: %v (same as before: %v)", err, string(now) == string(old))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("recreated with mode %v", st.Mode())
	}
	if !lt.Check(string(now)) {
		t.Fatal("the new token is not accepted")
	}
	if n := logs.FilterMessage("local token file was deleted; created it again with a new token").Len(); n != 1 {
		t.Fatalf("recreation logged %d times, want once", n)
	}
	if n := logs.FilterMessage("local token file unreadable; keeping the current token").Len(); n != 0 {
		t.Fatalf("%d errors logged for a file that was recreated", n)
	}
}
