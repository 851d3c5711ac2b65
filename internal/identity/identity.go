// Package identity learns who is on the other end of a connection from
// the kernel: the owner of the peer's socket, then, where it is cheap to
// find, its process, executable and cgroup. It is resolved once per
// connection and travels in the connection's context, so every request on
// a kept-alive connection reuses it. Where the platform cannot say, the
// caller is unknown, never guessed.
package identity

import (
	"context"
	"net"
	"os/user"
	"strconv"
	"sync"
)

// Unknown is the id of a uid or gid the lookup could not learn.
const Unknown = -1

// Caller is the kernel's view of a connection's peer. It carries no
// secret. UID and GID are Unknown, PID 0 and the strings empty for what
// could not be learned.
type Caller struct {
	// Via is how the peer was identified: "tcp" (the peer's socket),
	// "unix" (SO_PEERCRED) or "" when it was not.
	Via    string `json:"via,omitempty"`
	UID    int    `json:"uid"`
	User   string `json:"user,omitempty"`
	GID    int    `json:"gid"`
	Groups []int  `json:"groups,omitempty"` // supplementary groups, primary included
	PID    int    `json:"pid,omitempty"`
	Exe    string `json:"exe,omitempty"`
	Cgroup string `json:"cgroup,omitempty"`
	Reason string `json:"reason,omitempty"` // why the caller is unknown
}

// Known reports whether the kernel named the peer's owner.
func (c *Caller) Known() bool { return c != nil && c.UID != Unknown }

// String names the caller for messages: "uid 1001 (builder) pid 42
// /usr/bin/python3", or "an unknown caller (reason)".
func (c *Caller) String() string {
	if !c.Known() {
		if c != nil && c.Reason != "" {
			return "an unknown caller (" + c.Reason + ")"
		}
		return "an unknown caller"
	}
	s := "uid " + strconv.Itoa(c.UID)
	if c.User != "" {
		s += " (" + c.User + ")"
	}
	if c.PID > 0 {
		s += " pid " + strconv.Itoa(c.PID)
	}
	if c.Exe != "" {
		s += " " + c.Exe
	}
	return s
}

func unknown(reason string) *Caller {
	return &Caller{UID: Unknown, GID: Unknown, Reason: reason}
}

// lazy resolves a connection's caller at most once, on the first request
// that asks: by then the client is waiting for an answer, so its socket is
// certainly still open.
type lazy struct {
	once   sync.Once
	conn   net.Conn
	caller *Caller
}

func (l *lazy) get() *Caller {
	l.once.Do(func() {
		l.caller = Lookup(l.conn)
		l.conn = nil
	})
	return l.caller
}

type ctxKey struct{}

// ConnContext is an http.Server ConnContext hook. It does not look
// anything up: net/http calls it in the accept loop, where a lookup would
// delay every other new connection. It leaves a slot the first request
// fills.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, ctxKey{}, &lazy{conn: c})
}

// FromContext returns the caller of the connection a request came on,
// resolving it on the connection's first request. Without ConnContext it
// returns an unknown caller.
func FromContext(ctx context.Context) *Caller {
	if l, ok := ctx.Value(ctxKey{}).(*lazy); ok {
		return l.get()
	}
	return unknown("connection not identified")
}

// lookupUser reads a uid's entry from the system's user database, once
// per caller; nil when it has none.
func lookupUser(uid int) *user.User {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return nil
	}
	return u
}

// userName is the entry's name; "" without one.
func userName(u *user.User) string {
	if u == nil {
		return ""
	}
	return u.Username
}

// userGroups lists the entry's groups from the system's group database,
// for a caller whose process could not be found.
func userGroups(u *user.User) []int {
	if u == nil {
		return nil
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil
	}
	var out []int
	for _, s := range ids {
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	return out
}
