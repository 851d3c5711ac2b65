// Package logging builds tc-credd's zap logger: JSON for journald and log
// collectors, readable text on a terminal. The access log writes one line
// per request through it, so encoding cost is part of the request path.
package logging

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// FlushInterval bounds how long a buffered JSON line waits before it is
// written.
const FlushInterval = 200 * time.Millisecond

// New returns a logger at level ("debug", "info", "warn" or "error")
// writing to w: JSON, or colored text when w is a terminal. Call Sync
// before exiting: JSON output is buffered.
func New(level string, w io.Writer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = ISO8601
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		// A person is watching: colored text, written at once. Only a real
		// terminal: /dev/null is a character device too, and treating it
		// as one made every access-log line a write(2).
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		return zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(f)), lvl)), nil
	}
	// Batched: one write(2) per access-log line would cost a third of the
	// request path. Lines reach the output within FlushInterval, and Sync
	// at exit writes the rest.
	ws := newAsyncWriter(w, clock.Real{}, FlushInterval)
	// enc.EncodeTime is ISO8601: its text changes once a millisecond.
	return zap.New(zapcore.NewCore(newFlatJSON(enc, true), ws, lvl)), nil
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// iso8601Layout is zapcore.ISO8601TimeEncoder's layout.
const iso8601Layout = "2006-01-02T15:04:05.000Z0700"

// stamp is one millisecond's formatted time.
type stamp struct {
	ms   int64
	text string
}

var lastStamp atomic.Pointer[stamp]

// ISO8601 encodes times exactly as zapcore.ISO8601TimeEncoder does, but
// formats each millisecond once: under load most access-log lines share
// their millisecond with the previous line, and formatting a time was a
// tenth of the cost of a line.
func ISO8601(t time.Time, enc zapcore.PrimitiveArrayEncoder) {
	ms := t.UnixMilli()
	if s := lastStamp.Load(); s != nil && s.ms == ms && t.Location() == time.Local {
		enc.AppendString(s.text)
		return
	}
	s := &stamp{ms: ms, text: t.Format(iso8601Layout)}
	if t.Location() == time.Local {
		lastStamp.Store(s)
	}
	enc.AppendString(s.text)
}
