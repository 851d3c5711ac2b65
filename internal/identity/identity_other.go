//go:build !linux

package identity

import (
	"net"
	"runtime"
)

// Lookup cannot name a peer here: tc-credd reads the owner of a socket
// from Linux's socket tables and SO_PEERCRED only.
func Lookup(c net.Conn) *Caller {
	return unknown("caller identity is not available on " + runtime.GOOS)
}
