package logging

import (
	"bytes"
	"sync/atomic"
	"time"

	"go.uber.org/zap/buffer"
	"go.uber.org/zap/zapcore"
)

// flatJSON is zap's JSON encoder with a shorter way for the fields an
// access-log line carries: integers, and strings that need no escaping.
// zap encodes every field through an interface call and a per-byte
// escaping loop, which made the access-log line the largest cost of the
// request path after net/http itself. Here zap encodes the entry and its
// context, and flat fields are appended to that directly.
//
// Anything else goes through zap unchanged: other field types, strings
// with bytes zap would escape or check (quotes, backslashes, control
// bytes, non-ASCII), stack traces, and fields that belong inside a
// namespace opened in the context. The output is byte for byte zap's
// (TestFlatJSONMatchesZap).
type flatJSON struct {
	zapcore.Encoder
	tail       []byte // what closes zap's line: "}" and the line ending
	namespaced bool   // the context opened a namespace, which the fields belong to

	// msTime says the time encoder depends only on the millisecond and
	// the zone, as ISO8601 does. Then zap's encoding of an entry without
	// fields (level, time, logger, message, context) is kept and reused
	// for the next entry that would encode the same: under load, the
	// access-log lines of one millisecond.
	msTime bool
	last   atomic.Pointer[head]
}

// head is zap's encoding of one entry without fields, unclosed.
type head struct {
	level     zapcore.Level
	ms        int64
	loc       *time.Location
	name, msg string
	b         []byte
}

var flatPool = buffer.NewPool()

// newFlatJSON wraps zap's JSON encoder for cfg; msTime as in flatJSON.
func newFlatJSON(cfg zapcore.EncoderConfig, msTime bool) *flatJSON {
	end := cfg.LineEnding
	switch {
	case cfg.SkipLineEnding:
		end = ""
	case end == "":
		end = zapcore.DefaultLineEnding
	}
	return &flatJSON{Encoder: zapcore.NewJSONEncoder(cfg), tail: []byte("}" + end), msTime: msTime}
}

// Clone keeps the wrapper, so loggers made With fields stay fast. The
// clone gets context of its own, so it starts without a kept head.
func (e *flatJSON) Clone() zapcore.Encoder {
	return &flatJSON{Encoder: e.Encoder.Clone(), tail: e.tail, namespaced: e.namespaced, msTime: e.msTime}
}

func (e *flatJSON) OpenNamespace(key string) {
	e.namespaced = true
	e.Encoder.OpenNamespace(key)
}

func (e *flatJSON) EncodeEntry(ent zapcore.Entry, fields []zapcore.Field) (*buffer.Buffer, error) {
	if e.namespaced || ent.Stack != "" || !allFlat(fields) {
		return e.Encoder.EncodeEntry(ent, fields)
	}
	open, ok := e.head(ent)
	if !ok {
		// Not the shape zap's JSON encoder writes; let zap do it all.
		return e.Encoder.EncodeEntry(ent, fields)
	}
	out := flatPool.Get()
	_, _ = out.Write(open)
	first := len(open) > 0 && open[len(open)-1] == '{'
	for _, f := range fields {
		if !first {
			out.AppendByte(',')
		}
		first = false
		out.AppendByte('"')
		out.AppendString(f.Key)
		out.AppendString(`":`)
		if f.Type == zapcore.StringType {
			out.AppendByte('"')
			out.AppendString(f.String)
			out.AppendByte('"')
		} else {
			out.AppendInt(f.Integer)
		}
	}
	_, _ = out.Write(e.tail)
	return out, nil
}

// head returns zap's encoding of ent without fields and without the
// closing tail, from the kept one when ent would encode the same.
func (e *flatJSON) head(ent zapcore.Entry) ([]byte, bool) {
	keep := e.msTime && ent.Caller == (zapcore.EntryCaller{})
	ms, loc := ent.Time.UnixMilli(), ent.Time.Location()
	if h := e.last.Load(); keep && h != nil && h.ms == ms && h.loc == loc && h.level == ent.Level &&
		h.name == ent.LoggerName && h.msg == ent.Message {
		return h.b, true
	}
	buf, err := e.Encoder.EncodeEntry(ent, nil)
	if err != nil {
		return nil, false
	}
	defer buf.Free()
	if !bytes.HasSuffix(buf.Bytes(), e.tail) {
		return nil, false
	}
	b := bytes.Clone(buf.Bytes()[:buf.Len()-len(e.tail)])
	if keep {
		e.last.Store(&head{level: ent.Level, ms: ms, loc: loc, name: ent.LoggerName, msg: ent.Message, b: b})
	}
	return b, true
}

// allFlat reports whether every field is an integer or a string that zap
// would copy unescaped, with a key zap would copy unescaped.
func allFlat(fields []zapcore.Field) bool {
	for _, f := range fields {
		switch f.Type {
		case zapcore.StringType:
			if !plain(f.String) {
				return false
			}
		case zapcore.Int64Type, zapcore.Int32Type, zapcore.Int16Type, zapcore.Int8Type:
		default:
			return false
		}
		if !plain(f.Key) {
			return false
		}
	}
	return true
}

// plain reports whether zap's JSON encoder copies s as it is: printable
// ASCII and DEL, but no quote or backslash. Eight bytes are checked at a
// time; a per-byte loop cost more than the appending it saved.
func plain(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !plain8(w) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b >= 0x80 || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plain8 is plain for the eight bytes of a little-endian word: none has
// its high bit set, none is below 0x20, none is '"' or '\\'. These are the
// classic word-at-a-time tests: (x - n*ones) &^ x has a high bit set if and
// only if some byte of x is below n (n <= 0x80; a borrow only starts at
// such a byte), and y = x ^ c*ones has a zero byte, found the same way
// with n = 1, where x has a byte equal to c.
func plain8(x uint64) bool {
	below := (x - 0x20*ones) & ^x
	quote := x ^ '"'*ones
	slash := x ^ '\\'*ones
	return (x|below|((quote-ones)&^quote)|((slash-ones)&^slash))&highs == 0
}
