package metadata

import (
	"testing"
	"time"
)

func TestIMDSTokenStoreIsBounded(t *testing.T) {
	clk := fixedClock{time.Unix(0, 0)}
	s := newIMDSTokens(clk, 3)
	toks := []string{s.issue(10), s.issue(20), s.issue(30), s.issue(40)}
	if len(s.m) != 3 {
		t.Fatalf("store holds %d tokens, want 3", len(s.m))
	}
	if s.valid(toks[0]) || !s.valid(toks[3]) || !s.valid(toks[1]) {
		t.Fatal("the token closest to expiry should be the one evicted")
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }
func (c fixedClock) Timer(time.Duration) (<-chan time.Time, func() bool) {
	return make(chan time.Time), func() bool { return true }
}
func (c fixedClock) AfterFunc(time.Duration, func()) func() bool { return func() bool { return true } }
