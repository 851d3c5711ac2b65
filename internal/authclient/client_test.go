package authclient_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/secret"
)

type env struct {
	fake   *authtest.Server
	srv    *httptest.Server
	sleeps *[]time.Duration
}

func newEnv(t *testing.T, o authtest.Options) *env {
	t.Helper()
	fake := authtest.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &env{fake: fake, srv: srv, sleeps: new([]time.Duration)}
}

// client returns a client whose backoff sleeps are recorded, not slept.
func (e *env) client(t *testing.T, creds *hawk.Credentials, mod ...func(*authclient.Options)) *authclient.Client {
	t.Helper()
	var mu sync.Mutex
	o := authclient.Options{
		RootURL:     e.srv.URL,
		Credentials: creds,
		Sleep: func(ctx context.Context, d time.Duration) error {
			mu.Lock()
			*e.sleeps = append(*e.sleeps, d)
			mu.Unlock()
			return ctx.Err()
		},
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := authclient.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) admin(t *testing.T) *authclient.Client {
	tok := e.fake.AddClient("admin", "*")
	return e.client(t, &hawk.Credentials{ClientID: "admin", AccessToken: tok})
}

func TestEveryEndpointRoundTrips(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	c := e.admin(t)
	ctx := context.Background()
	must := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}

	p, err := c.Ping(ctx)
	must("ping", err)
	if !p.Alive {
		t.Error("ping: not alive")
	}
	must("lbheartbeat", c.LBHeartbeat(ctx))
	must("heartbeat", c.Heartbeat(ctx))
	v, err := c.Version(ctx)
	must("version", err)
	if v.Version == "" {
		t.Error("version: empty")
	}

	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Millisecond)
	created, err := c.CreateClient(ctx, "project/x/one", &authclient.ClientRequest{Expires: exp, Description: "d", Scopes: []string{"auth:sentry:x"}})
	must("createClient", err)
	if created.ClientID != "project/x/one" || created.AccessToken.IsZero() || !created.Expires.Equal(exp) {
		t.Errorf("createClient = %+v", created)
	}
	if strings.Contains(fmt.Sprintf("%v %+v", created, created), created.AccessToken.Reveal()) {
		t.Error("createClient response leaks its access token through fmt")
	}
	// The new client works with its token.
	newC := e.client(t, &hawk.Credentials{ClientID: "project/x/one", AccessToken: created.AccessToken})
	_, err = newC.SentryDSN(ctx, "x")
	must("sentryDSN as the new client", err)

	got, err := c.Client(ctx, "project/x/one")
	must("client", err)
	if got.Description != "d" || len(got.Scopes) != 1 {
		t.Errorf("client = %+v", got)
	}
	upd, err := c.UpdateClient(ctx, "project/x/one", &authclient.ClientRequest{Expires: exp, Description: "e"})
	must("updateClient", err)
	if upd.Description != "e" || len(upd.Scopes) != 1 {
		t.Errorf("updateClient must keep omitted scopes: %+v", upd)
	}
	reset, err := c.ResetAccessToken(ctx, "project/x/one")
	must("resetAccessToken", err)
	if reset.AccessToken.Equal(created.AccessToken) {
		t.Error("resetAccessToken returned the old token")
	}
	if _, err := newC.SentryDSN(ctx, "x"); !authclient.IsAuthenticationFailed(err) {
		t.Errorf("old token after reset: %v", err)
	}
	dis, err := c.DisableClient(ctx, "project/x/one")
	must("disableClient", err)
	en, err2 := c.EnableClient(ctx, "project/x/one")
	must("enableClient", err2)
	if !dis.Disabled || en.Disabled {
		t.Errorf("disable/enable: %v %v", dis.Disabled, en.Disabled)
	}
	for i := 0; i < 5; i++ {
		_, err := c.CreateClient(ctx, fmt.Sprintf("project/x/page-%d", i), &authclient.ClientRequest{Expires: exp, Description: "p"})
		must("createClient page", err)
	}
	page, err := c.ListClients(ctx, authclient.ListClientsOptions{Prefix: "project/x/", Limit: 2})
	must("listClients", err)
	if len(page.Clients) != 2 || page.ContinuationToken == "" {
		t.Errorf("listClients page = %d clients, token %q", len(page.Clients), page.ContinuationToken)
	}
	all, err := c.AllClients(ctx, "project/x/")
	must("AllClients", err)
	if len(all) != 6 {
		t.Errorf("AllClients = %d, want 6", len(all))
	}
	must("deleteClient", c.DeleteClient(ctx, "project/x/one"))
	if _, err := c.Client(ctx, "project/x/one"); !authclient.IsNotFound(err) {
		t.Errorf("client after delete: %v", err)
	}

	role, err := c.CreateRole(ctx, "project:x", &authclient.RoleRequest{Description: "r", Scopes: []string{"auth:sentry:from-role"}})
	must("createRole", err)
	if role.RoleID != "project:x" {
		t.Errorf("createRole = %+v", role)
	}
	_, err = c.CreateRole(ctx, "project:y", &authclient.RoleRequest{Description: "r", Scopes: []string{"assume:project:x"}})
	must("createRole y", err)
	r2, err := c.UpdateRole(ctx, "project:y", &authclient.RoleRequest{Description: "r2", Scopes: []string{"assume:project:x", "a:b"}})
	must("updateRole", err)
	// A role's expandedScopes start from assume:<roleId>, so it grants itself.
	if want := []string{"a:b", "assume:project:x", "assume:project:y", "auth:sentry:from-role"}; strings.Join(r2.ExpandedScopes, " ") != strings.Join(want, " ") {
		t.Errorf("expandedScopes = %v", r2.ExpandedScopes)
	}
	rr, err := c.Role(ctx, "project:y")
	must("role", err)
	if rr.Description != "r2" {
		t.Errorf("role = %+v", rr)
	}
	roles, err := c.ListRoles(ctx)
	must("listRoles", err)
	roles2, err := c.ListRoles2(ctx, authclient.PageOptions{Limit: 1})
	must("listRoles2", err)
	ids, err := c.ListRoleIDs(ctx, authclient.PageOptions{})
	must("listRoleIds", err)
	allRoles, err := c.AllRoles(ctx)
	must("AllRoles", err)
	allIDs, err := c.AllRoleIDs(ctx)
	must("AllRoleIDs", err)
	if len(roles) != 2 || len(roles2.Roles) != 1 || roles2.ContinuationToken != "project:y" || len(ids.RoleIDs) != 2 || len(allRoles) != 2 || len(allIDs) != 2 {
		t.Errorf("role listings: %d %d %q %d %d %d", len(roles), len(roles2.Roles), roles2.ContinuationToken, len(ids.RoleIDs), len(allRoles), len(allIDs))
	}
	if _, err := c.ListRoles2(ctx, authclient.PageOptions{ContinuationToken: "nonsense"}); !isStatus(err, 400) {
		t.Errorf("bad continuationToken: %v", err)
	}
	ex, err := c.ExpandScopes(ctx, []string{"assume:project:y"})
	must("expandScopes", err)
	if len(ex.Scopes) != 4 {
		t.Errorf("expandScopes = %v", ex.Scopes)
	}
	must("deleteRole", c.DeleteRole(ctx, "project:y"))
	if _, err := c.Role(ctx, "project:y"); !authclient.IsNotFound(err) {
		t.Errorf("role after delete: %v", err)
	}
	cur, err := c.CurrentScopes(ctx)
	must("currentScopes", err)
	if len(cur.Scopes) != 1 || cur.Scopes[0] != "*" {
		t.Errorf("currentScopes = %v", cur.Scopes)
	}

	s3, err := c.AWSS3Credentials(ctx, authclient.ReadWrite, "my-bucket", "builds/")
	must("awsS3Credentials", err)
	s3b, err := c.AWSS3Credentials(ctx, authclient.ReadOnly, "my-bucket", "builds/")
	must("awsS3Credentials again", err)
	if s3.Credentials.AccessKeyID == "" || s3.Credentials.SecretAccessKey.IsZero() || s3.Credentials.SessionToken.IsZero() {
		t.Errorf("awsS3Credentials incomplete")
	}
	if s3.Credentials.AccessKeyID == s3b.Credentials.AccessKeyID || s3.Credentials.SecretAccessKey.Equal(s3b.Credentials.SecretAccessKey) {
		t.Error("each awsS3Credentials call must mint new keys")
	}
	if d := time.Until(s3.Expires); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("S3 lifetime %s, want 1h", d)
	}
	compat, err := c.AWSS3CredentialsCompat(ctx, authclient.ReadWrite, "my-bucket", "")
	must("awsS3Credentials compat", err)
	if compat.Code != "Success" || compat.Type != "AWS-HMAC" || compat.Token.IsZero() || compat.Expiration.IsZero() || compat.LastUpdated.IsZero() {
		t.Errorf("compat = %+v", compat)
	}

	accts, err := c.AzureAccounts(ctx)
	must("azureAccounts", err)
	if len(accts.Accounts) != 1 {
		t.Fatalf("azureAccounts = %v", accts.Accounts)
	}
	acct := accts.Accounts[0]
	ts, err := c.AzureTableSAS(ctx, acct, "Results", authclient.ReadWrite)
	must("azureTableSAS", err)
	if ts.SAS.IsZero() || strings.HasPrefix(ts.SAS.Reveal(), "?") {
		t.Error("azureTableSAS: sas must be non-empty without a leading ?")
	}
	if d := time.Until(ts.Expiry); d < 24*time.Minute || d > 26*time.Minute {
		t.Errorf("Azure lifetime %s, want 25m", d)
	}
	tables, err := c.AzureTables(ctx, acct, "")
	must("azureTables", err)
	allTables, err := c.AllAzureTables(ctx, acct)
	must("AllAzureTables", err)
	cs, err := c.AzureContainerSAS(ctx, acct, "results", authclient.ReadWrite)
	must("azureContainerSAS", err)
	conts, err := c.AzureContainers(ctx, acct, "")
	must("azureContainers", err)
	allConts, err := c.AllAzureContainers(ctx, acct)
	must("AllAzureContainers", err)
	if len(tables.Tables) != 1 || len(allTables) != 1 || cs.SAS.IsZero() || len(conts.Containers) != 1 || len(allConts) != 1 {
		t.Errorf("azure listings: %v %v %v %v", tables.Tables, allTables, conts.Containers, allConts)
	}
	if _, err := c.AzureTableSAS(ctx, "nosuchacct", "Results", authclient.ReadOnly); !authclient.IsNotFound(err) {
		t.Errorf("unknown account: %v", err)
	}

	dsn, err := c.SentryDSN(ctx, "my-project")
	must("sentryDSN", err)
	if dsn.Project != "my-project" || dsn.DSN.Secret.IsZero() || dsn.DSN.Public.IsZero() || time.Until(dsn.Expires) < 47*time.Hour {
		t.Errorf("sentryDSN = %+v", dsn)
	}
	wst, err := c.WebsocktunnelToken(ctx, "aud", "cli")
	must("websocktunnelToken", err)
	if wst.WstAudience != "aud" || wst.WstClient != "cli" || strings.Count(wst.Token.Reveal(), ".") != 2 || time.Until(wst.Expires) < 95*time.Hour {
		t.Errorf("websocktunnelToken = %+v", wst)
	}
	gcp, err := c.GCPCredentials(ctx, "tc-credd-dev", "builder@tc-credd-dev.iam.gserviceaccount.com")
	must("gcpCredentials", err)
	if gcp.AccessToken.IsZero() || time.Until(gcp.ExpireTime) < 59*time.Minute {
		t.Errorf("gcpCredentials = %+v", gcp)
	}
	if _, err := c.GCPCredentials(ctx, "tc-credd-dev", "evil@other.iam.gserviceaccount.com"); !isStatus(err, 400) {
		t.Errorf("service account not allowed: %v", err)
	}
	if _, err := c.GCPCredentials(ctx, "other-project", "a@tc-credd-dev.iam.gserviceaccount.com"); !authclient.IsNotFound(err) {
		t.Errorf("project not configured: %v", err)
	}

	for name, text := range map[string]string{
		"s3": fmt.Sprintf("%v %+v %#v", s3, s3, s3), "azure": fmt.Sprintf("%v %+v", ts, ts), "sentry": fmt.Sprintf("%+v", dsn),
		"wst": fmt.Sprintf("%+v", wst), "gcp": fmt.Sprintf("%#v", gcp),
	} {
		for _, sec := range []string{s3.Credentials.SecretAccessKey.Reveal(), s3.Credentials.SessionToken.Reveal(), ts.SAS.Reveal(), dsn.DSN.Secret.Reveal(), wst.Token.Reveal(), gcp.AccessToken.Reveal()} {
			if strings.Contains(text, sec) {
				t.Errorf("%s response leaks a secret through fmt: %s", name, text)
			}
		}
	}
}

func isStatus(err error, status int) bool {
	var ae *authclient.Error
	return errors.As(err, &ae) && ae.StatusCode == status
}

func TestAuthenticationEndpoints(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	ctx := context.Background()
	tester := e.client(t, &hawk.Credentials{ClientID: "tester", AccessToken: secret.New("no-secret")})
	res, err := tester.TestAuthenticate(ctx, &authclient.TestAuthenticateRequest{ClientScopes: []string{"x:*"}, RequiredScopes: []string{"x:y"}})
	if err != nil || res.ClientID != "tester" {
		t.Fatalf("testAuthenticate = %+v, %v", res, err)
	}
	_, err = tester.TestAuthenticate(ctx, &authclient.TestAuthenticateRequest{ClientScopes: []string{"x:*"}, RequiredScopes: []string{"z"}})
	if !authclient.IsMissingScopes(err) {
		t.Fatalf("testAuthenticate missing scope: %v", err)
	}
	if got := authclient.MissingScopes(err); len(got) != 1 || got[0] != "z" {
		t.Errorf("MissingScopes = %v", got)
	}
	g, err := tester.TestAuthenticateGet(ctx)
	if err != nil || g.ClientID != "tester" {
		t.Fatalf("testAuthenticateGet = %+v, %v", g, err)
	}
	// authorizedScopes restrict what the tester may do.
	limited := e.client(t, &hawk.Credentials{ClientID: "tester", AccessToken: secret.New("no-secret"), AuthorizedScopes: []string{"test:other"}})
	if _, err := limited.TestAuthenticateGet(ctx); !authclient.IsMissingScopes(err) {
		t.Errorf("authorizedScopes not applied: %v", err)
	}

	// authenticateHawk verifies a header made for another request.
	tok := e.fake.AddClient("svc", "queue:*")
	creds := &hawk.Credentials{ClientID: "svc", AccessToken: tok}
	target := "https://queue.example.com/api/queue/v1/task/abc?x=1"
	u := mustURL(t, target)
	h, err := creds.Header("GET", u, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	anon := e.client(t, nil)
	ok, err := anon.AuthenticateHawk(ctx, &authclient.AuthenticateHawkRequest{Method: "get", Resource: u.RequestURI(), Host: "queue.example.com", Port: 443, Authorization: h})
	if err != nil || ok.Status != "auth-success" || ok.ClientID != "svc" {
		t.Fatalf("authenticateHawk = %+v, %v", ok, err)
	}
	bad, err := anon.AuthenticateHawk(ctx, &authclient.AuthenticateHawkRequest{Method: "get", Resource: u.RequestURI() + "&y=2", Host: "queue.example.com", Port: 443, Authorization: h})
	if err != nil || bad.Status != "auth-failed" || bad.Message == "" {
		t.Fatalf("authenticateHawk with changed query = %+v, %v", bad, err)
	}
	none, err := anon.AuthenticateHawk(ctx, &authclient.AuthenticateHawkRequest{Method: "get", Resource: "/", Host: "h", Port: 80})
	if err != nil || none.Status != "no-auth" {
		t.Fatalf("authenticateHawk without header = %+v, %v", none, err)
	}
}

func TestTypedErrors(t *testing.T) {
	e := newEnv(t, authtest.Options{Buckets: []string{"allowed-bucket"}})
	ctx := context.Background()
	tok := e.fake.AddClient("limited", "auth:aws-s3:read-only:allowed-bucket/ok/*", "auth:get-client:*")
	c := e.client(t, &hawk.Credentials{ClientID: "limited", AccessToken: tok})

	_, err := c.AWSS3Credentials(ctx, authclient.ReadWrite, "allowed-bucket", "ok/x/")
	var ae *authclient.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.Code != "InsufficientScopes" {
		t.Fatalf("missing scope: %v", err)
	}
	if got := ae.MissingScopes(); len(got) != 1 || got[0] != "auth:aws-s3:read-write:allowed-bucket/ok/x/" {
		t.Errorf("MissingScopes = %v", got)
	}
	if !strings.Contains(err.Error(), "auth:aws-s3:read-write:allowed-bucket/ok/x/") {
		t.Errorf("error does not name the scope: %v", err)
	}
	// read-only accepts either scope: both are named.
	_, err = c.AWSS3Credentials(ctx, authclient.ReadOnly, "allowed-bucket", "other/")
	if got := authclient.MissingScopes(err); len(got) != 2 {
		t.Errorf("read-only MissingScopes = %v", got)
	}
	if _, err := c.AWSS3Credentials(ctx, authclient.ReadOnly, "allowed-bucket", "ok/y/"); err != nil {
		t.Errorf("granted call failed: %v", err)
	}
	if _, err := c.Client(ctx, "nobody"); !authclient.IsNotFound(err) {
		t.Errorf("unknown client: %v", err)
	}
	bad := e.client(t, &hawk.Credentials{ClientID: "limited", AccessToken: secret.New("wrong-key")})
	_, err = bad.Client(ctx, "limited")
	if !authclient.IsAuthenticationFailed(err) || !strings.Contains(err.Error(), "Bad mac") {
		t.Errorf("bad key: %v", err)
	}
	if strings.Contains(err.Error(), "wrong-key") {
		t.Error("error leaks the key")
	}
	unknown := e.client(t, &hawk.Credentials{ClientID: "ghost", AccessToken: secret.New("k")})
	if _, err := unknown.CurrentScopes(ctx); !authclient.IsAuthenticationFailed(err) {
		t.Errorf("unknown clientId: %v", err)
	}
	admin := e.admin(t)
	for _, c := range []struct {
		name   string
		err    error
		status int
	}{
		{"dotted bucket", errOf(admin.AWSS3Credentials(ctx, authclient.ReadOnly, "has.dots", "")), 400},
		{"bucket not allowed", errOf(admin.AWSS3Credentials(ctx, authclient.ReadOnly, "other-bucket", "")), 404},
		{"prefix with slash", errOf(admin.AWSS3Credentials(ctx, authclient.ReadOnly, "allowed-bucket", "/abs")), 400},
		{"static client", errOf(admin.CreateClient(ctx, "static/x", &authclient.ClientRequest{Expires: time.Now().Add(time.Hour)})), 400},
		{"scope with **", errOf(admin.CreateClient(ctx, "a", &authclient.ClientRequest{Expires: time.Now().Add(time.Hour), Scopes: []string{"a**"}})), 400},
	} {
		if !isStatus(c.err, c.status) {
			t.Errorf("%s: %v, want %d", c.name, c.err, c.status)
		}
	}
	_, err = admin.CreateClient(ctx, "dup", &authclient.ClientRequest{Expires: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateClient(ctx, "dup", &authclient.ClientRequest{Expires: time.Now().Add(time.Hour)}); !isStatus(err, 409) {
		t.Errorf("duplicate client: %v", err)
	}
	if err := admin.DeleteClient(ctx, "never-existed"); err != nil {
		t.Errorf("deleteClient of a missing client must succeed: %v", err)
	}
}

func errOf[T any](_ T, err error) error { return err }

func TestTemporaryCredentialsAgainstFake(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	ctx := context.Background()
	tok := e.fake.AddClient("issuer", "auth:sentry:*", "auth:create-client:task-client/*")
	perm := &hawk.Credentials{ClientID: "issuer", AccessToken: tok}
	now := time.Now()
	for _, name := range []string{"", "task-client/abc"} {
		tmp, err := hawk.CreateTemporaryCredentials(perm, hawk.TemporaryOptions{Name: name, Scopes: []string{"auth:sentry:p"}, Start: now, Expiry: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		c := e.client(t, tmp)
		if _, err := c.SentryDSN(ctx, "p"); err != nil {
			t.Errorf("named=%q: granted scope refused: %v", name, err)
		}
		if _, err := c.SentryDSN(ctx, "q"); !authclient.IsMissingScopes(err) {
			t.Errorf("named=%q: certificate scopes not applied: %v", name, err)
		}
	}
	// Scopes beyond the issuer's: rejected at authentication.
	over, _ := hawk.CreateTemporaryCredentials(perm, hawk.TemporaryOptions{Scopes: []string{"auth:gcp:*"}, Start: now, Expiry: now.Add(time.Hour)})
	if _, err := e.client(t, over).CurrentScopes(ctx); !authclient.IsAuthenticationFailed(err) {
		t.Errorf("certificate beyond issuer scopes: %v", err)
	}
	// A name the issuer may not create.
	named, _ := hawk.CreateTemporaryCredentials(perm, hawk.TemporaryOptions{Name: "other/x", Scopes: []string{}, Start: now, Expiry: now.Add(time.Hour)})
	if _, err := e.client(t, named).CurrentScopes(ctx); !authclient.IsAuthenticationFailed(err) {
		t.Errorf("named without auth:create-client: %v", err)
	}
	// A certificate left out of ext: "Bad mac".
	stripped := *over
	stripped.Certificate = nil
	stripped.ClientID = "issuer"
	if _, err := e.client(t, &stripped).CurrentScopes(ctx); !authclient.IsAuthenticationFailed(err) {
		t.Errorf("missing certificate: %v", err)
	}
	// authorizedScopes [] means no scopes at all.
	none := &hawk.Credentials{ClientID: "issuer", AccessToken: tok, AuthorizedScopes: []string{}}
	if _, err := e.client(t, none).SentryDSN(ctx, "p"); !authclient.IsMissingScopes(err) {
		t.Errorf("authorizedScopes [] must grant nothing: %v", err)
	}
	// authorizedScopes beyond the client's: rejected at authentication.
	beyond := &hawk.Credentials{ClientID: "issuer", AccessToken: tok, AuthorizedScopes: []string{"auth:gcp:x"}}
	if _, err := e.client(t, beyond).CurrentScopes(ctx); !authclient.IsAuthenticationFailed(err) {
		t.Errorf("authorizedScopes beyond the client: %v", err)
	}
}

func TestClockSkew(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	tok := e.fake.AddClient("c", "auth:sentry:*")
	for _, c := range []struct {
		offset time.Duration
		ok     bool
	}{{14 * time.Minute, true}, {-14 * time.Minute, true}, {16 * time.Minute, false}, {-16 * time.Minute, false}} {
		cl := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok}, func(o *authclient.Options) {
			o.Now = func() time.Time { return time.Now().Add(c.offset) }
		})
		_, err := cl.SentryDSN(context.Background(), "p")
		if (err == nil) != c.ok {
			t.Errorf("offset %s: err = %v", c.offset, err)
		}
		if !c.ok && !strings.Contains(err.Error(), "Stale timestamp") {
			t.Errorf("offset %s: want Stale timestamp, got %v", c.offset, err)
		}
	}
}

func TestURLBuilders(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	tok := e.fake.AddClient("reader", "auth:get-client:*", "auth:aws-s3:read-only:my-bucket/*")
	c := e.client(t, &hawk.Credentials{ClientID: "reader", AccessToken: tok})
	u := c.URL(authclient.ClientRoute("project/a b"))
	if !strings.HasSuffix(u.String(), "/api/auth/v1/clients/project%2Fa%20b") {
		t.Errorf("URL = %s", u)
	}
	gets := []authclient.Route{
		authclient.PingRoute(), authclient.LBHeartbeatRoute(), authclient.VersionRoute(), authclient.HeartbeatRoute(),
		authclient.ListClientsRoute(authclient.ListClientsOptions{Prefix: "r"}), authclient.ClientRoute("reader"),
		authclient.AWSS3CredentialsRoute("read-only", "my-bucket", "a/", true),
	}
	for _, r := range gets {
		signed, err := c.SignedURL(r, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		status := get(t, signed.String())
		want := 200
		if r.Name == "listClients" {
			want = 403 // reader lacks auth:list-clients: the bewit authenticated, the scope check ran
		}
		if status != want {
			t.Errorf("%s signed URL: status %d, want %d", r.Name, status, want)
		}
		if r.Name == "client" {
			tampered := strings.Replace(signed.String(), "clients/reader", "clients/readers", 1)
			if s := get(t, tampered); s != 401 {
				t.Errorf("tampered bewit path: %d", s)
			}
		}
	}
	if _, err := c.SignedURL(authclient.DeleteClientRoute("x"), time.Minute); err == nil {
		t.Error("a DELETE route must not be signed as a URL")
	}
	// Ping takes no credentials at all; a route that needs scopes checks
	// the bewit.
	expired, _ := c.SignedURL(authclient.CurrentScopesRoute(), -time.Second)
	if s := get(t, expired.String()); s != 401 {
		t.Errorf("expired bewit: %d", s)
	}
	// A route with no credentials has an unsigned URL that works anonymously.
	if s := get(t, c.URL(authclient.PingRoute()).String()); s != 200 {
		t.Errorf("unsigned ping: %d", s)
	}
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestNewValidatesRootURL(t *testing.T) {
	for _, bad := range []string{"", "tc.example.com", "ftp://x", "https://x/path", "https://x?q=1"} {
		if _, err := authclient.New(authclient.Options{RootURL: bad}); err == nil {
			t.Errorf("rootUrl %q accepted", bad)
		}
	}
	c, err := authclient.New(authclient.Options{RootURL: "https://tc.example.com///"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.URL(authclient.PingRoute()).String(); got != "https://tc.example.com/api/auth/v1/ping" {
		t.Errorf("URL = %s", got)
	}
}

func TestStaleTimestampReportsSkew(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	tok := e.fake.AddClient("c", "auth:sentry:*")
	ahead := 40 * time.Minute
	cl := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok}, func(o *authclient.Options) {
		o.Now = func() time.Time { return time.Now().Add(ahead) }
	})
	_, err := cl.SentryDSN(context.Background(), "p")
	skew, ok := authclient.ClockSkew(err, time.Now().Add(ahead))
	if !ok || skew < ahead-2*time.Second || skew > ahead+2*time.Second {
		t.Fatalf("ClockSkew = %s, %v; want about %s (err %v)", skew, ok, ahead, err)
	}
	if _, ok := authclient.ClockSkew(errors.New("other"), time.Now()); ok {
		t.Fatal("skew reported for an unrelated error")
	}
}
