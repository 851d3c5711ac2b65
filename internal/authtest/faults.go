package authtest

import (
	"net"
	"net/http"
)

// Fault is a failure the fake service can inject.
type Fault int

// The faults.
const (
	// Fault500 answers 500 InternalServerError with an incidentId.
	Fault500 Fault = iota + 1
	// Fault503 answers 503 as a load balancer would, with a text body.
	Fault503
	// FaultHang holds the request until the client gives up or Release.
	FaultHang
	// FaultReset closes the connection without an answer (TCP RST).
	FaultReset
	// FaultMalformedJSON answers 200 with a body that is not JSON.
	FaultMalformedJSON
	// Fault401 answers 401 AuthenticationFailed.
	Fault401
	// Fault403 answers 403 InsufficientScopes.
	Fault403
	// Fault429 answers 429 as a rate-limiting proxy in front of the
	// service would, with a text body: the service itself never sends it.
	Fault429
)

type faultRule struct {
	endpoint   string // "" for any
	fault      Fault
	left       int    // < 0: until cleared
	retryAfter string // a Retry-After header on the answer, if not ""
}

// InjectFault makes the next times calls to endpoint ("" for any) fail
// with f; times < 0 keeps failing until ClearFaults. Rules apply in the
// order they were added.
func (s *Server) InjectFault(endpoint string, f Fault, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{endpoint: endpoint, fault: f, left: times})
}

// InjectRetryAfter is InjectFault with a Retry-After header (delta-seconds
// or an HTTP-date, sent as given) on the answer, as the load balancer or
// rate limiter in front of the service sends with a 429 or 503 when it is
// configured to.
func (s *Server) InjectRetryAfter(endpoint string, f Fault, retryAfter string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{endpoint: endpoint, fault: f, left: times, retryAfter: retryAfter})
}

// ClearFaults removes every fault rule and releases hung requests.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	close(s.release)
	s.release = make(chan struct{})
}

// Hanging returns how many requests are held by FaultHang right now.
func (s *Server) Hanging() int { return int(s.hanging.Load()) }

// takeFault counts a call and returns the rule to apply, if any.
func (s *Server) takeFault(endpoint string) (*faultRule, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[endpoint]++
	for i, f := range s.faults {
		if f.endpoint != "" && f.endpoint != endpoint {
			continue
		}
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return f, s.release
	}
	return nil, s.release
}

// applyFault writes the rule's answer; it reports false for no rule.
func (s *Server) applyFault(c *call, rule *faultRule, release chan struct{}) bool {
	if rule == nil {
		return false
	}
	w, r := c.w, c.r
	if rule.retryAfter != "" {
		w.Header().Set("Retry-After", rule.retryAfter)
	}
	switch rule.fault {
	case Fault500:
		c.fail(http.StatusInternalServerError, "InternalServerError", "Internal Server Error, incidentId "+incidentID()+".")
	case Fault503:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html><body>503 Service Temporarily Unavailable</body></html>"))
	case FaultHang:
		s.hanging.Add(1)
		defer s.hanging.Add(-1)
		select {
		case <-r.Context().Done():
		case <-release:
			c.fail(http.StatusInternalServerError, "InternalServerError", "Internal Server Error, incidentId "+incidentID()+".")
		}
	case FaultReset:
		reset(w)
	case FaultMalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"credentials": {"accessKeyId": "AKIA`))
	case Fault401:
		w.Header().Set("WWW-Authenticate", "hawk")
		c.fail(http.StatusUnauthorized, "AuthenticationFailed", "Unauthorized: Bad mac")
	case Fault403:
		c.fail(http.StatusForbidden, "InsufficientScopes", insufficientScopes("injected", "injected:fault-scope", "injected:fault-scope"))
	case Fault429:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("<html><head><title>429 Too Many Requests</title></head><body>429 Too Many Requests</body></html>"))
	}
	return true
}

// reset closes the connection with SO_LINGER 0, so the client sees a
// reset rather than a clean EOF.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
