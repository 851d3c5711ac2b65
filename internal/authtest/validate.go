package authtest

import (
	"fmt"
	"sort"
	"time"

	"github.com/taskcluster/tc-credd/internal/scopes"
	"github.com/taskcluster/tc-credd/internal/tcrules"
)

// The service validates payloads against JSON schemas and reports every
// violation, one per line, in its validator's words. These checks cover
// the schemas of the endpoints the fake serves.

// object is a decoded payload object; obj returns it, or reports that the
// payload is not one.
func obj(c *call) (map[string]any, []string) {
	m, ok := c.payload.(map[string]any)
	if !ok {
		return nil, []string{"data must be object"}
	}
	return m, nil
}

// fields checks required and unknown properties.
func fields(m map[string]any, required []string, known ...string) []string {
	var errs []string
	for _, k := range required {
		if _, ok := m[k]; !ok {
			errs = append(errs, "data must have required property '"+k+"'")
		}
	}
	var extra []string
	for k := range m {
		if !contains(known, k) && !contains(required, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		errs = append(errs, fmt.Sprintf("data must NOT have additional properties: %q", k))
	}
	return errs
}

// scopeList checks an array of unique printable-ASCII strings.
func scopeList(m map[string]any, key string) []string {
	v, ok := m[key]
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return []string{"data/" + key + " must be array"}
	}
	var errs []string
	seen := map[string]int{}
	for i, item := range list {
		s, ok := item.(string)
		if !ok {
			errs = append(errs, fmt.Sprintf("data/%s/%d must be string", key, i))
			continue
		}
		if !scopes.Valid(s) {
			errs = append(errs, fmt.Sprintf("data/%s/%d must match pattern \"^[ -~]*$\"", key, i))
		}
		if j, dup := seen[s]; dup {
			errs = append(errs, fmt.Sprintf("data/%s must NOT have duplicate items (items ## %d and %d are identical)", key, i, j))
		}
		seen[s] = i
	}
	return errs
}

func stringField(m map[string]any, key string, maxLen int) []string {
	v, ok := m[key]
	if !ok {
		return nil
	}
	s, ok := v.(string)
	if !ok {
		return []string{"data/" + key + " must be string"}
	}
	if maxLen > 0 && len([]rune(s)) > maxLen {
		return []string{fmt.Sprintf("data/%s must NOT have more than %d characters", key, maxLen)}
	}
	return nil
}

func validClientRequest(c *call) []string {
	m, errs := obj(c)
	if m == nil {
		return errs
	}
	errs = fields(m, []string{"expires", "description"}, "deleteOnExpiration", "scopes")
	if v, ok := m["expires"]; ok {
		if s, isStr := v.(string); !isStr {
			errs = append(errs, "data/expires must be string")
		} else if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			errs = append(errs, `data/expires must match format "date-time"`)
		}
	}
	if v, ok := m["deleteOnExpiration"]; ok {
		if _, isBool := v.(bool); !isBool {
			errs = append(errs, "data/deleteOnExpiration must be boolean")
		}
	}
	errs = append(errs, stringField(m, "description", 10240)...)
	return append(errs, scopeList(m, "scopes")...)
}

func validRoleRequest(c *call) []string {
	m, errs := obj(c)
	if m == nil {
		return errs
	}
	errs = fields(m, []string{"scopes", "description"})
	errs = append(errs, stringField(m, "description", 10240)...)
	return append(errs, scopeList(m, "scopes")...)
}

func validScopeset(c *call) []string {
	m, errs := obj(c)
	if m == nil {
		return errs
	}
	errs = fields(m, []string{"scopes"})
	return append(errs, scopeList(m, "scopes")...)
}

func validTestAuthenticate(c *call) []string {
	m, errs := obj(c)
	if m == nil {
		return errs
	}
	errs = fields(m, []string{"clientScopes", "requiredScopes"})
	errs = append(errs, scopeList(m, "clientScopes")...)
	return append(errs, scopeList(m, "requiredScopes")...)
}

var hawkMethods = []string{"get", "post", "put", "head", "delete", "options", "trace", "copy", "lock", "mkcol", "move", "purge", "propfind", "proppatch", "unlock", "report", "mkactivity", "checkout", "merge", "m-search", "notify", "subscribe", "unsubscribe", "patch", "search", "connect"}

func validHawkRequest(c *call) []string {
	m, errs := obj(c)
	if m == nil {
		return errs
	}
	errs = fields(m, []string{"method", "resource", "host", "port"}, "authorization", "sourceIp")
	if v, ok := m["method"]; ok {
		if s, isStr := v.(string); !isStr || !contains(hawkMethods, s) {
			errs = append(errs, "data/method must be equal to one of the allowed values")
		}
	}
	for _, k := range []string{"resource", "host", "authorization", "sourceIp"} {
		errs = append(errs, stringField(m, k, 0)...)
	}
	if v, ok := m["port"]; ok {
		if n, isNum := v.(float64); !isNum || n != float64(int(n)) {
			errs = append(errs, "data/port must be integer")
		} else if n < 0 || n > 65535 {
			errs = append(errs, "data/port must be <= 65535")
		}
	}
	return errs
}

func validGitHubRepoTokenRequest(c *call) []string {
	m, errs := obj(c)
	if m == nil {
		return errs
	}
	errs = fields(m, []string{"permissions", "repositories"})
	if v, ok := m["permissions"]; ok {
		perms, isObj := v.(map[string]any)
		switch {
		case !isObj:
			errs = append(errs, "data/permissions must be object")
		case len(perms) == 0:
			errs = append(errs, "data/permissions must NOT have fewer than 1 properties")
		}
		keys := make([]string, 0, len(perms))
		for k := range perms {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			levels, known := tcrules.GitHubPermissions[k]
			level, isStr := perms[k].(string)
			switch {
			case !known:
				errs = append(errs, fmt.Sprintf("data/permissions must NOT have additional properties: %q", k))
			case !isStr:
				errs = append(errs, "data/permissions/"+k+" must be string")
			case !contains(levels, level):
				errs = append(errs, "data/permissions/"+k+" must be equal to one of the allowed values")
			}
		}
	}
	if v, ok := m["repositories"]; ok {
		repos, isList := v.([]any)
		switch {
		case !isList:
			errs = append(errs, "data/repositories must be array")
		case len(repos) == 0:
			errs = append(errs, "data/repositories must NOT have fewer than 1 items")
		case len(repos) > 500:
			errs = append(errs, "data/repositories must NOT have more than 500 items")
		}
		for i, r := range repos {
			if s, isStr := r.(string); !isStr {
				errs = append(errs, fmt.Sprintf("data/repositories/%d must be string", i))
			} else if !tcrules.GitHubName(s) {
				errs = append(errs, fmt.Sprintf(`data/repositories/%d must match pattern "^[A-Za-z0-9._-]+$"`, i))
			}
		}
	}
	return errs
}
