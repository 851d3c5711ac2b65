package metadata

import (
	"path"
	"strings"
	"testing"
)

// cleanPath must agree with mux's own cleaning (path.Clean, keeping a
// trailing slash, leading slash added), which decides the redirect.
func TestCleanPathAgreesWithMux(t *testing.T) {
	muxClean := func(p string) string {
		if p == "" {
			return "/"
		}
		if p[0] != '/' {
			p = "/" + p
		}
		np := path.Clean(p)
		if strings.HasSuffix(p, "/") && np != "/" {
			np += "/"
		}
		return np
	}
	for _, p := range []string{
		"", "/", "//", "///", "/a", "/a/", "/a//", "a", "/a/./b", "/a/../b", "/a/b/..", "/..", "/../",
		"/latest/meta-data/iam/security-credentials/", "/latest/meta-data/iam/security-credentials/demo",
		"/computeMetadata/v1", "/computeMetadata/v1/", "/x/.", "/x/./", "/.x", "/x.", "/x/..y",
	} {
		if got, want := cleanPath(p), muxClean(p) == p; got != want {
			t.Errorf("cleanPath(%q) = %v, want %v", p, got, want)
		}
	}
	// Every path of up to 8 characters over the characters that matter.
	var walk func(p string)
	walk = func(p string) {
		if got, want := cleanPath(p), muxClean(p) == p; got != want {
			t.Fatalf("cleanPath(%q) = %v, want %v", p, got, want)
		}
		if len(p) < 8 {
			for _, c := range "/.a" {
				walk(p + string(c))
			}
		}
	}
	walk("")
}
