// Package authtest is an in-memory Taskcluster Auth service for tests and
// for `tc-credd dev`. It authenticates every request the way the real
// service does (Hawk MAC, ±15 min skew, certificates, named temporary
// credentials, authorizedScopes, role expansion, per-endpoint scopes),
// issues unique credentials with lifetimes a test sets, injects faults and
// counts calls per endpoint.
package authtest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/taskcluster/tc-credd/internal/scopes"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// Lifetimes of issued credentials. Zero fields take the real service's
// values.
type Lifetimes struct {
	S3, GCP, Azure, Sentry, Websocktunnel, GitHub time.Duration
}

// DefaultLifetimes are the real service's.
var DefaultLifetimes = Lifetimes{
	S3:            time.Hour,
	GCP:           time.Hour,
	Azure:         25 * time.Minute,
	Sentry:        48 * time.Hour,
	Websocktunnel: 96 * time.Hour,
	// GitHub decides; its installation tokens live an hour.
	GitHub: time.Hour,
}

// Options configure a Server.
type Options struct {
	// Now is the service's clock, for timestamps, certificates and expiry.
	Now       func() time.Time
	Lifetimes Lifetimes
	// Buckets the S3 backend serves; nil serves every valid bucket name.
	Buckets []string
	// GitHubApps maps each configured GitHub app to the owners it is
	// installed on (lowercase); nil means {"tc-credd-dev": any owner}.
	GitHubApps map[string][]string
	// AzureAccounts served; nil means {"devaccount"}.
	AzureAccounts []string
	// GCPProject is the one GCP project configured; "" means "tc-credd-dev".
	// Service accounts must be <name>@<project>.iam.gserviceaccount.com.
	GCPProject string
}

// Client is a permanent client held by the fake service.
type Client struct {
	ID          string
	AccessToken secret.String
	Scopes      []string
	Description string
	Expires     time.Time
	Disabled    bool
	Created     time.Time
	Modified    time.Time
	DeleteOnExp bool
}

type role struct {
	ID, Description   string
	Scopes            []string
	Created, Modified time.Time
}

// Server is the fake Auth service; it is an http.Handler to mount at the
// root of a test server, whose URL is then the rootUrl.
type Server struct {
	o       Options
	handler http.Handler
	started time.Time

	mu      sync.Mutex
	clients map[string]*Client
	roles   map[string]*role
	tables  map[string]map[string]bool
	conts   map[string]map[string]bool
	calls   map[string]int
	faults  []*faultRule
	release chan struct{}
	wstKey  []byte
	hanging atomic.Int64
	issued  map[string][]secret.String
}

// New returns a fake Auth service with no clients but the test client
// "tester" that testAuthenticate uses.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	lt := &o.Lifetimes
	d := DefaultLifetimes
	for _, p := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&lt.S3, d.S3}, {&lt.GCP, d.GCP}, {&lt.Azure, d.Azure}, {&lt.Sentry, d.Sentry}, {&lt.Websocktunnel, d.Websocktunnel}, {&lt.GitHub, d.GitHub},
	} {
		if *p.v <= 0 {
			*p.v = p.def
		}
	}
	if o.AzureAccounts == nil {
		o.AzureAccounts = []string{"devaccount"}
	}
	if o.GCPProject == "" {
		o.GCPProject = "tc-credd-dev"
	}
	s := &Server{
		o:       o,
		started: o.Now(),
		clients: map[string]*Client{},
		roles:   map[string]*role{},
		tables:  map[string]map[string]bool{},
		conts:   map[string]map[string]bool{},
		calls:   map[string]int{},
		release: make(chan struct{}),
		wstKey:  []byte(randomString(32)),
		issued:  map[string][]secret.String{},
	}
	s.handler = s.routes()
	return s
}

func (s *Server) now() time.Time { return s.o.Now() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// AddClient creates a permanent client with a fresh access token, valid
// for a year, and returns the token.
func (s *Server) AddClient(id string, clientScopes ...string) secret.String {
	tok := secret.New(randomString(44))
	s.PutClient(&Client{ID: id, AccessToken: tok, Scopes: clientScopes, Expires: s.now().Add(365 * 24 * time.Hour)})
	return tok
}

// PutClient stores c as given (replacing any client of the same id).
func (s *Server) PutClient(c *Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *c
	if cp.Created.IsZero() {
		cp.Created = s.now()
		cp.Modified = cp.Created
	}
	cp.Scopes = append([]string{}, c.Scopes...)
	s.clients[c.ID] = &cp
}

// SetClientScopes replaces a client's scopes, e.g. to revoke one mid-test.
func (s *Server) SetClientScopes(id string, clientScopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[id]; ok {
		c.Scopes = append([]string{}, clientScopes...)
	}
}

// PutRole stores a role.
func (s *Server) PutRole(id string, roleScopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.roles[id] = &role{ID: id, Scopes: append([]string{}, roleScopes...), Created: now, Modified: now}
}

// Calls returns how many requests reached an endpoint (by API method name,
// e.g. "awsS3Credentials"), whatever their outcome.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// record notes a credential as issued by endpoint; id is what identifies
// it: the S3 access key id, or the token, SAS or DSN itself.
func (s *Server) record(endpoint, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.issued[endpoint] = append(s.issued[endpoint], secret.New(id))
}

// Issued returns the identifying values of every credential an endpoint
// issued, oldest first, so tests can check that what a consumer received
// is exactly what the service issued.
func (s *Server) Issued(endpoint string) []secret.String {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]secret.String(nil), s.issued[endpoint]...)
}

// TotalCalls returns the number of requests to any endpoint.
func (s *Server) TotalCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		n += c
	}
	return n
}

func (s *Server) expanded(set []string) []string {
	roles := make([]scopes.Role, 0, len(s.roles))
	for _, r := range s.roles {
		roles = append(roles, scopes.Role{ID: r.ID, Scopes: r.Scopes})
	}
	sort.Slice(roles, func(i, j int) bool { return roles[i].ID < roles[j].ID })
	return sortedScopes(scopes.Expand(set, roles))
}

// ExpandedScopes returns a scope set expanded through the stored roles.
func (s *Server) ExpandedScopes(set []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expanded(set)
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randomFrom(chars string, n int) string {
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = chars[k.Int64()]
	}
	return string(b)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorReply writes the service's error body: the message with its
// "---" footer, and requestInfo with the method, the URL parameters, the
// payload and the time.
func (s *Server) errorReply(w http.ResponseWriter, status int, code, message, method string, params any, payload any) {
	now := jsTime(s.now())
	message = fmt.Sprintf("%s\n\n---\n\n* method:     %s\n* errorCode:  %s\n* statusCode: %d\n* time:       %s", message, method, code, status, now)
	s.writeJSON(w, status, map[string]any{
		"code":    code,
		"message": message,
		"requestInfo": map[string]any{
			"method":  method,
			"params":  params,
			"payload": payload,
			"time":    now,
		},
	})
}

// incidentID is a random version-4 UUID, as the service's internal errors
// carry.
func incidentID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func jsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
