package authtest

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/scopes"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// Skew is the timestamp allowance of the real service.
const Skew = 15 * time.Minute

// caller is an authenticated request's identity.
type caller struct {
	ClientID string
	Scopes   []string // expanded
	Expires  time.Time
	Scheme   string // "hawk" or "none"
}

// authError is a 401 with the service's reason.
type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }

func deny(msg string) error { return &authError{msg} }

// hawkInput is everything the verifier needs from a request, whether it
// arrived as HTTP or as an authenticateHawk body.
type hawkInput struct {
	Method        string
	Resource      string
	Host          string
	Port          int
	Authorization string
}

// requestInput derives the MAC inputs as the API layer does
// (libraries/api/src/middleware/auth.js): resource is the original URL,
// host from Host, port from X-Forwarded-Port, else 443 for
// X-Forwarded-Proto https, else the Host port or 80.
func requestInput(r *http.Request) hawkInput {
	host := r.Host
	port := 80
	if h, p, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		host = h
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	if r.Header.Get("X-Forwarded-Proto") == "https" {
		port = 443
	}
	if xp := r.Header.Get("X-Forwarded-Port"); xp != "" {
		if n, err := strconv.Atoi(xp); err == nil {
			port = n
		}
	}
	return hawkInput{Method: r.Method, Resource: r.RequestURI, Host: strings.ToLower(host), Port: port, Authorization: r.Header.Get("Authorization")}
}

// authenticate verifies a request; override, if non-nil, replaces the
// client table (testAuthenticate's "tester").
func (s *Server) authenticate(in hawkInput, override map[string]*Client) (*caller, error) {
	b, signed, hasBewit, berr := hawk.ExtractBewit(in.Resource)
	if hasBewit && in.Authorization != "" {
		return nil, deny("Cannot use two authentication schemes at once")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lookup := func(id string) *Client {
		if override != nil {
			return override[id]
		}
		return s.clients[id]
	}
	now := s.now()
	if hasBewit {
		if berr != nil {
			return nil, deny(berr.Error())
		}
		if m := strings.ToUpper(in.Method); m != http.MethodGet && m != http.MethodHead {
			return nil, deny("Invalid method")
		}
		if err := checkExpiry(b.Exp, now); err != nil {
			return nil, err
		}
		ident, err := s.resolve(b.ID, b.Ext, lookup, now)
		if err != nil {
			return nil, err
		}
		if err := hawk.VerifyBewit(b, ident.key.Reveal(), hawk.Request{Method: "GET", Resource: signed, Host: in.Host, Port: in.Port}, now); err != nil {
			return nil, deny(err.Error())
		}
		return &ident.caller, nil
	}
	if in.Authorization == "" {
		return &caller{ClientID: "", Scopes: s.expanded([]string{"assume:anonymous"}), Expires: now.Add(15 * time.Minute), Scheme: "none"}, nil
	}
	a, err := hawk.ParseHeader(in.Authorization)
	if err != nil {
		return nil, deny(err.Error())
	}
	ident, err := s.resolve(a.ID, a.Ext, lookup, now)
	if err != nil {
		return nil, err
	}
	if err := hawk.VerifyHeader(a, ident.key.Reveal(), hawk.Request{Method: in.Method, Resource: in.Resource, Host: in.Host, Port: in.Port}, now, Skew); err != nil {
		if errors.Is(err, hawk.ErrStaleTimestamp) {
			return nil, deny("Unauthorized: Stale timestamp")
		}
		return nil, deny(err.Error())
	}
	return &ident.caller, nil
}

func checkExpiry(exp int64, now time.Time) error {
	if exp*1000 <= now.UnixMilli() {
		return deny(hawk.ErrBewitExpired.Error())
	}
	return nil
}

// resolve finds the MAC key and the effective scopes for a Hawk id and
// ext, in the server's order: load the issuer, certificate rules,
// authorizedScopes, expansion. The MAC and timestamp come after, in the
// caller.
// identity is a resolved Hawk id: the MAC key and what it may do.
type identity struct {
	key secret.String
	caller
}

func (s *Server) resolve(id, rawExt string, lookup func(string) *Client, now time.Time) (*identity, error) {
	ext, err := hawk.ParseExt(rawExt)
	if err != nil {
		return nil, deny(err.Error())
	}
	var cert *hawk.Certificate
	if len(ext.Certificate) > 0 && string(ext.Certificate) != "null" {
		if ext.Certificate[0] != '{' {
			return nil, deny("ext.certificate must be a JSON object")
		}
		cert = &hawk.Certificate{}
		if err := json.Unmarshal(ext.Certificate, cert); err != nil {
			return nil, deny("ext.certificate is malformed")
		}
	}
	issuerID := id
	if cert != nil {
		issuerID = cert.IssuerID(id)
	}
	issuer := lookup(issuerID)
	switch {
	case issuer == nil:
		return nil, deny("Client ID " + issuerID + " does not exist")
	case issuer.Disabled:
		return nil, deny("Client ID " + issuerID + " is disabled")
	case !issuer.Expires.After(now):
		return nil, deny("Client ID " + issuerID + " has expired")
	}
	key := issuer.AccessToken
	effective := s.expanded(issuer.Scopes)
	expires := issuer.Expires
	if cert != nil {
		if err := cert.Validate(id, now); err != nil {
			return nil, deny(err.Error())
		}
		if !cert.VerifySignature(id, issuer.AccessToken) {
			return nil, deny("ext.certificate.signature is not valid")
		}
		if cert.Issuer != "" && !scopes.Satisfies(effective, "auth:create-client:"+id) {
			return nil, deny("ext.certificate issuer " + issuerID + " doesn't have `auth:create-client:" + id + "` for supplied clientId.")
		}
		if missing := scopes.Missing(effective, cert.Scopes); len(missing) > 0 {
			return nil, deny("ext.certificate issuer " + issuerID + " doesn't have sufficient scopes: " + joinScopes(missing))
		}
		key = hawk.TemporaryAccessToken(issuer.AccessToken, cert.Seed)
		effective = s.expanded(cert.Scopes)
		if e := time.UnixMilli(cert.Expiry); e.Before(expires) {
			expires = e
		}
	}
	if ext.AuthorizedScopes != nil {
		auth := *ext.AuthorizedScopes
		for _, sc := range auth {
			if !scopes.Valid(sc) {
				return nil, deny("authorizedScopes must be valid scopes")
			}
		}
		withAnon := s.expanded(append(append([]string{}, effective...), "assume:anonymous"))
		if missing := scopes.Missing(withAnon, auth); len(missing) > 0 {
			return nil, deny("Supplied credentials do not satisfy authorizedScopes; credentials have scopes: " + joinScopes(effective) + "; authorizedScopes are: " + joinScopes(auth))
		}
		effective = s.expanded(auth)
	}
	effective = s.expanded(append(effective, "assume:anonymous"))
	return &identity{key: key, caller: caller{ClientID: id, Scopes: effective, Expires: expires, Scheme: "hawk"}}, nil
}
