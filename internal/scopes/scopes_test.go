package scopes_test

import (
	"reflect"
	"testing"

	"github.com/taskcluster/tc-credd/internal/scopes"
)

func TestGrants(t *testing.T) {
	cases := []struct {
		have, need string
		want       bool
	}{
		{"a:b", "a:b", true},
		{"a:b", "a:bc", false},
		{"a:*", "a:bc", true},
		{"a:*", "a:", true},
		{"a:*", "a", false},
		{"*", "anything", true},
		{"a:b*", "a:b", true},
		{"a:b", "a:*", false},
	}
	for _, c := range cases {
		if got := scopes.Grants(c.have, c.need); got != c.want {
			t.Errorf("Grants(%q, %q) = %v, want %v", c.have, c.need, got, c.want)
		}
	}
}

func TestMissing(t *testing.T) {
	got := scopes.Missing([]string{"auth:aws-s3:read-write:b/*"}, []string{"auth:aws-s3:read-write:b/x/", "auth:sentry:p"})
	if !reflect.DeepEqual(got, []string{"auth:sentry:p"}) {
		t.Fatalf("Missing = %v", got)
	}
}

func TestExpandThroughRoles(t *testing.T) {
	roles := []scopes.Role{
		{ID: "project:a", Scopes: []string{"assume:repo:x", "queue:a"}},
		{ID: "repo:*", Scopes: []string{"secrets:get:repo"}},
		{ID: "unrelated", Scopes: []string{"nope"}},
	}
	got := scopes.Expand([]string{"assume:project:a"}, roles)
	want := []string{"assume:project:a", "assume:repo:x", "queue:a", "secrets:get:repo"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Expand = %v, want %v", got, want)
	}
}

func TestNormalize(t *testing.T) {
	got := scopes.Normalize([]string{"a:b", "a:*", "a:*", "c"})
	if !reflect.DeepEqual(got, []string{"a:*", "c"}) {
		t.Fatalf("Normalize = %v", got)
	}
	if !scopes.Valid("a b~") || scopes.Valid("a\nb") {
		t.Fatal("Valid is wrong")
	}
}
