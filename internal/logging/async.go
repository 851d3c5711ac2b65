package logging

import (
	"io"
	"sync"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// Batching limits of asyncWriter.
const (
	flushAt    = 32 << 10 // wake the flusher once this much is pending
	maxPending = 1 << 20  // past this, writers wait for the flusher
)

// asyncWriter batches log lines in memory and writes them from its own
// goroutine. zapcore.BufferedWriteSyncer writes its buffer while holding
// the lock every logger shares, so one slow read by journald or a full
// pipe stalls every request that logs meanwhile. Here a line is only
// appended to memory; writers wait only when maxPending bytes are still
// unwritten, so lines are never dropped and memory stays bounded.
type asyncWriter struct {
	out io.Writer

	mu    sync.Mutex
	room  *sync.Cond // signalled when the flusher took the pending bytes
	buf   []byte     // pending lines
	spare []byte     // the other buffer, while it is not being written
	err   error      // the first write error, reported by Sync

	ioMu sync.Mutex // one write to out at a time, in order
	kick chan struct{}
}

func newAsyncWriter(out io.Writer, clk clock.Clock, interval time.Duration) *asyncWriter {
	a := &asyncWriter{out: out, kick: make(chan struct{}, 1)}
	a.room = sync.NewCond(&a.mu)
	go a.run(clk, interval)
	return a
}

// run flushes when kicked or every interval, for the process's lifetime.
// A kick leaves the interval's timer running: re-arming it hundreds of
// times a second would wake the scheduler's timer machinery as often.
func (a *asyncWriter) run(clk clock.Clock, interval time.Duration) {
	tick, _ := clk.Timer(interval)
	for {
		select {
		case <-a.kick:
		case <-tick:
			tick, _ = clk.Timer(interval)
		}
		_ = a.flush()
	}
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	for len(a.buf) >= maxPending {
		a.room.Wait()
	}
	a.buf = append(a.buf, p...)
	pending := len(a.buf)
	a.mu.Unlock()
	if pending >= flushAt {
		select {
		case a.kick <- struct{}{}:
		default: // already kicked
		}
	}
	return len(p), nil
}

// flush writes what is pending, outside the lock writers take.
func (a *asyncWriter) flush() error {
	a.ioMu.Lock()
	defer a.ioMu.Unlock()
	a.mu.Lock()
	out := a.buf
	a.buf, a.spare = a.spare[:0], nil
	a.mu.Unlock()
	var err error
	if len(out) > 0 {
		_, err = a.out.Write(out)
	}
	a.mu.Lock()
	if cap(out) <= 4*flushAt {
		a.spare = out[:0] // reuse; a buffer a burst grew is left to the GC
	}
	if err != nil && a.err == nil {
		a.err = err
	}
	a.room.Broadcast()
	a.mu.Unlock()
	return err
}

// Sync writes every pending line, then syncs the output if it can.
func (a *asyncWriter) Sync() error {
	if err := a.flush(); err != nil {
		return err
	}
	a.mu.Lock()
	err := a.err
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if s, ok := a.out.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}
