package authclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Error is an error reply from the Auth service. Code is Taskcluster's
// error code (InsufficientScopes, AuthenticationFailed, ...), or empty
// when the body was not Taskcluster JSON (a proxy's page, say).
type Error struct {
	Route      string // API method name
	StatusCode int
	Code       string
	Message    string
	// ServerTime is the reply's Date header, if any: with "Stale
	// timestamp" it tells how far this machine's clock is off, which the
	// service itself never says.
	ServerTime time.Time
}

// ClockSkew returns how far local time (now) is ahead of the server's, for
// a "Stale timestamp" error; ok is false for any other error.
func ClockSkew(err error, now time.Time) (time.Duration, bool) {
	var ae *Error
	if !errors.As(err, &ae) || ae.ServerTime.IsZero() || !strings.Contains(ae.Message, "Stale timestamp") {
		return 0, false
	}
	return now.Sub(ae.ServerTime).Round(time.Second), true
}

func (e *Error) Error() string {
	first, _, _ := strings.Cut(e.Message, "\n")
	code := e.Code
	if code == "" {
		code = http.StatusText(e.StatusCode)
	}
	msg := fmt.Sprintf("auth %s: %d %s", e.Route, e.StatusCode, code)
	if first != "" {
		msg += ": " + first
	}
	if m := e.MissingScopes(); len(m) > 0 {
		msg += " (missing scope " + strings.Join(m, " or ") + ")"
	}
	return msg
}

// MissingScopes returns the scopes an InsufficientScopes error names. The
// service templates them into the message as a JSON scope expression in
// the first fenced block after "missing the following scopes".
func (e *Error) MissingScopes() []string {
	if e.Code != "InsufficientScopes" {
		return nil
	}
	_, rest, ok := strings.Cut(e.Message, "missing the following scopes")
	if !ok {
		return nil
	}
	m := fenceRe.FindStringSubmatch(rest)
	if m == nil {
		return nil
	}
	var expr any
	if err := json.Unmarshal([]byte(m[1]), &expr); err != nil {
		return nil
	}
	var out []string
	flattenScopes(expr, &out)
	return out
}

var fenceRe = regexp.MustCompile("(?s)```\\s*(.*?)\\s*```")

func flattenScopes(expr any, out *[]string) {
	switch v := expr.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, x := range v {
			flattenScopes(x, out)
		}
	case map[string]any:
		for _, k := range []string{"AnyOf", "AllOf"} {
			flattenScopes(v[k], out)
		}
	}
}

// IncidentID returns the incident id a 500 reply names, if any.
func (e *Error) IncidentID() string {
	m := incidentRe.FindStringSubmatch(e.Message)
	if m == nil {
		return ""
	}
	return m[1]
}

var incidentRe = regexp.MustCompile(`incidentId[":\s]+([0-9a-fA-F-]{8,})`)

func newAPIError(r Route, resp *http.Response, data []byte) *Error {
	e := &Error{Route: r.Name, StatusCode: resp.StatusCode}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		e.ServerTime = d
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		var body struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(data, &body) == nil {
			e.Code, e.Message = body.Code, body.Message
			return e
		}
	}
	// Proxies and load balancers answer with text or HTML; keep it short.
	text := strings.TrimSpace(string(data))
	if len(text) > 200 {
		text = text[:200] + "…"
	}
	e.Message = text
	return e
}

// TransportError is a failure below HTTP: refused, reset, timed out.
type TransportError struct {
	Route string
	Err   error
}

func (e *TransportError) Error() string { return fmt.Sprintf("auth %s: %v", e.Route, e.Err) }
func (e *TransportError) Unwrap() error { return e.Err }

// MalformedResponseError is a 2xx reply whose body is not the JSON
// expected. The body is never quoted: it may carry a secret.
type MalformedResponseError struct {
	Route  string
	Status int
}

func (e *MalformedResponseError) Error() string {
	return fmt.Sprintf("auth %s: %d reply is not valid JSON of the expected shape", e.Route, e.Status)
}

// Retryable reports whether err is worth another attempt: network errors,
// 5xx and 429. 4xx means the request or the credentials are wrong.
func Retryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae.StatusCode >= 500 || ae.StatusCode == http.StatusTooManyRequests
	}
	return false
}

func statusIs(err error, status int) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.StatusCode == status
}

// IsMissingScopes reports a 403: the credentials lack a scope.
func IsMissingScopes(err error) bool { return statusIs(err, http.StatusForbidden) }

// IsAuthenticationFailed reports a 401: bad, expired or disabled
// credentials, a bad MAC or clock skew.
func IsAuthenticationFailed(err error) bool { return statusIs(err, http.StatusUnauthorized) }

// IsNotFound reports a 404.
func IsNotFound(err error) bool { return statusIs(err, http.StatusNotFound) }

// IsUnavailable reports the service being unreachable or failing.
func IsUnavailable(err error) bool { return Retryable(err) }

// MissingScopes returns the scopes a 403 names, or nil.
func MissingScopes(err error) []string {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.MissingScopes()
	}
	return nil
}
