package authtest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/scopes"
	"github.com/taskcluster/tc-credd/internal/secret"
	"github.com/taskcluster/tc-credd/internal/tcrules"
)

func (s *Server) ping(c *call) {
	c.ok(map[string]any{"alive": true, "uptime": s.now().Sub(time.Unix(0, 0)).Seconds()})
}

func emptyReply(c *call) { c.ok(map[string]any{}) }

func version(c *call) {
	c.ok(map[string]any{"version": "fake", "commit": "0000000", "source": "https://github.com/taskcluster/taskcluster", "build": "authtest"})
}

// Clients.

func (s *Server) clientJSON(cl *Client) map[string]any {
	return map[string]any{
		"clientId":           cl.ID,
		"description":        cl.Description,
		"expires":            jsTime(cl.Expires),
		"created":            jsTime(cl.Created),
		"lastModified":       jsTime(cl.Modified),
		"lastDateUsed":       jsTime(cl.Created),
		"lastRotated":        jsTime(cl.Created),
		"scopes":             nonNil(cl.Scopes),
		"expandedScopes":     s.expanded(cl.Scopes),
		"disabled":           cl.Disabled,
		"deleteOnExpiration": cl.DeleteOnExp,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) listClients(c *call) {
	if !c.requireAll("auth:list-clients") {
		return
	}
	q := c.r.URL.Query()
	if l := q.Get("limit"); l != "" && !limitRe.MatchString(l) {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "limit must match ^[0-9]+$")
		return
	}
	s.mu.Lock()
	var ids []string
	for id := range s.clients {
		if strings.HasPrefix(id, q.Get("prefix")) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	page, next, ok := paginate(ids, q.Get("continuationToken"), q.Get("limit"))
	out := []map[string]any{}
	for _, id := range page {
		out = append(out, s.clientJSON(s.clients[id]))
	}
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusBadRequest, "InputError", "invalid continuationToken")
		return
	}
	c.ok(withToken(map[string]any{"clients": out}, next))
}

// paginate pages a sorted id list: the token is the first id of the next
// page. A limit of 0 or none means 1000.
func paginate(ids []string, token, limit string) (page []string, next string, ok bool) {
	n := 1000
	if l, err := strconv.Atoi(limit); err == nil && l > 0 && l < n {
		n = l
	}
	start := 0
	if token != "" {
		start = sort.SearchStrings(ids, token)
		if start >= len(ids) || ids[start] != token {
			return nil, "", false
		}
	}
	end := min(start+n, len(ids))
	if end < len(ids) {
		next = ids[end]
	}
	return ids[start:end], next, true
}

func withToken(m map[string]any, next string) map[string]any {
	if next != "" {
		m["continuationToken"] = next
	}
	return m
}

func (s *Server) lookupClient(c *call) (*Client, bool) {
	id := c.param("clientId")
	s.mu.Lock()
	cl, ok := s.clients[id]
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Client "+id+" not found")
	}
	return cl, ok
}

func (s *Server) getClient(c *call) {
	if !c.requireAll("auth:get-client:" + c.param("clientId")) {
		return
	}
	if cl, ok := s.lookupClient(c); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		c.ok(s.clientJSON(cl))
	}
}

type clientRequest struct {
	Expires            time.Time `json:"expires"`
	Description        string    `json:"description"`
	Scopes             *[]string `json:"scopes"`
	DeleteOnExpiration bool      `json:"deleteOnExpiration"`
}

func badScopes(list []string) bool {
	for _, sc := range list {
		if !scopes.Valid(sc) || strings.HasSuffix(sc, "**") {
			return true
		}
	}
	return false
}

func (c *call) validClientID(id string) bool {
	if !tcrules.ClientID(id) {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "clientId must match ^[A-Za-z0-9!@/:.+|_-]+$")
		return false
	}
	if strings.HasPrefix(id, "static/") {
		c.fail(http.StatusBadRequest, "InputError", "static clients cannot be changed through the API")
		return false
	}
	return true
}

func (s *Server) createClient(c *call) {
	id := c.param("clientId")
	var req clientRequest
	if !c.validClientID(id) || !c.decode(&req) {
		return
	}
	var reqScopes []string
	if req.Scopes != nil {
		reqScopes = *req.Scopes
	}
	if badScopes(reqScopes) {
		c.fail(http.StatusBadRequest, "InputError", "scopes must be valid and may not end in **")
		return
	}
	if !c.requireAll(append([]string{"auth:create-client:" + id}, reqScopes...)...) {
		return
	}
	s.mu.Lock()
	_, exists := s.clients[id]
	s.mu.Unlock()
	if exists {
		c.fail(http.StatusConflict, "RequestConflict", "Client already exists")
		return
	}
	tok := secret.New(randomString(44))
	s.PutClient(&Client{ID: id, AccessToken: tok, Scopes: reqScopes, Description: req.Description, Expires: req.Expires, DeleteOnExp: req.DeleteOnExpiration})
	s.replyWithToken(c, id)
}

// replyWithToken answers with a client and its access token; this is the
// one place the fake service reveals a client's token.
func (s *Server) replyWithToken(c *call, id string) {
	s.mu.Lock()
	cl := s.clients[id]
	out := s.clientJSON(cl)
	out["accessToken"] = cl.AccessToken.Reveal()
	s.mu.Unlock()
	c.ok(out)
}

func (s *Server) resetAccessToken(c *call) {
	id := c.param("clientId")
	if !c.validClientID(id) || !c.requireAll("auth:reset-access-token:"+id) {
		return
	}
	if _, ok := s.lookupClient(c); !ok {
		return
	}
	s.mu.Lock()
	s.clients[id].AccessToken = secret.New(randomString(44))
	s.clients[id].Modified = s.now()
	s.mu.Unlock()
	s.replyWithToken(c, id)
}

func (s *Server) updateClient(c *call) {
	id := c.param("clientId")
	var req clientRequest
	if !c.validClientID(id) || !c.decode(&req) {
		return
	}
	cl, ok := s.lookupClient(c)
	if !ok {
		return
	}
	s.mu.Lock()
	newScopes := cl.Scopes
	if req.Scopes != nil {
		newScopes = *req.Scopes
	}
	added := scopes.Missing(cl.Scopes, newScopes)
	s.mu.Unlock()
	if badScopes(newScopes) {
		c.fail(http.StatusBadRequest, "InputError", "scopes must be valid and may not end in **")
		return
	}
	if !c.requireAll(append([]string{"auth:update-client:" + id}, added...)...) {
		return
	}
	s.mu.Lock()
	cl.Scopes = append([]string{}, newScopes...)
	cl.Description, cl.Expires, cl.DeleteOnExp, cl.Modified = req.Description, req.Expires, req.DeleteOnExpiration, s.now()
	out := s.clientJSON(cl)
	s.mu.Unlock()
	c.ok(out)
}

func (s *Server) setDisabled(disabled bool) handler {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	return func(c *call) {
		id := c.param("clientId")
		if !c.validClientID(id) || !c.requireAll("auth:"+verb+"-client:"+id) {
			return
		}
		cl, ok := s.lookupClient(c)
		if !ok {
			return
		}
		s.mu.Lock()
		cl.Disabled = disabled
		out := s.clientJSON(cl)
		s.mu.Unlock()
		c.ok(out)
	}
}

func (s *Server) deleteClient(c *call) {
	id := c.param("clientId")
	if !c.validClientID(id) || !c.requireAll("auth:delete-client:"+id) {
		return
	}
	s.mu.Lock()
	delete(s.clients, id)
	s.mu.Unlock()
	c.w.WriteHeader(http.StatusNoContent)
}

// Roles.

func (s *Server) roleJSON(r *role) map[string]any {
	return map[string]any{
		"roleId":         r.ID,
		"description":    r.Description,
		"scopes":         nonNil(r.Scopes),
		"expandedScopes": s.expanded(r.Scopes),
		"created":        jsTime(r.Created),
		"lastModified":   jsTime(r.Modified),
	}
}

func (s *Server) sortedRoleIDs() []string {
	ids := make([]string, 0, len(s.roles))
	for id := range s.roles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (s *Server) listRoles(c *call) {
	if !c.requireAll("auth:list-roles") {
		return
	}
	s.mu.Lock()
	out := []map[string]any{}
	for _, id := range s.sortedRoleIDs() {
		out = append(out, s.roleJSON(s.roles[id]))
	}
	s.mu.Unlock()
	c.ok(out)
}

// rolePage serves listRoles2 and listRoleIds: one page of sorted role ids
// rendered by item under key.
func (s *Server) rolePage(c *call, key string, item func(*role) any) {
	if !c.requireAll("auth:list-roles") {
		return
	}
	q := c.r.URL.Query()
	s.mu.Lock()
	page, next, ok := paginate(s.sortedRoleIDs(), q.Get("continuationToken"), q.Get("limit"))
	out := []any{}
	for _, id := range page {
		out = append(out, item(s.roles[id]))
	}
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusBadRequest, "InputError", "invalid continuationToken")
		return
	}
	c.ok(withToken(map[string]any{key: out}, next))
}

func (s *Server) listRoles2(c *call) {
	s.rolePage(c, "roles", func(r *role) any { return s.roleJSON(r) })
}

func (s *Server) listRoleIDs(c *call) {
	s.rolePage(c, "roleIds", func(r *role) any { return r.ID })
}

func (s *Server) getRole(c *call) {
	id := c.param("roleId")
	if !c.requireAll("auth:get-role:" + id) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[id]
	if !ok {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Role "+id+" not found")
		return
	}
	c.ok(s.roleJSON(r))
}

type roleRequest struct {
	Description string   `json:"description"`
	Scopes      []string `json:"scopes"`
}

func (s *Server) writeRole(c *call, create bool) {
	id := c.param("roleId")
	var req roleRequest
	if !roleIDRe.MatchString(id) {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "roleId must be printable ASCII")
		return
	}
	if !c.decode(&req) {
		return
	}
	if badScopes(req.Scopes) {
		c.fail(http.StatusBadRequest, "InputError", "scopes must be valid and may not end in **")
		return
	}
	s.mu.Lock()
	existing, exists := s.roles[id]
	s.mu.Unlock()
	verb, need := "update", req.Scopes
	if create {
		verb = "create"
	} else if !exists {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Role "+id+" not found")
		return
	} else {
		need = scopes.Missing(existing.Scopes, req.Scopes)
	}
	if !c.requireAll(append([]string{"auth:" + verb + "-role:" + id}, need...)...) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if create && exists {
		// An identical create succeeds; different content conflicts.
		if existing.Description != req.Description || strings.Join(existing.Scopes, "\n") != strings.Join(req.Scopes, "\n") {
			c.fail(http.StatusConflict, "RequestConflict", "Role with same roleId already exists")
			return
		}
		c.ok(s.roleJSON(existing))
		return
	}
	r := &role{ID: id, Description: req.Description, Scopes: append([]string{}, req.Scopes...), Created: now, Modified: now}
	if exists {
		r.Created = existing.Created
	}
	s.roles[id] = r
	c.ok(s.roleJSON(r))
}

func (s *Server) createRole(c *call) { s.writeRole(c, true) }
func (s *Server) updateRole(c *call) { s.writeRole(c, false) }

func (s *Server) deleteRole(c *call) {
	id := c.param("roleId")
	if !c.requireAll("auth:delete-role:" + id) {
		return
	}
	s.mu.Lock()
	delete(s.roles, id)
	s.mu.Unlock()
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) expandScopes(c *call) {
	var req struct {
		Scopes []string `json:"scopes"`
	}
	if !c.requireAll("auth:expand-scopes") || !c.decode(&req) {
		return
	}
	c.ok(map[string]any{"scopes": s.ExpandedScopes(req.Scopes)})
}

func currentScopes(c *call) {
	if !c.requireAll("auth:current-scopes") {
		return
	}
	c.ok(map[string]any{"scopes": nonNil(c.caller.Scopes)})
}

// Cloud credentials.

func (s *Server) awsS3Credentials(c *call) {
	level, bucket, prefix := c.param("level"), c.param("bucket"), c.param("prefix")
	if !tcrules.Level(level) || !tcrules.Bucket(bucket) {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "level must be read-write or read-only and bucket must match ^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
		return
	}
	format := c.r.URL.Query().Get("format")
	if format != "" && format != "iam-role-compat" {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "format must be iam-role-compat")
		return
	}
	rw := "auth:aws-s3:read-write:" + bucket + "/" + prefix
	if level == "read-write" && !c.requireAll(rw) {
		return
	}
	if level == "read-only" && !c.requireAny("auth:aws-s3:read-only:"+bucket+"/"+prefix, rw) {
		return
	}
	if s.o.Buckets != nil && !contains(s.o.Buckets, bucket) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Bucket "+bucket+" is not allowed")
		return
	}
	if strings.HasPrefix(prefix, "/") {
		c.fail(http.StatusBadRequest, "InputError", "The `prefix` may not start with `/`")
		return
	}
	now := s.now()
	expires := now.Add(s.o.Lifetimes.S3)
	keyID := "ASIA" + randomFrom("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	secretKey := randomFrom(alnum+"+/", 40)
	token := "FwoGZXIvYXdzE" + randomFrom(alnum+"+/", 300)
	s.record("awsS3Credentials", keyID)
	if format == "iam-role-compat" {
		// Written in the service's key order, without schema validation.
		writeOrdered(c.w, []kv{{"Code", "Success"}, {"Type", "AWS-HMAC"}, {"LastUpdated", jsTime(now)},
			{"AccessKeyId", keyID}, {"SecretAccessKey", secretKey}, {"Token", token}, {"Expiration", jsTime(expires)}})
		return
	}
	c.ok(map[string]any{
		"credentials": map[string]any{"accessKeyId": keyID, "secretAccessKey": secretKey, "sessionToken": token},
		"expires":     jsTime(expires),
	})
}

type kv struct{ k, v string }

func writeOrdered(w http.ResponseWriter, fields []kv) {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		v, _ := json.Marshal(f.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

func (s *Server) azureAccounts(c *call) {
	if !c.requireAll("auth:azure-table:list-accounts") {
		return
	}
	c.ok(map[string]any{"accounts": s.o.AzureAccounts})
}

func (s *Server) knownAccount(c *call, account string) bool {
	if !contains(s.o.AzureAccounts, account) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Account "+account+" not found, can't list tables or containers")
		return false
	}
	return true
}

// azureList serves azureTables and azureContainers from the resources that
// read-write SAS calls created.
func (s *Server) azureList(store map[string]map[string]bool, kind string) handler {
	return func(c *call) {
		account := c.param("account")
		if !c.requireAll("auth:azure-" + map[string]string{"table": "table:list-tables:", "container": "container:list-containers:"}[kind] + account) {
			return
		}
		if !s.knownAccount(c, account) {
			return
		}
		s.mu.Lock()
		var names []string
		for n := range store[account] {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		page, next, ok := paginate(names, c.r.URL.Query().Get("continuationToken"), "")
		if !ok {
			c.fail(http.StatusBadRequest, "InputError", "invalid continuationToken")
			return
		}
		c.ok(withToken(map[string]any{kind + "s": nonNil(page)}, next))
	}
}

func (s *Server) azureSAS(kind string) handler {
	return func(c *call) {
		account, name, level := c.param("account"), c.param(kind), c.param("level")
		valid := map[string]func(string) bool{"table": tcrules.AzureTable, "container": tcrules.AzureContainer}[kind]
		if !tcrules.AzureAccount(account) || !valid(name) || !tcrules.Level(level) {
			c.fail(http.StatusBadRequest, "InvalidRequestArguments", "account, "+kind+" or level is malformed")
			return
		}
		base := "auth:azure-" + kind + ":"
		need := []string{base + level + ":" + account + "/" + name}
		if level == "read-only" {
			need = append(need, base+"read-write:"+account+"/"+name)
		}
		if !c.requireAny(need...) || !s.knownAccount(c, account) {
			return
		}
		store := map[string]map[string]map[string]bool{"table": s.tables, "container": s.conts}[kind]
		s.mu.Lock()
		if level == "read-write" {
			if store[account] == nil {
				store[account] = map[string]bool{}
			}
			store[account][name] = true
		}
		s.mu.Unlock()
		now := s.now()
		expiry := now.Add(s.o.Lifetimes.Azure)
		perm := map[string]string{"table-read-only": "r", "table-read-write": "raud", "container-read-only": "rl", "container-read-write": "racwdl"}[kind+"-"+level]
		sas := "sv=2014-02-14&" + kind[:1] + "n=" + name + "&sp=" + perm +
			"&st=" + now.Add(-15*time.Minute).UTC().Format(time.RFC3339) + "&se=" + expiry.UTC().Format(time.RFC3339) +
			"&sig=" + randomFrom(alnum, 43) + "%3D"
		s.record("azure"+strings.ToUpper(kind[:1])+kind[1:]+"SAS", sas)
		c.ok(map[string]any{"sas": sas, "expiry": jsTime(expiry)})
	}
}

func (s *Server) sentryDSN(c *call) {
	project := c.param("project")
	if !tcrules.SentryProject(project) {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "project must match ^[a-zA-Z0-9_-]{1,64}$")
		return
	}
	if !c.requireAll("auth:sentry:" + project) {
		return
	}
	pub, sec := strings.ToLower(randomFrom(alnum, 32)), strings.ToLower(randomFrom(alnum, 32))
	host := "sentry.example.com/" + strconv.Itoa(1000+len(project))
	s.record("sentryDSN", "https://"+pub+":"+sec+"@"+host)
	c.ok(map[string]any{
		"project": project,
		"dsn": map[string]any{
			"secret": "https://" + pub + ":" + sec + "@" + host,
			"public": "https://" + pub + "@" + host,
		},
		"expires": jsTime(s.now().Add(s.o.Lifetimes.Sentry)),
	})
}

func (s *Server) websocktunnelToken(c *call) {
	aud, client := c.param("wstAudience"), c.param("wstClient")
	if !c.requireAll("auth:websocktunnel-token:" + aud + "/" + client) {
		return
	}
	now := s.now()
	exp := now.Add(s.o.Lifetimes.Websocktunnel)
	token := s.jwt(map[string]any{"tid": client, "aud": aud, "sub": client, "iss": "taskcluster-auth", "iat": now.Unix(), "nbf": now.Add(-15 * time.Minute).Unix(), "exp": exp.Unix(), "jti": randomString(16)})
	s.record("websocktunnelToken", token)
	c.ok(map[string]any{"wstClient": client, "wstAudience": aud, "token": token, "expires": jsTime(exp)})
}

// jwt signs claims with HS256, as websocktunnel.js does.
func (s *Server) jwt(claims map[string]any) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	unsigned := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, s.wstKey)
	m.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(m.Sum(nil))
}

func (s *Server) gcpCredentials(c *call) {
	project, sa := c.param("projectId"), c.param("serviceAccount")
	if !c.requireAll("auth:gcp:access-token:" + project + "/" + sa) {
		return
	}
	if project != s.o.GCPProject {
		c.fail(http.StatusNotFound, "ResourceNotFound", "The projectId "+project+" is not configured")
		return
	}
	if !strings.HasSuffix(sa, "@"+project+".iam.gserviceaccount.com") {
		c.fail(http.StatusBadRequest, "InputError", "The service account "+sa+" is not allowed")
		return
	}
	token := "ya29.fake." + randomString(120)
	s.record("gcpCredentials", token)
	c.ok(map[string]any{"accessToken": token, "expireTime": s.now().Add(s.o.Lifetimes.GCP).UTC().Format(time.RFC3339)})
}

// Authentication endpoints.

func (s *Server) authenticateHawk(c *call) {
	var req struct {
		Method        string `json:"method"`
		Resource      string `json:"resource"`
		Host          string `json:"host"`
		Port          int    `json:"port"`
		Authorization string `json:"authorization"`
		SourceIP      string `json:"sourceIp"`
	}
	if !c.decode(&req) {
		return
	}
	who, err := s.authenticate(hawkInput{Method: strings.ToUpper(req.Method), Resource: req.Resource, Host: strings.ToLower(req.Host), Port: req.Port, Authorization: req.Authorization}, nil)
	switch {
	case err != nil:
		c.ok(map[string]any{"status": "auth-failed", "message": err.Error()})
	case who.Scheme == "none":
		c.ok(map[string]any{"status": "no-auth", "scheme": "none", "scopes": who.Scopes, "expires": jsTime(who.Expires)})
	default:
		c.ok(map[string]any{"status": "auth-success", "scheme": "hawk", "scopes": who.Scopes, "clientId": who.ClientID, "expires": jsTime(who.Expires)})
	}
}

// testers is the client table of testAuthenticate: only "tester" with
// access token "no-secret" exists there.
func testers(s *Server, clientScopes []string) map[string]*Client {
	return map[string]*Client{"tester": {ID: "tester", AccessToken: secret.New("no-secret"), Scopes: clientScopes, Expires: s.now().Add(time.Hour)}}
}

func testAuthenticate(c *call) {
	var req struct {
		ClientScopes   []string `json:"clientScopes"`
		RequiredScopes []string `json:"requiredScopes"`
	}
	if !c.decode(&req) || !c.requireAll(req.RequiredScopes...) {
		return
	}
	c.ok(map[string]any{"clientId": c.caller.ClientID, "scopes": c.caller.Scopes})
}

func testAuthenticateGet(c *call) {
	if !c.requireAll("test:authenticate-get") {
		return
	}
	c.ok(map[string]any{"clientId": c.caller.ClientID, "scopes": c.caller.Scopes})
}
