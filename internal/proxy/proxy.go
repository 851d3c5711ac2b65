// Package proxy lets local processes call Taskcluster without holding
// credentials, the way taskcluster-proxy does for tasks: a request to
// /api/<service>/<version>/<path> (or the older /<service>/<version>/<path>)
// is forwarded to the deployment's rootUrl, signed with tc-credd's own
// credentials narrowed to the scopes the caller's policy grants, and
// POST /bewit returns a signed URL. Bodies stream both ways; nothing is
// buffered whole. This package never touches the refresher: its job is to
// call Taskcluster on the request path, which no other listener does.
package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/logging"
)

// BewitTTL is how long a URL signed by POST /bewit stays valid, as with
// taskcluster-proxy.
const BewitTTL = time.Hour

// maxBewitBody bounds the body of POST /bewit: it holds one URL.
const maxBewitBody = 8 << 10

// Upstream is what requests are signed with and sent to: the deployment's
// rootUrl and tc-credd's credentials. A reload or a rotation swaps it.
type Upstream struct {
	RootURL     string
	Credentials *hawk.Credentials
}

// Grant is what a caller may do through the proxy: the scopes its
// requests are narrowed to (sent as authorizedScopes), and the policy rule
// that granted them, for the audit trail.
type Grant struct {
	Scopes []string
	Rule   string
}

// Refusal is a caller the policy does not admit; Error names the rule.
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return r.Reason }

// Event is one proxied request, for the audit trail. Path carries no query:
// a query may hold a bewit or another secret.
type Event struct {
	Request *http.Request
	Method  string
	Service string
	Path    string
	Status  int
	Rule    string
}

// Options configure the proxy.
type Options struct {
	// Upstream returns the current rootUrl and credentials.
	Upstream func() Upstream
	// Authorize decides what a request's caller may do; a *Refusal answers
	// 403 naming the rule. Required: the proxy never signs for a caller no
	// policy admits.
	Authorize func(r *http.Request) (Grant, error)
	// Transport sends the signed requests (default: a clone of
	// http.DefaultTransport).
	Transport http.RoundTripper
	Clock     clock.Clock
	Logger    *zap.Logger
	// Audit, when set, is told of every proxied request.
	Audit func(Event)
	// Version is sent back in X-Taskcluster-Proxy-Version.
	Version string
}

type proxy struct {
	o  Options
	rp *httputil.ReverseProxy
}

// New returns the proxy listener's handler (without the listener's own
// security checks and access log, which the caller wraps around it).
func New(o Options) http.Handler {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	p := &proxy{o: o}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      o.Transport,
		ErrorHandler:   p.upstreamError,
		ModifyResponse: p.response,
		// Answers are streamed to the caller as they arrive; a long artifact
		// download must not wait for a buffer to fill.
		FlushInterval: -1,
	}
	return p
}

// target is where a proxied request goes, and its signature.
type target struct {
	url     *url.URL
	service string
	auth    string // the Authorization header
	up      Upstream
	grant   Grant
	// status is Taskcluster's answer, or 502 when there was none: set by
	// the reverse proxy's hooks, on the request's own goroutine.
	status int
}

type targetKey struct{}

// ServeHTTP dispatches, as taskcluster-proxy does, by the path's first
// segment.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Taskcluster-Proxy-Version", p.o.Version)
	if r.Header.Get("Authorization") != "" {
		// The caller's own credentials would be replaced unseen, or worse,
		// forwarded: refuse, so a misconfigured client learns it.
		http.Error(w, "tc-credd proxy: send no Authorization header; the proxy signs requests with its own credentials", http.StatusBadRequest)
		return
	}
	grant, err := p.o.Authorize(r)
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		http.Error(w, "tc-credd proxy: forbidden: "+ref.Reason, http.StatusForbidden)
		return
	case err != nil:
		http.Error(w, "tc-credd proxy: cannot tell who is calling: "+err.Error(), http.StatusForbidden)
		return
	}
	up := p.o.Upstream()
	if r.URL.Path == "/bewit" {
		p.bewit(w, r, up, grant)
		return
	}
	u, service, err := targetURL(up.RootURL, r.URL)
	if err != nil {
		http.Error(w, "tc-credd proxy: "+err.Error(), http.StatusNotFound)
		return
	}
	// Signed here, not in the reverse proxy's hook, so that a request that
	// cannot be signed gets a clear answer instead of a transport error.
	auth, err := narrowed(up.Credentials, grant.Scopes).Header(r.Method, u, p.o.Clock.Now())
	if err != nil {
		http.Error(w, "tc-credd proxy: cannot sign the request: "+err.Error(), http.StatusInternalServerError)
		return
	}
	t := &target{url: u, service: service, auth: auth, up: up, grant: grant}
	p.rp.ServeHTTP(w, r.WithContext(withTarget(r.Context(), t)))
	if p.o.Audit != nil {
		p.o.Audit(Event{Request: r, Method: r.Method, Service: service, Path: r.URL.Path, Status: t.status, Rule: grant.Rule})
	}
}

// apiPath is the root-URL form, /api/<service>/<version>/<path>. Service
// names are Taskcluster's: lowercase words and dashes.
var apiPath = regexp.MustCompile(`^/api/([a-z][a-z0-9-]*)/(v[0-9]+)/(.*)$`)

// shortcut is the older form, /<service>/<version>/<path>, where service
// is a Taskcluster service name. taskcluster-proxy also forwards to any
// host named in the first segment; tc-credd does not: its credentials go
// only to its own deployment.
var shortcut = regexp.MustCompile(`^/([a-z][a-z0-9-]*)/(v[0-9]+)/(.*)$`)

// targetURL maps a proxy path to its URL under rootURL. The path is kept
// escaped as the caller sent it, so what is signed is what is sent.
func targetURL(rootURL string, in *url.URL) (*url.URL, string, error) {
	p := in.EscapedPath()
	m := apiPath.FindStringSubmatch(p)
	if m == nil {
		m = shortcut.FindStringSubmatch(p)
	}
	if m == nil {
		return nil, "", fmt.Errorf("%s is not a Taskcluster API path: use /api/<service>/<version>/<path>", in.Path)
	}
	root, err := url.Parse(strings.TrimRight(rootURL, "/"))
	if err != nil {
		return nil, "", fmt.Errorf("rootUrl: %w", err)
	}
	raw := "/api/" + m[1] + "/" + m[2] + "/" + m[3]
	u := *root
	u.RawPath = raw
	if u.Path, err = url.PathUnescape(raw); err != nil {
		return nil, "", fmt.Errorf("%s: %w", in.Path, err)
	}
	u.RawQuery = in.RawQuery
	return &u, m[1], nil
}

// rewrite makes the outgoing request: the target URL and its Host (both
// under the signature), and the signature. The reverse proxy has already
// dropped hop-by-hop and forwarding headers.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	t := targetOf(pr.In.Context())
	pr.Out.URL = t.url
	pr.Out.Host = ""
	pr.Out.Header.Set("Authorization", t.auth)
}

// narrowed copies creds with authorizedScopes set to scopes.
func narrowed(creds *hawk.Credentials, scopes []string) *hawk.Credentials {
	c := *creds
	c.AuthorizedScopes = append([]string{}, scopes...)
	return &c
}

// response tells the caller where the request went and as whom, as
// taskcluster-proxy does; a redirect passes back unchanged.
func (p *proxy) response(resp *http.Response) error {
	t := targetOf(resp.Request.Context())
	t.status = resp.StatusCode
	h := resp.Header
	h.Set("X-Taskcluster-Endpoint", t.url.String())
	creds := t.up.Credentials
	if creds.Certificate != nil {
		h.Set("X-Taskcluster-Proxy-Temp-ClientId", creds.ClientID)
	} else {
		h.Set("X-Taskcluster-Proxy-Perm-ClientId", creds.ClientID)
	}
	if b, err := json.Marshal(t.grant.Scopes); err == nil {
		h.Set("X-Taskcluster-Authorized-Scopes", string(b))
	}
	return nil
}

func (p *proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	targetOf(r.Context()).status = http.StatusBadGateway
	p.o.Logger.Warn("proxy: request to Taskcluster failed", zap.String(logging.KeyPath, r.URL.Path), zap.Error(err))
	http.Error(w, "tc-credd proxy: request to Taskcluster failed", http.StatusBadGateway)
}

// bewit answers POST /bewit: the body is a URL under rootUrl, the answer a
// signed URL for GET, valid for BewitTTL, narrowed like any request.
func (p *proxy) bewit(w http.ResponseWriter, r *http.Request, up Upstream, grant Grant) {
	if r.Method != http.MethodPost {
		http.Error(w, "tc-credd proxy: POST the URL to sign", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBewitBody))
	if err != nil {
		http.Error(w, "tc-credd proxy: the body must be one URL", http.StatusBadRequest)
		return
	}
	u, err := url.Parse(strings.TrimSpace(string(body)))
	root, rerr := url.Parse(up.RootURL)
	if err != nil || rerr != nil || u.Scheme != root.Scheme || !strings.EqualFold(u.Host, root.Host) {
		// Signing for any host, as taskcluster-proxy does, would let a caller
		// mint bewits for services tc-credd does not know.
		http.Error(w, "tc-credd proxy: the body must be a URL under "+up.RootURL, http.StatusBadRequest)
		return
	}
	signed, err := narrowed(up.Credentials, grant.Scopes).Bewit(u, p.o.Clock.Now().Add(BewitTTL))
	if err != nil {
		http.Error(w, "tc-credd proxy: cannot sign: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Location", signed.String())
	w.WriteHeader(http.StatusSeeOther)
	_, _ = io.WriteString(w, signed.String())
	if p.o.Audit != nil {
		p.o.Audit(Event{Request: r, Method: r.Method, Service: "bewit", Path: u.Path, Status: http.StatusSeeOther, Rule: grant.Rule})
	}
}
