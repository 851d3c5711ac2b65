package identity

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"strings"
)

// Rule admits callers to a source: by uid (listed, or a listed user's),
// by group (primary or supplementary), or by a cgroup path prefix. Any one
// match admits. A nil Rule admits everyone, known or not; a Rule never
// admits a caller the kernel did not name.
type Rule struct {
	// Field is the config field the rule comes from ("aws[0].allow"), so a
	// refusal names the rule to change.
	Field   string
	uids    map[int]bool
	gids    map[int]bool
	cgroups []string
	desc    string
}

// NewRule resolves user and group names against the system's databases.
func NewRule(field string, users, groups []string, uids []int, cgroups []string) (*Rule, error) {
	r := &Rule{Field: field, uids: map[int]bool{}, gids: map[int]bool{}, cgroups: cgroups}
	for _, name := range users {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("%s.users: %w", field, err)
		}
		n, err := strconv.Atoi(u.Uid)
		if err != nil {
			return nil, fmt.Errorf("%s.users: %s has uid %q", field, name, u.Uid)
		}
		r.uids[n] = true
	}
	for _, name := range groups {
		g, err := user.LookupGroup(name)
		if err != nil {
			return nil, fmt.Errorf("%s.groups: %w", field, err)
		}
		n, err := strconv.Atoi(g.Gid)
		if err != nil {
			return nil, fmt.Errorf("%s.groups: %s has gid %q", field, name, g.Gid)
		}
		r.gids[n] = true
	}
	for _, n := range uids {
		r.uids[n] = true
	}
	var parts []string
	for _, p := range []struct {
		what  string
		items []string
	}{{"users", users}, {"groups", groups}, {"uids", itoa(uids)}, {"cgroups", cgroups}} {
		if len(p.items) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.items, ", "))
		}
	}
	r.desc = strings.Join(parts, "; ")
	return r, nil
}

func itoa(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

// Admits reports whether the rule lets c have the source.
func (r *Rule) Admits(c *Caller) bool {
	if r == nil {
		return true
	}
	if !c.Known() {
		return false
	}
	if r.uids[c.UID] {
		return true
	}
	if r.gids[c.GID] || slices.ContainsFunc(c.Groups, func(g int) bool { return r.gids[g] }) {
		return true
	}
	for _, p := range r.cgroups {
		if c.Cgroup != "" && strings.HasPrefix(c.Cgroup, p) {
			return true
		}
	}
	return false
}

// Refusal explains to a refused caller which rule refused it and why.
func (r *Rule) Refusal(source string, c *Caller) string {
	return fmt.Sprintf("forbidden: %s is only for %s (%s), and this connection is from %s", source, r.desc, r.Field, c)
}
