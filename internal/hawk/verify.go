package hawk

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Errors a verifier reports. Their texts are those of mozilla/hawk, which
// the Auth service passes on in 401 messages.
var (
	ErrBadHeaderFormat  = errors.New("Bad header format")
	ErrMissingAttrs     = errors.New("Missing attributes")
	ErrBadMAC           = errors.New("Bad mac")
	ErrStaleTimestamp   = errors.New("Stale timestamp")
	ErrHeaderTooLong    = errors.New("Header length too long")
	ErrInvalidBewit     = errors.New("Invalid bewit structure")
	ErrBewitExpired     = errors.New("Access expired")
	ErrBadBewitEncoding = errors.New("Invalid bewit encoding")
)

// Attributes are the parsed attributes of a Hawk Authorization header.
type Attributes struct {
	ID, TS, Nonce, Hash, Ext, MAC, App, Dlg string
}

var (
	schemeRe    = regexp.MustCompile(`^(\w+)(?:\s+(.*))?$`)
	attrRe      = regexp.MustCompile(`(\w+)="([^"\\]*)"\s*(?:,\s*|$)`)
	attrValueRe = regexp.MustCompile("^[ \\w!#$%&'()*+,\\-./:;<=>?@\\[\\]^`{|}~]+$")
)

// ParseHeader parses an Authorization header as mozilla/hawk does:
// case-insensitive scheme, free attribute order, no duplicates, no unknown
// attributes, and values without '"' or '\'.
func ParseHeader(h string) (*Attributes, error) {
	if len(h) > MaxHeaderLength {
		return nil, ErrHeaderTooLong
	}
	m := schemeRe.FindStringSubmatch(h)
	if m == nil || !strings.EqualFold(m[1], "hawk") {
		return nil, errors.New("Unauthorized: not a Hawk header")
	}
	rest := m[2]
	if rest == "" {
		return nil, errors.New("Invalid header syntax")
	}
	a := &Attributes{}
	fields := map[string]*string{"id": &a.ID, "ts": &a.TS, "nonce": &a.Nonce, "hash": &a.Hash, "ext": &a.Ext, "mac": &a.MAC, "app": &a.App, "dlg": &a.Dlg}
	seen := map[string]bool{}
	var perr error
	left := attrRe.ReplaceAllStringFunc(rest, func(s string) string {
		sm := attrRe.FindStringSubmatch(s)
		key, val := sm[1], sm[2]
		dst, ok := fields[key]
		switch {
		case perr != nil:
		case !ok:
			perr = errors.New("Unknown attribute: " + key)
		case !attrValueRe.MatchString(val):
			perr = errors.New("Bad attribute value: " + key)
		case seen[key]:
			perr = errors.New("Duplicate attribute: " + key)
		default:
			seen[key] = true
			*dst = val
		}
		return ""
	})
	if perr != nil {
		return nil, perr
	}
	if left != "" {
		return nil, ErrBadHeaderFormat
	}
	if a.ID == "" || a.TS == "" || a.Nonce == "" || a.MAC == "" {
		return nil, ErrMissingAttrs
	}
	return a, nil
}

// Request is what a server knows of a request when it verifies it.
type Request struct {
	Method   string
	Resource string // path?query as received (for bewits: with the bewit removed)
	Host     string
	Port     int
}

// VerifyHeader checks a parsed header's MAC with key, then its timestamp
// against now with the allowed skew, in that order (as the server does).
func VerifyHeader(a *Attributes, key string, r Request, now time.Time, skew time.Duration) error {
	ts, err := strconv.ParseInt(a.TS, 10, 64)
	if err != nil {
		return ErrBadMAC
	}
	want := MAC("header", key, Artifacts{Method: r.Method, Resource: r.Resource, Host: r.Host, Port: r.Port, TS: ts, Nonce: a.Nonce, Hash: a.Hash, Ext: a.Ext})
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.MAC)) != 1 {
		return ErrBadMAC
	}
	diff := now.UnixMilli() - ts*1000
	if diff < 0 {
		diff = -diff
	}
	if diff > skew.Milliseconds() {
		return ErrStaleTimestamp
	}
	return nil
}

// Bewit is a decoded bewit.
type Bewit struct {
	ID  string
	Exp int64
	MAC string
	Ext string
}

// bewitRe matches the last bewit parameter, as mozilla/hawk's greedy
// regular expression does.
var (
	bewitRe      = regexp.MustCompile(`^(/.*)([?&])bewit=([^&]*)(?:&(.+))?$`)
	bewitCharsRe = regexp.MustCompile(`^[\w-]*$`)
)

// ExtractBewit finds the bewit in a resource and returns it with the
// resource the bewit signed (the bewit cut out, other parameters in order).
// ok is false when the resource has no bewit.
func ExtractBewit(resource string) (b *Bewit, signed string, ok bool, err error) {
	m := bewitRe.FindStringSubmatch(resource)
	if m == nil {
		return nil, resource, false, nil
	}
	signed = m[1]
	if m[4] != "" {
		signed += m[2] + m[4]
	}
	if len(resource) > MaxHeaderLength {
		return nil, "", true, ErrHeaderTooLong
	}
	raw := m[3]
	if raw == "" {
		return nil, "", true, errors.New("Empty bewit")
	}
	if !bewitCharsRe.MatchString(raw) {
		return nil, "", true, ErrBadBewitEncoding
	}
	dec, derr := base64.RawURLEncoding.DecodeString(raw)
	if derr != nil {
		return nil, "", true, ErrBadBewitEncoding
	}
	parts := strings.Split(string(dec), `\`)
	if len(parts) != 4 {
		return nil, "", true, ErrInvalidBewit
	}
	exp, perr := strconv.ParseInt(parts[1], 10, 64)
	if perr != nil {
		return nil, "", true, ErrInvalidBewit
	}
	if parts[0] == "" || parts[2] == "" {
		return nil, "", true, ErrMissingAttrs
	}
	return &Bewit{ID: parts[0], Exp: exp, MAC: parts[2], Ext: parts[3]}, signed, true, nil
}

// VerifyBewit checks expiry (no skew allowance), then the MAC. r.Resource
// must be the signed resource ExtractBewit returned.
func VerifyBewit(b *Bewit, key string, r Request, now time.Time) error {
	if b.Exp*1000 <= now.UnixMilli() {
		return ErrBewitExpired
	}
	want := MAC("bewit", key, Artifacts{Method: "GET", Resource: r.Resource, Host: r.Host, Port: r.Port, TS: b.Exp, Ext: b.Ext})
	if subtle.ConstantTimeCompare([]byte(want), []byte(b.MAC)) != 1 {
		return ErrBadMAC
	}
	return nil
}
