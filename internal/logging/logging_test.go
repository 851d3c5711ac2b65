package logging_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/taskcluster/tc-credd/internal/logging"
)

// collector keeps what a time encoder appends.
type collector struct {
	zapcore.PrimitiveArrayEncoder
	out []string
}

func (s *collector) AppendString(v string) { s.out = append(s.out, v) }

func encode(f zapcore.TimeEncoder, t time.Time) string {
	var s collector
	f(t, &s)
	return fmt.Sprint(s.out)
}

// TestISO8601MatchesZap feeds both encoders the same times, in an order
// that hits the cache (same millisecond), misses it (next millisecond,
// next second, same millisecond of another second) and changes zones.
func TestISO8601MatchesZap(t *testing.T) {
	base := time.Date(2026, 11, 26, 21, 59, 59, 998_700_000, time.Local)
	times := []time.Time{
		base, base.Add(100 * time.Microsecond), base.Add(time.Millisecond), base.Add(2 * time.Millisecond),
		base.Add(2 * time.Millisecond), base.Add(time.Second), base.Add(time.Hour).Add(time.Millisecond),
		base.In(time.UTC), base, base.In(time.FixedZone("X", 5*3600+1800)), base,
		time.Unix(0, 0).Local(), time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.Local),
	}
	for i := 0; i < 200; i++ {
		times = append(times, base.Add(time.Duration(i)*337*time.Microsecond))
	}
	for _, tm := range times {
		got, want := encode(logging.ISO8601, tm), encode(zapcore.ISO8601TimeEncoder, tm)
		if got != want {
			t.Fatalf("%v: got %q, want %q", tm, got, want)
		}
	}
}

func TestNewJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New("warn", &buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept")
	if err := log.Sync(); err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q: %v", buf.String(), err)
	}
	ts, _ := line["ts"].(string)
	if line["msg"] != "kept" || line["level"] != "warn" {
		t.Fatalf("line %v", line)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z0700", ts); err != nil {
		t.Fatalf("ts %q: %v", ts, err)
	}
	if _, err := logging.New("loud", &buf); err == nil {
		t.Fatal("unknown level accepted")
	}
}
