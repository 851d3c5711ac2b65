package logging

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

// /dev/null is a character device but no terminal: logs sent there (as
// `2>/dev/null` does) must stay JSON.
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		t.Skip("this platform's null device is not a character device")
	}
	if isTerminal(f) {
		t.Fatal("/dev/null taken for a terminal")
	}
}

// A line reaches a pipe as soon as it is logged: nothing waits in a buffer.
func TestPipeGetsJSONAtOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	log, _ := New(w)
	log.Info("hello")
	line, err := bufio.NewReader(r).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil || m["msg"] != "hello" {
		t.Fatalf("line %q: %v", line, err)
	}
}
