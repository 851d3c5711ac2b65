package config

import (
	"fmt"
	"github.com/taskcluster/tc-credd/internal/scopes"
	"os/user"
	"runtime"
	"strings"
)

// callerIdentity says whether tc-credd can learn who is calling on this
// platform: it asks the Linux kernel, and nothing else answers.
var callerIdentity = runtime.GOOS == "linux"

// Allows lists every source's allow rule by source key ("aws/build") and
// its field ("aws[0].allow"), in file order; sources without one are left
// out.
func (c *Config) Allows() []SourceAllow {
	var out []SourceAllow
	add := func(kind string, i int, name string, a *Allow) {
		if a != nil {
			out = append(out, SourceAllow{Key: kind + "/" + name, Field: fmt.Sprintf("%s[%d].allow", kind, i), Allow: *a})
		}
	}
	for i, s := range c.AWS {
		add("aws", i, s.Name, s.Allow)
	}
	for i, s := range c.GCP {
		add("gcp", i, s.Name, s.Allow)
	}
	for i, s := range c.Azure {
		add("azure", i, s.Name, s.Allow)
	}
	for i, s := range c.Sentry {
		add("sentry", i, s.Name, s.Allow)
	}
	for i, s := range c.Websocktunnel {
		add("websocktunnel", i, s.Name, s.Allow)
	}
	for i, s := range c.GitHub {
		add("github", i, s.Name, s.Allow)
	}
	return out
}

// SourceAllow is one source's allow rule.
type SourceAllow struct {
	Key   string
	Field string
	Allow Allow
}

// callers checks the allow rules against this system's users and groups,
// and the unix socket and audit settings that go with them.
func (v *validator) callers() {
	for _, a := range v.c.Allows() {
		v.allow(a.Field, a.Allow, "remove allow")
	}
	if s := v.c.UnixSocket; s != "" && !strings.HasPrefix(s, "/") {
		v.fail("unixSocket", ErrInvalid, "must be an absolute path (got %q)", s)
	}
	a := v.c.Audit
	if a.File != "" && !strings.HasPrefix(a.File, "/") {
		v.fail("audit.file", ErrInvalid, "must be an absolute path (got %q)", a.File)
	}
	if a.MaxSizeMB < 0 {
		v.fail("audit.maxSizeMB", ErrInvalid, "must not be negative (got %d)", a.MaxSizeMB)
	}
	if a.Keep < 0 {
		v.fail("audit.keep", ErrInvalid, "must not be negative (got %d)", a.Keep)
	}
}

// allow checks one rule; undo says how to do without it.
func (v *validator) allow(f string, r Allow, undo string) {
	if !callerIdentity {
		v.fail(f, ErrInvalid, "needs the caller's identity, which tc-credd learns from the Linux kernel only; on %s every caller is unknown, so %s or run tc-credd on Linux", runtime.GOOS, undo)
		return
	}
	if len(r.Users)+len(r.Groups)+len(r.UIDs)+len(r.Cgroups) == 0 {
		v.fail(f, ErrInvalid, "names no one: list users, groups, uids or cgroups, or %s to serve every caller", undo)
	}
	for i, name := range r.Users {
		if _, err := user.Lookup(name); err != nil {
			v.fail(fmt.Sprintf("%s.users[%d]", f, i), ErrInvalid, "no user %q on this system", name)
		}
	}
	for i, name := range r.Groups {
		if _, err := user.LookupGroup(name); err != nil {
			v.fail(fmt.Sprintf("%s.groups[%d]", f, i), ErrInvalid, "no group %q on this system", name)
		}
	}
	for i, uid := range r.UIDs {
		if uid < 0 {
			v.fail(fmt.Sprintf("%s.uids[%d]", f, i), ErrInvalid, "a uid is 0 or more (got %d)", uid)
		}
	}
	for i, p := range r.Cgroups {
		if !strings.HasPrefix(p, "/") {
			v.fail(fmt.Sprintf("%s.cgroups[%d]", f, i), ErrInvalid, "a cgroup path prefix starts with / (got %q)", p)
		}
	}
}

// proxy checks the proxy listener and its policies: a caller is signed
// for only as its policies say, so a policy must name callers and scopes.
func (v *validator) proxy() {
	p := v.c.Proxy
	if p == nil {
		return
	}
	if v.required("proxy.listen", p.Listen) {
		v.listen("proxy.listen", p.Listen)
		if p.Listen == v.c.Listen || p.Listen == v.c.OpsListen {
			if !strings.HasSuffix(p.Listen, ":0") {
				v.fail("proxy.listen", ErrConflict, "must differ from listen and opsListen")
			}
		}
	}
	if len(p.Policies) == 0 {
		v.fail("proxy.policies", ErrRequired, "the proxy signs only for callers a policy admits: add one")
	}
	for i, pol := range p.Policies {
		f := fmt.Sprintf("proxy.policies[%d]", i)
		v.allow(f+".allow", pol.Allow, "remove the proxy")
		if len(pol.Scopes) == 0 {
			v.fail(f+".scopes", ErrRequired, "the scopes these callers' requests may use")
		}
		for j, sc := range pol.Scopes {
			if !scopes.Valid(sc) {
				v.fail(fmt.Sprintf("%s.scopes[%d]", f, j), ErrInvalid, "scopes are printable ASCII")
			} else if auth := v.c.Credentials.AuthorizedScopes; auth != nil && !scopes.Satisfies(*auth, sc) {
				v.fail(fmt.Sprintf("%s.scopes[%d]", f, j), ErrInvalid, "%q is beyond credentials.authorizedScopes, so Taskcluster would refuse every request", sc)
			}
		}
	}
}
