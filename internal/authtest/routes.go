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

	"github.com/taskcluster/tc-credd/internal/scopes"
)

// Parameter patterns beyond tcrules' (taskcluster-auth.md §6.1).
var (
	roleIDRe = regexp.MustCompile(`^[\x20-\x7e]+$`)
	limitRe  = regexp.MustCompile(`^[0-9]+$`)
)

// call is one authenticated request as a handler sees it.
type call struct {
	w      http.ResponseWriter
	r      *http.Request
	caller *caller
	body   []byte
}

func (c *call) param(key string) string {
	v, err := url.PathUnescape(mux.Vars(c.r)[key])
	if err != nil {
		return mux.Vars(c.r)[key]
	}
	return v
}

func (c *call) fail(status int, code, msg string) { apiError(c.w, c.r, status, code, msg) }

func (c *call) ok(v any) { writeJSON(c.w, http.StatusOK, v) }

func (c *call) decode(v any) bool {
	dec := json.NewDecoder(strings.NewReader(string(c.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		c.fail(http.StatusBadRequest, "InputValidationError", "Request payload must match the schema: "+err.Error())
		return false
	}
	return true
}

// requireAll answers 403 unless the caller holds every scope.
func (c *call) requireAll(need ...string) bool {
	missing := scopes.Missing(c.caller.Scopes, need)
	if len(missing) == 0 {
		return true
	}
	var unsatisfied any = missing
	if len(missing) == 1 {
		unsatisfied = missing[0]
	}
	var expr any = map[string]any{"AllOf": need}
	if len(need) == 1 {
		expr = need[0]
	}
	insufficientScopes(c.w, c.r, c.caller.ClientID, unsatisfied, expr)
	return false
}

// requireAny answers 403 unless the caller holds one of the scopes.
func (c *call) requireAny(need ...string) bool {
	for _, n := range need {
		if scopes.Satisfies(c.caller.Scopes, n) {
			return true
		}
	}
	expr := map[string]any{"AnyOf": need}
	insufficientScopes(c.w, c.r, c.caller.ClientID, expr, expr)
	return false
}

type handler func(c *call)

// authMode says how an endpoint authenticates.
type authMode int

const (
	authNormal    authMode = iota
	authTester             // testAuthenticate: client "tester" with the body's scopes
	authTesterGet          // testAuthenticateGet: "tester" with fixed scopes
)

func (s *Server) routes() http.Handler {
	r := mux.NewRouter().UseEncodedPath()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, r, http.StatusNotFound, "ResourceNotFound", "No such API endpoint")
	})
	api := r.PathPrefix("/api/auth/v1").Subrouter()
	add := func(name, method, path string, mode authMode, h handler, query ...string) {
		api.Handle(path, s.endpoint(name, mode, h, query)).Methods(method).Name(name)
		if strings.HasSuffix(path, "/") {
			// Routes take an optional trailing slash (non-strict router).
			api.Handle(strings.TrimSuffix(path, "/"), s.endpoint(name, mode, h, query)).Methods(method)
		}
	}
	get, put, post, del := http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete
	add("ping", get, "/ping", authNormal, s.ping)
	add("lbheartbeat", get, "/__lbheartbeat__", authNormal, emptyReply)
	add("version", get, "/__version__", authNormal, version)
	add("heartbeat", get, "/__heartbeat__", authNormal, emptyReply)
	add("listClients", get, "/clients/", authNormal, s.listClients, "prefix", "continuationToken", "limit")
	add("client", get, "/clients/{clientId}", authNormal, s.getClient)
	add("createClient", put, "/clients/{clientId}", authNormal, s.createClient)
	add("resetAccessToken", post, "/clients/{clientId}/reset", authNormal, s.resetAccessToken)
	add("updateClient", post, "/clients/{clientId}", authNormal, s.updateClient)
	add("enableClient", post, "/clients/{clientId}/enable", authNormal, s.setDisabled(false))
	add("disableClient", post, "/clients/{clientId}/disable", authNormal, s.setDisabled(true))
	add("deleteClient", del, "/clients/{clientId}", authNormal, s.deleteClient)
	add("listRoles", get, "/roles/", authNormal, s.listRoles)
	add("listRoles2", get, "/roles2/", authNormal, s.listRoles2, "continuationToken", "limit")
	add("listRoleIds", get, "/roleids/", authNormal, s.listRoleIDs, "continuationToken", "limit")
	add("role", get, "/roles/{roleId}", authNormal, s.getRole)
	add("createRole", put, "/roles/{roleId}", authNormal, s.createRole)
	add("updateRole", post, "/roles/{roleId}", authNormal, s.updateRole)
	add("deleteRole", del, "/roles/{roleId}", authNormal, s.deleteRole)
	add("expandScopes", post, "/scopes/expand", authNormal, s.expandScopes)
	add("currentScopes", get, "/scopes/current", authNormal, currentScopes)
	add("awsS3Credentials", get, "/aws/s3/{level}/{bucket}/{prefix:.*}", authNormal, s.awsS3Credentials, "format")
	add("azureAccounts", get, "/azure/accounts", authNormal, s.azureAccounts)
	add("azureTables", get, "/azure/{account}/tables", authNormal, s.azureList(s.tables, "table"), "continuationToken")
	add("azureTableSAS", get, "/azure/{account}/table/{table}/{level}", authNormal, s.azureSAS("table"))
	add("azureContainers", get, "/azure/{account}/containers", authNormal, s.azureList(s.conts, "container"), "continuationToken")
	add("azureContainerSAS", get, "/azure/{account}/containers/{container}/{level}", authNormal, s.azureSAS("container"))
	add("sentryDSN", get, "/sentry/{project}/dsn", authNormal, s.sentryDSN)
	add("websocktunnelToken", get, "/websocktunnel/{wstAudience}/{wstClient}", authNormal, s.websocktunnelToken)
	add("gcpCredentials", get, "/gcp/credentials/{projectId}/{serviceAccount}", authNormal, s.gcpCredentials)
	add("authenticateHawk", post, "/authenticate-hawk", authNormal, s.authenticateHawk)
	add("testAuthenticate", post, "/test-authenticate", authTester, testAuthenticate)
	add("testAuthenticateGet", get, "/test-authenticate-get/", authTesterGet, testAuthenticateGet)
	return r
}

// endpoint wraps a handler with what every call goes through, in the
// service's order: count and faults (ours), query keys, payload,
// authentication.
func (s *Server) endpoint(name string, mode authMode, h handler, allowedQuery []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, release := s.takeFault(name); applyFault(w, r, f, release, &s.hanging) {
			return
		}
		for key := range r.URL.Query() {
			if key != "bewit" && !contains(allowedQuery, key) {
				apiError(w, r, http.StatusBadRequest, "InvalidRequestArguments", fmt.Sprintf("query parameter %q is not allowed", key))
				return
			}
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20+1))
		if err != nil || len(body) > 10<<20 {
			apiError(w, r, http.StatusRequestEntityTooLarge, "InputTooLarge", "payload too large or unreadable")
			return
		}
		if len(body) > 0 {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			trimmed := strings.TrimSpace(string(body))
			if mt != "application/json" || !json.Valid(body) || (!strings.HasPrefix(trimmed, "{") && !strings.HasPrefix(trimmed, "[")) {
				apiError(w, r, http.StatusBadRequest, "MalformedPayload", "payload must be a JSON object or array sent as application/json")
				return
			}
		}
		var override map[string]*Client
		switch mode {
		case authTester:
			var req struct {
				ClientScopes []string `json:"clientScopes"`
			}
			_ = json.Unmarshal(body, &req)
			override = testers(s, req.ClientScopes)
		case authTesterGet:
			override = testers(s, []string{"test:*", "auth:create-client:test:*"})
		}
		c, err := s.authenticate(requestInput(r), override)
		if err != nil {
			apiError(w, r, http.StatusUnauthorized, "AuthenticationFailed", err.Error())
			return
		}
		h(&call{w: w, r: r, caller: c, body: body})
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
