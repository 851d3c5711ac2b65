package metadata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/loopback"
)

// Listen binds addr. A non-loopback address is refused unless
// allowNonLoopback: credentials on a LAN address are one ARP entry away
// from every neighbour (99designs/aws-vault#198).
func Listen(addr string, allowNonLoopback bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !allowNonLoopback && !loopback.Host(host) {
		return nil, fmt.Errorf("listen address %q is not loopback; set allowNonLoopback: true to bind it anyway", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// ListenUnix binds a Unix socket at path, replacing a stale socket a
// previous run left (never any other kind of file). Any local user may
// connect: the local token and the sources' allow rules decide what a
// caller gets, and the kernel names every caller on this socket.
func ListenUnix(path string) (net.Listener, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("unix socket %s: a file that is not a socket is in the way", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("unix socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("unix socket %s: %w", path, err)
	}
	return ln, nil
}

// PortOf returns a listener's TCP port, for the Host check.
func PortOf(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Server timeouts. Requests carry no body and answers are small and come
// from memory, so a client that needs longer than these is stuck or
// hostile: it cannot hold a connection, a goroutine or a buffer for long.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 10 * time.Second
	WriteTimeout      = 10 * time.Second
	IdleTimeout       = 90 * time.Second
	MaxHeaderBytes    = 16 << 10
)

// NewServer returns an http.Server with the limits a local daemon needs,
// enforced by net/http itself. Each connection carries a slot for its
// caller's identity, which the first request that needs it fills.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		ConnContext:       identity.ConnContext,
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
}

// Serve serves ln until ctx ends, then shuts down: requests in flight get
// grace to finish, and connections still open after it are closed. A
// client holding a connection open is the client's business, so that is
// not an error: a reload or a stop never fails because of one. Whoever
// ends ctx may close ln at once, so that the port is free when it
// returns: a listener closed after ctx ended is a stop, not a failure.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	returned := false
	select {
	case serveErr = <-errc:
		if ctx.Err() == nil {
			return fmt.Errorf("serve %s: %w", ln.Addr(), serveErr)
		}
		returned = true
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Only the grace running out makes Shutdown fail here.
		_ = srv.Close()
	}
	if !returned {
		serveErr = <-errc
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && !errors.Is(serveErr, net.ErrClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), serveErr)
	}
	return nil
}
