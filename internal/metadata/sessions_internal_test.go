package metadata

import (
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// At the bound the least recently used session goes, in constant time: a
// session used every second survives a burst of 12,000 new sessions
// arriving over ten seconds into a store of 10,000.
func TestIMDSSessionsEvictLeastRecentlyUsed(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	s := NewIMDSSessions(clk)
	active := s.issue(21600)
	idle := s.issue(21600)
	for sec := 0; sec < 10; sec++ {
		for i := 0; i < 1200; i++ {
			s.issue(21600)
		}
		if !s.valid(active) {
			t.Fatalf("the active session was evicted after %d new sessions", (sec+1)*1200)
		}
		clk.Add(time.Second)
	}
	if s.valid(idle) {
		t.Error("an idle session outlived 12,000 newer ones in a store of 10,000")
	}
	if n := s.cache.Len(); n != maxIMDSSessions {
		t.Errorf("store holds %d sessions, want the bound %d", n, maxIMDSSessions)
	}
}

func TestIMDSSessionsExpireOnTheInjectedClock(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_000_000, 0))
	s := newIMDSSessions(clk, 3)
	tok := s.issue(300)
	if !s.valid(tok) || s.valid(tok+"x") || s.valid("") {
		t.Fatal("valid is wrong for a fresh session")
	}
	clk.Add(299 * time.Second)
	if !s.valid(tok) {
		t.Fatal("a session expired early")
	}
	clk.Add(time.Second)
	if s.valid(tok) {
		t.Fatal("a session outlived its TTL")
	}
	if s.cache.Len() != 0 {
		t.Error("an expired session stays in the store after it was refused")
	}
}

// BenchmarkIMDSSessionPUTAtCapacity: a PUT into a full store costs what a
// PUT into an empty one does.
func BenchmarkIMDSSessionPUTAtCapacity(b *testing.B) {
	s := NewIMDSSessions(clock.NewFake(time.Unix(1_000_000, 0)))
	for i := 0; i < maxIMDSSessions; i++ {
		s.issue(21600)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.issue(21600)
	}
}
