package daemon

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/proxy"
)

// proxyPolicy is a config policy with its rule resolved.
type proxyPolicy struct {
	field  string
	rule   *identity.Rule
	scopes []string
}

// ProxyPolicies resolves the proxy's policies against this system's
// users and groups.
func ProxyPolicies(c *config.Config) ([]proxyPolicy, error) {
	if c.Proxy == nil {
		return nil, nil
	}
	var out []proxyPolicy
	for i, p := range c.Proxy.Policies {
		f := fmt.Sprintf("proxy.policies[%d]", i)
		a := p.Allow
		r, err := identity.NewRule(f+".allow", a.Users, a.Groups, a.UIDs, a.Cgroups)
		if err != nil {
			return nil, err
		}
		out = append(out, proxyPolicy{field: f, rule: r, scopes: p.Scopes})
	}
	return out, nil
}

// authorize grants a caller the union of the scopes of every policy that
// admits it; a caller none admits is refused, naming the policies.
func authorize(policies []proxyPolicy, caller *identity.Caller) (proxy.Grant, error) {
	var g proxy.Grant
	var rules []string
	for _, p := range policies {
		if p.rule.Admits(caller) {
			g.Scopes = append(g.Scopes, p.scopes...)
			rules = append(rules, p.field)
		}
	}
	if len(rules) == 0 {
		return g, &proxy.Refusal{Reason: fmt.Sprintf("no proxy policy (proxy.policies) admits %s", caller)}
	}
	slices.Sort(g.Scopes)
	g.Scopes = slices.Compact(g.Scopes)
	g.Rule = strings.Join(rules, ", ")
	return g, nil
}

// proxyHandler is the proxy listener's handler: the signing proxy behind
// the checks cfg asks for. The proxy itself is built once, so a reload
// keeps its connections to Taskcluster.
func (d *Daemon) proxyHandler(cfg *config.Config) http.Handler {
	return metadata.Guarded(d.proxy, metadata.GuardedOptions{Logger: d.log.Named("proxy"), Metrics: d.metrics, Clock: d.clk, Route: "proxy",
		Guard: metadata.GuardOptions{Port: metadata.PortOf(d.proxyLn), Hosts: cfg.AllowedHosts, AllowRemote: cfg.AllowNonLoopback}})
}

// newProxy is the signing proxy, its requests audited.
func (d *Daemon) newProxy() http.Handler {
	return proxy.New(proxy.Options{
		Upstream: func() proxy.Upstream { return *d.upstream.Load() },
		Authorize: func(r *http.Request) (proxy.Grant, error) {
			caller := identity.FromContext(r.Context())
			g, err := authorize(*d.policies.Load(), caller)
			if err != nil {
				d.audit.Record(audit.Event{Outcome: audit.Refused, Protocol: audit.Proxy, Source: "proxy", Caller: caller,
					Method: r.Method, Path: r.URL.Path, Reason: err.Error()})
			}
			return g, err
		},
		Clock:   d.clk,
		Logger:  d.log.Named("proxy"),
		Version: d.o.Version,
		Audit: func(e proxy.Event) {
			// One source for every service: the path names the service, and a
			// caller's made-up service names must not grow the metrics.
			d.audit.Record(audit.Event{Outcome: audit.Served, Protocol: audit.Proxy, Source: "proxy",
				Caller: identity.FromContext(e.Request.Context()), Method: e.Method, Path: e.Path, Status: e.Status, Reason: "granted by " + e.Rule})
		},
	})
}
