package deadline

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/clock"
)

const tick = 250 * time.Millisecond

// pair returns a wrapped server-side connection and its client.
func pair(t *testing.T, clk clock.Clock) (*Listener, net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(ln, tick, clk)
	t.Cleanup(func() { l.Close() })
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return l, server, client
}

// readsData sends one byte from the client and checks the server reads it:
// no deadline is in force.
func readsData(t *testing.T, server, client net.Conn) {
	t.Helper()
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(server, b); err != nil {
		t.Fatalf("read with no deadline due: %v", err)
	}
}

// timesOut checks a read fails the way an expired deadline makes it fail.
func timesOut(t *testing.T, server net.Conn) {
	t.Helper()
	_, err := server.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read after deadline: %v, want a timeout", err)
	}
}

func TestFutureDeadlineAppliesAtSweepAfterIt(t *testing.T) {
	clk := clock.NewFake(time.Now())
	l, server, client := pair(t, clk)
	start := clk.Now()
	if err := server.SetReadDeadline(start.Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	l.sweep(start.Add(4 * time.Second))
	readsData(t, server, client)
	l.sweep(start.Add(6 * time.Second))
	timesOut(t, server)
}

func TestPastDeadlineAppliesAtOnce(t *testing.T) {
	clk := clock.NewFake(time.Now())
	_, server, client := pair(t, clk)
	// What net/http sets to abort its background read.
	if err := server.SetReadDeadline(time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	timesOut(t, server)
	if err := server.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	readsData(t, server, client)
}

func TestClearedDeadlineNeverFires(t *testing.T) {
	clk := clock.NewFake(time.Now())
	l, server, client := pair(t, clk)
	_ = server.SetReadDeadline(clk.Now().Add(time.Second))
	_ = server.SetReadDeadline(time.Time{})
	l.sweep(clk.Now().Add(time.Hour))
	readsData(t, server, client)
}

func TestLaterDeadlineLiftsAnExpiredOne(t *testing.T) {
	clk := clock.NewFake(time.Now())
	l, server, client := pair(t, clk)
	_ = server.SetReadDeadline(clk.Now().Add(time.Second))
	l.sweep(clk.Now().Add(2 * time.Second))
	timesOut(t, server)
	_ = server.SetReadDeadline(clk.Now().Add(time.Hour))
	readsData(t, server, client)
}

func TestWriteDeadline(t *testing.T) {
	clk := clock.NewFake(time.Now())
	l, server, _ := pair(t, clk)
	_ = server.SetDeadline(clk.Now().Add(time.Second))
	if _, err := server.Write([]byte("before")); err != nil {
		t.Fatalf("write before the deadline: %v", err)
	}
	l.sweep(clk.Now().Add(2 * time.Second))
	if _, err := server.Write([]byte("after")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write after the deadline: %v", err)
	}
	timesOut(t, server) // SetDeadline covered reads too
}

func TestCloseForgetsConnection(t *testing.T) {
	l, server, _ := pair(t, clock.NewFake(time.Now()))
	if n := l.open(); n != 1 {
		t.Fatalf("open %d, want 1", n)
	}
	server.Close()
	server.Close() // net/http may close twice
	if n := l.open(); n != 0 {
		t.Fatalf("open %d after close, want 0", n)
	}
}

// sweepOnce moves the fake clock to the sweeper's next tick and returns
// once the sweeper has swept at that time.
func sweepOnce(t *testing.T, clk *clock.Fake, l *Listener) {
	t.Helper()
	for {
		changed := clk.Changed()
		if clk.Waiters() == 1 {
			break
		}
		<-changed
	}
	next, _ := clk.Next()
	clk.Set(next)
	for {
		changed := clk.Changed() // the sweeper sleeps again after sweeping
		if l.swept.Load() >= next.UnixNano() {
			return
		}
		<-changed
	}
}

// waitPending yields until n connections hold a recorded read deadline:
// net/http sets them from its own goroutines.
func waitPending(l *Listener, n int) {
	for {
		got := 0
		l.mu.Lock()
		for c := range l.conns {
			c.mu.Lock()
			if c.read.pending != 0 {
				got++
			}
			c.mu.Unlock()
		}
		l.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// tickPast sweeps tick by tick until the clock is after until.
func tickPast(t *testing.T, clk *clock.Fake, l *Listener, until time.Time) {
	t.Helper()
	for !clk.Now().After(until) {
		sweepOnce(t, clk, l)
	}
}

func TestSweeperRunsOnTheClock(t *testing.T) {
	clk := clock.NewFake(time.Now())
	l, server, client := pair(t, clk)
	_ = server.SetReadDeadline(clk.Now().Add(4 * tick))
	for range 3 {
		sweepOnce(t, clk, l)
	}
	readsData(t, server, client)
	sweepOnce(t, clk, l)
	timesOut(t, server)
}

// TestHTTPServerTimeouts runs net/http's own ReadHeaderTimeout and
// IdleTimeout over the wrapper: a client that never finishes its headers,
// and a kept-alive client that goes quiet, are both disconnected.
func TestHTTPServerTimeouts(t *testing.T) {
	clk := clock.NewFake(time.Now())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(ln, tick, clk)
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	slow, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = io.WriteString(slow, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n") // headers never end

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	br := bufio.NewReader(idle)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}

	// Both connections are open (accepted in order, and the second has
	// been answered) until their deadlines pass. net/http stamps those with
	// the real clock, where the fake one started.
	if l.open() != 2 {
		t.Fatalf("open %d, want 2", l.open())
	}
	waitPending(l, 2) // the header deadline of one, the idle one of the other
	tickPast(t, clk, l, time.Now().Add(6*time.Second))
	if rest, err := io.ReadAll(slow); err != nil || strings.Contains(string(rest), "200") {
		t.Fatalf("slow client: %q, %v; want the connection closed", rest, err)
	}
	if l.open() != 1 {
		t.Fatalf("open %d after the header timeout, want 1 (the idle one)", l.open())
	}
	tickPast(t, clk, l, time.Now().Add(31*time.Second))
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Fatalf("idle client: %q, %v; want the connection closed", rest, err)
	}
}
