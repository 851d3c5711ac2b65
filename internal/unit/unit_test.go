package unit

import (
	"strings"
	"testing"
)

func TestServiceTemplateReplacesTheCommandLine(t *testing.T) {
	tmpl := ServiceTemplate()
	if strings.Contains(tmpl, "/usr/bin/tc-credd") {
		t.Fatalf("the template keeps the packaged command line:\n%s", tmpl)
	}
	if !strings.Contains(tmpl, "\nExecStart={{Path | cmdEscape}}{{range Arguments}} {{. | cmd}}{{end}}\n") {
		t.Fatalf("no templated ExecStart:\n%s", tmpl)
	}
	// Everything but the command line is the packaged unit.
	if strings.Count(tmpl, "\n") != strings.Count(Systemd, "\n") {
		t.Errorf("the template has %d lines, the unit %d", strings.Count(tmpl, "\n"), strings.Count(Systemd, "\n"))
	}
}
