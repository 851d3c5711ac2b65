package config

import (
	"errors"
	"os/user"
	"strings"
	"testing"
)

const identityBase = `rootUrl: https://tc.example.com
credentials:
  clientId: c
  accessToken: t
`

func validateText(t *testing.T, text string) ([]string, error) {
	t.Helper()
	c, err := Parse(strings.NewReader(identityBase + text))
	if err != nil {
		t.Fatal(err)
	}
	c.ApplyDefaults()
	return c.Validate()
}

func TestAllowValidation(t *testing.T) {
	root, err := user.LookupId("0")
	if err != nil {
		t.Skip("no user database entry for uid 0")
	}
	grp, err := user.LookupGroupId("0")
	if err != nil {
		t.Skip("no group database entry for gid 0")
	}
	ok := `aws:
  - name: build
    bucket: my-bucket
    level: read-only
    allow:
      users: [` + root.Username + `]
      groups: [` + grp.Name + `]
      uids: [1001]
      cgroups: [/system.slice/ci-]
sentry:
  - name: app
    project: p
    allow: {uids: [0]}
unixSocket: /run/tc-credd/api.sock
audit: {file: /var/log/tc-credd/audit.jsonl, maxSizeMB: 5, keep: 2}
`
	if _, err := validateText(t, ok); err != nil {
		t.Fatalf("valid allow rules refused: %v", err)
	}
	c, _ := Parse(strings.NewReader(identityBase + ok))
	got := c.Allows()
	if len(got) != 2 || got[0].Key != "aws/build" || got[0].Field != "aws[0].allow" || got[1].Key != "sentry/app" || got[1].Field != "sentry[0].allow" {
		t.Fatalf("Allows() = %+v", got)
	}

	bad := `aws:
  - name: build
    bucket: my-bucket
    level: read-only
    allow:
      users: [no-such-user-tc-credd]
      groups: [no-such-group-tc-credd]
      uids: [-1]
      cgroups: [system.slice]
gcp:
  - projectId: my-project-1
    serviceAccount: sa@my-project-1.iam.gserviceaccount.com
    allow: {}
unixSocket: run/api.sock
audit: {file: audit.jsonl, maxSizeMB: -1, keep: -2}
`
	_, err = validateText(t, bad)
	for _, want := range []string{
		`aws[0].allow.users[0] (line 10): is invalid: no user "no-such-user-tc-credd" on this system`,
		`aws[0].allow.groups[0] (line 11): is invalid: no group "no-such-group-tc-credd" on this system`,
		`aws[0].allow.uids[0] (line 12): is invalid: a uid is 0 or more (got -1)`,
		`aws[0].allow.cgroups[0] (line 13): is invalid: a cgroup path prefix starts with /`,
		`gcp[0].allow (line 17): is invalid: names no one`,
		`unixSocket (line 18): is invalid: must be an absolute path`,
		`audit.file (line 19): is invalid: must be an absolute path`,
		`audit.maxSizeMB (line 19): is invalid`,
		`audit.keep (line 19): is invalid`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("not ErrInvalid: %v", err)
	}
}

// Where the kernel cannot name callers, a rule that needs it is refused,
// never left to admit everyone or no one silently.
func TestAllowNeedsCallerIdentity(t *testing.T) {
	was := callerIdentity
	callerIdentity = false
	t.Cleanup(func() { callerIdentity = was })
	_, err := validateText(t, `sentry:
  - name: app
    project: p
    allow: {uids: [0]}
`)
	if err == nil || !strings.Contains(err.Error(), "sentry[0].allow (line 8): is invalid: needs the caller's identity, which tc-credd learns from the Linux kernel only") {
		t.Fatalf("allow without caller identity: %v", err)
	}
	if _, err := validateText(t, "sentry:\n  - name: app\n    project: p\n"); err != nil {
		t.Fatalf("no allow, no identity needed: %v", err)
	}
}
