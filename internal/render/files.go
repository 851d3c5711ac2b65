package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"

	"github.com/taskcluster/tc-credd/internal/refresher"
)

// TaskclusterJSON is the Taskcluster response shape as file content.
func TaskclusterJSON(c *refresher.Credential) ([]byte, error) {
	b, err := json.MarshalIndent(Taskcluster(c), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render json: %w", err)
	}
	return append(b, '\n'), nil
}

// EnvVars returns the environment variables the usual consumers read for
// a credential.
func EnvVars(c *refresher.Credential, s refresher.Source) map[string]string {
	v := map[string]string{"TC_CREDD_EXPIRES": AWSTime(c.Expires)}
	switch c.Kind {
	case refresher.AWS:
		v["AWS_ACCESS_KEY_ID"] = c.AWS.AccessKeyID
		v["AWS_SECRET_ACCESS_KEY"] = c.AWS.SecretAccessKey.Reveal()
		v["AWS_SESSION_TOKEN"] = c.AWS.SessionToken.Reveal()
		v["AWS_CREDENTIAL_EXPIRATION"] = AWSTime(c.Expires)
	case refresher.GCP:
		v["CLOUDSDK_AUTH_ACCESS_TOKEN"] = c.GCP.AccessToken.Reveal()
		v["GOOGLE_OAUTH_ACCESS_TOKEN"] = c.GCP.AccessToken.Reveal()
	case refresher.Azure:
		v["AZURE_STORAGE_ACCOUNT"] = s.Account
		v["AZURE_STORAGE_SAS_TOKEN"] = c.Azure.SAS.Reveal()
	case refresher.Sentry:
		v["SENTRY_DSN"] = c.Sentry.Secret.Reveal()
	case refresher.Websocktunnel:
		v["WEBSOCKTUNNEL_TOKEN"] = c.Websocktunnel.Token.Reveal()
	case refresher.GitHub:
		// gh reads GH_TOKEN; actions and most other tools GITHUB_TOKEN.
		v["GH_TOKEN"] = c.GitHub.Token.Reveal()
		v["GITHUB_TOKEN"] = c.GitHub.Token.Reveal()
	}
	return v
}

// Env renders EnvVars as an env file that systemd's EnvironmentFile and a
// shell's `.` both read: sorted KEY='value' lines. Values are base64,
// JWT, URL or SAS text, so they never hold a single quote; one that did
// would be refused rather than written broken.
func Env(c *refresher.Credential, s refresher.Source) ([]byte, error) {
	vars := EnvVars(c, s)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		if strings.ContainsAny(vars[k], "'\n\r") {
			return nil, fmt.Errorf("render env: %s holds a quote or newline", k)
		}
		fmt.Fprintf(&b, "%s='%s'\n", k, vars[k])
	}
	return b.Bytes(), nil
}

// AWSProfile renders an AWS shared-credentials file with one profile.
func AWSProfile(c *refresher.Credential, profile string) ([]byte, error) {
	if c.AWS == nil {
		return nil, fmt.Errorf("render aws-credentials: %s credentials are not AWS keys", c.Kind)
	}
	if profile == "" {
		profile = "default"
	}
	return []byte(fmt.Sprintf("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_session_token = %s\n# expires %s\n",
		profile, c.AWS.AccessKeyID, c.AWS.SecretAccessKey.Reveal(), c.AWS.SessionToken.Reveal(), AWSTime(c.Expires))), nil
}

// TemplateData is what a sink template sees: the source's identity, the
// times, every env variable under .Env, and the kind's fields.
func TemplateData(c *refresher.Credential, s refresher.Source) map[string]any {
	d := map[string]any{
		"Kind": string(c.Kind), "Name": s.Name, "Key": s.Key(),
		"Issued": c.Issued, "Expires": c.Expires, "Env": EnvVars(c, s),
	}
	switch c.Kind {
	case refresher.AWS:
		d["AccessKeyID"], d["SecretAccessKey"], d["SessionToken"] = c.AWS.AccessKeyID, c.AWS.SecretAccessKey.Reveal(), c.AWS.SessionToken.Reveal()
	case refresher.GCP:
		d["AccessToken"] = c.GCP.AccessToken.Reveal()
	case refresher.Azure:
		d["SAS"], d["Account"] = c.Azure.SAS.Reveal(), s.Account
	case refresher.Sentry:
		d["DSN"], d["PublicDSN"], d["Project"] = c.Sentry.Secret.Reveal(), c.Sentry.Public.Reveal(), c.Sentry.Project
	case refresher.Websocktunnel:
		d["Token"], d["Audience"], d["Client"] = c.Websocktunnel.Token.Reveal(), c.Websocktunnel.Audience, c.Websocktunnel.Client
	case refresher.GitHub:
		d["Token"], d["Owner"], d["Repositories"] = c.GitHub.Token.Reveal(), c.GitHub.Owner, c.GitHub.Repositories
	}
	return d
}

// Template executes t over TemplateData.
func Template(t *template.Template, c *refresher.Credential, s refresher.Source) ([]byte, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, TemplateData(c, s)); err != nil {
		// The error names the template and the field, never a value.
		return nil, fmt.Errorf("render template: %w", err)
	}
	return b.Bytes(), nil
}
