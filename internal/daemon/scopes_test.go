package daemon_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/daemon"
	"github.com/taskcluster/tc-credd/internal/refresher"
)

// TestMissingScopeIsNamed: for a read-write S3 source and a Sentry source
// whose client lacks the scope, the service's 403 names one bare scope
// (the renderer JSON-encodes only expressions). `check` and /v1/status
// (the refresher's missingScopes and lastError) must both name it.
func TestMissingScopeIsNamed(t *testing.T) {
	const ops = "opsListen: 127.0.0.1:0\n"
	f := start(t, ops)
	// The client keeps the scope of the running sentry/app and reads S3,
	// but may not write it nor reach Sentry project q.
	f.fake.SetClientScopes("d", "auth:sentry:p", "auth:aws-s3:read-only:my-bucket/builds/", "auth:current-scopes")
	// The extra text continues the config's sentry list, then adds S3.
	f.write(f.config("  - name: other\n    project: q\n" + ops +
		"aws:\n  - name: artifacts\n    bucket: my-bucket\n    prefix: builds/\n    level: read-write\n"))
	f.reload <- struct{}{}
	f.waitLog("fetch refused by Taskcluster; retrying slowly", 2)

	want := map[string]string{
		"aws/artifacts": "auth:aws-s3:read-write:my-bucket/builds/",
		"sentry/other":  "auth:sentry:q",
	}
	st, body := get(t, "http://"+f.addrs.OpsListen+"/v1/status", nil)
	if st != 200 {
		t.Fatalf("/v1/status: %d %s", st, body)
	}
	var status struct {
		Sources []refresher.State `json:"sources"`
	}
	if err := json.Unmarshal([]byte(body), &status); err != nil {
		t.Fatalf("/v1/status: %v: %s", err, body)
	}
	seen := 0
	for _, s := range status.Sources {
		scope, ok := want[s.Key]
		if !ok {
			continue
		}
		seen++
		if len(s.MissingScopes) != 1 || s.MissingScopes[0] != scope {
			t.Errorf("%s: missingScopes = %q, want [%q]", s.Key, s.MissingScopes, scope)
		}
		if !strings.HasSuffix(s.LastError, "(missing scope "+scope+")") {
			t.Errorf("%s: lastError = %q, want it to name %s", s.Key, s.LastError, scope)
		}
	}
	if seen != len(want) {
		t.Fatalf("/v1/status shows %d of the %d failing sources: %s", seen, len(want), body)
	}
	for _, e := range f.logs.FilterMessage("fetch refused by Taskcluster; retrying slowly").All() {
		src, _ := e.ContextMap()["source"].(string)
		missing, _ := e.ContextMap()["missingScopes"].([]interface{})
		if len(missing) != 1 || missing[0] != want[src] {
			t.Errorf("log for %s: missingScopes = %v, want [%s]", src, missing, want[src])
		}
	}

	problems, out := f.check()
	if problems != len(want) {
		t.Errorf("check found %d problems, want %d:\n%s", problems, len(want), out.String())
	}
	for key, scope := range want {
		if !strings.Contains(out.String(), "MISSING  "+key) || !strings.Contains(out.String(), scope) {
			t.Errorf("check does not name %s for %s:\n%s", scope, key, out.String())
		}
	}
}

// check runs `tc-credd check` on the fixture's config file, which must
// reach Taskcluster, and returns what it found and printed.
func (f *fixture) check() (int, *strings.Builder) {
	f.t.Helper()
	cfg, _, err := daemon.Load(f.path, func(string) string { return "" })
	if err != nil {
		f.t.Fatal(err)
	}
	var out strings.Builder
	problems, err := daemon.Check(context.Background(), cfg, &out)
	if err != nil {
		f.t.Fatalf("check: %v", err)
	}
	return problems, &out
}
