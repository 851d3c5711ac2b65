package hawk_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// Vectors from mozilla/hawk API.md.
func TestMACVectors(t *testing.T) {
	const key = "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
	a := hawk.Artifacts{Method: "GET", Resource: "/resource/1?b=1&a=2", Host: "example.com", Port: 8000, TS: 1353832234, Nonce: "j4h3g2", Ext: "some-app-ext-data"}
	if got, want := hawk.MAC("header", key, a), "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE="; got != want {
		t.Errorf("GET mac = %s, want %s", got, want)
	}
	hash := hawk.PayloadHash("text/plain", []byte("Thank you for flying Hawk"))
	if want := "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="; hash != want {
		t.Errorf("payload hash = %s, want %s", hash, want)
	}
	a.Method, a.Hash = "POST", hash
	if got, want := hawk.MAC("header", key, a), "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw="; got != want {
		t.Errorf("POST mac = %s, want %s", got, want)
	}
	if got, want := hawk.PayloadHash("", nil), "B0weSUXsMcb5UhL41FZbrUJCAotzSI3HawE1NPLRUz8="; got != want {
		t.Errorf("empty payload hash = %s, want %s", got, want)
	}
}

func TestHeaderMatchesVector(t *testing.T) {
	// With no certificate and no authorizedScopes there is no ext, so build
	// the vector's MAC through Header and compare with MAC directly.
	c := &hawk.Credentials{ClientID: "dh37fgj492je", AccessToken: secret.New("werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn")}
	u, _ := url.Parse("http://example.com:8000/resource/1?b=1&a=2")
	h, err := c.HeaderAt("GET", u, 1353832234, "j4h3g2")
	if err != nil {
		t.Fatal(err)
	}
	want := `Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", mac="` +
		hawk.MAC("header", "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn", hawk.Artifacts{Method: "GET", Resource: "/resource/1?b=1&a=2", Host: "example.com", Port: 8000, TS: 1353832234, Nonce: "j4h3g2"}) + `"`
	if h != want {
		t.Fatalf("header\n got %s\nwant %s", h, want)
	}
}

// Vectors from taskcluster/taskcluster clients/client-go/testcases.json.
func TestTemporaryCredentialVectors(t *testing.T) {
	issuerToken := secret.New("tokenABCDEFGH")
	start := time.UnixMilli(1438964811744)
	expiry := time.UnixMilli(1439051211744)
	scopes := []string{"scope/asd:fhjdf/X", "scope/asd:fhjdf/XYZ*"}
	const seed = "JYR4wzMCTG6XeDS2cDUCMwH0RFUXGfQjK7LgqD-e6lSQ"
	for _, c := range []struct{ name, sig string }{
		{"", "45AlB/hKZZZz4Tf3NaidutasfgBnr4t2AxwBiGDQF9Q="},
		{"abc/def/ghi", "nNEaLtZMiw627NuDbF5Z8HDFc57MGWCptXBQSYNFgBk="},
	} {
		tmp, err := hawk.CreateTemporaryCredentials(
			&hawk.Credentials{ClientID: "def/ghi@XXX", AccessToken: issuerToken},
			hawk.TemporaryOptions{Name: c.name, Scopes: scopes, Start: start, Expiry: expiry, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if got := tmp.AccessToken.Reveal(); got != "R4OVHWpIvy6KsqS4AWE51QwbvgLvsstS6e6UW8IfHUY" {
			t.Errorf("%q: access token = %s", c.name, got)
		}
		if tmp.Certificate.Signature != c.sig {
			t.Errorf("%q: signature = %s, want %s", c.name, tmp.Certificate.Signature, c.sig)
		}
		if !tmp.Certificate.VerifySignature(tmp.ClientID, issuerToken) {
			t.Errorf("%q: own signature does not verify", c.name)
		}
		if tmp.Certificate.VerifySignature(tmp.ClientID, secret.New("wrong")) {
			t.Errorf("%q: signature verified with the wrong key", c.name)
		}
	}
}

func TestCertificateRoundTripsThroughEnvText(t *testing.T) {
	now := time.Now()
	tmp, err := hawk.CreateTemporaryCredentials(&hawk.Credentials{ClientID: "issuer", AccessToken: secret.New("tok")},
		hawk.TemporaryOptions{Scopes: nil, Start: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	text, _ := json.Marshal(tmp.Certificate)
	if !strings.Contains(string(text), `"scopes":[]`) {
		t.Fatalf("empty scopes must be [] not null: %s", text)
	}
	cert, err := hawk.ParseCertificate(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if cert.Signature != tmp.Certificate.Signature || cert.Seed != tmp.Certificate.Seed || len(cert.Seed) != 44 {
		t.Fatalf("round trip changed the certificate: %+v", cert)
	}
	if err := cert.Validate("issuer", now); err != nil {
		t.Fatal(err)
	}
	if _, err := hawk.ParseCertificate(`"{\"version\":1}"`); err == nil {
		t.Fatal("a JSON string must be rejected: the server wants an object")
	}
	if c, err := hawk.ParseCertificate(""); c != nil || err != nil {
		t.Fatal("empty text is no certificate")
	}
}

func TestCertificateRules(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	base := func() *hawk.Certificate {
		return &hawk.Certificate{Version: 1, Scopes: []string{}, Start: now.UnixMilli(), Expiry: now.Add(time.Hour).UnixMilli(), Seed: strings.Repeat("s", 44)}
	}
	cases := map[string]func(c *hawk.Certificate){
		"version":      func(c *hawk.Certificate) { c.Version = 2 },
		"seed":         func(c *hawk.Certificate) { c.Seed = "short" },
		"future start": func(c *hawk.Certificate) { c.Start = now.Add(6 * time.Minute).UnixMilli() },
		"expired":      func(c *hawk.Certificate) { c.Expiry = now.Add(-6 * time.Minute).UnixMilli() },
		"too long":     func(c *hawk.Certificate) { c.Expiry = c.Start + (31*24*time.Hour + time.Second).Milliseconds() },
		"scopes null":  func(c *hawk.Certificate) { c.Scopes = nil },
		"bad scope":    func(c *hawk.Certificate) { c.Scopes = []string{"a\nb"} },
		"issuer=id":    func(c *hawk.Certificate) { c.Issuer = "me" },
	}
	if err := base().Validate("me", now); err != nil {
		t.Fatalf("base certificate rejected: %v", err)
	}
	for name, mutate := range cases {
		c := base()
		mutate(c)
		if err := c.Validate("me", now); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Inside the 5-minute allowance is fine.
	c := base()
	c.Start = now.Add(4 * time.Minute).UnixMilli()
	if err := c.Validate("me", now); err != nil {
		t.Errorf("start within skew rejected: %v", err)
	}
	_, err := hawk.CreateTemporaryCredentials(&hawk.Credentials{ClientID: "i", AccessToken: secret.New("t")},
		hawk.TemporaryOptions{Start: now, Expiry: now.Add(31 * 24 * time.Hour)})
	if err == nil {
		t.Error("a full 31-day certificate must be refused (#3888)")
	}
}

func TestExtKeepsNilAndEmptyApart(t *testing.T) {
	decode := func(c *hawk.Credentials) map[string]any {
		ext, err := c.Ext()
		if err != nil {
			t.Fatal(err)
		}
		if ext == "" {
			return nil
		}
		raw, _ := base64.StdEncoding.DecodeString(ext)
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := decode(&hawk.Credentials{ClientID: "a"}); m != nil {
		t.Errorf("no ext expected, got %v", m)
	}
	m := decode(&hawk.Credentials{ClientID: "a", AuthorizedScopes: []string{}})
	if s, ok := m["authorizedScopes"].([]any); !ok || len(s) != 0 {
		t.Errorf("authorizedScopes [] must be sent: %v", m)
	}
	if _, ok := m["certificate"]; ok {
		t.Errorf("unused certificate key sent: %v", m)
	}
	cert := &hawk.Certificate{Version: 1, Scopes: []string{}}
	m = decode(&hawk.Credentials{ClientID: "a", Certificate: cert})
	if _, ok := m["certificate"].(map[string]any); !ok {
		t.Errorf("certificate must be an object: %v", m)
	}
	ext, _ := (&hawk.Credentials{ClientID: "a", AuthorizedScopes: []string{"x"}}).Ext()
	// The server takes either alphabet.
	raw, _ := base64.StdEncoding.DecodeString(ext)
	for _, enc := range []string{ext, base64.URLEncoding.EncodeToString(raw)} {
		e, err := hawk.ParseExt(enc)
		if err != nil || e.AuthorizedScopes == nil || (*e.AuthorizedScopes)[0] != "x" {
			t.Errorf("ParseExt(%q) = %+v, %v", enc, e, err)
		}
	}
	if _, err := hawk.ParseExt("!!!"); err == nil {
		t.Error("bad ext accepted")
	}
}

func sign(t *testing.T, c *hawk.Credentials, method, rawURL string, now time.Time) (string, hawk.Request) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Header(method, u, now)
	if err != nil {
		t.Fatal(err)
	}
	host, port, res := hawk.Target(u)
	return h, hawk.Request{Method: method, Resource: res, Host: host, Port: port}
}

func TestHeaderVerifyRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := &hawk.Credentials{ClientID: "project/x", AccessToken: secret.New("key"), AuthorizedScopes: []string{"a"}}
	h, req := sign(t, c, "get", "https://TC.example.com/api/auth/v1/clients/a%2Fb?prefix=x", now)
	a, err := hawk.ParseHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != "project/x" || a.Ext == "" {
		t.Fatalf("attributes: %+v", a)
	}
	if req.Port != 443 || req.Host != "tc.example.com" || req.Resource != "/api/auth/v1/clients/a%2Fb?prefix=x" {
		t.Fatalf("target: %+v", req)
	}
	skew := 15 * time.Minute
	if err := hawk.VerifyHeader(a, "key", req, now.Add(14*time.Minute), skew); err != nil {
		t.Fatalf("valid header rejected: %v", err)
	}
	checks := map[string]struct {
		key string
		req hawk.Request
		now time.Time
		err error
	}{
		"wrong key":   {"other", req, now, hawk.ErrBadMAC},
		"other path":  {"key", hawk.Request{Method: "GET", Resource: "/api/auth/v1/clients/a%2Fc?prefix=x", Host: req.Host, Port: 443}, now, hawk.ErrBadMAC},
		"other query": {"key", hawk.Request{Method: "GET", Resource: "/api/auth/v1/clients/a%2Fb?prefix=y", Host: req.Host, Port: 443}, now, hawk.ErrBadMAC},
		"other port":  {"key", hawk.Request{Method: "GET", Resource: req.Resource, Host: req.Host, Port: 80}, now, hawk.ErrBadMAC},
		"method":      {"key", hawk.Request{Method: "POST", Resource: req.Resource, Host: req.Host, Port: 443}, now, hawk.ErrBadMAC},
		"stale":       {"key", req, now.Add(15*time.Minute + time.Second), hawk.ErrStaleTimestamp},
		"future":      {"key", req, now.Add(-16 * time.Minute), hawk.ErrStaleTimestamp},
	}
	for name, c := range checks {
		if err := hawk.VerifyHeader(a, c.key, c.req, c.now, skew); !errors.Is(err, c.err) {
			t.Errorf("%s: err = %v, want %v", name, err, c.err)
		}
	}
}

func TestParseHeaderRules(t *testing.T) {
	good := `Hawk id="a", ts="1", nonce="n", mac="m"`
	if _, err := hawk.ParseHeader(good); err != nil {
		t.Fatal(err)
	}
	if _, err := hawk.ParseHeader(`hawk mac="m", nonce="n", ts="1", id="a"`); err != nil {
		t.Fatalf("scheme is case-insensitive and order free: %v", err)
	}
	bad := map[string]string{
		"duplicate": `Hawk id="a", id="b", ts="1", nonce="n", mac="m"`,
		"unknown":   `Hawk id="a", ts="1", nonce="n", mac="m", foo="x"`,
		"missing":   `Hawk id="a", ts="1", mac="m"`,
		"empty id":  `Hawk id="", ts="1", nonce="n", mac="m"`,
		"backslash": `Hawk id="a\b", ts="1", nonce="n", mac="m"`,
		"garbage":   `Hawk id="a", ts="1", nonce="n", mac="m" junk`,
		"scheme":    `Basic abc`,
		"too long":  `Hawk id="` + strings.Repeat("a", 4100) + `", ts="1", nonce="n", mac="m"`,
	}
	for name, h := range bad {
		if _, err := hawk.ParseHeader(h); err == nil {
			t.Errorf("%s: accepted %q", name, h)
		}
	}
}

func TestHeaderLengthCap(t *testing.T) {
	var scopes []string
	for i := 0; i < 200; i++ {
		scopes = append(scopes, fmt.Sprintf("queue:create-task:highest:proj-%03d/*", i))
	}
	c := &hawk.Credentials{ClientID: "a", AccessToken: secret.New("k"), AuthorizedScopes: scopes}
	u, _ := url.Parse("https://tc.example.com/api/auth/v1/ping")
	if _, err := c.Header("GET", u, time.Now()); !errors.Is(err, hawk.ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
	if _, err := (&hawk.Credentials{}).Header("GET", u, time.Now()); err == nil {
		t.Fatal("an empty clientId must not produce a header")
	}
}

func TestBewitRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := &hawk.Credentials{ClientID: "c", AccessToken: secret.New("key")}
	u, _ := url.Parse("http://localhost:8080/api/auth/v1/clients/?prefix=a&limit=2")
	signed, err := c.Bewit(u, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	host, port, res := hawk.Target(signed)
	b, stripped, ok, err := hawk.ExtractBewit(res)
	if err != nil || !ok {
		t.Fatalf("extract: %v %v", ok, err)
	}
	if stripped != "/api/auth/v1/clients/?prefix=a&limit=2" {
		t.Fatalf("stripped = %q", stripped)
	}
	req := hawk.Request{Method: "GET", Resource: stripped, Host: host, Port: port}
	if err := hawk.VerifyBewit(b, "key", req, now); err != nil {
		t.Fatal(err)
	}
	if err := hawk.VerifyBewit(b, "nope", req, now); !errors.Is(err, hawk.ErrBadMAC) {
		t.Errorf("wrong key: %v", err)
	}
	if err := hawk.VerifyBewit(b, "key", req, now.Add(time.Minute)); !errors.Is(err, hawk.ErrBewitExpired) {
		t.Errorf("expired at exp exactly (no skew): %v", err)
	}
	req.Resource = "/api/auth/v1/clients/?limit=2&prefix=a"
	if err := hawk.VerifyBewit(b, "key", req, now); !errors.Is(err, hawk.ErrBadMAC) {
		t.Errorf("reordered query: %v", err)
	}
	// The bewit may sit in the middle of the query.
	_, mid, _, err := hawk.ExtractBewit("/p?a=1&bewit=" + "YQ" + "&b=2")
	if err == nil || mid != "" {
		// "YQ" decodes to "a", not four parts.
		if !errors.Is(err, hawk.ErrInvalidBewit) {
			t.Errorf("bad bewit: %v", err)
		}
	}
	if _, _, ok, _ := hawk.ExtractBewit("/p?a=1"); ok {
		t.Error("no bewit expected")
	}
}
