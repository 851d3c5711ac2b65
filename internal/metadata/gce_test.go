package metadata_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestGCEMetadata(t *testing.T) {
	e := newEnv(t, envOpts{})
	flavor := map[string]string{"Metadata-Flavor": "Google"}
	base := "/computeMetadata/v1/"
	// Probes, and the flavor header on every response.
	for _, c := range []struct {
		path string
		hdr  map[string]string
		want int
	}{
		{"/", nil, 200},
		{"/", flavor, 200},
		{base + "instance", flavor, 200},
		{base + "instance/", flavor, 200},
		{base + "instance", nil, 403},
		{base + "project/project-id", nil, 403},
		{"/computeMetadata/v2/whatever", nil, 403},
		{base + "project/project-id", map[string]string{"Metadata-Flavor": "google-ish"}, 403},
		{base + "project/project-id", map[string]string{"Metadata-Flavor": "Google", "X-Forwarded-For": "1.2.3.4"}, 403},
		{base + "universe/universe-domain", flavor, 404},
		{base + "instance/service-accounts/default/identity?audience=x", flavor, 404},
		{base + "instance/service-accounts/nobody@x.iam.gserviceaccount.com/token", flavor, 404},
		{"/nonsense", nil, 404},
	} {
		st, h, _ := e.do(http.MethodGet, c.path, c.hdr)
		if st != c.want {
			t.Errorf("%s %v: %d, want %d", c.path, c.hdr, st, c.want)
		}
		if h.Get("Metadata-Flavor") != "Google" {
			t.Errorf("%s: response lacks Metadata-Flavor: Google", c.path)
		}
	}
	text := map[string]string{
		base + "instance/service-accounts/default/email":          gcpMail,
		base + "instance/service-accounts/" + gcpMail2 + "/email": gcpMail2,
		base + "instance/service-accounts/default/scopes":         "https://www.googleapis.com/auth/cloud-platform\n",
		base + "instance/service-accounts/":                       "default/\n" + gcpMail + "/\n" + gcpMail2 + "/\n",
		base + "project/project-id":                               "tc-credd-dev",
		base + "project/numeric-project-id":                       "123456789012",
	}
	for p, want := range text {
		if st, _, body := e.do(http.MethodGet, p, flavor); st != 200 || body != want {
			t.Errorf("%s: %d %q, want %q", p, st, body, want)
		}
	}
	_, h, body := e.do(http.MethodGet, base+"instance/service-accounts/default/?recursive=true", flavor)
	var sa struct {
		Aliases []string
		Email   string
		Scopes  []string
	}
	if err := json.Unmarshal([]byte(body), &sa); err != nil || sa.Email != gcpMail || len(sa.Aliases) != 1 || sa.Aliases[0] != "default" || len(sa.Scopes) != 1 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("recursive service account: %s", body)
	}

	// The token, under default and under the email, counting down.
	type token struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	get := func(acct string) token {
		st, h, body := e.do(http.MethodGet, base+"instance/service-accounts/"+acct+"/token?scopes=a,b", flavor)
		var tk token
		if err := json.Unmarshal([]byte(body), &tk); err != nil || st != 200 || h.Get("Content-Type") != "application/json" {
			t.Fatalf("token for %s: %d %v %q", acct, st, err, h.Get("Content-Type"))
		}
		return tk
	}
	a, b, other := get("default"), get(gcpMail), get(gcpMail2)
	issued := e.fake.Issued("gcpCredentials")
	if a.AccessToken != b.AccessToken || a.TokenType != "Bearer" || a.ExpiresIn < 3500 || a.ExpiresIn > 3600 {
		t.Errorf("token = %+v / %+v", a, b)
	}
	found := 0
	for _, s := range issued {
		if s.Reveal() == a.AccessToken || s.Reveal() == other.AccessToken {
			found++
		}
	}
	if found != 2 || a.AccessToken == other.AccessToken {
		t.Error("tokens served are not the ones the Auth service issued per account")
	}
	e.clk.Add(90 * time.Second)
	if c := get("default"); c.ExpiresIn != a.ExpiresIn-90 {
		t.Errorf("expires_in %d after 90 s, want %d", c.ExpiresIn, a.ExpiresIn-90)
	}
}
