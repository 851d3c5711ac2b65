package identity_test

import (
	"os/user"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/identity"
)

func TestRuleAdmits(t *testing.T) {
	root, err := user.LookupId("0")
	if err != nil {
		t.Skip("no user database entry for uid 0")
	}
	r, err := identity.NewRule("aws[0].allow", []string{root.Username}, nil, []int{1001}, []string{"/system.slice/ci-"})
	if err != nil {
		t.Fatal(err)
	}
	grp, err := identity.NewRule("aws[1].allow", nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		rule *identity.Rule
		c    *identity.Caller
		want bool
	}{
		{"no rule admits anyone", nil, &identity.Caller{UID: identity.Unknown}, true},
		{"user by name", r, &identity.Caller{UID: 0}, true},
		{"uid", r, &identity.Caller{UID: 1001}, true},
		{"other uid", r, &identity.Caller{UID: 1002, GID: 1002, Groups: []int{1002}}, false},
		{"cgroup prefix", r, &identity.Caller{UID: 1002, Cgroup: "/system.slice/ci-runner.service"}, true},
		{"cgroup elsewhere", r, &identity.Caller{UID: 1002, Cgroup: "/user.slice/ci-x"}, false},
		{"unknown caller", r, &identity.Caller{UID: identity.Unknown, Cgroup: "/system.slice/ci-x"}, false},
		{"empty rule admits none", grp, &identity.Caller{UID: 0}, false},
	} {
		if got := tc.rule.Admits(tc.c); got != tc.want {
			t.Errorf("%s: Admits(%+v) = %v", tc.name, tc.c, got)
		}
	}
	msg := r.Refusal("aws/build", &identity.Caller{UID: 1002, User: "task", PID: 7, Exe: "/usr/bin/curl"})
	for _, want := range []string{"aws/build", "aws[0].allow", "users " + root.Username, "uids 1001", "cgroups /system.slice/ci-", "uid 1002 (task) pid 7 /usr/bin/curl"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q lacks %q", msg, want)
		}
	}
}

func TestRuleGroups(t *testing.T) {
	g, err := user.LookupGroupId("0")
	if err != nil {
		t.Skip("no group database entry for gid 0")
	}
	r, err := identity.NewRule("gcp[0].allow", nil, []string{g.Name}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Admits(&identity.Caller{UID: 5, GID: 5, Groups: []int{5, 0}}) {
		t.Error("a supplementary group is not admitted")
	}
	if !r.Admits(&identity.Caller{UID: 5, GID: 0}) {
		t.Error("the primary group is not admitted")
	}
	if r.Admits(&identity.Caller{UID: 5, GID: 5, Groups: []int{5}}) {
		t.Error("a caller outside the group is admitted")
	}
	if _, err := identity.NewRule("gcp[0].allow", []string{"no-such-user-tc-credd"}, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "gcp[0].allow.users") {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := identity.NewRule("gcp[0].allow", nil, []string{"no-such-group-tc-credd"}, nil, nil); err == nil || !strings.Contains(err.Error(), "gcp[0].allow.groups") {
		t.Errorf("unknown group: %v", err)
	}
}
