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

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/render"
)

// View is the refresher as the endpoints see it: read-only.
type View interface {
	Get(ctx context.Context, key string) (*refresher.Credential, error)
	States() []refresher.State
	Ready() bool
}

// TokenChecker checks the local token presented to /v1/credentials/*.
type TokenChecker interface {
	Check(presented string) bool
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
	Metrics Metrics // optional

	// AWSRoles are the aws sources this listener may list as its one IMDS
	// role, in order: each caller sees the first one its source's rule
	// admits, so on one port each caller gets its own default role. Empty
	// lists none.
	AWSRoles []string
	// AllowIMDSv1 serves IMDS GETs that carry no token. Off by default:
	// the token PUT is what an SSRF cannot send.
	AllowIMDSv1 bool
	// Region enables the IMDS region paths.
	Region string
	// GCP accounts; the first is "default".
	GCP []GCPAccount
	// Token guards /v1/credentials/*; nil turns that API off.
	Token TokenChecker
	// Sessions is the IMDSv2 session store; nil makes a new one.
	Sessions *IMDSSessions
	// Rules restrict sources to callers, by source key ("aws/build"); a
	// source without one serves every caller, as a real IMDS does.
	Rules map[string]*identity.Rule
	// Audit records every hand-out and refusal; optional.
	Audit Auditor
	// APIOnly serves the JSON API and container credentials alone (the
	// Unix socket listener): IMDS and GCE clients only speak TCP.
	APIOnly bool

	Guard GuardOptions
}

// Auditor keeps hand-outs and refusals (the audit file, the metrics, the
// recent receivers); the event itself is logged on the request's
// access-log line.
type Auditor interface {
	Keep(audit.Event)
}

type handler struct {
	o Options
}

// New returns the credential listener's handler.
func New(o Options) http.Handler {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Sessions == nil {
		o.Sessions = NewIMDSSessions(o.Clock)
	}
	h := &handler{o: o}
	r := mux.NewRouter()
	r.Use(nameRoute)
	get := []string{http.MethodGet, http.MethodHead}

	// AWS IMDS at the root: SDKs keep only scheme, host and port. Not on
	// the Unix socket: IMDS clients only speak TCP.
	if !o.APIOnly {
		imds := func(name, path string, f http.HandlerFunc) {
			r.Handle(path, refuseForwarded(h.requireIMDSToken(f))).Methods(get...).Name(name)
		}
		// mux tries routes in order: the path every SDK polls comes first.
		imds("imds_credentials", "/latest/meta-data/iam/security-credentials/{role}", h.imdsCredentials)
		r.Handle("/latest/api/token", refuseForwarded(http.HandlerFunc(h.imdsToken))).Methods(http.MethodPut).Name("imds_token")
		r.HandleFunc("/latest/api/token", methodNotAllowed).Name("imds_token")
		imds("imds_roles", "/latest/meta-data/iam/security-credentials", h.imdsRoles)
		imds("imds_roles", "/latest/meta-data/iam/security-credentials/", h.imdsRoles)
		imds("imds_info", "/latest/meta-data/iam/info", h.imdsInfo)
		imds("imds_region", "/latest/meta-data/placement/region", h.imdsRegion)
		imds("imds_az", "/latest/meta-data/placement/availability-zone", h.imdsAZ)
		imds("imds_identity", "/latest/dynamic/instance-identity/document", h.imdsIdentity)
	}

	// The JSON API and AWS container credentials.
	r.Handle("/v1/credentials/{kind}/{name}", refuseForwarded(h.requireLocalToken(http.HandlerFunc(h.apiCredentials)))).
		Methods(get...).Name("api_credentials")

	// GCE metadata. Directories answer with and without their trailing
	// slash, as the real server does. Not on the Unix socket either.
	if !o.APIOnly {
		r.HandleFunc("/", h.gceRoot).Methods(get...).Name("gce_root")
		gce := func(name, path string, f http.HandlerFunc) {
			r.Handle("/computeMetadata/v1"+path, requireFlavor(f)).Methods(get...).Name(name)
		}
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
	}

	// Unknown paths under /computeMetadata are still GCE paths: without the
	// flavor header they are refused, not reported missing.
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/computeMetadata") {
			requireFlavor(http.HandlerFunc(notFound)).ServeHTTP(w, req)
			return
		}
		notFound(w, req)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)

	return chain(r, observe(o.Logger, o.Metrics, o.Clock), googleFlavor, securityChecks(o.Guard))
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
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeText(w http.ResponseWriter, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(text))
}

// credential fetches a source's credential for a request over protocol
// and classifies failures: a caller the source's rule refuses → 403
// naming the rule (and audited), unknown → 404, not yet fetched or
// expired → 503. The error text never carries upstream detail.
func (h *handler) credential(r *http.Request, protocol, key string) (*refresher.Credential, int, string) {
	if msg := h.refusal(r, protocol, key); msg != "" {
		return nil, http.StatusForbidden, msg
	}
	c, err := h.o.View.Get(r.Context(), key)
	switch {
	case err == nil:
		info(r).keySuffix = render.KeySuffix(c)
		return c, http.StatusOK, ""
	case errors.Is(err, refresher.ErrUnknownSource):
		return nil, http.StatusNotFound, "no such credential"
	case errors.Is(err, refresher.ErrNotReady):
		return nil, http.StatusServiceUnavailable, "credential not available yet; retry shortly"
	default:
		return nil, http.StatusServiceUnavailable, "credential not available: upstream is failing; see tc-credd status"
	}
}

// credentialOrError is credential for the IMDS and GCE answers, which
// report a failure as plain text: it writes that answer itself and
// returns nil. 503 is transient to every AWS and Google client.
func (h *handler) credentialOrError(w http.ResponseWriter, r *http.Request, protocol, key string) *refresher.Credential {
	c, status, msg := h.credential(r, protocol, key)
	if c == nil {
		http.Error(w, msg, status)
	}
	return c
}

// admits reports whether the request's caller may have the source key.
// Only a source with a rule asks the kernel who is calling.
func (h *handler) admits(r *http.Request, key string) bool {
	rule := h.o.Rules[key]
	return rule == nil || rule.Admits(identity.FromContext(r.Context()))
}

// refusal returns why the request's caller may not have the source key,
// auditing the refusal, or "" when it may.
func (h *handler) refusal(r *http.Request, protocol, key string) string {
	if h.admits(r, key) {
		return ""
	}
	caller := identity.FromContext(r.Context())
	msg := h.o.Rules[key].Refusal(key, caller)
	h.record(r, audit.Event{Outcome: audit.Refused, Protocol: protocol, Source: key, Caller: caller, Reason: msg})
	return msg
}

// served audits a credential handed out to the request's caller.
func (h *handler) served(r *http.Request, protocol, key string, c *refresher.Credential) {
	h.record(r, audit.Event{Outcome: audit.Served, Protocol: protocol, Source: key, Caller: identity.FromContext(r.Context()),
		Credential: audit.Identifier(c), Expires: c.Expires})
}

// record puts the event on the request's access-log line and keeps it.
func (h *handler) record(r *http.Request, e audit.Event) {
	e.Time = h.o.Clock.Now()
	info(r).event = &e
	if h.o.Audit != nil {
		h.o.Audit.Keep(e)
	}
}
