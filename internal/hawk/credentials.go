package hawk

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/taskcluster/tc-credd/internal/secret"
)

// MaxCertificateLifetime is the longest temporary credential the server
// accepts, less a minute so that a "now" that moves while the certificate
// is built cannot overshoot (taskcluster/taskcluster#3888).
const MaxCertificateLifetime = 31*24*time.Hour - time.Minute

// Credentials are Taskcluster credentials: permanent, or temporary when a
// Certificate is present. AuthorizedScopes nil means "no restriction" and
// an empty non-nil slice means "no scopes"; the two are kept apart.
type Credentials struct {
	ClientID         string
	AccessToken      secret.String
	Certificate      *Certificate
	AuthorizedScopes []string
}

// String names the client without its secret.
func (c *Credentials) String() string {
	if c == nil {
		return "<anonymous>"
	}
	kind := "permanent"
	if c.Certificate != nil {
		kind = "temporary"
	}
	return fmt.Sprintf("%s credentials for %q", kind, c.ClientID)
}

// GoString is the same as String, so %#v cannot reach the token.
func (c *Credentials) GoString() string { return c.String() }

// Certificate is a temporary-credential certificate. Field order follows
// the Go client's output; the server checks fields, not text.
type Certificate struct {
	Version   int      `json:"version"`
	Scopes    []string `json:"scopes"`
	Start     int64    `json:"start"`
	Expiry    int64    `json:"expiry"`
	Seed      string   `json:"seed"`
	Signature string   `json:"signature"`
	Issuer    string   `json:"issuer,omitempty"`
}

// ParseCertificate reads a certificate as TASKCLUSTER_CERTIFICATE carries
// it: JSON text of an object. Empty text means no certificate.
func ParseCertificate(text string) (*Certificate, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, nil
	}
	if !strings.HasPrefix(text, "{") {
		return nil, errors.New("certificate: must be the JSON text of an object")
	}
	var c Certificate
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("certificate: invalid JSON: %w", err)
	}
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	return &c, nil
}

// SignatureString is the text a certificate's signature covers: lines
// joined by "\n" with no trailing newline; the clientId and issuer lines
// only for named credentials.
func (c *Certificate) SignatureString(name string) string {
	lines := []string{"version:" + strconv.Itoa(c.Version)}
	if c.Issuer != "" {
		lines = append(lines, "clientId:"+name, "issuer:"+c.Issuer)
	}
	lines = append(lines,
		"seed:"+c.Seed,
		"start:"+strconv.FormatInt(c.Start, 10),
		"expiry:"+strconv.FormatInt(c.Expiry, 10),
		"scopes:")
	lines = append(lines, c.Scopes...)
	return strings.Join(lines, "\n")
}

// Sign computes the certificate signature with the issuer's access token.
func (c *Certificate) Sign(name string, issuerToken secret.String) string {
	m := hmac.New(sha256.New, []byte(issuerToken.Reveal()))
	m.Write([]byte(c.SignatureString(name)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TemporaryAccessToken derives a temporary credential's access token from
// the issuer's token and the seed; it depends on nothing else.
func TemporaryAccessToken(issuerToken secret.String, seed string) secret.String {
	m := hmac.New(sha256.New, []byte(issuerToken.Reveal()))
	m.Write([]byte(seed))
	return secret.New(base64.RawURLEncoding.EncodeToString(m.Sum(nil)))
}

// TemporaryOptions describe temporary credentials to mint.
type TemporaryOptions struct {
	Name   string // optional: named temporary credentials
	Scopes []string
	Start  time.Time
	Expiry time.Time
	Seed   string // optional; random when empty (44 characters)
}

// CreateTemporaryCredentials mints temporary credentials from permanent
// ones, exactly as the Go, JS and Rust clients do.
func CreateTemporaryCredentials(issuer *Credentials, o TemporaryOptions) (*Credentials, error) {
	if issuer == nil || issuer.ClientID == "" || issuer.AccessToken.IsZero() {
		return nil, errors.New("temporary credentials: need permanent issuer credentials")
	}
	if issuer.Certificate != nil {
		return nil, errors.New("temporary credentials: cannot be created from temporary credentials")
	}
	if o.Expiry.Sub(o.Start) > MaxCertificateLifetime {
		return nil, fmt.Errorf("temporary credentials: lifetime %s exceeds %s", o.Expiry.Sub(o.Start), MaxCertificateLifetime)
	}
	if !o.Expiry.After(o.Start) {
		return nil, errors.New("temporary credentials: expiry must be after start")
	}
	if o.Name == issuer.ClientID {
		return nil, errors.New("temporary credentials: name must differ from the issuer's clientId")
	}
	seed := o.Seed
	if seed == "" {
		b := make([]byte, 33) // 44 base64 characters, the length of two slugids
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("temporary credentials: seed: %w", err)
		}
		seed = base64.RawURLEncoding.EncodeToString(b)
	}
	cert := &Certificate{
		Version: 1,
		Scopes:  append([]string{}, o.Scopes...),
		Start:   o.Start.UnixMilli(),
		Expiry:  o.Expiry.UnixMilli(),
		Seed:    seed,
	}
	id := issuer.ClientID
	if o.Name != "" {
		cert.Issuer = issuer.ClientID
		id = o.Name
	}
	cert.Signature = cert.Sign(id, issuer.AccessToken)
	return &Credentials{
		ClientID:    id,
		AccessToken: TemporaryAccessToken(issuer.AccessToken, seed),
		Certificate: cert,
	}, nil
}

// Ext returns the base64 ext attribute for these credentials: a JSON object
// with the certificate and authorizedScopes when in use, or "" when the
// object would be empty.
func (c *Credentials) Ext() (string, error) {
	if c == nil {
		return "", nil
	}
	obj := map[string]any{}
	if c.Certificate != nil {
		obj["certificate"] = c.Certificate
	}
	if c.AuthorizedScopes != nil {
		obj["authorizedScopes"] = c.AuthorizedScopes
	}
	if len(obj) == 0 {
		return "", nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "", fmt.Errorf("hawk ext: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Ext is the decoded Taskcluster ext object.
type Ext struct {
	Certificate      json.RawMessage `json:"certificate"`
	AuthorizedScopes *[]string       `json:"authorizedScopes"`
}

// ParseExt decodes an ext attribute, accepting either base64 alphabet as
// the server does (Python sends URL-safe with padding).
func ParseExt(ext string) (*Ext, error) {
	if ext == "" {
		return &Ext{}, nil
	}
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(ext); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("Failed to parse ext")
	}
	var e Ext
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, errors.New("Failed to parse ext")
	}
	return &e, nil
}

// CertificateSkew is how far the server lets a certificate's start lie in
// the future and its expiry in the past.
const CertificateSkew = 5 * time.Minute

// Validate applies the server's field rules to a certificate presented
// under Hawk id (signaturevalidator.js), everything but the signature and
// the issuer's scopes, which need the issuer's record.
func (c *Certificate) Validate(id string, now time.Time) error {
	switch {
	case c.Version != 1:
		return errors.New("ext.certificate.version must be 1")
	case len(c.Seed) != 44:
		return errors.New("ext.certificate.seed must be 44 characters")
	case c.Start > now.Add(CertificateSkew).UnixMilli():
		return errors.New("ext.certificate.start > now")
	case c.Expiry < now.Add(-CertificateSkew).UnixMilli():
		return errors.New("ext.certificate.expiry < now")
	case c.Expiry-c.Start > (31 * 24 * time.Hour).Milliseconds():
		return errors.New("ext.certificate cannot last longer than 31 days!")
	case c.Scopes == nil:
		return errors.New("ext.certificate.scopes must be an array")
	case c.Issuer != "" && c.Issuer == id:
		return errors.New("ext.certificate.issuer must differ from the supplied clientId")
	}
	for _, s := range c.Scopes {
		for _, r := range s {
			if r < 0x20 || r > 0x7e {
				return errors.New("ext.certificate.scopes must be printable ASCII")
			}
		}
	}
	return nil
}

// VerifySignature checks the signature, made with the issuer's token, in
// constant time. name is the Hawk id the certificate was presented under.
func (c *Certificate) VerifySignature(name string, issuerToken secret.String) bool {
	return hmac.Equal([]byte(c.Sign(name, issuerToken)), []byte(c.Signature))
}

// IssuerID returns the permanent client that issued the certificate when
// it is presented under Hawk id.
func (c *Certificate) IssuerID(id string) string {
	if c.Issuer != "" {
		return c.Issuer
	}
	return id
}
