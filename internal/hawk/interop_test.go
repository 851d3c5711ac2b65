package hawk_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/hawk"
	"github.com/taskcluster/tc-credd/internal/nodetest"
	"github.com/taskcluster/tc-credd/internal/secret"
)

// nodeOp is one operation for testdata/interop/interop.js.
type nodeOp struct {
	Op            string `json:"op"`
	URL           string `json:"url"`
	Method        string `json:"method,omitempty"`
	Host          string `json:"host,omitempty"`
	ID            string `json:"id"`
	Key           string `json:"key"`
	Ext           string `json:"ext,omitempty"`
	TTLSec        int    `json:"ttlSec,omitempty"`
	OffsetMs      int64  `json:"offsetMs,omitempty"`
	Authorization string `json:"authorization,omitempty"`
}

type nodeResult struct {
	Header string `json:"header"`
	URL    string `json:"url"`
	OK     bool   `json:"ok"`
	ID     string `json:"id"`
	Ext    string `json:"ext"`
	Error  string `json:"error"`
}

// runNode runs the reference implementation, hawk 9.0.2 from npm, as
// installed by `npm ci` (make test and .ci/run do that).
func runNode(t *testing.T, ops []nodeOp) []nodeResult {
	t.Helper()
	dir := filepath.Join("testdata", "interop")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hawk")); err != nil {
		t.Fatalf("hawk 9.0.2 is not installed: run `npm ci --prefix internal/hawk/testdata/interop` (make test does): %v", err)
	}
	var res []nodeResult
	nodetest.Run(t, dir, "interop.js", ops, &res)
	if len(res) != len(ops) {
		t.Fatalf("node answered %d of %d operations", len(res), len(ops))
	}
	return res
}

const (
	ikey   = "interop-key-0123456789"
	iid    = "project/tc-credd/interop"
	ihost  = "tc.example.com:8443"
	ipath  = "/api/auth/v1/aws/s3/read-write/my-bucket/builds%2F?format=iam-role-compat"
	iother = "/api/auth/v1/aws/s3/read-write/my-bucket/other%2F?format=iam-role-compat"
	iquery = "/api/auth/v1/aws/s3/read-write/my-bucket/builds%2F?format=other"
)

func interopCreds(t *testing.T) *hawk.Credentials {
	issuer := &hawk.Credentials{ClientID: "issuer", AccessToken: secret.New(ikey)}
	now := time.Now()
	tmp, err := hawk.CreateTemporaryCredentials(issuer, hawk.TemporaryOptions{Name: iid, Scopes: []string{"auth:aws-s3:*"}, Start: now, Expiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	tmp.AuthorizedScopes = []string{"auth:aws-s3:read-write:my-bucket/builds/"}
	return tmp
}

// Headers and bewits made here are accepted by hawk 9.0.2, and rejected
// when the key, path, query or timestamp is wrong.
func TestInteropGoSignsNodeVerifies(t *testing.T) {
	c := interopCreds(t)
	key := c.AccessToken.Reveal()
	u, _ := url.Parse("https://" + ihost + ipath)
	h, err := c.Header("GET", u, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stale, _ := c.Header("GET", u, time.Now().Add(-20*time.Minute))
	b, err := c.Bewit(u, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := c.Bewit(u, time.Now().Add(-time.Second))
	bewitOther := strings.Replace(b.RequestURI(), "builds%2F", "other%2F", 1)
	bewitQuery := strings.Replace(b.RequestURI(), "format=iam-role-compat", "format=other", 1)
	auth := func(path, authz, k string) nodeOp {
		return nodeOp{Op: "authenticate", Method: "GET", URL: path, Host: ihost, ID: iid, Key: k, Authorization: authz}
	}
	bew := func(path, k string) nodeOp {
		return nodeOp{Op: "authenticateBewit", Method: "GET", URL: path, Host: ihost, ID: iid, Key: k}
	}
	cases := []struct {
		name string
		op   nodeOp
		ok   bool
		err  string
	}{
		{"header", auth(ipath, h, key), true, ""},
		{"header, wrong key", auth(ipath, h, "wrong"), false, "Bad mac"},
		{"header, changed path", auth(iother, h, key), false, "Bad mac"},
		{"header, changed query", auth(iquery, h, key), false, "Bad mac"},
		{"header, stale timestamp", auth(ipath, stale, key), false, "Stale timestamp"},
		{"bewit", bew(b.RequestURI(), key), true, ""},
		{"bewit, wrong key", bew(b.RequestURI(), "wrong"), false, "Bad mac"},
		{"bewit, changed path", bew(bewitOther, key), false, "Bad mac"},
		{"bewit, changed query", bew(bewitQuery, key), false, "Bad mac"},
		{"bewit, expired", bew(expired.RequestURI(), key), false, "Access expired"},
	}
	ops := make([]nodeOp, len(cases))
	for i, c := range cases {
		ops[i] = c.op
	}
	res := runNode(t, ops)
	wantExt, _ := c.Ext()
	for i, c := range cases {
		r := res[i]
		if r.OK != c.ok || (c.err != "" && !strings.Contains(r.Error, c.err)) {
			t.Errorf("%s: node says ok=%v error=%q, want ok=%v error~%q", c.name, r.OK, r.Error, c.ok, c.err)
		}
		if c.ok && (r.ID != iid || r.Ext != wantExt) {
			t.Errorf("%s: node saw id=%q ext=%q", c.name, r.ID, r.Ext)
		}
	}
}

// Headers and bewits made by hawk 9.0.2 are accepted here, and rejected
// when the key, path, query or timestamp is wrong.
func TestInteropNodeSignsGoVerifies(t *testing.T) {
	ext := "eyJhdXRob3JpemVkU2NvcGVzIjpbXX0=" // {"authorizedScopes":[]}
	full := "https://" + ihost + ipath
	res := runNode(t, []nodeOp{
		{Op: "header", URL: full, Method: "GET", ID: iid, Key: ikey, Ext: ext},
		{Op: "header", URL: full, Method: "GET", ID: iid, Key: ikey, OffsetMs: -20 * 60 * 1000},
		{Op: "bewit", URL: full, ID: iid, Key: ikey, Ext: ext, TTLSec: 60},
		{Op: "bewit", URL: full, ID: iid, Key: ikey, TTLSec: 60, OffsetMs: -120 * 1000},
	})
	host, port := "tc.example.com", 8443
	now := time.Now()
	req := func(resource string) hawk.Request {
		return hawk.Request{Method: "GET", Resource: resource, Host: host, Port: port}
	}
	a, err := hawk.ParseHeader(res[0].Header)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != iid || a.Ext != ext {
		t.Errorf("attributes: %+v", a)
	}
	if err := hawk.VerifyHeader(a, ikey, req(ipath), now, 15*time.Minute); err != nil {
		t.Errorf("node header rejected: %v", err)
	}
	for name, c := range map[string]struct {
		key, res string
		want     error
	}{
		"wrong key":     {"wrong", ipath, hawk.ErrBadMAC},
		"changed path":  {ikey, iother, hawk.ErrBadMAC},
		"changed query": {ikey, iquery, hawk.ErrBadMAC},
	} {
		if err := hawk.VerifyHeader(a, c.key, req(c.res), now, 15*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("header, %s: %v, want %v", name, err, c.want)
		}
	}
	staleAttrs, err := hawk.ParseHeader(res[1].Header)
	if err != nil {
		t.Fatal(err)
	}
	if err := hawk.VerifyHeader(staleAttrs, ikey, req(ipath), now, 15*time.Minute); !errors.Is(err, hawk.ErrStaleTimestamp) {
		t.Errorf("stale node header: %v", err)
	}

	bu, _ := url.Parse(res[2].URL)
	b, signed, ok, err := hawk.ExtractBewit(bu.RequestURI())
	if err != nil || !ok {
		t.Fatalf("node bewit: %v %v", ok, err)
	}
	if signed != ipath || b.ID != iid || b.Ext != ext {
		t.Errorf("node bewit decoded to %+v over %q", b, signed)
	}
	if err := hawk.VerifyBewit(b, ikey, req(signed), now); err != nil {
		t.Errorf("node bewit rejected: %v", err)
	}
	if err := hawk.VerifyBewit(b, "wrong", req(signed), now); !errors.Is(err, hawk.ErrBadMAC) {
		t.Errorf("node bewit, wrong key: %v", err)
	}
	for _, res := range []string{iother, iquery} {
		if err := hawk.VerifyBewit(b, ikey, req(res), now); !errors.Is(err, hawk.ErrBadMAC) {
			t.Errorf("node bewit over %s: %v", res, err)
		}
	}
	eu, _ := url.Parse(res[3].URL)
	eb, esigned, _, err := hawk.ExtractBewit(eu.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	if err := hawk.VerifyBewit(eb, ikey, req(esigned), now); !errors.Is(err, hawk.ErrBewitExpired) {
		t.Errorf("expired node bewit: %v", err)
	}
}
