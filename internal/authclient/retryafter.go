package authclient

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter bounds the wait a Retry-After header can impose: a
// misconfigured proxy must not park a host's credentials for hours.
const MaxRetryAfter = 15 * time.Minute

// ParseRetryAfter reads a Retry-After value: delta-seconds ("120") or an
// HTTP-date, which is measured from ref. It reports false for an absent
// or malformed value and for one that asks for no wait (0 or a date not
// after ref): a service that says "now" gets the caller's own backoff, so
// a proxy answering "Retry-After: 0" cannot make a client spin. A wait
// longer than MaxRetryAfter is cut to it.
func ParseRetryAfter(v string, ref time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange), n > int64(MaxRetryAfter/time.Second):
			// All digits, just too many of them: a long wait, bounded.
			d = MaxRetryAfter
		case err != nil:
			return 0, false
		default:
			d = time.Duration(n) * time.Second
		}
	} else {
		at, err := http.ParseTime(v)
		if err != nil {
			return 0, false
		}
		d = at.Sub(ref)
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// retryAfterOf returns the wait a 429 or 503 reply asks for. An HTTP-date
// is measured from the reply's own Date when it has one, so both times
// are on the server's clock and this machine's clock error does not
// change the wait; otherwise from now.
func retryAfterOf(resp *http.Response, serverTime, now time.Time) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	ref := now
	if !serverTime.IsZero() {
		ref = serverTime
	}
	d, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), ref)
	return d
}

// RetryAfter returns the wait the service asked for with the reply behind
// err (429 or 503 with Retry-After), bounded by MaxRetryAfter; 0 when it
// asked for none.
func RetryAfter(err error) time.Duration {
	var ae *Error
	if errors.As(err, &ae) {
		return ae.RetryAfter
	}
	return 0
}
