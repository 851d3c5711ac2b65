package logging

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// sink records writes; while gate is non-nil each write first waits on it.
type sink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	sizes  []int
	gate   chan struct{}
	wrote  chan struct{} // receives after every write
	failed error
}

func newSink() *sink { return &sink{wrote: make(chan struct{}, 1024)} }

func (s *sink) Write(p []byte) (int, error) {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	s.buf.Write(p)
	s.sizes = append(s.sizes, len(p))
	s.mu.Unlock()
	s.wrote <- struct{}{}
	return len(p), s.failed
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func neverTicks() clock.Clock { return clock.NewFake(time.Unix(0, 0)) }

func TestAsyncWriterKeepsEveryLineInOrder(t *testing.T) {
	out := newSink()
	a := newAsyncWriter(out, neverTicks(), time.Second)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				_, _ = fmt.Fprintf(a, "w%d %05d %s\n", w, i, strings.Repeat("x", 40))
			}
		}()
	}
	wg.Wait()
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for _, l := range lines {
		var w string
		var i int
		if _, err := fmt.Sscanf(l, "%s %d", &w, &i); err != nil || i != next[w] {
			t.Fatalf("line %q out of order or mangled (want %s %d)", l, w, next[w])
		}
		next[w]++
	}
	if len(lines) != 8*2000 {
		t.Fatalf("%d lines, want %d", len(lines), 8*2000)
	}
}

// A full batch is written without Sync and without the interval passing.
func TestAsyncWriterFlushesFullBatch(t *testing.T) {
	out := newSink()
	a := newAsyncWriter(out, neverTicks(), time.Second)
	line := strings.Repeat("y", 1023) + "\n"
	for range flushAt / len(line) {
		_, _ = a.Write([]byte(line))
	}
	<-out.wrote
	if got := out.String(); len(got) < flushAt {
		t.Fatalf("flushed %d bytes, want at least %d", len(got), flushAt)
	}
}

// A lone line is written once the flush interval passes.
func TestAsyncWriterFlushesOnInterval(t *testing.T) {
	out := newSink()
	clk := clock.NewFake(time.Unix(0, 0))
	a := newAsyncWriter(out, clk, FlushInterval)
	_, _ = a.Write([]byte("lonely\n"))
	for {
		changed := clk.Changed()
		if clk.Waiters() == 1 {
			break
		}
		<-changed
	}
	clk.Add(FlushInterval)
	<-out.wrote
	if out.String() != "lonely\n" {
		t.Fatalf("wrote %q", out.String())
	}
}

// A stuck output neither blocks writers nor lets memory grow without
// bound: writers wait only past maxPending, and nothing is dropped.
func TestAsyncWriterStuckOutput(t *testing.T) {
	out := newSink()
	out.gate = make(chan struct{})
	a := newAsyncWriter(out, neverTicks(), time.Second)
	line := []byte(strings.Repeat("z", 999) + "\n")
	// Enough to start a flush that blocks in the output...
	for range flushAt/len(line) + 1 {
		_, _ = a.Write(line)
	}
	// ...and these return while it is stuck (the test would hang if not).
	for range 100 {
		_, _ = a.Write(line)
	}
	// Now far more than maxPending, from a writer that will have to wait.
	total := (flushAt/len(line) + 1 + 100 + 3*maxPending/len(line)) * len(line)
	done := make(chan struct{})
	go func() {
		for range 3 * maxPending / len(line) {
			_, _ = a.Write(line)
		}
		close(done)
	}()
	go func() {
		for {
			select {
			case out.gate <- struct{}{}:
			case <-done:
				close(out.gate) // every later write passes
				return
			}
		}
	}()
	<-done
	if err := a.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := len(out.String()); got != total {
		t.Fatalf("wrote %d bytes, want %d", got, total)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	for _, n := range out.sizes {
		if n > maxPending+len(line) {
			t.Fatalf("one write of %d bytes: pending grew past %d", n, maxPending)
		}
	}
}

func TestAsyncWriterReportsWriteError(t *testing.T) {
	out := newSink()
	out.failed = errors.New("disk full")
	a := newAsyncWriter(out, neverTicks(), time.Second)
	_, _ = a.Write([]byte("x\n"))
	if err := a.Sync(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Sync: %v, want the write error", err)
	}
}
