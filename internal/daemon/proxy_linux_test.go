//go:build linux

package daemon_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/identity/identitytest"
)

// The proxy signs for the callers its policies admit, narrowed to the
// scopes they grant, and refuses everyone else itself, naming the policy;
// both are audited with the caller.
func TestProxyPolicyAcrossUsers(t *testing.T) {
	identitytest.Skip(t)
	const uidA, uidB = 41011, 41012
	exe := identitytest.Executable(t)
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	f := startWith(t, "", startOpts{
		prepare: func(f *fixture) {
			f.fake.SetClientScopes("d", "auth:sentry:*", "auth:aws-s3:*", "auth:current-scopes", "queue:*")
		},
		extra: func(f *fixture) string {
			return fmt.Sprintf("audit: {file: %s}\nproxy:\n  listen: 127.0.0.1:0\n  policies:\n    - allow: {uids: [%d]}\n      scopes: [auth:current-scopes, queue:get-artifact:public/*]\n", auditFile, uidA)
		},
	})
	reqs := []identitytest.Request{{Method: "GET", URL: "http://" + f.addrs.Proxy + "/api/auth/v1/scopes/current"}}
	run := func(uid uint32) identitytest.Result {
		t.Helper()
		return identitytest.Run(t, exe, uid, "", reqs...)
	}
	a := run(uidA)
	var cur struct{ Scopes []string }
	if len(a.Statuses) != 1 || a.Statuses[0] != 200 || json.Unmarshal([]byte(a.Bodies[0]), &cur) != nil {
		t.Fatalf("uid A through the proxy: %v %q", a.Statuses, a.Bodies)
	}
	if !slices.Contains(cur.Scopes, "queue:get-artifact:public/*") || slices.Contains(cur.Scopes, "queue:*") || slices.Contains(cur.Scopes, "auth:sentry:*") {
		t.Fatalf("uid A's requests are not narrowed to its policy: %v", cur.Scopes)
	}
	b := run(uidB)
	if len(b.Statuses) != 1 || b.Statuses[0] != 403 || !strings.Contains(b.Bodies[0], "no proxy policy (proxy.policies) admits uid 41012") {
		t.Fatalf("uid B through the proxy: %v %q", b.Statuses, b.Bodies)
	}

	data, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	var served, refused int
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e audit.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if e.Protocol != audit.Proxy {
			continue
		}
		switch {
		case e.Outcome == audit.Served && e.Caller.UID == uidA && e.Caller.PID == a.PID && e.Source == "proxy" &&
			e.Method == "GET" && e.Path == "/api/auth/v1/scopes/current" && e.Status == 200:
			served++
		case e.Outcome == audit.Refused && e.Caller.UID == uidB && e.Caller.PID == b.PID:
			refused++
		default:
			t.Errorf("unexpected proxy audit event %+v", e)
		}
	}
	if served != 1 || refused != 1 {
		t.Fatalf("audit: %d served, %d refused proxy events, want 1 each:\n%s", served, refused, data)
	}
}

// The proxy listener has the other listeners' checks: a Host that is not
// this machine's (DNS rebinding) or a forwarded request is refused before
// anything reaches Taskcluster.
func TestProxyListenerChecks(t *testing.T) {
	f := startWith(t, "", startOpts{
		prepare: func(f *fixture) {
			f.fake.SetClientScopes("d", "auth:sentry:*", "auth:current-scopes")
		},
		extra: func(f *fixture) string {
			return fmt.Sprintf("proxy:\n  listen: 127.0.0.1:0\n  policies:\n    - allow: {uids: [%d]}\n      scopes: [auth:current-scopes]\n", os.Getuid())
		},
	})
	url := "http://" + f.addrs.Proxy + "/api/auth/v1/scopes/current"
	if st, body := get(t, url, nil); st != 200 {
		t.Fatalf("an admitted caller: %d %s", st, body)
	}
	before := f.fake.Calls("currentScopes")
	for name, hdr := range map[string]map[string]string{
		"rebound Host":    {"Host": "evil.example"},
		"another port":    {"Host": "127.0.0.1:1"},
		"X-Forwarded-For": {"X-Forwarded-For": "203.0.113.9"},
	} {
		if st, body := get(t, url, hdr); st != 403 {
			t.Errorf("%s: %d %s, want 403", name, st, body)
		}
	}
	if n := f.fake.Calls("currentScopes") - before; n != 0 {
		t.Errorf("refused requests reached Taskcluster %d times", n)
	}
	// Every proxied request is logged and counted under the proxy's route.
	routes := map[any]int{}
	for _, e := range f.logs.FilterLoggerName("proxy").FilterMessage("request").All() {
		routes[e.ContextMap()["route"]]++
	}
	if routes["proxy"] != 2 || routes["rejected_host"] != 2 || len(routes) != 2 {
		t.Errorf("proxy access-log routes %v, want 2 proxy (admitted, forwarded) and 2 rejected_host", routes)
	}
}

// A reload applies allowedHosts to the ops and proxy listeners too, at
// once: a host added is let in, and one removed is refused again.
func TestReloadAppliesHostChecksToOpsAndProxy(t *testing.T) {
	extra := func(hosts string) string {
		return fmt.Sprintf("opsListen: 127.0.0.1:0\nallowedHosts: [%s]\nproxy:\n  listen: 127.0.0.1:0\n  policies:\n    - allow: {uids: [%d]}\n      scopes: [auth:current-scopes]\n", hosts, os.Getuid())
	}
	f := startWith(t, "", startOpts{
		prepare: func(f *fixture) {
			f.fake.SetClientScopes("d", "auth:sentry:*", "auth:current-scopes")
		},
		extra: func(f *fixture) string { return extra("") },
	})
	urls := map[string]string{
		"ops":   "http://" + f.addrs.OpsListen + "/readyz",
		"proxy": "http://" + f.addrs.Proxy + "/api/auth/v1/scopes/current",
	}
	expect := func(when string, want int) {
		t.Helper()
		for name, url := range urls {
			if st, body := get(t, url, map[string]string{"Host": "credd.internal"}); st != want {
				t.Errorf("%s, %s with Host credd.internal: %d %s, want %d", when, name, st, body, want)
			}
		}
	}
	expect("before the reload", 403)
	rewrite := func(hosts string) { f.write(f.config(extra(hosts))) }
	rewrite("credd.internal")
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 1)
	expect("after allowing it", 200)
	rewrite("")
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 2)
	expect("after removing it", 403)
	if n := f.logs.FilterMessageSnippet("takes effect at the next restart").Len(); n != 0 {
		t.Errorf("%d restart warnings for a change that took effect", n)
	}
	// proxy.policies follow a reload too: a policy for another uid refuses
	// this one, naming the policies.
	f.write(f.config(strings.Replace(extra(""), fmt.Sprintf("uids: [%d]", os.Getuid()), fmt.Sprintf("uids: [%d]", os.Getuid()+4242), 1)))
	f.reload <- struct{}{}
	f.waitLog("config reloaded", 3)
	if st, body := get(t, urls["proxy"], nil); st != 403 || !strings.Contains(body, "proxy.policies") {
		t.Errorf("after a reload that drops this uid's policy: %d %s, want 403 naming proxy.policies", st, body)
	}
}
