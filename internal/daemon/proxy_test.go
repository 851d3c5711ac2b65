//go:build linux

package daemon_test

import (
	"strings"
	"testing"
)

// check names the scopes a github source needs and its client lacks (one
// per repository and permission), and those a proxy policy grants beyond
// the client's.
func TestCheckNamesGitHubAndProxyScopes(t *testing.T) {
	f := start(t, "")
	f.fake.SetClientScopes("d", "auth:sentry:*", "auth:current-scopes",
		"auth:github-repo-token:tc-credd-dev/octo-org/hello:contents:read")
	f.write(f.config(`github:
  - name: ci
    app: tc-credd-dev
    owner: Octo-Org
    repositories: [Hello, world]
    permissions: {contents: read}
proxy:
  listen: 127.0.0.1:0
  policies:
    - allow: {uids: [0]}
      scopes: [auth:current-scopes, queue:create-task:*]
`))
	problems, out := f.check()
	for _, want := range []string{
		"MISSING  github/ci                        auth:github-repo-token:tc-credd-dev/octo-org/world:contents:read\n",
		"MISSING  proxy.policies[0]                queue:create-task:*\n",
		"ok       sentry/app                       auth:sentry:p\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	if problems != 2 {
		t.Errorf("check found %d problems, want 2:\n%s", problems, out.String())
	}
}
