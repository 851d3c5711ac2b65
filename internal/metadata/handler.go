// Package metadata serves what the refresher holds to unmodified SDKs: the
// EC2 instance metadata service (IMDSv2), AWS container credentials, the
// GCE metadata server and tc-credd's own JSON API, on a credential
// listener; and health, readiness, metrics and status on an ops listener
// that never serves a secret. A request reads memory only: this package
// never imports authclient.
package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/render"
)

// View is the refresher as the endpoints see it: read-only.
type View interface {
	Get(ctx context.Context, key string) (*refresher.Credential, error)
	States() []refresher.State
	Ready() bool
}

// GCPAccount is a gcp source as the GCE metadata server shows it.
type GCPAccount struct {
	Key              string // refresher source key
	Email            string
	ProjectID        string
	NumericProjectID string // optional; 404 when empty
}

// Options configure the credential listener's handler.
type Options struct {
	View    View
	Clock   clock.Clock
	Logger  *zap.Logger
	Metrics *Metrics // optional

	// AWSRole is the aws source name listed as the one IMDS role; "" lists
	// none.
	AWSRole string
	// AllowIMDSv1 serves IMDS GETs that carry no token. Off by default:
	// the token PUT is what an SSRF cannot send.
	AllowIMDSv1 bool
	// Region enables the IMDS region paths.
	Region string
	// GCP accounts; the first is "default".
	GCP []GCPAccount
	// Token guards /v1/credentials/*; nil turns that API off.
	Token TokenChecker
	// Tokens is the IMDSv2 session store; nil makes a new one.
	Tokens *IMDSTokens

	Guard GuardOptions
}

type handler struct {
	o      Options
	tokens *imdsTokens
	docs   docCache
	awsKey string // refresher key of AWSRole, built once for the hot path
}

// New returns the credential listener's handler.
func New(o Options) http.Handler {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	h := &handler{o: o, tokens: o.Tokens, awsKey: string(refresher.AWS) + "/" + o.AWSRole}
	if h.tokens == nil {
		h.tokens = NewIMDSTokens(o.Clock)
	}
	r := mux.NewRouter()
	route := func(router *mux.Router, name, path string, f http.Handler, methods ...string) {
		if len(methods) == 0 {
			methods = []string{http.MethodGet, http.MethodHead}
		}
		router.Handle(path, f).Methods(methods...).Name(name)
	}
	imdsGet := func(name, path string, f http.HandlerFunc) {
		route(r, name, path, h.requireIMDSToken(f))
	}

	// AWS IMDS at the root: SDKs keep only scheme, host and port. The
	// credentials route comes first: it is the hottest path, and mux tries
	// routes in order. A prefix matcher instead of a {role} template: no
	// regular expression on the path every SDK polls.
	r.MatcherFunc(func(r *http.Request, _ *mux.RouteMatch) bool {
		role, ok := strings.CutPrefix(r.URL.Path, imdsCredsPrefix)
		return ok && role != "" && !strings.Contains(role, "/") && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	}).Handler(h.requireIMDSToken(http.HandlerFunc(h.imdsCredentials))).Name("imds_credentials")
	route(r, "imds_token", "/latest/api/token", http.HandlerFunc(h.imdsToken), http.MethodPut)
	r.Handle("/latest/api/token", http.HandlerFunc(methodNotAllowed)).Name("imds_token")
	imdsGet("imds_roles", "/latest/meta-data/iam/security-credentials", h.imdsRoles)
	imdsGet("imds_roles", imdsCredsPrefix, h.imdsRoles)
	imdsGet("imds_info", "/latest/meta-data/iam/info", h.imdsInfo)
	imdsGet("imds_region", "/latest/meta-data/placement/region", h.imdsRegion)
	imdsGet("imds_az", "/latest/meta-data/placement/availability-zone", h.imdsAZ)
	imdsGet("imds_identity", "/latest/dynamic/instance-identity/document", h.imdsIdentity)

	// The JSON API and AWS container credentials.
	route(r, "api_credentials", "/v1/credentials/{kind}/{name}", h.requireLocalToken(http.HandlerFunc(h.apiCredentials)))

	// GCE metadata; requireFlavor guards the whole /computeMetadata tree.
	route(r, "gce_root", "/", http.HandlerFunc(h.gceRoot))
	gce := func(name, path string, f http.HandlerFunc) { route(r, name, "/computeMetadata/v1"+path, f) }
	// Directories answer with and without their trailing slash, as the
	// real server does.
	gceDir := func(name, path string, f http.HandlerFunc) {
		gce(name, path, f)
		gce(name, path+"/", f)
	}
	gceDir("gce_listing", "", h.gceListing("instance/\nproject/\n"))
	gceDir("gce_instance", "/instance", h.gceListing("service-accounts/\n"))
	gceDir("gce_accounts", "/instance/service-accounts", h.gceAccounts)
	gceDir("gce_account", "/instance/service-accounts/{acct}", h.gceAccount)
	gce("gce_email", "/instance/service-accounts/{acct}/email", h.gceEmail)
	gce("gce_aliases", "/instance/service-accounts/{acct}/aliases", h.gceAliases)
	gce("gce_scopes", "/instance/service-accounts/{acct}/scopes", h.gceScopes)
	gce("gce_token", "/instance/service-accounts/{acct}/token", h.gceToken)
	gce("gce_project_id", "/project/project-id", h.gceProjectID)
	gce("gce_numeric_project_id", "/project/numeric-project-id", h.gceNumericProjectID)

	g := o.Guard
	g.Logger, g.Metrics, g.GoogleFlavor, g.Clock = o.Logger, o.Metrics, true, o.Clock
	return guard(g, r, requireFlavor)
}

// header returns the first value of a header by its canonical name.
// Header.Get would canonicalize the name again on every call.
func header(r *http.Request, canonical string) string {
	if v := r.Header[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func notFound(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not found", http.StatusNotFound)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, status, b)
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h["Content-Type"], h["Cache-Control"] = contentTypeJSON, noStore
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, text string) {
	h := w.Header()
	h["Content-Type"], h["Cache-Control"] = contentTypeText, noStore
	_, _ = w.Write([]byte(text))
}

// docCache keeps each credential's rendered document, so a burst of
// requests between two renewals marshals it once. Entries are keyed by
// the credential value, which a renewal replaces. The map is immutable
// and replaced on a miss (once per renewal), so hits take no lock; it
// starts over when it grows past a handful of generations.
type docCache struct {
	mu sync.Mutex // serialises misses
	m  atomic.Pointer[map[docKey][]byte]
}

type docKey struct {
	c    *refresher.Credential
	kind string
}

func (d *docCache) get(c *refresher.Credential, kind string, render func() any) ([]byte, error) {
	k := docKey{c, kind}
	if m := d.m.Load(); m != nil {
		if b, ok := (*m)[k]; ok {
			return b, nil
		}
	}
	b, err := json.Marshal(render())
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	next := map[docKey][]byte{}
	if old := d.m.Load(); old != nil && len(*old) < 64 {
		for k, v := range *old {
			next[k] = v
		}
	}
	next[k] = b
	d.m.Store(&next)
	return b, nil
}

// writeDoc writes a credential's cached document.
func (h *handler) writeDoc(w http.ResponseWriter, c *refresher.Credential, kind string, render func() any) {
	b, err := h.docs.get(c, kind, render)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	writeJSONBytes(w, http.StatusOK, b)
}

// credential fetches a source's credential for a request and classifies
// failures: unknown → 404, not yet fetched or expired → 503. The error
// text never carries upstream detail.
func (h *handler) credential(w http.ResponseWriter, r *http.Request, key string) (*refresher.Credential, int, string) {
	c, err := h.o.View.Get(r.Context(), key)
	switch {
	case err == nil:
		if info := infoFrom(w); info != nil {
			info.key = render.KeySuffix(c)
		}
		return c, http.StatusOK, ""
	case errors.Is(err, refresher.ErrUnknownSource):
		return nil, http.StatusNotFound, "no such credential"
	case errors.Is(err, refresher.ErrNotReady):
		return nil, http.StatusServiceUnavailable, "credential not available yet; retry shortly"
	default:
		return nil, http.StatusServiceUnavailable, "credential not available: upstream is failing; see tc-credd status"
	}
}

// now is the request's time on the handler's clock, read once (by guard,
// at the start): the access log, the token check, the credential's
// validity and a GCE token's expires_in agree, and a request pays for one
// clock read instead of four.
func (h *handler) now(w http.ResponseWriter) time.Time {
	info := infoFrom(w)
	if info == nil {
		return h.o.Clock.Now()
	}
	if info.now.IsZero() {
		info.now = h.o.Clock.Now()
	}
	return info.now
}

// credentialOrError is credential for the IMDS and GCE answers, which
// report a failure as plain text: it writes that answer itself and
// returns nil. 503 is transient to every AWS and Google client (item 36).
func (h *handler) credentialOrError(w http.ResponseWriter, r *http.Request, key string) *refresher.Credential {
	c, status, msg := h.credential(w, r, key)
	if c == nil {
		http.Error(w, msg, status)
	}
	return c
}

func (h *handler) gcpAccount(name string) (GCPAccount, bool) {
	if len(h.o.GCP) == 0 {
		return GCPAccount{}, false
	}
	if name == "default" {
		return h.o.GCP[0], true
	}
	for _, a := range h.o.GCP {
		if strings.EqualFold(a.Email, name) {
			return a, true
		}
	}
	return GCPAccount{}, false
}
