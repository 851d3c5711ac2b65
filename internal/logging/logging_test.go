package logging_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/logging"
)

func TestNewJSONWithLevelChange(t *testing.T) {
	var buf bytes.Buffer
	log, lvl := logging.New(&buf)
	log.Debug("dropped at info")
	warn, err := logging.ParseLevel("warn")
	if err != nil {
		t.Fatal(err)
	}
	lvl.SetLevel(warn)
	log.Info("dropped at warn")
	log.Warn("kept", zap.String(logging.KeySource, "aws/x"))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	if line["msg"] != "kept" || line["level"] != "warn" || line[logging.KeySource] != "aws/x" {
		t.Fatalf("line %v", line)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", line["ts"].(string)); err != nil {
		t.Fatalf("ts %v: %v", line["ts"], err)
	}
}

func TestParseLevel(t *testing.T) {
	for _, s := range []string{"debug", "info", "warn", "error"} {
		if l, err := logging.ParseLevel(s); err != nil || l.String() != s {
			t.Errorf("%s: %v %v", s, l, err)
		}
	}
	for _, s := range []string{"", "loud", "WARN", "dpanic", "fatal"} {
		if _, err := logging.ParseLevel(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
