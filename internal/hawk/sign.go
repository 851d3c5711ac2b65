package hawk

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrTooLong means a header or bewit URL would exceed MaxHeaderLength.
var ErrTooLong = errors.New("hawk: longer than the server's 4096-character limit (too many scopes in the certificate or authorizedScopes?)")

// NewNonce returns a random nonce. The server keeps no replay cache, so
// this only has to differ between requests.
func NewNonce() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Header returns the Authorization header for a request. It signs
// exactly the URL that will be sent: callers must not change u afterwards.
// A new ts and nonce are taken on every call, so retries re-sign.
func (c *Credentials) Header(method string, u *url.URL, now time.Time) (string, error) {
	return c.header(method, u, now.Unix(), NewNonce())
}

func (c *Credentials) header(method string, u *url.URL, ts int64, nonce string) (string, error) {
	if c == nil || c.ClientID == "" {
		// An empty id gets "Bad attribute value: id"; anonymous calls
		// send no header at all.
		return "", errors.New("hawk: no clientId: send anonymous requests without a header")
	}
	if strings.ContainsAny(c.ClientID, `"\`) {
		return "", errors.New(`hawk: clientId may not contain '"' or '\'`)
	}
	ext, err := c.Ext()
	if err != nil {
		return "", err
	}
	host, port, resource := Target(u)
	a := Artifacts{Method: method, Resource: resource, Host: host, Port: port, TS: ts, Nonce: nonce, Ext: ext}
	mac := MAC("header", c.AccessToken.Reveal(), a)
	var b strings.Builder
	fmt.Fprintf(&b, `Hawk id="%s", ts="%d", nonce="%s"`, c.ClientID, ts, nonce)
	if ext != "" {
		fmt.Fprintf(&b, `, ext="%s"`, ext)
	}
	fmt.Fprintf(&b, `, mac="%s"`, mac)
	if b.Len() > MaxHeaderLength {
		return "", ErrTooLong
	}
	return b.String(), nil
}

// Bewit returns u with a bewit query parameter that authorizes GET u until
// exp. The server allows no clock skew on bewit expiry.
func (c *Credentials) Bewit(u *url.URL, exp time.Time) (*url.URL, error) {
	if c == nil || c.ClientID == "" {
		return nil, errors.New("hawk: bewit needs credentials")
	}
	ext, err := c.Ext()
	if err != nil {
		return nil, err
	}
	host, port, resource := Target(u)
	ts := exp.Unix()
	mac := MAC("bewit", c.AccessToken.Reveal(), Artifacts{Method: "GET", Resource: resource, Host: host, Port: port, TS: ts, Ext: ext})
	bewit := base64.RawURLEncoding.EncodeToString([]byte(c.ClientID + `\` + strconv.FormatInt(ts, 10) + `\` + mac + `\` + ext))
	out := *u
	if out.RawQuery == "" {
		out.RawQuery = "bewit=" + bewit
	} else {
		out.RawQuery += "&bewit=" + bewit
	}
	if len(out.RequestURI()) > MaxHeaderLength {
		return nil, ErrTooLong
	}
	return &out, nil
}
