package cli

import (
	"bytes"
	"strings"
	"testing"
)

// The commands that take only --config (and credential-process its NAME)
// refuse a wrong argument count with their usage, before reading a config.
func TestConfigCommandUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"credential-process", "--config", "/nonexistent"}, "usage: tc-credd credential-process --config FILE NAME"},
		{[]string{"credential-process", "--config", "/nonexistent", "a", "b"}, "usage: tc-credd credential-process --config FILE NAME"},
		{[]string{"ready", "--config", "/nonexistent", "extra"}, "usage: tc-credd ready --config FILE [--live]\n"},
		{[]string{"check", "--config", "/nonexistent", "extra"}, "usage: tc-credd check --config FILE\n"},
	} {
		var out, errb bytes.Buffer
		if code := Main(tc.args, &out, &errb); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, code, ExitUsage)
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: stderr %q, want %q", tc.args, errb.String(), tc.want)
		}
	}
	// With the right count the config is read: a missing file is a config error.
	var out, errb bytes.Buffer
	if code := Main([]string{"check", "--config", "/nonexistent"}, &out, &errb); code != ExitConfig {
		t.Errorf("check with a missing config: exit %d, want %d (%s)", code, ExitConfig, errb.String())
	}
}
