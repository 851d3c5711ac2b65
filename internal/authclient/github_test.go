package authclient_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/taskcluster/tc-credd/internal/authclient"
	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/hawk"
)

// githubRepoToken needs one scope per repository and permission, with
// owner and repository in lowercase, and names the missing one; the app
// must be configured and installed on the owner.
func TestGitHubRepoToken(t *testing.T) {
	e := newEnv(t, authtest.Options{GitHubApps: map[string][]string{"ci-app": {"mozilla"}}})
	tok := e.fake.AddClient("gh", "auth:github-repo-token:ci-app/mozilla/gecko:contents:read", "auth:github-repo-token:ci-app/mozilla/gecko:pull_requests:write")
	c := e.client(t, &hawk.Credentials{ClientID: "gh", AccessToken: tok})
	ctx := context.Background()
	req := &authclient.GitHubRepoTokenRequest{Permissions: map[string]string{"contents": "read", "pull_requests": "write"}, Repositories: []string{"Gecko"}}
	r, err := c.GitHubRepoToken(ctx, "ci-app", "Mozilla", req)
	if err != nil {
		t.Fatal(err)
	}
	issued := e.fake.Issued("githubRepoToken")
	if len(issued) != 1 || r.Token.Reveal() != issued[0].Reveal() || !strings.HasPrefix(r.Token.Reveal(), "ghs_") {
		t.Fatalf("token %v is not the one issued", r.Token)
	}
	if left := time.Until(r.Expires); left < 59*time.Minute || left > time.Hour {
		t.Fatalf("expires in %s", left)
	}

	req.Permissions["contents"] = "write"
	_, err = c.GitHubRepoToken(ctx, "ci-app", "mozilla", req)
	if !authclient.IsMissingScopes(err) || !slices.Contains(authclient.MissingScopes(err), "auth:github-repo-token:ci-app/mozilla/gecko:contents:write") {
		t.Fatalf("write without the scope: %v (missing %v)", err, authclient.MissingScopes(err))
	}

	admin := e.admin(t)
	for _, c := range []struct {
		app, owner string
		want       string
	}{
		{"other-app", "mozilla", "Application with name `other-app` is not configured"},
		{"ci-app", "someone", "Application with name `ci-app` is not installed on `someone`"},
	} {
		_, err := admin.GitHubRepoToken(ctx, c.app, c.owner, &authclient.GitHubRepoTokenRequest{Permissions: map[string]string{"contents": "read"}, Repositories: []string{"x"}})
		if !authclient.IsNotFound(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s/%s: %v", c.app, c.owner, err)
		}
	}
	for _, bad := range []*authclient.GitHubRepoTokenRequest{
		{Permissions: map[string]string{}, Repositories: []string{"x"}},
		{Permissions: map[string]string{"contents": "admin"}, Repositories: []string{"x"}},
		{Permissions: map[string]string{"contents": "read"}, Repositories: []string{}},
		{Permissions: map[string]string{"contents": "read"}, Repositories: []string{"bad/name"}},
	} {
		_, err := admin.GitHubRepoToken(ctx, "ci-app", "mozilla", bad)
		if ae, ok := err.(*authclient.Error); !ok || ae.StatusCode != 400 || ae.Code != "InputValidationError" {
			t.Errorf("%+v: %v, want 400 InputValidationError", bad, err)
		}
	}
}

// Observe hears of every HTTP request sent, with the reply's status, or 0
// when there was none.
func TestObserveEveryRequest(t *testing.T) {
	e := newEnv(t, authtest.Options{})
	tok := e.fake.AddClient("c", "auth:sentry:*")
	type seen struct {
		endpoint string
		status   int
	}
	var got []seen
	c := e.client(t, &hawk.Credentials{ClientID: "c", AccessToken: tok}, func(o *authclient.Options) {
		o.Retries = -1
		o.Observe = func(endpoint string, status int, elapsed time.Duration) {
			if elapsed <= 0 {
				t.Errorf("%s: elapsed %s", endpoint, elapsed)
			}
			got = append(got, seen{endpoint, status})
		}
	})
	ctx := context.Background()
	if _, err := c.SentryDSN(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GCPCredentials(ctx, "tc-credd-dev", "x@tc-credd-dev.iam.gserviceaccount.com"); err == nil {
		t.Fatal("gcpCredentials without the scope succeeded")
	}
	e.srv.Close()
	_, _ = c.SentryDSN(ctx, "p")
	want := []seen{{"sentryDSN", 200}, {"gcpCredentials", 403}, {"sentryDSN", 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("observed %v, want %v", got, want)
	}
}
