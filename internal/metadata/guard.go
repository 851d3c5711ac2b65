package metadata

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"
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
	GoogleFlavor bool // set Metadata-Flavor: Google on every response
}

// reqInfo collects what the access log and metrics report of a request.
type reqInfo struct {
	route string
	key   string // last four characters of an AWS key id, at most
}

type ctxKey struct{}

func infoFrom(ctx context.Context) *reqInfo {
	i, _ := ctx.Value(ctxKey{}).(*reqInfo)
	return i
}

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

// guard wraps a listener's router with its security checks, the
// Metadata-Flavor response header, one access-log line and metrics.
func guard(o GuardOptions, next http.Handler) http.Handler {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	allowed := allowedHosts(o.Hosts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &reqInfo{route: "unknown"}
		sw := &statusWriter{ResponseWriter: w}
		if o.GoogleFlavor {
			// Every response, errors included (item 25).
			sw.Header().Set("Metadata-Flavor", "Google")
		}
		switch {
		case !o.AllowRemote && !loopbackPeer(r.RemoteAddr):
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
			next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, info)))
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		if o.Metrics != nil {
			o.Metrics.observe(info.route, sw.status)
		}
		fields := []zap.Field{
			zap.String("method", r.Method), zap.String("path", r.URL.Path), zap.String("route", info.route),
			zap.Int("status", sw.status), zap.Int("bytes", sw.bytes), zap.Duration("duration", d), zap.String("remote", r.RemoteAddr),
		}
		if info.key != "" {
			fields = append(fields, zap.String("keyIdSuffix", info.key))
		}
		o.Logger.Info("request", fields...)
	})
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

func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
