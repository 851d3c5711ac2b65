package authtest_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/nodetest"
)

type conformanceClient struct {
	ClientID     string   `json:"clientId"`
	AccessToken  string   `json:"accessToken"`
	ExpectScopes []string `json:"expectScopes,omitempty"`
}

type conformanceInput struct {
	RootURL       string                       `json:"rootUrl"`
	SkewedRootURL string                       `json:"skewedRootUrl"`
	SkewMs        int64                        `json:"skewMs"`
	Clients       map[string]conformanceClient `json:"clients"`
	Bucket        string                       `json:"bucket"`
	Prefix        string                       `json:"prefix"`
	AzureAccount  string                       `json:"azureAccount"`
	GCPProject    string                       `json:"gcpProject"`
}

// TestOfficialClientConformance runs the official taskcluster-client, as
// pinned in testdata/conformance/package-lock.json and installed by
// `make deps`, against the fake: every check the script makes is one a
// client of the real service relies on.
func TestOfficialClientConformance(t *testing.T) {
	dir := filepath.Join("testdata", "conformance")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "taskcluster-client")); err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("taskcluster-client is not installed (run `make deps`): %v", err)
		}
		t.Fatalf("taskcluster-client is not installed: CI must run `make deps` first: %v", err)
	}
	const skew = 20 * time.Minute
	o := authtest.Options{Buckets: []string{"conformance-bucket"}, AzureAccounts: []string{"conformanceacct"}, GCPProject: "conformance-project"}
	fake := authtest.New(o)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	skewedOpts := o
	skewedOpts.Now = func() time.Time { return time.Now().Add(skew) }
	skewed := authtest.New(skewedOpts)
	skewedSrv := httptest.NewServer(skewed)
	defer skewedSrv.Close()

	adminToken := fake.AddClient("conformance/admin", "*")
	fake.PutRole("conformance:reader", "queue:x", "auth:azure-table:read-only:*")
	readerToken := fake.AddClient("conformance/reader",
		"auth:sentry:a*", "queue:x", "auth:current-scopes", "auth:sentry:ab", "assume:conformance:reader",
		"auth:aws-s3:read-only:conformance-bucket/builds/")
	in := conformanceInput{
		RootURL: srv.URL, SkewedRootURL: skewedSrv.URL, SkewMs: skew.Milliseconds(),
		Clients: map[string]conformanceClient{
			"admin": {ClientID: "conformance/admin", AccessToken: adminToken.Reveal()},
			"reader": {ClientID: "conformance/reader", AccessToken: readerToken.Reveal(),
				// Expanded through the role, with assume:anonymous, sorted,
				// and without auth:sentry:ab, which auth:sentry:a* grants.
				ExpectScopes: []string{"assume:anonymous", "assume:conformance:reader", "auth:aws-s3:read-only:conformance-bucket/builds/",
					"auth:azure-table:read-only:*", "auth:current-scopes", "auth:sentry:a*", "queue:x"}},
		},
		Bucket: "conformance-bucket", Prefix: "builds/", AzureAccount: "conformanceacct", GCPProject: "conformance-project",
	}
	// Both services hold the admin with the same token, so the script
	// can use one set of credentials against either.
	skewed.PutClient(&authtest.Client{ID: "conformance/admin", AccessToken: adminToken, Scopes: []string{"*"}, Expires: time.Now().Add(time.Hour)})

	var results []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	}
	nodetest.Run(t, dir, "conformance.mjs", in, &results)
	failed := 0
	for _, r := range results {
		if !r.OK {
			failed++
			t.Errorf("%s: %s", r.Name, r.Detail)
		}
	}
	// The script makes well over a hundred checks; far fewer means it
	// stopped early without saying so.
	if len(results) < 100 {
		t.Errorf("only %d checks ran", len(results))
	}
	t.Logf("%d checks, %d failed", len(results), failed)
}
