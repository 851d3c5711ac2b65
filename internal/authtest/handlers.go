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
)

func (s *Server) ping(c *call) {
	c.ok(map[string]any{"alive": true, "uptime": s.now().Sub(s.started).Seconds()})
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
	q := c.r.URL.Query()
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
		c.fail(http.StatusBadRequest, "InputError", "Invalid continuation token")
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
		c.fail(http.StatusNotFound, "ResourceNotFound", "Client not found")
	}
	return cl, ok
}

func (s *Server) getClient(c *call) {
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

// starStar answers 400 if a scope ends in "**", which the service
// refuses to store.
func (c *call) starStar(list []string) bool {
	for _, sc := range list {
		if strings.HasSuffix(sc, "**") {
			c.fail(http.StatusBadRequest, "InputError", "scopes must not end with `**`")
			return true
		}
	}
	return false
}

// notStatic answers 400 for the clients the deployment configures.
func (c *call) notStatic(id string) bool {
	if strings.HasPrefix(id, "static/") {
		c.fail(http.StatusBadRequest, "InputError", `clientId "`+id+`" starts with "static/" which is reserved for statically configured clients. Contact your administrator to change static clients.`)
		return false
	}
	return true
}

func (s *Server) createClient(c *call) {
	id := c.param("clientId")
	var req clientRequest
	c.decode(&req)
	var reqScopes []string
	if req.Scopes != nil {
		reqScopes = *req.Scopes
	}
	if !c.notStatic(id) || c.starStar(reqScopes) || !c.authorize(allOfScopes("auth:create-client:"+id, reqScopes)) {
		return
	}
	s.mu.Lock()
	old, exists := s.clients[id]
	// As the service's database: a repeat of a recent, identical create
	// succeeds and returns the same client; anything else conflicts.
	same := exists && !old.Disabled && old.Description == req.Description && old.Expires.Equal(req.Expires) &&
		strings.Join(old.Scopes, "\n") == strings.Join(reqScopes, "\n") && old.Created.After(s.now().Add(-15*time.Minute))
	s.mu.Unlock()
	if exists && !same {
		c.fail(http.StatusConflict, "RequestConflict", "Client already exists")
		return
	}
	if !exists {
		tok := secret.New(randomString(44))
		s.PutClient(&Client{ID: id, AccessToken: tok, Scopes: reqScopes, Description: req.Description, Expires: req.Expires, DeleteOnExp: req.DeleteOnExpiration})
	}
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
	if !c.notStatic(id) {
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
	c.decode(&req)
	if !c.notStatic(id) || (req.Scopes != nil && c.starStar(*req.Scopes)) {
		return
	}
	cl, ok := s.lookupClient(c)
	if !ok {
		return
	}
	s.mu.Lock()
	newScopes := cl.Scopes
	var added []string
	if req.Scopes != nil {
		newScopes = *req.Scopes
		for _, sc := range newScopes {
			if !contains(cl.Scopes, sc) {
				added = append(added, sc)
			}
		}
	}
	s.mu.Unlock()
	if !c.authorize(allOfScopes("auth:update-client:"+id, added)) {
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
	return func(c *call) {
		if !c.notStatic(c.param("clientId")) {
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
	if !c.notStatic(id) {
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
		"expandedScopes": s.expanded([]string{"assume:" + r.ID}),
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
	q := c.r.URL.Query()
	s.mu.Lock()
	page, next, ok := paginate(s.sortedRoleIDs(), q.Get("continuationToken"), q.Get("limit"))
	out := []any{}
	for _, id := range page {
		out = append(out, item(s.roles[id]))
	}
	s.mu.Unlock()
	if !ok {
		c.fail(http.StatusBadRequest, "InputError", "Invalid continuationToken")
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
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.roles[id]
	if !ok {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Role not found")
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
	c.decode(&req)
	if c.starStar(req.Scopes) {
		return
	}
	s.mu.Lock()
	existing, exists := s.roles[id]
	s.mu.Unlock()
	var need []string
	switch {
	case create:
		need = req.Scopes
	case !exists:
		c.fail(http.StatusNotFound, "ResourceNotFound", "Role with roleId '"+id+"' not found")
		return
	default:
		// Only scopes the role did not already grant need the caller's.
		former := s.ExpandedScopes(existing.Scopes)
		for _, sc := range req.Scopes {
			if !scopes.Satisfies(former, sc) {
				need = append(need, sc)
			}
		}
	}
	verb := map[bool]string{true: "create", false: "update"}[create]
	if !c.authorize(allOfScopes("auth:"+verb+"-role:"+id, need)) {
		return
	}
	// The service stores a role's scopes sorted.
	sorted := append([]string{}, req.Scopes...)
	sort.SliceStable(sorted, func(i, j int) bool { return scopeLess(sorted[i], sorted[j]) })
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if create && exists {
		// An identical create succeeds; different content conflicts.
		if existing.Description != req.Description || strings.Join(existing.Scopes, "\n") != strings.Join(sorted, "\n") {
			c.fail(http.StatusConflict, "RequestConflict", "Role with roleId '"+id+"' already exists")
			return
		}
		c.ok(s.roleJSON(existing))
		return
	}
	r := &role{ID: id, Description: req.Description, Scopes: sorted, Created: now, Modified: now}
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
	s.mu.Lock()
	delete(s.roles, id)
	s.mu.Unlock()
	c.w.WriteHeader(http.StatusNoContent)
}

func (s *Server) expandScopes(c *call) {
	var req struct {
		Scopes []string `json:"scopes"`
	}
	c.decode(&req)
	c.ok(map[string]any{"scopes": s.ExpandedScopes(req.Scopes)})
}

func currentScopes(c *call) {
	who, _ := c.caller()
	c.ok(map[string]any{"scopes": who.Scopes})
}

// Cloud credentials.

func (s *Server) awsS3Credentials(c *call) {
	level, bucket, prefix := c.param("level"), c.param("bucket"), c.param("prefix")
	var need any = "auth:aws-s3:read-write:" + bucket + "/" + prefix
	if level == "read-only" {
		need = anyOf{"auth:aws-s3:read-only:" + bucket + "/" + prefix, need}
	}
	if !c.authorize(need) {
		return
	}
	if s.o.Buckets != nil && !contains(s.o.Buckets, bucket) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "No credentials available for bucket "+bucket)
		return
	}
	if strings.HasPrefix(prefix, "/") {
		c.fail(http.StatusBadRequest, "InputError", "The `prefix` may not start with a slash `/`; got `"+prefix+"`")
		return
	}
	// The service passes the format on when it merely contains the word.
	format := ""
	if qFormat.re.MatchString(c.r.URL.Query().Get("format")) {
		format = "iam-role-compat"
	}
	now := s.now()
	// STS expiries are whole seconds.
	expires := now.Add(s.o.Lifetimes.S3).Truncate(time.Second)
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
	c.ok(map[string]any{"accounts": s.o.AzureAccounts})
}

func (s *Server) knownAccount(c *call, account, kind string) bool {
	if !contains(s.o.AzureAccounts, account) {
		// The container endpoints end the sentence with a period.
		end := map[string]string{"table": "", "container": "."}[kind]
		c.fail(http.StatusNotFound, "ResourceNotFound", "Account '"+account+"' not found, can't delegate access"+end)
		return false
	}
	return true
}

// azureList serves azureTables and azureContainers from the resources that
// read-write SAS calls created.
func (s *Server) azureList(kind string) handler {
	store := map[string]map[string]map[string]bool{"table": s.tables, "container": s.conts}[kind]
	return func(c *call) {
		account := c.param("account")
		if !s.knownAccount(c, account, kind) {
			return
		}
		s.mu.Lock()
		var names []string
		for n := range store[account] {
			names = append(names, n)
		}
		s.mu.Unlock()
		sort.Strings(names)
		// Azure's marker is a name: listing resumes at the first name
		// from it on, whether or not that name exists.
		if tok := c.r.URL.Query().Get("continuationToken"); tok != "" {
			names = names[sort.SearchStrings(names, tok):]
		}
		page, next, _ := paginate(names, "", "")
		c.ok(withToken(map[string]any{kind + "s": nonNil(page)}, next))
	}
}

func (s *Server) azureSAS(kind string) handler {
	return func(c *call) {
		account, name, level := c.param("account"), c.param(kind), c.param("level")
		base := "auth:azure-" + kind + ":"
		var need any = base + "read-write:" + account + "/" + name
		if level == "read-only" {
			need = anyOf{base + "read-only:" + account + "/" + name, need}
		}
		if !c.authorize(need) || !s.knownAccount(c, account, kind) {
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
	who, _ := c.caller()
	iat := s.now().Unix()
	exp := time.Unix(iat, 0).Add(s.o.Lifetimes.Websocktunnel)
	// The subject is the caller, the tunnel id the requested client; not
	// before allows 15 minutes of drift.
	token := s.jwt(map[string]any{"tid": client, "aud": aud, "sub": who.ClientID, "iat": iat, "exp": exp.Unix(), "nbf": iat - 900, "iss": "taskcluster-auth"})
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
	if !strings.HasSuffix(sa, "@"+s.o.GCPProject+".iam.gserviceaccount.com") {
		c.fail(http.StatusBadRequest, "InvalidRequestArguments", "The service account "+sa+" isn't allowed")
		return
	}
	if project != s.o.GCPProject {
		c.fail(http.StatusNotFound, "ResourceNotFound", "The projectId "+project+" is not configured")
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
	c.decode(&req)
	who, err := s.authenticate(hawkInput{Method: strings.ToUpper(req.Method), Resource: req.Resource, Host: strings.ToLower(req.Host), Port: req.Port, Authorization: req.Authorization}, nil)
	var out map[string]any
	switch {
	case err != nil:
		out = map[string]any{"status": "auth-failed", "message": err.Error()}
	case who.Scheme == "none":
		out = map[string]any{"status": "no-auth", "scheme": "none", "scopes": who.Scopes, "expires": jsTime(who.Expires)}
	default:
		out = map[string]any{"status": "auth-success", "scheme": "hawk", "scopes": who.Scopes, "clientId": who.ClientID, "expires": jsTime(who.Expires)}
		if who.Hash != "" {
			// The caller checks the payload hash; the service only
			// passes it on.
			out["hash"] = who.Hash
		}
	}
	c.ok(out)
}

// testers is the client table of testAuthenticate: only "tester" with
// access token "no-secret" exists there.
func testers(s *Server, clientScopes []string) map[string]*Client {
	return map[string]*Client{"tester": {ID: "tester", AccessToken: secret.New("no-secret"), Scopes: clientScopes, Expires: s.now().Add(time.Hour)}}
}

// testerReply answers for the tester once it satisfies every required
// scope.
func testerReply(c *call, required []string) {
	if !c.authorize(allOf(nonNilAny(toAny(required)))) {
		return
	}
	who, _ := c.caller()
	c.ok(map[string]any{"clientId": who.ClientID, "scopes": who.Scopes})
}

func toAny(list []string) []any {
	out := make([]any, len(list))
	for i, s := range list {
		out[i] = s
	}
	return out
}

func testAuthenticate(c *call) {
	var req struct {
		RequiredScopes []string `json:"requiredScopes"`
	}
	c.decode(&req)
	testerReply(c, req.RequiredScopes)
}

func testAuthenticateGet(c *call) { testerReply(c, []string{"test:authenticate-get"}) }

// githubRepoToken issues an installation token for the repositories and
// permissions asked, as github.js does: every repository and permission
// needs its own scope, with owner and repository in lowercase.
func (s *Server) githubRepoToken(c *call) {
	var req struct {
		Permissions  map[string]string `json:"permissions"`
		Repositories []string          `json:"repositories"`
	}
	c.decode(&req)
	app, owner := c.param("appName"), strings.ToLower(c.param("owner"))
	perms := make([]string, 0, len(req.Permissions))
	for p := range req.Permissions {
		perms = append(perms, p)
	}
	sort.Strings(perms)
	need := allOf{}
	for _, p := range perms {
		for _, repo := range req.Repositories {
			need = append(need, "auth:github-repo-token:"+app+"/"+owner+"/"+strings.ToLower(repo)+":"+p+":"+req.Permissions[p])
		}
	}
	if !c.authorize(need) {
		return
	}
	owners, configured := s.githubApps()[app]
	if !configured {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Application with name `"+app+"` is not configured")
		return
	}
	if owners != nil && !contains(owners, owner) {
		c.fail(http.StatusNotFound, "ResourceNotFound", "Application with name `"+app+"` is not installed on `"+owner+"`")
		return
	}
	token := "ghs_" + randomFrom(alnum, 36)
	s.record("githubRepoToken", token)
	// GitHub gives whole seconds.
	c.ok(map[string]any{"token": token, "expires": s.now().Add(s.o.Lifetimes.GitHub).UTC().Truncate(time.Second).Format(time.RFC3339)})
}

// githubApps is the configured apps, or the dev app installed everywhere.
func (s *Server) githubApps() map[string][]string {
	if s.o.GitHubApps == nil {
		return map[string][]string{"tc-credd-dev": nil}
	}
	return s.o.GitHubApps
}
