package authtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/gorilla/mux"

	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/tcrules"
)

// param is a URL parameter rule: the check, and the pattern as the service
// prints it (a JavaScript regular expression) when the check fails.
type param struct {
	valid func(string) bool
	js    string
}

var (
	roleIDRe      = regexp.MustCompile(`^[\x20-\x7e]+$`)
	wstAudienceRe = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,38}$`)
	wstClientRe   = regexp.MustCompile(`^[a-zA-Z0-9_~.%-]+$`)
)

// serviceParams are the patterns the service applies to a URL parameter
// of that name on every endpoint; routeParams only on one endpoint.
var (
	serviceParams = map[string]param{
		"clientId":  {tcrules.ClientID, `/^[A-Za-z0-9!@/:.+|_-]+$/`},
		"roleId":    {roleIDRe.MatchString, `/^[\x20-\x7e]+$/`},
		"account":   {tcrules.AzureAccount, `/^[a-z0-9]{3,24}$/`},
		"table":     {tcrules.AzureTable, `/^[A-Za-z][A-Za-z0-9]{2,62}$/`},
		"container": {tcrules.AzureContainer, `/^(?!.*[-]{2})[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/`},
		"level":     {tcrules.Level, `/^(read-write|read-only)$/`},
		"bucket":    {tcrules.Bucket, `/^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$/`},
		"project":   {tcrules.SentryProject, `/^[a-zA-Z0-9_-]{1,64}$/`},
	}
	routeParams = map[string]map[string]param{
		"websocktunnelToken": {
			"wstAudience": {wstAudienceRe.MatchString, `/^[a-zA-Z0-9_-]{1,38}$/`},
			"wstClient":   {wstClientRe.MatchString, `/^[a-zA-Z0-9_~.%-]+$/`},
		},
		"githubRepoToken": {
			"appName": {tcrules.GitHubApp, `/^[a-zA-Z0-9_-]+$/`},
			"owner":   {tcrules.GitHubName, `/^[A-Za-z0-9._-]+$/`},
		},
	}
)

// query is a query-string rule: the pattern (unanchored unless it says
// otherwise, as the service's) and its JavaScript spelling.
type query struct {
	re *regexp.Regexp
	js string
}

var (
	qClientID = query{regexp.MustCompile(`^[A-Za-z0-9!@/:.+|_-]+$`), `/^[A-Za-z0-9!@/:.+|_-]+$/`}
	qToken    = query{regexp.MustCompile(`.`), `/./`}
	qLimit    = query{regexp.MustCompile(`^[0-9]+$`), `/^[0-9]+$/`}
	qFormat   = query{regexp.MustCompile(`iam-role-compat`), `/iam-role-compat/`}
	qAnyToken = query{regexp.MustCompile(`^.*$`), `/^.*$/`}
	qDotStar  = query{regexp.MustCompile(`.*`), `/.*/`}
)

// call is one request as a handler sees it. Authentication is lazy, as in
// the service: it happens when an endpoint first checks scopes, so public
// endpoints never look at the Authorization header.
type call struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	name     string
	params   params
	text     []byte // the body, if it was sent as JSON
	payload  any    // the parsed body, or {}
	override map[string]*Client

	authed  bool
	who     *caller
	authErr string
}

func (c *call) param(key string) string { return c.params.vals[key] }

func (c *call) fail(status int, code, msg string) {
	c.s.errorReply(c.w, status, code, msg, c.name, c.params, c.payload)
}

func (c *call) ok(v any) { c.s.writeJSON(c.w, http.StatusOK, v) }

// decode reads the (already validated) payload into v.
func (c *call) decode(v any) {
	_ = json.Unmarshal(c.text, v)
}

// caller authenticates the request once and returns who made it, or the
// service's AuthenticationFailed message.
func (c *call) caller() (*caller, string) {
	if !c.authed {
		c.authed = true
		c.who, c.authErr = c.s.authenticateCall(c)
	}
	return c.who, c.authErr
}

// authorize answers 401 or 403 unless the caller satisfies expr, in the
// service's words.
func (c *call) authorize(expr any) bool {
	who, msg := c.caller()
	if who == nil {
		c.w.Header().Set("WWW-Authenticate", "hawk")
		c.fail(http.StatusUnauthorized, "AuthenticationFailed", msg)
		return false
	}
	u := unsatisfied(who.Scopes, expr)
	if u == nil {
		return true
	}
	if who.Scheme == "none" {
		c.fail(http.StatusForbidden, "InsufficientScopes", "This request requires Taskcluster credentials that satisfy the following scope expression:\n\n```\n"+renderValue(expr)+"\n```")
		return false
	}
	c.fail(http.StatusForbidden, "InsufficientScopes", insufficientScopes(who.ClientID, u, expr))
	return false
}

// insufficientScopes is the service's 403 message for a caller with
// credentials: what is unsatisfied, then the whole requirement.
func insufficientScopes(clientID string, unsatisfied, required any) string {
	return "Client ID " + clientID + " does not have sufficient scopes and is missing the following scopes:\n\n```\n" + renderValue(unsatisfied) +
		"\n```\n\nThis request requires the client to satisfy the following scope expression:\n\n```\n" + renderValue(required) + "\n```"
}

// authenticateCall runs the signature check and, when the header carries
// a payload hash, compares it with the body as received.
func (s *Server) authenticateCall(c *call) (*caller, string) {
	who, err := s.authenticate(requestInput(c.r), c.override)
	if err != nil {
		return nil, err.Error()
	}
	if who.Hash != "" {
		computed := hawk.PayloadHash(c.r.Header.Get("Content-Type"), c.text)
		if computed != who.Hash {
			// The service leaves "{{hash}}" unfilled: the renderer has no
			// value of that name.
			return nil, "Invalid payload hash: {{hash}}\nComputed payload hash: " + computed +
				"\nThis happens when your request carries a signed hash of the payload and the hash doesn't match the hash we've computed on the server-side."
		}
	}
	return who, ""
}

type handler func(c *call)

// route is one endpoint. urlScopes, when set, is its scope requirement
// computed from URL parameters alone: the service checks those before it
// validates the parameters. Endpoints whose requirement needs the payload
// or a computed value call authorize in the handler instead, after
// validation; public endpoints do neither.
type route struct {
	name, method, path string
	query              map[string]query
	input              func(*call) []string // payload schema check; nil: no payload
	inputSchema        string
	urlScopes          func(p map[string]string) any
	override           func(c *call) map[string]*Client
	h                  handler
}

func static(scope string) func(map[string]string) any {
	return func(map[string]string) any { return scope }
}

func (s *Server) routes() http.Handler {
	r := mux.NewRouter().UseEncodedPath()
	// The service's web framework answers any other path, or a known path
	// with another method, with this 404.
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.commonHeaders(w, r)
		s.writeJSON(w, http.StatusNotFound, map[string]string{"error": "Not found"})
	})
	r.NotFoundHandler, r.MethodNotAllowedHandler = notFound, notFound
	api := r.PathPrefix("/api/auth/v1").Subrouter()
	get, put, post, del := http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
	pages := map[string]query{"continuationToken": qToken, "limit": qLimit}
	for _, rt := range []route{
		{name: "ping", method: get, path: "/ping", h: s.ping},
		{name: "lbheartbeat", method: get, path: "/__lbheartbeat__", h: emptyReply},
		{name: "version", method: get, path: "/__version__", h: version},
		{name: "heartbeat", method: get, path: "/__heartbeat__", h: emptyReply},
		{name: "listClients", method: get, path: "/clients/", query: map[string]query{"prefix": qClientID, "continuationToken": qToken, "limit": qLimit}, urlScopes: static("auth:list-clients"), h: s.listClients},
		{name: "client", method: get, path: "/clients/{clientId}", urlScopes: func(p map[string]string) any { return "auth:get-client:" + p["clientId"] }, h: s.getClient},
		{name: "createClient", method: put, path: "/clients/{clientId}", input: validClientRequest, inputSchema: "create-client-request", h: s.createClient},
		{name: "resetAccessToken", method: post, path: "/clients/{clientId}/reset", urlScopes: func(p map[string]string) any { return "auth:reset-access-token:" + p["clientId"] }, h: s.resetAccessToken},
		{name: "updateClient", method: post, path: "/clients/{clientId}", input: validClientRequest, inputSchema: "create-client-request", h: s.updateClient},
		{name: "enableClient", method: post, path: "/clients/{clientId}/enable", urlScopes: func(p map[string]string) any { return "auth:enable-client:" + p["clientId"] }, h: s.setDisabled(false)},
		{name: "disableClient", method: post, path: "/clients/{clientId}/disable", urlScopes: func(p map[string]string) any { return "auth:disable-client:" + p["clientId"] }, h: s.setDisabled(true)},
		{name: "deleteClient", method: del, path: "/clients/{clientId}", urlScopes: func(p map[string]string) any { return "auth:delete-client:" + p["clientId"] }, h: s.deleteClient},
		{name: "listRoles", method: get, path: "/roles/", urlScopes: static("auth:list-roles"), h: s.listRoles},
		{name: "listRoles2", method: get, path: "/roles2/", query: pages, urlScopes: static("auth:list-roles"), h: s.listRoles2},
		{name: "listRoleIds", method: get, path: "/roleids/", query: pages, urlScopes: static("auth:list-roles"), h: s.listRoleIDs},
		{name: "role", method: get, path: "/roles/{roleId}", urlScopes: func(p map[string]string) any { return "auth:get-role:" + p["roleId"] }, h: s.getRole},
		{name: "createRole", method: put, path: "/roles/{roleId}", input: validRoleRequest, inputSchema: "create-role-request", h: s.createRole},
		{name: "updateRole", method: post, path: "/roles/{roleId}", input: validRoleRequest, inputSchema: "create-role-request", h: s.updateRole},
		{name: "deleteRole", method: del, path: "/roles/{roleId}", urlScopes: func(p map[string]string) any { return "auth:delete-role:" + p["roleId"] }, h: s.deleteRole},
		{name: "expandScopes", method: post, path: "/scopes/expand", input: validScopeset, inputSchema: "scopeset", urlScopes: static("auth:expand-scopes"), h: s.expandScopes},
		{name: "currentScopes", method: get, path: "/scopes/current", urlScopes: static("auth:current-scopes"), h: currentScopes},
		{name: "awsS3Credentials", method: get, path: "/aws/s3/{level}/{bucket}/{prefix:.*}", query: map[string]query{"format": qFormat}, h: s.awsS3Credentials},
		{name: "azureAccounts", method: get, path: "/azure/accounts", urlScopes: static("auth:azure-table:list-accounts"), h: s.azureAccounts},
		{name: "azureTables", method: get, path: "/azure/{account}/tables", query: map[string]query{"continuationToken": qAnyToken}, urlScopes: func(p map[string]string) any { return "auth:azure-table:list-tables:" + p["account"] }, h: s.azureList("table")},
		{name: "azureTableSAS", method: get, path: "/azure/{account}/table/{table}/{level}", h: s.azureSAS("table")},
		{name: "azureContainers", method: get, path: "/azure/{account}/containers", query: map[string]query{"continuationToken": qDotStar}, urlScopes: func(p map[string]string) any { return "auth:azure-container:list-containers:" + p["account"] }, h: s.azureList("container")},
		{name: "azureContainerSAS", method: get, path: "/azure/{account}/containers/{container}/{level}", h: s.azureSAS("container")},
		{name: "sentryDSN", method: get, path: "/sentry/{project}/dsn", urlScopes: func(p map[string]string) any { return "auth:sentry:" + p["project"] }, h: s.sentryDSN},
		{name: "websocktunnelToken", method: get, path: "/websocktunnel/{wstAudience}/{wstClient}", urlScopes: func(p map[string]string) any {
			return "auth:websocktunnel-token:" + p["wstAudience"] + "/" + p["wstClient"]
		}, h: s.websocktunnelToken},
		{name: "gcpCredentials", method: get, path: "/gcp/credentials/{projectId}/{serviceAccount}", urlScopes: func(p map[string]string) any {
			return "auth:gcp:access-token:" + p["projectId"] + "/" + p["serviceAccount"]
		}, h: s.gcpCredentials},
		{name: "githubRepoToken", method: post, path: "/github/{appName}/{owner}/repo-token", input: validGitHubRepoTokenRequest, inputSchema: "github-repo-token-request", h: s.githubRepoToken},
		{name: "authenticateHawk", method: post, path: "/authenticate-hawk", input: validHawkRequest, inputSchema: "authenticate-hawk-request", h: s.authenticateHawk},
		{name: "testAuthenticate", method: post, path: "/test-authenticate", input: validTestAuthenticate, inputSchema: "test-authenticate-request", override: func(c *call) map[string]*Client {
			var req struct {
				ClientScopes []string `json:"clientScopes"`
			}
			c.decode(&req)
			return testers(s, req.ClientScopes)
		}, h: testAuthenticate},
		{name: "testAuthenticateGet", method: get, path: "/test-authenticate-get/", override: func(*call) map[string]*Client {
			return testers(s, []string{"test:*", "auth:create-client:test:*"})
		}, h: testAuthenticateGet},
	} {
		api.Handle(rt.path, s.endpoint(rt)).Methods(rt.method)
		if strings.HasSuffix(rt.path, "/") {
			// Routes take an optional trailing slash (non-strict router).
			api.Handle(strings.TrimSuffix(rt.path, "/"), s.endpoint(rt)).Methods(rt.method)
		}
	}
	return r
}

// maxPayload is the service's body size limit.
const maxPayload = 10 << 20

// endpoint wraps a handler with what every call goes through, in the
// service's order: count and faults (ours), body parsing, scopes that
// depend on the URL alone, URL parameters, query string, payload schema.
func (s *Server) endpoint(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.commonHeaders(w, r)
		c := &call{s: s, w: w, r: r, name: rt.name, params: decodedVars(r, rt.path), payload: map[string]any{}}
		if f, release := s.takeFault(rt.name); s.applyFault(c, f, release) {
			return
		}
		if !c.parseBody() {
			return
		}
		if rt.override != nil {
			c.override = rt.override(c)
		}
		if rt.urlScopes != nil && !c.authorize(rt.urlScopes(c.params.vals)) {
			return
		}
		if !c.validParams() || !c.validQuery(rt.query) || !c.validPayload(rt) {
			return
		}
		rt.h(c)
	})
}

// commonHeaders sets what every reply carries. The Date follows the
// service's clock, so a test can set the service apart from the client's
// clock; the API forbids caching.
func (s *Server) commonHeaders(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	if strings.HasPrefix(r.URL.Path, "/api/auth/v1/") {
		w.Header().Set("Cache-Control", "no-store no-cache must-revalidate")
	}
}

// params holds URL parameters, decoded, in the order the route names them
// (the order the service reports invalid ones in).
type params struct {
	keys []string
	vals map[string]string
}

// MarshalJSON writes the parameters as an object, for requestInfo.
func (p params) MarshalJSON() ([]byte, error) { return json.Marshal(p.vals) }

var routeVarRe = regexp.MustCompile(`\{(\w+)`)

func decodedVars(r *http.Request, path string) params {
	p := params{vals: map[string]string{}}
	vars := mux.Vars(r)
	for _, m := range routeVarRe.FindAllStringSubmatch(path, -1) {
		v := vars[m[1]]
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
		p.keys = append(p.keys, m[1])
		p.vals[m[1]] = v
	}
	return p
}

// parseBody keeps a JSON body as text and value. A body of another type
// is ignored, as the service's body parser only reads application/json.
func (c *call) parseBody() bool {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxPayload+1))
	if err != nil || len(body) > maxPayload {
		// The body parser's own error is not one of the service's: it
		// becomes an internal error.
		c.fail(http.StatusInternalServerError, "InternalServerError", "Internal Server Error, incidentId "+incidentID()+".")
		return false
	}
	if !isJSON(c.r) || len(body) == 0 {
		return true
	}
	c.text = body
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		c.fail(http.StatusBadRequest, "MalformedPayload", "Failed to parse JSON: "+err.Error())
		return false
	}
	switch v.(type) {
	case map[string]any, []any:
	default:
		c.fail(http.StatusBadRequest, "MalformedPayload", "Failed to parse JSON: Must be an object or array")
		return false
	}
	c.payload = v
	return true
}

func isJSON(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/json"
}

func (c *call) validParams() bool {
	var errs []string
	for _, k := range c.params.keys {
		p, ok := routeParams[c.name][k]
		if !ok {
			p, ok = serviceParams[k]
		}
		if v := c.params.vals[k]; ok && !p.valid(v) {
			errs = append(errs, "URL parameter '"+k+"' given as '"+v+"' must match regular expression: '"+p.js+"'")
		}
	}
	if len(errs) > 0 {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "Invalid URL patterns:\n"+strings.Join(errs, "\n"))
		return false
	}
	return true
}

func (c *call) validQuery(allowed map[string]query) bool {
	q := c.r.URL.Query()
	// In the order the keys first appear, as the service reports them.
	var keys []string
	for _, kv := range strings.Split(c.r.URL.RawQuery, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k, err := url.QueryUnescape(k); err == nil && k != "" && !contains(keys, k) {
			keys = append(keys, k)
		}
	}
	var errs []string
	for _, k := range keys {
		rule, ok := allowed[k]
		switch {
		case !ok && k != "bewit":
			errs = append(errs, "Query-string parameter: "+k+" is not supported!")
		case !ok:
		case len(q[k]) > 1:
			errs = append(errs, "Query-string parameter: "+k+" must be a string!")
		case !rule.re.MatchString(q.Get(k)):
			errs = append(errs, fmt.Sprintf("Query-string parameter: %s=%q does not match expression: %s", k, q.Get(k), rule.js))
		}
	}
	if len(errs) > 0 {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", strings.Join(errs, "\n"))
		return false
	}
	return true
}

// validPayload checks an endpoint's payload against its schema.
func (c *call) validPayload(rt route) bool {
	if rt.input == nil {
		return true
	}
	if !isJSON(c.r) || (c.r.ContentLength == 0 && len(c.r.TransferEncoding) == 0) {
		ct := "null"
		if v := c.r.Header.Get("Content-Type"); v != "" {
			ct = v
		}
		c.fail(http.StatusBadRequest, "MalformedPayload", "Payload must be JSON with content-type: application/json got content-type: "+ct)
		return false
	}
	if errs := rt.input(c); len(errs) > 0 {
		id := "https://" + c.r.Host + "/schemas/auth/v1/" + rt.inputSchema + ".json#"
		c.fail(http.StatusBadRequest, "InputValidationError", "\nSchema Validation Failed!\nRejecting Schema: "+id+"\nErrors:\n  * "+strings.Join(errs, "\n  * "))
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
