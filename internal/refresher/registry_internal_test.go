package refresher

import (
	"context"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// A source a reload replaces before its first fetch ends never finishes
// that fetch: whoever waits for the first round must not wait for it.
func TestReplacedEntryEndsItsFirstRound(t *testing.T) {
	r := New(Options{Clock: clock.NewFake(time.Unix(1_000_000, 0))})
	old := Source{Kind: Sentry, Name: "app", Project: "one"}
	if err := r.Set([]Source{old}); err != nil {
		t.Fatal(err)
	}
	r.mu.RLock()
	ready := r.entries[old.Key()].ready
	r.mu.RUnlock()
	if err := r.Set([]Source{{Kind: Sentry, Name: "app", Project: "two"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	default:
		t.Fatal("the replaced entry's first round never ends")
	}
	// The new entry has not fetched: the round is not over.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.WaitFirstRound(ctx); err == nil {
		t.Fatal("WaitFirstRound returned before the new source fetched")
	}
}
