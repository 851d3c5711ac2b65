package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/config"
)

// TestFixtures loads every testdata/*.yml as the daemon does. A *.good.yml
// is valid; a *.bad.yml fails with exactly the messages of its
// "# error: " comment lines, in order, and none of them repeats a value
// containing SECRET.
func TestFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			text, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for line := range strings.Lines(string(text)) {
				if msg, ok := strings.CutPrefix(line, "# error: "); ok {
					want = append(want, strings.TrimSpace(msg))
				}
			}
			_, _, err = load(t, string(text))
			switch {
			case strings.HasSuffix(file, ".good.yml"):
				if err != nil {
					t.Fatalf("valid config refused:\n%v", err)
				}
			case strings.HasSuffix(file, ".bad.yml"):
				if len(want) == 0 {
					t.Fatal("a bad fixture needs # error: lines")
				}
				if err == nil {
					t.Fatal("accepted")
				}
				if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, want) {
					t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
				}
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("an error repeats a value: %v", err)
				}
			default:
				t.Fatal("name a fixture *.good.yml or *.bad.yml")
			}
		})
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"name", "bucket", "prefix", "level", "listen", "margin"}
	for word, want := range map[string]string{
		"bukcet":  "bucket", // a transposition
		"Bucket":  "bucket", // case
		"buckets": "bucket",
		"nmae":    "name",
		"lvl":     "", // too far
		"region":  "", // unrelated
		"x":       "", // nothing that short is near
		"listne":  "listen",
	} {
		if got := config.Nearest(word, keys); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", word, got, want)
		}
	}
}
