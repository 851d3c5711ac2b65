package metadata_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	gcemd "cloud.google.com/go/compute/metadata"
	"github.com/aws/aws-sdk-go-v2/config"
	"go.uber.org/zap"
	"golang.org/x/oauth2/google"

	"github.com/taskcluster/tc-credd/internal/sdktest"
)

func cleanAWSEnv(t *testing.T) { sdktest.CleanAWSEnv(t) }

// awsRetrieve loads a fresh default config, as a new process would, and
// retrieves credentials through the default chain.
func awsRetrieve(t *testing.T) (string, string, string, time.Time, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	return c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Expires, err
}

// checkAWS asserts the SDK got exactly the latest key the Auth service
// issued, with its secret parts.
func (e *env) checkAWS(t *testing.T, how string) string {
	t.Helper()
	// Expiry is not compared: each provider adjusts it (IMDS caps it at an
	// hour of real time, the container provider takes 5 min off).
	id, sec, tok, _, err := awsRetrieve(t)
	if err != nil {
		t.Fatalf("%s: %v", how, err)
	}
	issued := e.fake.Issued("awsS3Credentials")
	c := e.current("aws/" + role)
	if id != issued[len(issued)-1].Reveal() || id != c.AWS.AccessKeyID || sec != c.AWS.SecretAccessKey.Reveal() || tok != c.AWS.SessionToken.Reveal() {
		t.Fatalf("%s: the SDK got key %s, the Auth service last issued %s", how, id, issued[len(issued)-1].Reveal())
	}
	return id
}

func TestAWSSDKThroughIMDSv2(t *testing.T) {
	cleanAWSEnv(t)
	e := newEnv(t, envOpts{})
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", e.url)
	t.Setenv("AWS_EC2_METADATA_V1_DISABLED", "true") // prove the token flow
	first := e.checkAWS(t, "IMDSv2")
	e.renew("aws/" + role)
	if second := e.checkAWS(t, "IMDSv2 after renewal"); second == first {
		t.Fatal("the SDK still got the old key after a renewal")
	}
	if n := withFields(e.logs, zap.String("route", "imds_token")).Len(); n < 2 {
		t.Fatalf("token PUTs logged %d, want ≥ 2: the SDK did not use IMDSv2", n)
	}
}

func TestAWSSDKThroughIMDSv1WhenTokenPUTFails(t *testing.T) {
	cleanAWSEnv(t)
	// Something in front refuses the PUT (as an old proxy would): the SDK
	// falls back to tokenless requests, which only allowIMDSv1 serves.
	blockPUT := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	e := newEnv(t, envOpts{allowV1: true, wrap: blockPUT})
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", e.url)
	first := e.checkAWS(t, "IMDSv1")
	e.renew("aws/" + role)
	if e.checkAWS(t, "IMDSv1 after renewal") == first {
		t.Fatal("old key after renewal")
	}

	strict := newEnv(t, envOpts{wrap: blockPUT})
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", strict.url)
	if _, _, _, _, err := awsRetrieve(t); err == nil {
		t.Fatal("with IMDSv1 off, a tokenless SDK must get nothing")
	}
}

func TestAWSSDKThroughContainerCredentials(t *testing.T) {
	cleanAWSEnv(t)
	e := newEnv(t, envOpts{})
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", e.url+"/v1/credentials/aws/"+role)
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", e.tokenPath)
	first := e.checkAWS(t, "container")
	e.renew("aws/" + role)
	if e.checkAWS(t, "container after renewal") == first {
		t.Fatal("old key after renewal")
	}
	// A wrong token file gets nothing.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("wrong-token-wrong-token-wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", bad)
	if _, _, _, _, err := awsRetrieve(t); err == nil {
		t.Fatal("a wrong token got credentials")
	}
}

func TestGoogleLibrariesThroughGCEMetadataHost(t *testing.T) {
	e := newEnv(t, envOpts{})
	t.Setenv("GCE_METADATA_HOST", e.host)
	t.Setenv("GCE_METADATA_IP", e.host)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := gcemd.NewClient(&http.Client{})
	email, err := c.EmailWithContext(ctx, "")
	if err != nil || email != gcpMail {
		t.Fatalf("Email = %q, %v", email, err)
	}
	if email2, err := c.EmailWithContext(ctx, gcpMail2); err != nil || email2 != gcpMail2 {
		t.Fatalf("Email(%s) = %q, %v", gcpMail2, email2, err)
	}
	proj, err := c.ProjectIDWithContext(ctx)
	if err != nil || proj != "tc-credd-dev" {
		t.Fatalf("ProjectID = %q, %v", proj, err)
	}
	token := func() string {
		tk, err := google.ComputeTokenSource("").Token()
		if err != nil {
			t.Fatal(err)
		}
		if tk.TokenType != "Bearer" || time.Until(tk.Expiry) < 10*time.Minute {
			t.Fatalf("token type %q expiry %s", tk.TokenType, tk.Expiry)
		}
		return tk.AccessToken
	}
	first := token()
	if first != e.current("gcp/"+gcpMail).GCP.AccessToken.Reveal() || !issuedBy(e, "gcpCredentials", first) {
		t.Fatal("ComputeTokenSource got a token the Auth service did not issue for the default account")
	}
	e.renew("gcp/" + gcpMail)
	second := token()
	if second == first || second != e.current("gcp/"+gcpMail).GCP.AccessToken.Reveal() || !issuedBy(e, "gcpCredentials", second) {
		t.Fatal("ComputeTokenSource did not get the renewed token")
	}
}

func issuedBy(e *env, endpoint, value string) bool {
	for _, s := range e.fake.Issued(endpoint) {
		if s.Reveal() == value {
			return true
		}
	}
	return false
}
