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
	// RetryAfter is the wait a 429 or 503 reply asked for with its
	// Retry-After header, bounded by MaxRetryAfter; 0 when it asked for
	// none.
	RetryAfter time.Duration
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
	if x := e.missing(); x != nil {
		msg += " (missing " + x.describe() + ")"
	}
	return msg
}

// MissingScopes returns the scopes an InsufficientScopes error names,
// flattened in the order the service wrote them: one scope, or each scope
// of an AnyOf/AllOf expression (see Error for which of them is needed).
func (e *Error) MissingScopes() []string {
	x := e.missing()
	if x == nil {
		return nil
	}
	var out []string
	x.flatten(&out)
	return out
}

// The service's InsufficientScopes message has two forms. With
// credentials it names what is unsatisfied in a fenced block after
// missingMarker; without any it only gives the whole requirement, after
// requiredMarker, and then all of it is missing.
const (
	missingMarker  = "is missing the following scopes:"
	requiredMarker = "Taskcluster credentials that satisfy the following scope expression:"
)

// missing parses the unsatisfied scope expression out of the message.
func (e *Error) missing() *scopeExpr {
	if e.Code != "InsufficientScopes" {
		return nil
	}
	for _, marker := range []string{missingMarker, requiredMarker} {
		if _, rest, ok := strings.Cut(e.Message, marker); ok {
			if block, ok := fencedBlock(rest); ok {
				return parseScopeExpr(block)
			}
		}
	}
	return nil
}

// fencedBlock returns the text of the first ``` block in s. The service
// writes the fence, a newline, the value and a newline before the closing
// fence; the value itself never holds a newline unless it is JSON.
func fencedBlock(s string) (string, bool) {
	_, rest, ok := strings.Cut(s, "```\n")
	if !ok {
		return "", false
	}
	block, _, ok := strings.Cut(rest, "\n```")
	return block, ok
}

// scopeExpr is a Taskcluster scope expression: a scope, or AnyOf/AllOf
// of expressions.
type scopeExpr struct {
	scope string
	op    string // "", "AnyOf" or "AllOf"
	sub   []*scopeExpr
}

// parseScopeExpr reads the service's rendering of an expression: the
// renderer inserts a lone scope as it is, and JSON-encodes anything else.
// A block that does not decode as an expression is a scope, whatever its
// first character.
func parseScopeExpr(block string) *scopeExpr {
	if strings.HasPrefix(block, "{") || strings.HasPrefix(block, "[") {
		var v any
		if json.Unmarshal([]byte(block), &v) == nil {
			if x := exprFromJSON(v); x != nil {
				return x
			}
		}
	}
	if block == "" {
		return nil
	}
	return &scopeExpr{scope: block}
}

func exprFromJSON(v any) *scopeExpr {
	switch t := v.(type) {
	case string:
		return &scopeExpr{scope: t}
	case []any:
		// Not what the service sends, but a plain list reads as AllOf.
		return exprList("AllOf", t)
	case map[string]any:
		if len(t) != 1 {
			return nil
		}
		for _, op := range []string{"AnyOf", "AllOf"} {
			if list, ok := t[op].([]any); ok {
				return exprList(op, list)
			}
		}
	}
	return nil
}

func exprList(op string, list []any) *scopeExpr {
	x := &scopeExpr{op: op}
	for _, item := range list {
		sub := exprFromJSON(item)
		if sub == nil {
			return nil
		}
		x.sub = append(x.sub, sub)
	}
	return x
}

func (x *scopeExpr) flatten(out *[]string) {
	if x.op == "" {
		*out = append(*out, x.scope)
		return
	}
	for _, s := range x.sub {
		s.flatten(out)
	}
}

// describe renders the expression for people: "scope a", "one of the
// scopes a, b", "all of the scopes a, b", nesting in parentheses.
func (x *scopeExpr) describe() string {
	if x.op == "" {
		return "scope " + x.scope
	}
	return x.text()
}

func (x *scopeExpr) text() string {
	if x.op == "" {
		return x.scope
	}
	parts := make([]string, len(x.sub))
	for i, s := range x.sub {
		parts[i] = s.text()
		if s.op != "" {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	word := "all"
	if x.op == "AnyOf" {
		word = "one"
	}
	return word + " of the scopes " + strings.Join(parts, ", ")
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

func newAPIError(r Route, resp *http.Response, data []byte, now time.Time) *Error {
	e := &Error{Route: r.Name, StatusCode: resp.StatusCode}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		e.ServerTime = d
	}
	e.RetryAfter = retryAfterOf(resp, e.ServerTime, now)
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
