package metadata

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/loopback"
)

// GuardOptions are the checks every request on a listener passes before
// routing.
type GuardOptions struct {
	// Port is the listener's port, for the Host check.
	Port int
	// Hosts are extra host names allowed in the Host header, besides
	// 127.0.0.1, localhost and ::1.
	Hosts []string
	// AllowRemote accepts peers that are not loopback (only with a
	// non-loopback bind the config explicitly allowed).
	AllowRemote bool

	Logger       *zap.Logger
	Metrics      *Metrics
	GoogleFlavor bool // set Metadata-Flavor: Google on every response outside /latest/ and /v1/
	// Clock stamps requests (nil: the system clock). Its reading at the
	// start of a request is also the handler's "now", so a request reads
	// the clock once.
	Clock clock.Clock
}

// reqInfo collects what the access log and metrics report of a request,
// and the route variables the handler reads.
type reqInfo struct {
	route string
	key   string // last four characters of an AWS key id, at most
	vars  map[string]string
	match mux.RouteMatch // reused: matching through a pointer would otherwise allocate it
	now   time.Time      // the request's start on the listener's clock (handler.now)
}

// infoFrom finds the request's reqInfo through the ResponseWriter that
// guard wrapped: cheaper than a context value, which would copy the
// request on every call.
func infoFrom(w http.ResponseWriter) *reqInfo {
	if sw, ok := w.(*statusWriter); ok {
		return &sw.info
	}
	return nil
}

// pathVar returns a route variable of the request being served.
func pathVar(w http.ResponseWriter, name string) string {
	if info := infoFrom(w); info != nil {
		return info.vars[name]
	}
	return ""
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
	info   reqInfo
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

// guard serves a listener's routes behind its security checks, with one
// access-log line and metrics per request. pre, when set, runs after the
// checks and may answer the request itself (returning false).
func guard(o GuardOptions, routes *mux.Router, pre func(http.ResponseWriter, *http.Request) bool) http.Handler {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	hosts := &hostCheck{port: o.Port, allowed: allowedHosts(o.Hosts)}
	clk := o.Clock
	if clk == nil {
		clk = clock.Real{}
	}
	// The system clock's readings carry a monotonic reading, so
	// time.Since needs only that one clock.
	since := func(t time.Time) time.Duration { return clk.Now().Sub(t) }
	if _, ok := clk.(clock.Real); ok {
		since = time.Since
	}
	core, name := o.Logger.Core(), o.Logger.Name()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := clk.Now()
		sw := writerPool.Get().(*statusWriter)
		*sw = statusWriter{ResponseWriter: w, info: reqInfo{route: "unknown", vars: sw.info.vars, now: start}}
		defer func() {
			// Drop references before pooling; keep the emptied vars map.
			vars := sw.info.vars
			clear(vars)
			*sw = statusWriter{info: reqInfo{vars: vars}}
			writerPool.Put(sw)
		}()
		info := &sw.info
		if o.GoogleFlavor && !strings.HasPrefix(r.URL.Path, "/latest/") && !strings.HasPrefix(r.URL.Path, "/v1/") {
			// Every GCE response, errors included (item 25). AWS and API
			// paths skip it: no client reads it there.
			sw.Header()["Metadata-Flavor"] = flavorGoogle
		}
		switch {
		case !o.AllowRemote && !loopback.Peer(r.RemoteAddr):
			// "Came from loopback" is no identity (DNAT can fake it), but a
			// peer that is not even loopback never gets in.
			info.route = "rejected_peer"
			http.Error(sw, "forbidden: not a loopback peer", http.StatusForbidden)
		case !hosts.ok(r.Host):
			// DNS rebinding: a web page on evil.example resolving to
			// 127.0.0.1 reaches us with Host: evil.example.
			info.route = "rejected_host"
			http.Error(sw, "forbidden: Host not allowed", http.StatusForbidden)
		case pre == nil || pre(sw, r):
			dispatch(routes, sw, r)
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if o.Metrics != nil {
			o.Metrics.observe(info.route, sw.status)
		}
		// The line is stamped with the request's start, as access logs
		// conventionally are; asking the core directly saves Logger.Check a
		// second clock read.
		ent := zapcore.Entry{LoggerName: name, Time: start, Level: zapcore.InfoLevel, Message: "request"}
		if ce := core.Check(ent, nil); ce != nil {
			fp := fieldPool.Get().(*[]zap.Field)
			fields := append((*fp)[:0],
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("route", info.route),
				zap.Int("status", sw.status), zap.Int("bytes", sw.bytes), zap.Int64("durationMicros", since(start).Microseconds()),
				zap.String("remote", r.RemoteAddr))
			if info.key != "" {
				fields = append(fields, zap.String("keyIdSuffix", info.key))
			}
			ce.Write(fields...)
			clear(fields)
			*fp = fields[:0]
			fieldPool.Put(fp)
		}
	})
}

// dispatch matches the request with mux and calls the route's handler,
// recording the route's name and variables in the request's reqInfo.
// mux.Router.ServeHTTP would do the same but copy the request twice per
// call to put route and variables in its context; on a path every SDK
// polls, those copies and their garbage were a tenth of the daemon's CPU.
// Middleware is therefore applied when routes are registered, never with
// Router.Use, which rebuilds the chain on every match.
func dispatch(routes *mux.Router, w *statusWriter, r *http.Request) {
	if !cleanPath(r.URL.Path) {
		// mux answers with a redirect to the cleaned path.
		w.info.route = "redirect"
		routes.ServeHTTP(w, r)
		return
	}
	if w.info.vars == nil {
		w.info.vars = make(map[string]string, 2)
	}
	// A non-nil Vars map is filled in place instead of allocated.
	m := &w.info.match
	*m = mux.RouteMatch{Vars: w.info.vars}
	switch {
	case routes.Match(r, m) && m.MatchErr == nil:
		if m.Route != nil && m.Route.GetName() != "" {
			w.info.route = m.Route.GetName()
		}
		m.Handler.ServeHTTP(w, r)
	case errors.Is(m.MatchErr, mux.ErrMethodMismatch):
		methodNotAllowed(w, r)
	default:
		notFound(w, r)
	}
}

// cleanPath reports whether mux's cleaning (path.Clean, keeping one
// trailing slash) would leave p unchanged: rooted, and no segment empty,
// "." or "..", but for a final empty one. One pass, no allocation: it
// runs on every request.
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch seg := p[start:i]; {
		case seg == "." || seg == "..":
			return false
		case seg == "" && i < len(p):
			return false
		}
		start = i + 1
	}
	return true
}

// Pools for the per-request wrapper and log fields: the access log and
// status capture would otherwise be most of the request path's garbage.
var (
	writerPool = sync.Pool{New: func() any { return new(statusWriter) }}
	fieldPool  = sync.Pool{New: func() any { f := make([]zap.Field, 0, 8); return &f }}
)

// Header values shared by every response; never modified.
var (
	flavorGoogle    = []string{"Google"}
	contentTypeJSON = []string{"application/json"}
	contentTypeText = []string{"text/plain; charset=utf-8"}
	noStore         = []string{"no-store"}
)

func allowedHosts(extra []string) map[string]bool {
	m := map[string]bool{"127.0.0.1": true, "localhost": true, "::1": true}
	for _, h := range extra {
		m[strings.ToLower(strings.Trim(h, "[]"))] = true
	}
	return m
}

// hostCheck is one listener's Host allow-list. A client sends the same
// Host on every request, so the last one allowed is remembered and
// compared first, before any parsing.
type hostCheck struct {
	port    int
	allowed map[string]bool
	last    atomic.Pointer[string]
}

func (h *hostCheck) ok(host string) bool {
	if last := h.last.Load(); last != nil && *last == host {
		return true
	}
	if !hostAllowed(host, h.port, h.allowed) {
		return false
	}
	h.remember(host)
	return true
}

// remember is separate so that only a change of Host allocates: taking
// the address of ok's parameter would move it to the heap on every call.
//
//go:noinline
func (h *hostCheck) remember(host string) { h.last.Store(&host) }

// hostAllowed checks the Host header's name against the allow-list and,
// when it names a port, that the port is the listener's.
func hostAllowed(host string, port int, allowed map[string]bool) bool {
	name, p := host, ""
	if strings.Contains(host, ":") && !strings.HasSuffix(host, "]") {
		// "name:port" or "[v6]:port". Checked first because a port-less
		// Host would make SplitHostPort allocate an error per request.
		if n, port, err := net.SplitHostPort(host); err == nil {
			name, p = n, port
		}
	}
	if !allowed[strings.ToLower(strings.Trim(name, "[]"))] {
		return false
	}
	if p != "" && port > 0 {
		n, err := strconv.Atoi(p)
		return err == nil && n == port
	}
	return true
}
