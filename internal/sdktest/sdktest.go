// Package sdktest prepares the environment for tests that run the real
// AWS and Google SDKs against tc-credd: the SDKs must find nothing but what
// the test points them at.
package sdktest

import (
	"os"
	"path/filepath"
	"testing"
)

// awsVars are every variable that would let an AWS SDK find credentials
// or endpoints other than the ones a test sets.
var awsVars = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
	"AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_V1_DISABLED",
}

// CleanAWSEnv unsets every AWS variable for the test (restored after),
// points the shared config and credentials files at nothing, and sets a
// region so no SDK looks one up.
func CleanAWSEnv(t testing.TB) {
	t.Helper()
	for _, k := range awsVars {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_REGION", "us-east-1")
}
