// Package loopback says whether an address stays on this machine. The
// config validator and the listeners ask the same question, so they must
// answer it the same way.
package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether a listen host is "localhost" or a loopback IP
// (brackets around an IPv6 literal are allowed).
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Peer reports whether a remote address ("ip:port" or a bare IP) is a
// loopback address; it allocates nothing, as it runs on every request.
func Peer(remote string) bool {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().IsLoopback()
	}
	a, err := netip.ParseAddr(remote)
	return err == nil && a.Unmap().IsLoopback()
}
