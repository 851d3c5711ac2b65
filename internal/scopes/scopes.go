// Package scopes implements Taskcluster scope satisfaction: a scope that
// ends in "*" grants every scope it is a prefix of; every other scope
// grants only itself (taskcluster-lib-scopes, satisfaction.js).
package scopes

import (
	"regexp"
	"strings"
)

var validScope = regexp.MustCompile(`^[\x20-\x7e]*$`)

// Valid reports whether s is made of printable ASCII, as the Auth service
// requires of every scope.
func Valid(s string) bool { return validScope.MatchString(s) }

// Grants reports whether the pattern have grants need.
func Grants(have, need string) bool {
	if have == need {
		return true
	}
	if p, ok := strings.CutSuffix(have, "*"); ok {
		return strings.HasPrefix(need, p)
	}
	return false
}

// Satisfies reports whether the scope set have grants need.
func Satisfies(have []string, need string) bool {
	for _, h := range have {
		if Grants(h, need) {
			return true
		}
	}
	return false
}

// Missing returns the scopes of need that have does not grant, in order.
func Missing(have, need []string) []string {
	var out []string
	for _, n := range need {
		if !Satisfies(have, n) {
			out = append(out, n)
		}
	}
	return out
}

// Role is the part of a Taskcluster role that expansion needs.
type Role struct {
	ID     string
	Scopes []string
}

// Expand returns have plus every scope reachable through roles: a set that
// grants "assume:<roleId>" gains the role's scopes. A role id ending in "*"
// is itself a pattern, so "assume:repo:x" reaches role "repo:*". The result
// is normalised (no scope a "*" pattern in the set already covers).
func Expand(have []string, roles []Role) []string {
	set := append([]string(nil), have...)
	for changed := true; changed; {
		changed = false
		for _, r := range roles {
			if !reaches(set, r.ID) {
				continue
			}
			for _, s := range r.Scopes {
				if !Satisfies(set, s) {
					set = append(set, s)
					changed = true
				}
			}
		}
	}
	return Normalize(set)
}

func reaches(set []string, roleID string) bool {
	target := "assume:" + roleID
	if Satisfies(set, target) {
		return true
	}
	if p, ok := strings.CutSuffix(target, "*"); ok {
		for _, s := range set {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
	}
	return false
}

// Normalize drops duplicates and scopes that another scope in the set
// already grants, keeping first-seen order.
func Normalize(set []string) []string {
	var out []string
	for i, s := range set {
		covered := false
		for j, o := range set {
			if i != j && Grants(o, s) && (o != s || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	if out == nil {
		out = []string{}
	}
	return out
}
