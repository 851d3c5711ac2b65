//go:build linux

package identity

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// conn is one loopback TCP connection: the server's side of it and the
// addresses findSocket is given for it.
type conn struct {
	name       string
	peer, us   netip.AddrPort
	client     net.Conn
	serverSide net.Conn
}

func dial(t *testing.T, name, network, listen, target string) conn {
	t.Helper()
	ln, err := net.Listen(network, listen)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, listen, err)
	}
	t.Cleanup(func() { ln.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	client, err := net.Dial("tcp", net.JoinHostPort(target, port))
	if err != nil {
		t.Skipf("cannot dial %s: %v", target, err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return conn{
		name:       name,
		peer:       server.RemoteAddr().(*net.TCPAddr).AddrPort(),
		us:         server.LocalAddr().(*net.TCPAddr).AddrPort(),
		client:     client,
		serverSide: server,
	}
}

func loopbackConns(t *testing.T) []conn {
	return []conn{
		dial(t, "ipv4", "tcp4", "127.0.0.1:0", "127.0.0.1"),
		dial(t, "ipv6", "tcp6", "[::1]:0", "::1"),
		// A dual-stack listener sees an IPv4 client as ::ffff:127.0.0.1.
		dial(t, "dual-stack", "tcp", "[::]:0", "127.0.0.1"),
	}
}

// The kernel's answer over netlink and the socket tables agree on every
// loopback connection, including those whose client is gone.
func TestSockDiagAgreesWithTables(t *testing.T) {
	conns := loopbackConns(t)
	for _, c := range conns {
		t.Run(c.name, func(t *testing.T) {
			dUID, dInode, dErr := lookupSocket(c.peer, c.us, sockDiag)
			tUID, tInode, tErr := lookupSocket(c.peer, c.us, tableSocket)
			if dErr != nil || tErr != nil {
				t.Fatalf("netlink: %v; tables: %v", dErr, tErr)
			}
			if dUID != tUID || dInode != tInode || dUID != os.Getuid() || dInode == 0 {
				t.Fatalf("netlink says uid %d inode %d, the tables uid %d inode %d; we are uid %d", dUID, dInode, tUID, tInode, os.Getuid())
			}
			if pid := findProcess(dInode, dUID); pid != os.Getpid() {
				t.Fatalf("inode %d held by pid %d, want %d", dInode, pid, os.Getpid())
			}
		})
	}
	// A closed client's socket lingers with no owner: neither way may name
	// one for it.
	for _, c := range conns {
		t.Run(c.name+" closed", func(t *testing.T) {
			c.client.Close()
			// The server reads the FIN, so the client's side has gone past
			// the close, without an owner.
			_ = c.serverSide.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.serverSide.Read(make([]byte, 1)); err == nil {
				t.Fatal("read data from a closed client")
			}
			_, _, dErr := lookupSocket(c.peer, c.us, sockDiag)
			_, _, tErr := lookupSocket(c.peer, c.us, tableSocket)
			if !errors.Is(dErr, errNoSocket) || !errors.Is(tErr, errNoSocket) {
				t.Fatalf("a closed client: netlink %v, tables %v; want both %v", dErr, tErr, errNoSocket)
			}
		})
	}
}

// Asked for an address pair with no connection, where the local address
// is a listener's, the kernel may answer with the listener: its owner is
// whoever listens, not a peer, and must not be taken for one.
func TestSockDiagIgnoresListener(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	local := ln.Addr().(*net.TCPAddr).AddrPort()
	remote := netip.MustParseAddrPort("127.0.0.1:9")
	if uid, inode, err := sockDiag(unix.AF_INET, local, remote); !errors.Is(err, errNoSocket) {
		t.Fatalf("uid %d inode %d err %v, want %v", uid, inode, err, errNoSocket)
	}
}

// When netlink cannot be used, or finds nothing (as a kernel without the
// inet_diag handler answers), the tables answer; when netlink answers,
// they are not read.
func TestFindSocketFallsBackToTables(t *testing.T) {
	c := loopbackConns(t)[0]
	for name, ask := range map[string]socketFinder{
		"netlink forbidden": func(uint8, netip.AddrPort, netip.AddrPort) (int, uint64, error) {
			return 0, 0, errors.New("netlink socket: permission denied")
		},
		"no inet_diag handler": func(uint8, netip.AddrPort, netip.AddrPort) (int, uint64, error) { return 0, 0, errNoSocket },
	} {
		if uid, inode, ok := findSocketVia(c.peer, c.us, ask, tableSocket); !ok || uid != os.Getuid() || inode == 0 {
			t.Fatalf("%s: uid %d inode %d ok %v", name, uid, inode, ok)
		}
	}
	read := false
	tables := func(f uint8, l, r netip.AddrPort) (int, uint64, error) { read = true; return tableSocket(f, l, r) }
	if uid, _, ok := findSocketVia(c.peer, c.us, sockDiag, tables); !ok || uid != os.Getuid() || read {
		t.Fatalf("netlink: uid %d ok %v, tables read %v", uid, ok, read)
	}
}
