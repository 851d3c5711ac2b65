//go:build linux

package identity_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/identity/identitytest"
)

// TestMain makes the test binary a tiny client when a test runs it as
// another user: it dials the address it is given, says where it is, and
// holds the connection until the test closes it.
func TestMain(m *testing.M) {
	if addr := os.Getenv("IDENTITY_TEST_DIAL"); addr != "" {
		network := "tcp"
		if strings.HasPrefix(addr, "/") {
			network = "unix"
		}
		c, err := net.Dial(network, addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(c, "%d\n", os.Getpid())
		_, _ = bufio.NewReader(c).ReadString('\n')
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// accept returns the server side of one connection from this process.
func pair(t *testing.T, network, addr string) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	client, err = net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func checkSelf(t *testing.T, c *identity.Caller, via string) {
	t.Helper()
	exe, _ := os.Executable()
	if c.Via != via || c.UID != os.Getuid() || c.PID != os.Getpid() || c.Exe != exe || c.GID != os.Getgid() {
		t.Fatalf("caller %+v; want via %s uid %d gid %d pid %d exe %s", c, via, os.Getuid(), os.Getgid(), os.Getpid(), exe)
	}
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err == nil && c.Cgroup == "" && len(cg) > 0 {
		t.Errorf("no cgroup for %+v; /proc/self/cgroup has %q", c, cg)
	}
}

func TestLookupLoopbackTCP(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(addr, func(t *testing.T) {
			server, _ := pair(t, "tcp", addr)
			checkSelf(t, identity.Lookup(server), "tcp")
		})
	}
}

func TestLookupUnixSocket(t *testing.T) {
	server, _ := pair(t, "unix", filepath.Join(t.TempDir(), "s"))
	checkSelf(t, identity.Lookup(server), "unix")
}

// The caller is resolved once per connection: the first request's lookup
// is what every later one sees, even when the peer has gone since.
func TestConnContextResolvesOnce(t *testing.T) {
	server, client := pair(t, "tcp", "127.0.0.1:0")
	ctx := identity.ConnContext(context.Background(), server)
	first := identity.FromContext(ctx)
	client.Close()
	if again := identity.FromContext(ctx); again != first || again.UID != os.Getuid() {
		t.Fatalf("second lookup %+v differs from the first %+v", again, first)
	}
	if c := identity.FromContext(context.Background()); c.Known() {
		t.Fatalf("a context without a connection names %+v", c)
	}
}

// A peer that is not loopback is unknown: the socket tables describe only
// this machine's sockets.
func TestLookupNonLoopbackIsUnknown(t *testing.T) {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.To4() == nil {
			continue
		}
		server, _ := pair(t, "tcp", net.JoinHostPort(ipn.IP.String(), "0"))
		if c := identity.Lookup(server); c.Known() || !strings.Contains(c.Reason, "loopback") {
			t.Fatalf("non-loopback peer named: %+v", c)
		}
		return
	}
	t.Skip("no non-loopback IPv4 address")
}

// Another user's process, over TCP and over a Unix socket: the kernel's
// view names its uid, pid and executable.
func TestLookupOtherUser(t *testing.T) {
	identitytest.Skip(t)
	exe := identitytest.Executable(t)
	sockDir := t.TempDir()
	if err := os.Chmod(sockDir, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ network, addr, via string }{
		{"tcp", "127.0.0.1:0", "tcp"}, {"tcp", "[::1]:0", "tcp"}, {"unix", filepath.Join(sockDir, "s"), "unix"},
	} {
		t.Run(tc.network+" "+tc.addr, func(t *testing.T) {
			ln, err := net.Listen(tc.network, tc.addr)
			if err != nil {
				t.Skipf("cannot listen: %v", err)
			}
			defer ln.Close()
			if tc.network == "unix" {
				_ = os.Chmod(tc.addr, 0o777)
			}
			const uid, gid = 54321, 54322
			cmd := identitytest.Command(exe, uid, gid, "IDENTITY_TEST_DIAL="+ln.Addr().String())
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			conn, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(line))
			c := identity.Lookup(conn)
			if c.Via != tc.via || c.UID != uid || c.GID != gid || c.PID != pid || c.PID != cmd.Process.Pid || c.Exe != exe || fmt.Sprint(c.Groups) != fmt.Sprint([]int{gid}) {
				t.Fatalf("caller %+v; want uid %d gid %d pid %d exe %s", c, uid, gid, cmd.Process.Pid, exe)
			}
			fmt.Fprintln(conn, "bye")
		})
	}
}
