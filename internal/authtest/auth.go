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
	Hash     string // the Authorization header's payload hash, if any
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
		return nil, deny("Cannot use two authentication schemes at once this request has both bewit in querystring and 'authorization' header")
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
	// The service checks testAuthenticate's tester without its roles.
	expand := s.expanded
	if override != nil {
		expand = sortedScopes
	}
	if hasBewit {
		if berr != nil {
			// The bewit parser's words for its two shared failures.
			switch {
			case errors.Is(berr, hawk.ErrMissingAttrs):
				return nil, deny("Bad Request: Missing bewit attributes")
			case errors.Is(berr, hawk.ErrHeaderTooLong):
				return nil, deny("Bad Request: Resource path exceeds max length")
			}
			return nil, deny(hawkMessage(berr))
		}
		if m := strings.ToUpper(in.Method); m != http.MethodGet && m != http.MethodHead {
			return nil, deny("Unauthorized: Invalid method")
		}
		ident, err := s.resolve(b.ID, b.Ext, lookup, expand, now)
		if err != nil {
			return nil, err
		}
		if err := hawk.VerifyBewit(b, ident.key.Reveal(), hawk.Request{Method: "GET", Resource: signed, Host: in.Host, Port: in.Port}, now); err != nil {
			return nil, deny(hawkMessage(err))
		}
		return &ident.caller, nil
	}
	if in.Authorization == "" {
		return &caller{ClientID: "", Scopes: s.expanded([]string{"assume:anonymous"}), Expires: now.Add(15 * time.Minute), Scheme: "none"}, nil
	}
	a, err := hawk.ParseHeader(in.Authorization)
	if err != nil {
		return nil, deny(hawkMessage(err))
	}
	ident, err := s.resolve(a.ID, a.Ext, lookup, expand, now)
	if err != nil {
		return nil, err
	}
	if err := hawk.VerifyHeader(a, ident.key.Reveal(), hawk.Request{Method: in.Method, Resource: in.Resource, Host: in.Host, Port: in.Port}, now, Skew); err != nil {
		return nil, deny(hawkMessage(err))
	}
	who := ident.caller
	who.Hash = a.Hash
	return &who, nil
}

// hawkMessage words a failure of the Hawk layer as the service passes it
// on: the HTTP reason of the hawk library's error, a colon, its message.
func hawkMessage(err error) string {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "Unauthorized:"):
		// Not a Hawk header at all: the library gives no message, so
		// its reason stands twice.
		return "Unauthorized: Unauthorized"
	case errors.Is(err, hawk.ErrBadMAC), errors.Is(err, hawk.ErrStaleTimestamp), errors.Is(err, hawk.ErrBewitExpired), msg == "Empty bewit":
		return "Unauthorized: " + msg
	}
	return "Bad Request: " + msg
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

func (s *Server) resolve(id, rawExt string, lookup func(string) *Client, expand func([]string) []string, now time.Time) (*identity, error) {
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
		return nil, deny("Client with clientId '" + issuerID + "' not found")
	case issuer.Disabled:
		return nil, deny("Client with clientId '" + issuerID + "' is disabled")
	case issuer.Expires.Before(now):
		return nil, deny("Client with clientId: '" + issuerID + "' has expired")
	}
	key := issuer.AccessToken
	effective := expand(issuer.Scopes)
	expires := issuer.Expires
	if cert != nil {
		if err := cert.Validate(id, now); err != nil {
			msg := err.Error()
			if strings.HasPrefix(msg, "ext.certificate.scopes must be printable") {
				// The service words it as its check of each scope.
				msg = "ext.certificate.scopes must be an array of valid scopes"
			}
			return nil, deny(msg)
		}
		if cert.Issuer != "" && !scopes.Satisfies(effective, "auth:create-client:"+id) {
			return nil, deny("ext.certificate issuer `" + issuerID + "` doesn't have `auth:create-client:" + id + "` for supplied clientId.")
		}
		if missing := scopes.Missing(effective, cert.Scopes); len(missing) > 0 {
			return nil, deny("ext.certificate issuer `" + issuerID + "` doesn't satisfy all certificate scopes " + strings.Join(cert.Scopes, ", ") + ".  The temporary credentials were not generated correctly.")
		}
		if !cert.VerifySignature(id, issuer.AccessToken) {
			if cert.Issuer != "" {
				return nil, deny("ext.certificate.signature is not valid, or wrong clientId provided")
			}
			return nil, deny("ext.certificate.signature is not valid")
		}
		key = hawk.TemporaryAccessToken(issuer.AccessToken, cert.Seed)
		effective = expand(cert.Scopes)
		if e := time.UnixMilli(cert.Expiry); e.Before(expires) {
			expires = e
		}
	}
	if ext.AuthorizedScopes != nil {
		auth := *ext.AuthorizedScopes
		for _, sc := range auth {
			if !scopes.Valid(sc) {
				return nil, deny("ext.authorizedScopes must be an array of valid scopes")
			}
		}
		withAnon := expand(append(append([]string{}, effective...), "assume:anonymous"))
		if missing := scopes.Missing(withAnon, auth); len(missing) > 0 {
			return nil, deny("Supplied credentials do not satisfy authorizedScopes; credentials have scopes:\n\n```\n" + strings.Join(withAnon, "\n") +
				"\n```\n\nauthorizedScopes are:\n\n```\n" + strings.Join(auth, "\n") + "\n```")
		}
		effective = expand(auth)
	}
	effective = expand(append(effective, "assume:anonymous"))
	return &identity{key: key, caller: caller{ClientID: id, Scopes: effective, Expires: expires, Scheme: "hawk"}}, nil
}
