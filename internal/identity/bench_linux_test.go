//go:build linux

package identity_test

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"github.com/taskcluster/tc-credd/internal/identity"
)

// BenchmarkLookupTCP is the cost a new loopback TCP connection pays once:
// the socket tables, the process scan, the user database and /proc.
func BenchmarkLookupTCP(b *testing.B) {
	server := benchPair(b, "tcp", "127.0.0.1:0")
	for b.Loop() {
		if !identity.Lookup(server).Known() {
			b.Fatal("unknown")
		}
	}
}

// BenchmarkLookupUnix is the same for a Unix socket: SO_PEERCRED, then /proc.
func BenchmarkLookupUnix(b *testing.B) {
	server := benchPair(b, "unix", filepath.Join(b.TempDir(), "s"))
	for b.Loop() {
		if !identity.Lookup(server).Known() {
			b.Fatal("unknown")
		}
	}
}

// BenchmarkFromContextCached is what every later request on the
// connection pays: a context lookup.
func BenchmarkFromContextCached(b *testing.B) {
	server := benchPair(b, "tcp", "127.0.0.1:0")
	ctx := identity.ConnContext(context.Background(), server)
	identity.FromContext(ctx)
	for b.Loop() {
		if !identity.FromContext(ctx).Known() {
			b.Fatal("unknown")
		}
	}
}

func benchPair(b *testing.B, network, addr string) net.Conn {
	ln, err := net.Listen(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	client, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close(); server.Close() })
	return server
}
