// Package nodetest runs the Node.js scripts tests check tc-credd against
// (the reference Hawk implementation, the official Taskcluster client):
// JSON in on stdin, JSON out on stdout.
package nodetest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

// Run runs `node script` in dir with in as JSON on stdin, and decodes its
// stdout into out. A failing script fails the test with its stderr.
func Run(t testing.TB, dir, script string, in, out any) {
	t.Helper()
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", script, err, stderr.String())
	}
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("node %s output: %v: %s", script, err, stdout)
	}
}
