package metadata

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/taskcluster/tc-credd/internal/deadline"
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

// PortOf returns a listener's TCP port, for the Host check.
func PortOf(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// NewServer returns an http.Server with the limits a local daemon needs:
// a slow or idle client cannot hold a connection for long, nor send
// large headers. Requests here have no body and answers are small, so
// ReadHeaderTimeout bounds the read; a WriteTimeout would only add a
// deadline update to every request.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// deadlineTick is how late a connection deadline may be enforced.
const deadlineTick = 250 * time.Millisecond

// Serve serves ln until ctx ends, then shuts down gracefully within grace.
// The server's timeouts are enforced by one sweeper per listener rather
// than a runtime timer re-armed three times per request (see package
// deadline): on the IMDS hot path the timers' wake-ups cost more than the
// handler.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	ln = deadline.Wrap(ln, deadlineTick, nil)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
