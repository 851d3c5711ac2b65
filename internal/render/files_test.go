package render

import (
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/secret"
)

func TestFileFormats(t *testing.T) {
	exp := time.Date(2026, 8, 21, 18, 0, 0, 0, time.UTC)
	src := refresher.Source{Kind: refresher.AWS, Name: "a"}
	c := &refresher.Credential{Kind: refresher.AWS, Expires: exp, AWS: &refresher.AWSCredential{AccessKeyID: "ASIAKEY", SecretAccessKey: secret.New("sec"), SessionToken: secret.New("tok")}}
	env, err := Env(c, src)
	if err != nil {
		t.Fatal(err)
	}
	want := "AWS_ACCESS_KEY_ID='ASIAKEY'\nAWS_CREDENTIAL_EXPIRATION='2026-08-21T18:00:00Z'\nAWS_SECRET_ACCESS_KEY='sec'\nAWS_SESSION_TOKEN='tok'\nTC_CREDD_EXPIRES='2026-08-21T18:00:00Z'\n"
	if string(env) != want {
		t.Errorf("env\n got %q\nwant %q", env, want)
	}
	prof, _ := AWSProfile(c, "ci")
	if !strings.HasPrefix(string(prof), "[ci]\naws_access_key_id = ASIAKEY\naws_secret_access_key = sec\naws_session_token = tok\n") {
		t.Errorf("profile: %q", prof)
	}
	tpl := template.Must(template.New("x").Parse(`{{.Kind}}/{{.Name}} {{.AccessKeyID}}:{{.SecretAccessKey}} {{.Env.AWS_SESSION_TOKEN}} {{.Expires.Unix}}`))
	out, err := Template(tpl, c, src)
	if err != nil || string(out) != "aws/a ASIAKEY:sec tok 1787335200" {
		t.Errorf("template: %q %v", out, err)
	}
	j, _ := TaskclusterJSON(c)
	if !strings.Contains(string(j), `"SecretAccessKey": "sec"`) {
		t.Errorf("json: %s", j)
	}
	az := &refresher.Credential{Kind: refresher.Azure, Expires: exp, Azure: &refresher.AzureCredential{SAS: secret.New("it's")}}
	if _, err := Env(az, refresher.Source{Kind: refresher.Azure, Account: "acct"}); err == nil {
		t.Error("a value with a quote was written")
	}
	if _, err := AWSProfile(az, ""); err == nil {
		t.Error("an Azure SAS rendered as an AWS profile")
	}
	sentry := &refresher.Credential{Kind: refresher.Sentry, Expires: exp, Sentry: &refresher.SentryCredential{Secret: secret.New("https://k:s@h/1")}}
	env, _ = Env(sentry, refresher.Source{})
	if !strings.Contains(string(env), "SENTRY_DSN='https://k:s@h/1'\n") {
		t.Errorf("sentry env: %s", env)
	}
}
