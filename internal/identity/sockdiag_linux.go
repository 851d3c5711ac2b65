//go:build linux

package identity

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kernel's inet_diag ABI (linux/inet_diag.h): a request is an
// inet_diag_req_v2 after the netlink header, a reply an inet_diag_msg.
const (
	diagReqLen   = 56 // family, protocol, ext, pad, states, inet_diag_sockid
	diagMsgLen   = 72 // family, state, timer, retrans, inet_diag_sockid, expires, queues, uid, inode
	diagIDOffReq = 8  // of inet_diag_sockid in the request
	diagIDOffMsg = 4  // of inet_diag_sockid in the reply
	tcpListen    = 10 // TCP_LISTEN
)

// errNoSocket says the kernel has no socket with the asked addresses.
var errNoSocket = errors.New("no such socket")

// sockDiag asks the kernel over NETLINK_SOCK_DIAG for the one TCP socket
// whose own address is local and whose peer is remote, and returns its
// owner and inode. It is an exact lookup in the kernel's socket hash: a
// read of /proc/net/tcp instead walks the whole table, which costs about
// a millisecond and a half of kernel time on any host with a large hash,
// however few sockets it holds. Any error other than errNoSocket means
// the lookup could not be made (no netlink in a sandbox, say), and the
// caller falls back to the table.
func sockDiag(family uint8, local, remote netip.AddrPort) (uid int, inode uint64, err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, 0, fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, diagRequest(family, local, remote), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, 0, fmt.Errorf("netlink request: %w", err)
	}
	// The kernel answers an exact lookup before the request's send
	// returns, so the reply is already queued: never wait for it.
	buf := make([]byte, 512)
	n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
	if err != nil {
		return 0, 0, fmt.Errorf("netlink reply: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil {
		return 0, 0, fmt.Errorf("netlink reply: %w", err)
	}
	for _, m := range msgs {
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) < 4 {
				return 0, 0, errors.New("netlink reply: short error")
			}
			errno := unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data)))
			if errno == unix.ENOENT {
				return 0, 0, errNoSocket
			}
			return 0, 0, fmt.Errorf("netlink reply: %w", errno)
		case unix.SOCK_DIAG_BY_FAMILY:
			return diagReply(m.Data, local, remote)
		}
	}
	return 0, 0, errors.New("netlink reply: no answer")
}

// diagRequest is a netlink message asking for one TCP socket of family by
// its addresses.
func diagRequest(family uint8, local, remote netip.AddrPort) []byte {
	b := make([]byte, unix.SizeofNlMsghdr+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], 1) // sequence number
	r := b[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // every state
	putSockID(r[diagIDOffReq:], local, remote)
	// No cookie: the addresses alone name the socket.
	ne.PutUint32(r[diagIDOffReq+40:], ^uint32(0))
	ne.PutUint32(r[diagIDOffReq+44:], ^uint32(0))
	return b
}

// putSockID writes the ports and addresses of an inet_diag_sockid, in
// network byte order.
func putSockID(id []byte, local, remote netip.AddrPort) {
	binary.BigEndian.PutUint16(id[0:], local.Port())
	binary.BigEndian.PutUint16(id[2:], remote.Port())
	putAddr(id[4:20], local.Addr())
	putAddr(id[20:36], remote.Addr())
}

func putAddr(dst []byte, a netip.Addr) {
	if a.Is4() {
		v := a.As4()
		copy(dst, v[:])
		return
	}
	v := a.As16()
	copy(dst, v[:])
}

// diagReply reads the owner and inode from an inet_diag_msg, after
// checking it describes the socket asked for: for an address pair with
// no connection the kernel may answer with a listener on the local port,
// which belongs to whoever listens there, not to the peer.
func diagReply(m []byte, local, remote netip.AddrPort) (int, uint64, error) {
	if len(m) < diagMsgLen {
		return 0, 0, errors.New("netlink reply: short message")
	}
	id := m[diagIDOffMsg:]
	gotLocal := netip.AddrPortFrom(diagAddr(m[0], id[4:20]), binary.BigEndian.Uint16(id[0:]))
	gotRemote := netip.AddrPortFrom(diagAddr(m[0], id[20:36]), binary.BigEndian.Uint16(id[2:]))
	if m[1] == tcpListen || !sameAddrPort(gotLocal, local) || !sameAddrPort(gotRemote, remote) {
		return 0, 0, errNoSocket
	}
	uid := binary.NativeEndian.Uint32(m[64:])
	inode := binary.NativeEndian.Uint32(m[68:])
	if inode == 0 {
		// A socket no process holds any more (TIME_WAIT and the like).
		return 0, 0, errNoSocket
	}
	return int(uid), uint64(inode), nil
}

// diagAddr reads an address of a socket of family: an IPv6 socket may
// hold an IPv4-mapped one.
func diagAddr(family uint8, b []byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

func sameAddrPort(a, b netip.AddrPort) bool {
	return a.Port() == b.Port() && a.Addr().Unmap() == b.Addr().Unmap()
}
