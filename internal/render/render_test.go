package render

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/secret"
)

func TestRenderingsAreExactShapes(t *testing.T) {
	issued := time.Date(2026, 8, 21, 17, 24, 27, 123e6, time.UTC)
	exp := issued.Add(time.Hour)
	aws := &refresher.Credential{Kind: refresher.AWS, Issued: issued, Expires: exp, AWS: &refresher.AWSCredential{
		AccessKeyID: "ASIAEXAMPLEKEY1234", SecretAccessKey: secret.New("sekrit"), SessionToken: secret.New("tokn")}}
	b, _ := json.Marshal(IMDS(aws))
	want := `{"Code":"Success","LastUpdated":"2026-08-21T17:24:27Z","Type":"AWS-HMAC","AccessKeyId":"ASIAEXAMPLEKEY1234","SecretAccessKey":"sekrit","Token":"tokn","Expiration":"2026-08-21T18:24:27Z"}`
	if string(b) != want {
		t.Errorf("IMDS\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(Container(aws))
	if string(b) != `{"AccessKeyId":"ASIAEXAMPLEKEY1234","SecretAccessKey":"sekrit","Token":"tokn","Expiration":"2026-08-21T18:24:27Z"}` {
		t.Errorf("container: %s", b)
	}
	if KeySuffix(aws) != "1234" {
		t.Errorf("keySuffix = %q", KeySuffix(aws))
	}
	gcp := &refresher.Credential{Kind: refresher.GCP, Issued: issued, Expires: exp, GCP: &refresher.GCPCredential{AccessToken: secret.New("ya29.x")}}
	tok := GCEToken(gcp, issued.Add(10*time.Minute+500*time.Millisecond))
	if tok.ExpiresIn != 2999 || tok.TokenType != "Bearer" || tok.AccessToken != "ya29.x" {
		t.Errorf("GCE token = %+v", tok)
	}
	b, _ = json.Marshal(Taskcluster(gcp))
	if string(b) != `{"accessToken":"ya29.x","expireTime":"2026-08-21T18:24:27Z"}` {
		t.Errorf("gcp: %s", b)
	}
	sentry := &refresher.Credential{Kind: refresher.Sentry, Expires: exp, Sentry: &refresher.SentryCredential{Project: "p", Secret: secret.New("s"), Public: secret.New("u")}}
	b, _ = json.Marshal(Taskcluster(sentry))
	if string(b) != `{"project":"p","dsn":{"secret":"s","public":"u"},"expires":"2026-08-21T18:24:27.123Z"}` {
		t.Errorf("sentry: %s", b)
	}
	az := &refresher.Credential{Kind: refresher.Azure, Expires: exp, Azure: &refresher.AzureCredential{SAS: secret.New("sv=1&sig=x")}}
	b, _ = json.Marshal(Taskcluster(az))
	if string(b) != `{"sas":"sv=1\u0026sig=x","expiry":"2026-08-21T18:24:27.123Z"}` {
		t.Errorf("azure: %s", b)
	}
	wst := &refresher.Credential{Kind: refresher.Websocktunnel, Expires: exp, Websocktunnel: &refresher.WebsocktunnelCredential{Audience: "a", Client: "c", Token: secret.New("j.w.t")}}
	b, _ = json.Marshal(Taskcluster(wst))
	if string(b) != `{"wstClient":"c","wstAudience":"a","token":"j.w.t","expires":"2026-08-21T18:24:27.123Z"}` {
		t.Errorf("websocktunnel: %s", b)
	}
	info := IAMInfoFor("artifacts", issued)
	if info.Code != "Success" || !strings.HasSuffix(info.InstanceProfileArn, ":instance-profile/artifacts") || len(info.InstanceProfileID) != 20 {
		t.Errorf("iam info = %+v", info)
	}
}
