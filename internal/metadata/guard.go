package metadata

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

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
}

// reqInfo collects what the access log and metrics report of a request.
type reqInfo struct {
	route string
	key   string // last four characters of an AWS key id, at most
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

// guard wraps a listener's router with its security checks, the
// Metadata-Flavor response header, one access-log line and metrics.
func guard(o GuardOptions, next http.Handler) http.Handler {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	allowed := allowedHosts(o.Hosts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := writerPool.Get().(*statusWriter)
		*sw = statusWriter{ResponseWriter: w, info: reqInfo{route: "unknown"}}
		defer func() {
			*sw = statusWriter{} // drop references before pooling
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
		case !hostAllowed(r.Host, o.Port, allowed):
			// DNS rebinding: a web page on evil.example resolving to
			// 127.0.0.1 reaches us with Host: evil.example.
			info.route = "rejected_host"
			http.Error(sw, "forbidden: Host not allowed", http.StatusForbidden)
		default:
			next.ServeHTTP(sw, r)
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		if o.Metrics != nil {
			o.Metrics.observe(info.route, sw.status)
		}
		if ce := o.Logger.Check(zap.InfoLevel, "request"); ce != nil {
			fp := fieldPool.Get().(*[]zap.Field)
			fields := append((*fp)[:0],
				zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("route", info.route),
				zap.Int("status", sw.status), zap.Int("bytes", sw.bytes), zap.Int64("durationMicros", time.Since(start).Microseconds()),
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

// hostAllowed checks the Host header's name against the allow-list and,
// when it names a port, that the port is the listener's.
func hostAllowed(host string, port int, allowed map[string]bool) bool {
	name, p, err := net.SplitHostPort(host)
	if err != nil {
		name, p = host, ""
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
