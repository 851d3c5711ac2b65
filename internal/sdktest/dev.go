package sdktest

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"golang.org/x/oauth2/google"
)

// ReadDevExports reads the "export NAME=VALUE" lines tc-credd dev prints,
// up to its closing "Ctrl-C" line, and then discards the rest of r.
func ReadDevExports(r io.Reader) map[string]string {
	exports := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			exports[k] = v
		}
		if strings.HasPrefix(line, "Ctrl-C") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return exports
}

// GetDemoCredentials follows what tc-credd dev printed: the AWS SDK through
// IMDS and the Google library must each get a credential.
func GetDemoCredentials(t *testing.T, exports map[string]string) {
	t.Helper()
	CleanAWSEnv(t)
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", exports["AWS_EC2_METADATA_SERVICE_ENDPOINT"])
	c, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	creds, err := c.Credentials.Retrieve(context.Background())
	if err != nil || !strings.HasPrefix(creds.AccessKeyID, "ASIA") || creds.SessionToken == "" {
		t.Fatalf("the AWS SDK got %q: %v", creds.AccessKeyID, err)
	}
	t.Setenv("GCE_METADATA_HOST", exports["GCE_METADATA_HOST"])
	if tk, err := google.ComputeTokenSource("").Token(); err != nil || tk.AccessToken == "" {
		t.Fatalf("the Google library got no token: %v", err)
	}
}
