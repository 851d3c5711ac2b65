// Package logging builds tc-credd's one zap logger: JSON lines for
// journald and log collectors, readable text on a terminal. The command
// builds it once; its level can change after the config is read.
package logging

import (
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// New returns a logger writing to w at level info, and the level to
// change later (SetLevel): JSON, or colored text when w is a terminal.
// Lines are written as they are logged: no buffer to lose at a crash and
// no flusher to stop.
func New(w io.Writer) (*zap.Logger, zap.AtomicLevel) {
	lvl := zap.NewAtomicLevelAt(zap.InfoLevel)
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var e zapcore.Encoder
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		e = zapcore.NewConsoleEncoder(enc)
	} else {
		e = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(e, zapcore.Lock(zapcore.AddSync(w)), lvl)), lvl
}

// ParseLevel reads "debug", "info", "warn" or "error".
func ParseLevel(s string) (zapcore.Level, error) {
	var l zapcore.Level
	switch s {
	case "debug", "info", "warn", "error":
		if err := l.UnmarshalText([]byte(s)); err == nil {
			return l, nil
		}
	}
	return l, fmt.Errorf("log level %q: use debug, info, warn or error", s)
}

// isTerminal is true for a real terminal only: /dev/null is a character
// device too, and must get JSON.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
