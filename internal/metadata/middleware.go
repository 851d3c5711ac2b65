package metadata

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/logging"
	"github.com/taskcluster/tc-credd/internal/loopback"
)

// Each listener's handler is a chain of small middleware around a
// gorilla/mux router:
//
//	observe (access log, metrics) → securityChecks (peer, Host) → router → protocol guards → handler
//
// Protocol guards wrap the routes they protect when the routes are
// registered; see handler.go.

// Metrics counts the requests a listener serves; the ops listener also
// serves the registry.
type Metrics interface {
	ObserveRequest(route string, code int, elapsed time.Duration)
	Handler() http.Handler
}

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
	// Unix says the listener is a Unix socket: no remote peer and no web
	// page can reach one, so neither the peer nor Host is checked.
	Unix bool
}

// reqInfo is what the access log reports beyond the request itself: the
// route that served it, for AWS keys the key id's last characters, and the
// audit event of a credential handed out or refused.
// observe puts it in the request's context; the router and the handlers
// fill it in.
type reqInfo struct {
	route     string
	keySuffix string
	// event is the audit event of a credential handed out or refused,
	// logged on the request's access-log line.
	event *audit.Event
}

type infoKey struct{}

// info returns the request's reqInfo, or a throwaway one for a request
// that did not come through observe (a handler under test).
func info(r *http.Request) *reqInfo {
	if i, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// nameRoute records the name of the route mux matched.
func nameRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt := mux.CurrentRoute(r); rt != nil && rt.GetName() != "" {
			info(r).route = rt.GetName()
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter captures the status and size of a response for the access
// log. It keeps Flush and Unwrap, so http.ResponseController and streaming
// handlers see the connection's writer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
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

func (s *statusWriter) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// unrouted names requests that no route claimed, by what became of them,
// so that metrics labels stay few.
func unrouted(status int) string {
	switch status {
	case http.StatusMovedPermanently:
		return "redirect"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	}
	return "unknown"
}

// observe writes one access-log line and counts one request in the
// metrics for every request, whatever answers it.
func observe(log *zap.Logger, m Metrics, clk clock.Clock) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := clk.Now()
			ri := &reqInfo{}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), infoKey{}, ri)))
			if sw.status == 0 {
				sw.status = http.StatusOK
			}
			if ri.route == "" {
				ri.route = unrouted(sw.status)
			}
			elapsed := clk.Now().Sub(start)
			if m != nil {
				m.ObserveRequest(ri.route, sw.status, elapsed)
			}
			log.Info("request", zap.Inline(&accessLine{r: r, info: ri, status: sw.status, bytes: sw.bytes, elapsed: elapsed}))
		})
	}
}

// accessLine is one request's access-log fields, written straight into
// the log line by zap.Inline.
type accessLine struct {
	r       *http.Request
	info    *reqInfo
	status  int
	bytes   int
	elapsed time.Duration
}

func (l *accessLine) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString(logging.KeyMethod, l.r.Method)
	enc.AddString(logging.KeyPath, l.r.URL.Path)
	enc.AddString(logging.KeyRoute, l.info.route)
	enc.AddInt64(logging.KeyStatus, int64(l.status))
	enc.AddInt64(logging.KeyBytes, int64(l.bytes))
	enc.AddInt64(logging.KeyDuration, l.elapsed.Microseconds())
	enc.AddString(logging.KeyRemote, l.r.RemoteAddr)
	if l.info.keySuffix != "" {
		enc.AddString(logging.KeyKeyIDSuffix, l.info.keySuffix)
	}
	if l.info.event != nil {
		return l.info.event.MarshalLogObject(enc)
	}
	return nil
}

// securityChecks refuses what must never reach a route, the way aws-vault's
// withSecurityChecks does.
func securityChecks(o GuardOptions) func(http.Handler) http.Handler {
	allowed := allowedHosts(o.Hosts)
	return func(next http.Handler) http.Handler {
		if o.Unix {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case !o.AllowRemote && !loopback.Peer(r.RemoteAddr):
				// "Came from loopback" is no identity (DNAT can fake it), but a
				// peer that is not even loopback never gets in.
				info(r).route = "rejected_peer"
				http.Error(w, "forbidden: not a loopback peer", http.StatusForbidden)
			case !hostAllowed(r.Host, o.Port, allowed):
				// DNS rebinding: a web page on evil.example resolving to
				// 127.0.0.1 reaches us with Host: evil.example.
				info(r).route = "rejected_host"
				http.Error(w, "forbidden: Host not allowed", http.StatusForbidden)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

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
	name, p := host, ""
	if n, hp, err := net.SplitHostPort(host); err == nil {
		name, p = n, hp
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

// forwarded reports a request that passed through a proxy: the proxy may
// be what an SSRF goes through. Presence is enough, even empty.
func forwarded(r *http.Request) bool {
	_, xff := r.Header["X-Forwarded-For"]
	_, fwd := r.Header["Forwarded"]
	return xff || fwd
}

// refuseForwarded guards the AWS and JSON API routes: real IMDSv2 refuses a
// forwarded token PUT, so an SSRF through a proxy cannot open a session.
func refuseForwarded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if forwarded(r) {
			http.Error(w, "forbidden: forwarded request", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireFlavor guards the GCE tree, known paths or not: Metadata-Flavor:
// Google is a header a browser or a plain SSRF cannot add, and a forwarded
// request is refused as well.
func requireFlavor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata-Flavor") != "Google" || forwarded(r) {
			http.Error(w, "Missing Metadata-Flavor:Google header or forwarded request.", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// googleFlavor sets Metadata-Flavor: Google on every response outside the
// AWS and JSON API trees, errors included: Google clients check it on every
// answer, and no AWS client reads it.
func googleFlavor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/latest/") && !strings.HasPrefix(r.URL.Path, "/v1/") {
			w.Header().Set("Metadata-Flavor", "Google")
		}
		next.ServeHTTP(w, r)
	})
}

// chain applies middleware so that the first one listed runs first.
func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}
