package metadata_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var awsTimeRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestIMDSTokenPUT(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, ttl := range []string{"1", "300", "21600"} {
		st, h, body := e.do(http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": ttl})
		if st != 200 || h.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != ttl {
			t.Errorf("ttl %s: status %d ttl header %q", ttl, st, h.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
		}
		if len(body) < 32 || strings.ContainsAny(body, "\r\n \t") {
			t.Errorf("ttl %s: token %q is not a header-safe value of ≥ 32 characters", ttl, body)
		}
	}
	for _, ttl := range []string{"", "0", "21601", "abc", "-5", "1.5"} {
		hdr := map[string]string{}
		if ttl != "" {
			hdr["X-aws-ec2-metadata-token-ttl-seconds"] = ttl
		}
		if st, _, _ := e.do(http.MethodPut, "/latest/api/token", hdr); st != 400 {
			t.Errorf("ttl %q: status %d, want 400", ttl, st)
		}
	}
	// A forwarded PUT gets no token, as from real IMDSv2.
	st, _, body := e.do(http.MethodPut, "/latest/api/token", map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "300", "X-Forwarded-For": "203.0.113.9"})
	if st != 403 || len(body) >= 32 && !strings.Contains(body, "forbidden") {
		t.Errorf("forwarded PUT: %d %q", st, body)
	}
	if st, _, _ := e.do(http.MethodGet, "/latest/api/token", nil); st != 405 {
		t.Errorf("GET on the token path: %d, want 405", st)
	}
	// Two tokens differ.
	if a, b := e.imdsToken(), e.imdsToken(); a == b {
		t.Error("two sessions got the same token")
	}
}

func TestIMDSTokenRequiredAndExpires(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok := e.imdsToken()
	path := "/latest/meta-data/iam/security-credentials/" + role
	if st, _, _ := e.do(http.MethodGet, path, map[string]string{"X-aws-ec2-metadata-token": tok}); st != 200 {
		t.Fatalf("valid token: %d", st)
	}
	for name, hdr := range map[string]map[string]string{
		"no token":      nil,
		"unknown token": {"X-aws-ec2-metadata-token": "not-a-token-not-a-token-not-a-token-00"},
		"forwarded":     {"X-aws-ec2-metadata-token": tok, "X-Forwarded-For": "203.0.113.9"},
	} {
		want := 401
		if name == "forwarded" {
			want = 403
		}
		if st, _, body := e.do(http.MethodGet, path, hdr); st != want || strings.Contains(body, "Secret") {
			t.Errorf("%s: %d, want %d", name, st, want)
		}
	}
	e.clk.Add(301 * time.Second)
	if st, _, _ := e.do(http.MethodGet, path, map[string]string{"X-aws-ec2-metadata-token": tok}); st != 401 {
		t.Errorf("expired token: %d, want 401", st)
	}
}

func TestIMDSv1OnlyWhenAllowed(t *testing.T) {
	e := newEnv(t, envOpts{allowV1: true})
	if st, _, body := e.do(http.MethodGet, "/latest/meta-data/iam/security-credentials/", nil); st != 200 || body != role {
		t.Fatalf("tokenless GET with IMDSv1 allowed: %d %q", st, body)
	}
	// A wrong token is still refused: the SDK must fetch a new one.
	if st, _, _ := e.do(http.MethodGet, "/latest/meta-data/iam/security-credentials/", map[string]string{"X-aws-ec2-metadata-token": "stale-stale-stale-stale-stale-stale-x"}); st != 401 {
		t.Fatalf("wrong token with IMDSv1 allowed: %d", st)
	}
}

func TestIMDSDocuments(t *testing.T) {
	e := newEnv(t, envOpts{region: "us-west-2"})
	tok := map[string]string{"X-aws-ec2-metadata-token": e.imdsToken()}
	calls := e.fake.TotalCalls()
	for _, p := range []string{"/latest/meta-data/iam/security-credentials", "/latest/meta-data/iam/security-credentials/"} {
		if st, _, body := e.do(http.MethodGet, p, tok); st != 200 || body != role {
			t.Errorf("%s: %d %q, want exactly %q", p, st, body, role)
		}
	}
	st, h, body := e.do(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+role, tok)
	var doc map[string]string
	if err := json.Unmarshal([]byte(body), &doc); err != nil || st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("credentials: %d %v", st, err)
	}
	c := e.current("aws/" + role)
	want := map[string]string{"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": c.AWS.AccessKeyID,
		"SecretAccessKey": c.AWS.SecretAccessKey.Reveal(), "Token": c.AWS.SessionToken.Reveal()}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %q, want %q", k, doc[k], v)
		}
	}
	issued := e.fake.Issued("awsS3Credentials")
	if len(issued) != 1 || issued[0].Reveal() != doc["AccessKeyId"] {
		t.Errorf("served key is not the one the Auth service issued")
	}
	for _, k := range []string{"Expiration", "LastUpdated"} {
		if !awsTimeRe.MatchString(doc[k]) {
			t.Errorf("%s = %q, want YYYY-MM-DDTHH:MM:SSZ", k, doc[k])
		}
	}
	exp, _ := time.Parse(time.RFC3339, doc["Expiration"])
	if left := exp.Sub(e.clk.Now()); left < 30*time.Minute {
		t.Errorf("served Expiration only %s ahead", left)
	}
	_, _, again := e.do(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+role, tok)
	if again != body {
		t.Error("two GETs between rotations returned different documents")
	}
	for _, p := range []string{
		"/latest/meta-data/iam/security-credentials/other-role",
		"/latest/meta-data/iam/security-credentials-extended/",
		"/latest/meta-data/iam/security-credentials-extended/" + role,
		"/latest/meta-data/instance-id",
		"/latest/user-data",
		"/nonsense",
	} {
		if st, _, _ := e.do(http.MethodGet, p, tok); st != 404 {
			t.Errorf("%s: %d, want 404", p, st)
		}
	}
	st, _, body = e.do(http.MethodGet, "/latest/meta-data/iam/info", tok)
	var info map[string]string
	if err := json.Unmarshal([]byte(body), &info); err != nil || st != 200 || info["Code"] != "Success" || !strings.HasSuffix(info["InstanceProfileArn"], "/"+role) || info["InstanceProfileId"] == "" || !awsTimeRe.MatchString(info["LastUpdated"]) {
		t.Errorf("iam/info: %d %s", st, body)
	}
	for p, want := range map[string]string{
		"/latest/meta-data/placement/region":            "us-west-2",
		"/latest/meta-data/placement/availability-zone": "us-west-2a",
	} {
		if st, _, body := e.do(http.MethodGet, p, tok); st != 200 || body != want {
			t.Errorf("%s: %d %q", p, st, body)
		}
	}
	_, _, body = e.do(http.MethodGet, "/latest/dynamic/instance-identity/document", tok)
	if !strings.Contains(body, `"region":"us-west-2"`) {
		t.Errorf("identity document: %s", body)
	}
	if got := e.fake.TotalCalls(); got != calls {
		t.Errorf("requests reached Taskcluster: %d calls", got-calls)
	}
}

func TestIMDSRegionPathsOffWithoutRegion(t *testing.T) {
	e := newEnv(t, envOpts{})
	tok := map[string]string{"X-aws-ec2-metadata-token": e.imdsToken()}
	for _, p := range []string{"/latest/meta-data/placement/region", "/latest/meta-data/placement/availability-zone", "/latest/dynamic/instance-identity/document"} {
		if st, _, _ := e.do(http.MethodGet, p, tok); st != 404 {
			t.Errorf("%s without a region: %d, want 404", p, st)
		}
	}
}
