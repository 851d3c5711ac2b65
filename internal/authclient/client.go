// Package authclient is a typed client for the Taskcluster Auth service:
// one method per endpoint, Hawk-signed, retried on network errors, 5xx and
// 429 with capped, jittered exponential backoff, and typed errors.
package authclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/hawk"
)

// Defaults follow the official JavaScript and Python clients: 5 retries
// from 100 ms, doubling, capped at 30 s; 30 s per request.
const (
	DefaultRetries        = 5
	DefaultBaseDelay      = 100 * time.Millisecond
	DefaultMaxDelay       = 30 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	maxResponseBytes      = 10 << 20
)

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// RootURL is the deployment's root URL: scheme, host and optional port.
	RootURL string
	// Credentials sign every request; nil sends anonymous requests.
	Credentials *hawk.Credentials
	// HTTPClient defaults to a client that follows no redirects.
	HTTPClient *http.Client
	// Retries after the first attempt; 0 means DefaultRetries and a
	// negative value means none.
	Retries        int
	BaseDelay      time.Duration
	MaxDelay       time.Duration
	RequestTimeout time.Duration
	// Now is the clock for Hawk timestamps and bewit expiry.
	Now func() time.Time
	// Sleep waits between attempts; it must return early with ctx.Err()
	// when ctx ends. Tests inject one that records the delays.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter returns a value in [0,1); defaults to math/rand/v2.
	Jitter func() float64
	// Observe, when set, is told of every HTTP request sent: the API
	// method's name, the reply's status (0 when there was none) and how
	// long the exchange took, body included.
	Observe func(endpoint string, status int, elapsed time.Duration)
}

// Client calls the Auth service. It is safe for concurrent use.
type Client struct {
	o    Options
	base *url.URL // <rootUrl>/api/auth/v1
}

// New validates o and returns a Client.
func New(o Options) (*Client, error) {
	root := strings.TrimRight(o.RootURL, "/")
	u, err := url.Parse(root)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("authclient: rootUrl %q must be http(s)://host[:port]", o.RootURL)
	}
	if u.Path != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("authclient: rootUrl %q must have no path or query", o.RootURL)
	}
	if o.Credentials != nil && o.Credentials.ClientID == "" {
		o.Credentials = nil
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{CheckRedirect: noRedirects}
	} else if o.HTTPClient.CheckRedirect == nil {
		c := *o.HTTPClient
		c.CheckRedirect = noRedirects
		o.HTTPClient = &c
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = DefaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Jitter == nil {
		o.Jitter = rand.Float64
	}
	u.Path = "/api/auth/v1"
	return &Client{o: o, base: u}, nil
}

// No official client follows redirects: a 3xx is an error.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ClientID returns the clientId requests are signed with, or "".
func (c *Client) ClientID() string {
	if c.o.Credentials == nil {
		return ""
	}
	return c.o.Credentials.ClientID
}

// URL returns the unsigned URL of a route.
func (c *Client) URL(r Route) *url.URL {
	u := *c.base
	u.RawPath = u.Path + r.Path
	if p, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = p
	}
	u.RawQuery = r.Query.Encode()
	return &u
}

// SignedURL returns a bewit-signed URL for a GET route, valid for ttl.
func (c *Client) SignedURL(r Route, ttl time.Duration) (*url.URL, error) {
	if r.Method != http.MethodGet {
		return nil, fmt.Errorf("authclient: %s is %s; only GET routes can be signed as URLs", r.Name, r.Method)
	}
	if c.o.Credentials == nil {
		return nil, fmt.Errorf("authclient: %s: a signed URL needs credentials", r.Name)
	}
	return c.o.Credentials.Bewit(c.URL(r), c.o.Now().Add(ttl))
}

// Do performs one API call: in (if non-nil) is sent as JSON, and a JSON
// reply is decoded into out (if non-nil). Network errors, 5xx and 429 are
// retried with backoff, never sooner than a Retry-After asks; nothing else
// is. Each attempt is signed afresh.
func (c *Client) Do(ctx context.Context, r Route, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("authclient: %s: encoding request: %w", r.Name, err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		err := c.attempt(ctx, r, body, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("authclient: %s: %w", r.Name, ctx.Err())
		}
		if !Retryable(err) || attempt >= c.o.Retries {
			return err
		}
		wait := c.Backoff(attempt)
		if asked := RetryAfter(err); asked > wait {
			// Never sooner than the service asked. A wait longer than this
			// client's own longest is the caller's to schedule (the
			// refresher does): the error says how long.
			if asked > c.o.MaxDelay {
				return err
			}
			wait = asked
		}
		if serr := c.o.Sleep(ctx, wait); serr != nil {
			return fmt.Errorf("authclient: %s: %w (last error: %v)", r.Name, serr, err)
		}
	}
}

// Backoff is the wait after failed attempt n (from 0): BaseDelay × 2^n,
// ±25 % jitter, capped at MaxDelay.
func (c *Client) Backoff(n int) time.Duration {
	d := c.o.BaseDelay << min(n, 30)
	if d > c.o.MaxDelay || d <= 0 {
		d = c.o.MaxDelay
	}
	f := 0.75 + 0.5*c.o.Jitter()
	return min(time.Duration(float64(d)*f), c.o.MaxDelay)
}

func (c *Client) attempt(ctx context.Context, r Route, body []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.o.RequestTimeout)
	defer cancel()
	u := c.URL(r)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("authclient: %s: %w", r.Name, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.o.Credentials != nil {
		h, err := c.o.Credentials.Header(r.Method, req.URL, c.o.Now())
		if err != nil {
			return fmt.Errorf("authclient: %s: %w", r.Name, err)
		}
		req.Header.Set("Authorization", h)
	}
	sent := time.Now()
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		c.observe(r, 0, sent)
		return &TransportError{Route: r.Name, Err: scrubURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	c.observe(r, resp.StatusCode, sent)
	if err != nil {
		return &TransportError{Route: r.Name, Err: scrubURL(err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(r, resp, data, c.o.Now())
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// Never quote the body: it may hold the credential we asked for.
		return &MalformedResponseError{Route: r.Name, Status: resp.StatusCode}
	}
	return nil
}

// observe reports one exchange to Options.Observe. Its duration is on the
// real clock: it measures the network, not the schedule.
func (c *Client) observe(r Route, status int, sent time.Time) {
	if c.o.Observe != nil {
		c.o.Observe(r.Name, status, time.Since(sent))
	}
}

// scrubURL drops the URL from a *url.Error: a request URL carries no
// secret today, but a future bewit would, and the route name says enough.
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
