// Package deadline enforces connection deadlines with one sweeper per
// listener instead of one runtime timer per connection.
//
// net/http moves a connection's read deadline three times per request when
// ReadHeaderTimeout and IdleTimeout are set: the header deadline before the
// request, none while the handler runs, the idle deadline after it. Each
// move re-arms a runtime timer, and re-arming often wakes the network
// poller or another thread. On a loopback server answering in microseconds
// those wake-ups cost more than the handler. Here a deadline in the future
// is only recorded; a sweeper applies the ones that have passed, at most
// one tick late. A deadline already in the past, which net/http sets to
// abort a pending read, reaches the connection at once.
package deadline

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// Listener wraps a net.Listener; its connections' deadlines are enforced
// by the sweeper. Close stops the sweeper.
type Listener struct {
	net.Listener
	clk  clock.Clock
	tick time.Duration

	// swept is the time of the last sweep, in Unix nanoseconds: a deadline
	// at or before it has passed, so it is applied at once.
	swept atomic.Int64

	mu    sync.Mutex
	conns map[*conn]struct{}

	stop context.CancelFunc
	done chan struct{}
}

// Wrap starts a sweeper that applies passed deadlines every tick.
func Wrap(ln net.Listener, tick time.Duration, clk clock.Clock) *Listener {
	if clk == nil {
		clk = clock.Real{}
	}
	ctx, stop := context.WithCancel(context.Background())
	l := &Listener{Listener: ln, clk: clk, tick: tick, conns: map[*conn]struct{}{}, stop: stop, done: make(chan struct{})}
	l.swept.Store(clk.Now().UnixNano())
	go l.sweepEvery(ctx)
	return l
}

// Accept returns the next connection, wrapped.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	wc := &conn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[wc] = struct{}{}
	l.mu.Unlock()
	return wc, nil
}

// Close closes the listener and stops the sweeper; open connections keep
// working, without deadlines in the future being enforced.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	l.stop()
	<-l.done
	return err
}

// open is the number of connections accepted and not yet closed.
func (l *Listener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *Listener) sweepEvery(ctx context.Context) {
	defer close(l.done)
	for clock.Sleep(ctx, l.clk, l.tick) == nil {
		l.sweep(l.clk.Now())
	}
}

func (l *Listener) sweep(now time.Time) {
	n := now.UnixNano()
	l.swept.Store(n)
	l.mu.Lock()
	conns := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.expire(n)
	}
}

func (l *Listener) forget(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

var longAgo = time.Unix(1, 0)

// conn records deadlines in the future and applies passed ones.
type conn struct {
	net.Conn
	l *Listener

	mu    sync.Mutex
	read  side
	write side
}

// side is one direction's deadline state.
type side struct {
	pending int64 // recorded deadline, Unix nanoseconds; 0 for none
	applied bool  // the connection itself holds a deadline we set
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set(&c.read, t, c.Conn.SetReadDeadline)
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set(&c.write, t, c.Conn.SetWriteDeadline)
}

func (c *conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	errR := c.set(&c.read, t, c.Conn.SetReadDeadline)
	errW := c.set(&c.write, t, c.Conn.SetWriteDeadline)
	if errR != nil {
		return errR
	}
	return errW
}

// set records t, or applies it at once when it is zero (clearing one we
// applied) or already past. Called with c.mu held.
func (c *conn) set(s *side, t time.Time, apply func(time.Time) error) error {
	switch {
	case t.IsZero():
		s.pending = 0
		if s.applied {
			s.applied = false
			return apply(time.Time{})
		}
		return nil
	case t.UnixNano() <= c.l.swept.Load():
		s.pending, s.applied = 0, true
		return apply(t)
	default:
		s.pending = t.UnixNano()
		if s.applied {
			// A passed deadline still holds the connection: lift it, as
			// setting a new deadline would.
			s.applied = false
			return apply(time.Time{})
		}
		return nil
	}
}

// expire applies deadlines that have passed by now (Unix nanoseconds): a
// blocked Read or Write returns os.ErrDeadlineExceeded, as with a
// deadline set on the connection itself. The sweeper's clock decided, so
// the connection gets a deadline long past, never one its own clock could
// still see ahead.
func (c *conn) expire(now int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read.expire(now, c.Conn.SetReadDeadline)
	c.write.expire(now, c.Conn.SetWriteDeadline)
}

func (s *side) expire(now int64, apply func(time.Time) error) {
	if s.pending != 0 && s.pending <= now {
		_ = apply(longAgo)
		s.pending, s.applied = 0, true
	}
}

func (c *conn) Close() error {
	c.l.forget(c)
	return c.Conn.Close()
}

// CloseWrite half-closes when the connection can, so that net/http's
// graceful close after an error still works through the wrapper.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
