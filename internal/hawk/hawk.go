// Package hawk implements the Hawk HTTP authentication scheme as the
// Taskcluster Auth service uses it (the npm package hawk 9.0.2): request
// header signing and verification, bewit signed URLs, the Taskcluster ext
// object, and temporary-credential certificates.
//
// Signing and verification share one normalized-string function, so client
// and server cannot drift apart.
package hawk

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
)

// MaxHeaderLength is the longest Authorization header or bewit URL the
// server accepts (mozilla/hawk limits.maxMatchLength). Longer ones fail
// with a misleading "Bad Request", so the client refuses them first.
const MaxHeaderLength = 4096

// Artifacts are the inputs to a Hawk MAC.
type Artifacts struct {
	Method   string // uppercased before signing
	Resource string // path?query exactly as on the wire
	Host     string // lowercased before signing
	Port     int
	TS       int64  // header: Unix seconds; bewit: expiry in Unix seconds
	Nonce    string // empty for bewits
	Hash     string // payload hash; tc-credd never sends one
	Ext      string
}

// normalized builds the string that the MAC covers (mozilla/hawk
// lib/crypto.js generateNormalizedString). Every line ends in "\n".
func normalized(kind string, a Artifacts) string {
	var b strings.Builder
	for _, line := range []string{
		"hawk.1." + kind,
		strconv.FormatInt(a.TS, 10),
		a.Nonce,
		strings.ToUpper(a.Method),
		a.Resource,
		strings.ToLower(a.Host),
		strconv.Itoa(a.Port),
		a.Hash,
		escapeExt(a.Ext),
	} {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func escapeExt(ext string) string {
	return strings.ReplaceAll(strings.ReplaceAll(ext, `\`, `\\`), "\n", `\n`)
}

// MAC computes a header MAC ("header") or a bewit MAC ("bewit") with key
// as the HMAC-SHA256 key, in standard base64.
func MAC(kind string, key string, a Artifacts) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(normalized(kind, a)))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// PayloadHash is the optional Hawk payload hash. tc-credd does not send
// one; it is here for the verifier and the reference test vectors.
func PayloadHash(contentType string, body []byte) string {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(contentType, ";")[0]))
	h := sha256.New()
	h.Write([]byte("hawk.1.payload\n" + ct + "\n"))
	h.Write(body)
	h.Write([]byte("\n"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Target returns the host, port and resource that a request to u signs:
// the lowercased hostname, the explicit port or the scheme's default, and
// the path and query exactly as sent.
func Target(u *url.URL) (host string, port int, resource string) {
	host = strings.ToLower(u.Hostname())
	port = 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	return host, port, u.RequestURI()
}
