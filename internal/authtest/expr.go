package authtest

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/taskcluster/tc-credd/internal/scopes"
)

// A scope expression is a string (one scope) or an anyOf / allOf of
// expressions, as the service's endpoints declare their requirements.
type anyOf []any
type allOf []any

// MarshalJSON writes {"AnyOf": [...]}, the service's spelling.
func (a anyOf) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string][]any{"AnyOf": nonNilAny(a)})
}

// MarshalJSON writes {"AllOf": [...]}.
func (a allOf) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string][]any{"AllOf": nonNilAny(a)})
}

func nonNilAny(a []any) []any {
	if a == nil {
		return []any{}
	}
	return a
}

// allOfScopes is the AllOf of a fixed scope and a list of others, as the
// endpoints that take scopes in their payload declare it.
func allOfScopes(first string, rest []string) allOf {
	return append(allOf{first}, toAny(rest)...)
}

// satisfied reports whether the scope set have satisfies expr.
func satisfied(have []string, expr any) bool {
	return unsatisfied(have, expr) == nil
}

// unsatisfied returns what of expr the set have does not satisfy, or nil:
// satisfied scopes drop out of an AllOf, an AnyOf with one satisfied member
// drops out entirely, and a list left with one member becomes that member.
func unsatisfied(have []string, expr any) any {
	switch e := expr.(type) {
	case string:
		if scopes.Satisfies(have, e) {
			return nil
		}
		return e
	case allOf:
		var left allOf
		for _, sub := range e {
			if u := unsatisfied(have, sub); u != nil {
				left = append(left, u)
			}
		}
		switch len(left) {
		case 0:
			return nil
		case 1:
			return left[0]
		}
		return left
	case anyOf:
		left := make(anyOf, 0, len(e))
		for _, sub := range e {
			u := unsatisfied(have, sub)
			if u == nil {
				return nil
			}
			left = append(left, u)
		}
		if len(left) == 1 {
			return left[0]
		}
		return left
	}
	return expr
}

// renderValue writes a value into a message the way the service's error
// renderer does: a string as it is, anything else as JSON indented by two
// spaces, without Go's HTML escaping.
func renderValue(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// scopeLess is the service's scope order: plain byte order, except that
// "a*" sorts just before "a".
func scopeLess(a, b string) bool {
	as, bs := strings.HasSuffix(a, "*"), strings.HasSuffix(b, "*")
	at, bt := strings.TrimSuffix(a, "*"), strings.TrimSuffix(b, "*")
	if as != bs && at == bt {
		return as
	}
	return at < bt
}

// sortedScopes normalizes a scope set and sorts it as the service returns
// every resolved scope set.
func sortedScopes(set []string) []string {
	out := scopes.Normalize(set)
	sort.SliceStable(out, func(i, j int) bool { return scopeLess(out[i], out[j]) })
	return out
}
