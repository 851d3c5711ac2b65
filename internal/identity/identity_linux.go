//go:build linux

package identity

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// maxFDLinks bounds the file descriptor links one lookup reads while it
// looks for the process holding a socket, so that a host with a great
// many open files cannot make a connection's first request slow.
const maxFDLinks = 20000

// scanning serialises the /proc scans of loopback TCP lookups: a burst of
// new connections would otherwise scan the same directories side by side,
// all their buffers alive at once, for no gain on a machine's few cores.
var scanning sync.Mutex

// Lookup asks the kernel who owns the peer of c: SO_PEERCRED for a Unix
// socket, the peer's socket by its addresses for loopback TCP.
func Lookup(c net.Conn) *Caller {
	switch conn := c.(type) {
	case *net.UnixConn:
		return unixPeer(conn)
	case *net.TCPConn:
		return tcpPeer(conn)
	}
	if nc, ok := c.(interface{ NetConn() net.Conn }); ok {
		return Lookup(nc.NetConn())
	}
	return unknown(fmt.Sprintf("a %T connection", c))
}

func unixPeer(c *net.UnixConn) *Caller {
	raw, err := c.SyscallConn()
	if err != nil {
		return unknown("SO_PEERCRED: " + err.Error())
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return unknown("SO_PEERCRED: " + err.Error())
	}
	if credErr != nil {
		return unknown("SO_PEERCRED: " + credErr.Error())
	}
	caller := &Caller{Via: "unix", UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}
	complete(caller)
	return caller
}

func tcpPeer(c *net.TCPConn) *Caller {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return unknown("no TCP addresses")
	}
	l, r := local.AddrPort(), remote.AddrPort()
	if !r.Addr().Unmap().IsLoopback() {
		// The kernel only knows this machine's sockets.
		return unknown("not a loopback peer")
	}
	scanning.Lock()
	defer scanning.Unlock()
	uid, inode, ok := findSocket(r, l)
	if !ok {
		return unknown("the peer's socket is not among the kernel's TCP sockets")
	}
	caller := &Caller{Via: "tcp", UID: uid, GID: Unknown}
	caller.PID = findProcess(inode, uid)
	complete(caller)
	return caller
}

// findSocket finds the peer's own socket: the one whose local address is
// the connection's remote one and whose remote address is ours. It
// returns the socket's owner and inode. It asks the kernel for that one
// socket, and reads the socket tables only when that gives no answer.
func findSocket(peer, us netip.AddrPort) (uid int, inode uint64, ok bool) {
	return findSocketVia(peer, us, sockDiag, tableSocket)
}

// socketFinder finds the TCP socket of family with the given own and peer
// addresses, or returns errNoSocket.
type socketFinder func(family uint8, local, remote netip.AddrPort) (uid int, inode uint64, err error)

// findSocketVia asks ask, and reads the tables with read when ask gives
// no socket. The kernel says "no such entry" both for a socket it does not
// have and when it lacks the inet_diag handler (a kernel built without it,
// a module that cannot load), so "none" from netlink is not trusted alone;
// the tables then cost a read only for a peer that is already gone.
func findSocketVia(peer, us netip.AddrPort, ask, read socketFinder) (uid int, inode uint64, ok bool) {
	if uid, inode, err := lookupSocket(peer, us, ask); err == nil {
		return uid, inode, true
	}
	uid, inode, err := lookupSocket(peer, us, read)
	return uid, inode, err == nil
}

// lookupSocket looks an IPv4 pair up as IPv4 first, then as the
// IPv4-mapped IPv6 pair a dual-stack listener sees.
func lookupSocket(peer, us netip.AddrPort, find socketFinder) (int, uint64, error) {
	if peer.Addr().Unmap().Is4() && us.Addr().Unmap().Is4() {
		p4 := netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		u4 := netip.AddrPortFrom(us.Addr().Unmap(), us.Port())
		uid, inode, err := find(unix.AF_INET, p4, u4)
		if !errors.Is(err, errNoSocket) {
			return uid, inode, err
		}
		peer = netip.AddrPortFrom(netip.AddrFrom16(p4.Addr().As16()), peer.Port())
		us = netip.AddrPortFrom(netip.AddrFrom16(u4.Addr().As16()), us.Port())
	}
	return find(unix.AF_INET6, peer, us)
}

// tableSocket finds a socket in /proc/net/tcp or /proc/net/tcp6.
func tableSocket(family uint8, local, remote netip.AddrPort) (int, uint64, error) {
	path := "/proc/net/tcp6"
	if family == unix.AF_INET {
		path = "/proc/net/tcp"
	}
	if uid, inode, ok := scanTable(path, encode(local), encode(remote)); ok {
		return uid, inode, nil
	}
	return 0, 0, errNoSocket
}

// encode writes an address as the socket tables do: the address as 32-bit
// words in the machine's byte order, each in hex, then the port in hex.
func encode(ap netip.AddrPort) string {
	var b strings.Builder
	a := ap.Addr()
	var raw []byte
	if a.Is4() {
		v := a.As4()
		raw = v[:]
	} else {
		v := a.As16()
		raw = v[:]
	}
	for i := 0; i < len(raw); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(raw[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", ap.Port())
	return b.String()
}

// scanTable finds the line of a socket table with the given local and
// remote addresses. An entry with inode 0 belongs to no process any more
// (TIME_WAIT and the like), and the kernel shows uid 0 for it: it is
// skipped, since trusting it would make any closed socket look like root's.
func scanTable(path, local, remote string) (uid int, inode uint64, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, false
	}
	defer f.Close()
	// Lines start "  12: LOCAL REMOTE ...": compare bytes first, and split
	// only the one line that matches.
	pair := []byte(local + " " + remote + " ")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		_, rest, found := bytes.Cut(line, []byte(": "))
		if !found || !bytes.HasPrefix(rest, pair) {
			continue
		}
		fields := strings.Fields(string(line))
		if len(fields) < 10 {
			continue
		}
		n, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil || n == 0 {
			continue
		}
		u, err := strconv.Atoi(fields[7])
		if err != nil {
			continue
		}
		return u, n, true
	}
	return 0, 0, false
}

// findProcess finds a process holding the socket inode, or 0. Cheap
// means: one stat per process to skip those another user owns, then the
// fd links of the owner's processes only, newest process first (clients
// tend to be recent) and at most maxFDLinks of them. A process that shares
// the socket after a fork may be found instead of its parent; both are
// the same user's.
func findProcess(inode uint64, uid int) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	slices.Reverse(pids)
	want := []byte("socket:[" + strconv.FormatUint(inode, 10) + "]")
	buf := make([]byte, 64)
	budget := maxFDLinks
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid)
		var st syscall.Stat_t
		if syscall.Stat(dir, &st) != nil || int(st.Uid) != uid {
			continue
		}
		fds, err := os.ReadDir(dir + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if budget == 0 {
				return 0
			}
			budget--
			n, err := syscall.Readlink(dir+"/fd/"+fd.Name(), buf)
			if err == nil && bytes.Equal(buf[:n], want) {
				return pid
			}
		}
	}
	return 0
}

// complete adds what /proc and the user database say about a caller whose
// uid (and perhaps pid) is known: the user name, the process's gid and
// groups, its executable and cgroup. What cannot be read stays empty.
func complete(c *Caller) {
	u := lookupUser(c.UID)
	c.User = userName(u)
	if c.PID > 0 {
		dir := "/proc/" + strconv.Itoa(c.PID)
		if exe, err := os.Readlink(dir + "/exe"); err == nil {
			c.Exe = exe
		}
		if b, err := os.ReadFile(dir + "/cgroup"); err == nil {
			c.Cgroup = cgroupPath(b)
		}
		if b, err := os.ReadFile(dir + "/status"); err == nil {
			gid, groups := statusGroups(b)
			if c.GID == Unknown {
				c.GID = gid
			}
			c.Groups = groups
		}
	}
	if c.Groups == nil {
		c.Groups = userGroups(u)
	}
	if c.GID != Unknown && !slices.Contains(c.Groups, c.GID) {
		c.Groups = append(c.Groups, c.GID)
	}
}

// cgroupPath is the process's cgroup v2 path ("0::/system.slice/x.service"),
// or under cgroup v1 the first hierarchy's.
func cgroupPath(b []byte) string {
	first := ""
	for line := range strings.SplitSeq(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			return parts[2]
		}
		if first == "" {
			first = parts[2]
		}
	}
	return first
}

// statusGroups reads the real gid and the supplementary groups from
// /proc/<pid>/status.
func statusGroups(b []byte) (gid int, groups []int) {
	gid = Unknown
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		switch key {
		case "Gid":
			if len(fields) > 0 {
				if n, err := strconv.Atoi(fields[0]); err == nil {
					gid = n
				}
			}
		case "Groups":
			groups = []int{}
			for _, f := range fields {
				if n, err := strconv.Atoi(f); err == nil {
					groups = append(groups, n)
				}
			}
		}
	}
	return gid, groups
}
