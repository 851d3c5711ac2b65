package logging

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// randomText draws strings from bytes that zap copies as they are, bytes
// it escapes, and multi-byte and invalid UTF-8, so both of flatJSON's
// paths are taken.
func randomText(r *rand.Rand) string {
	pieces := []string{"a", "Z", "/", "-", "_", ".", " ", "~", "<", ">", "&", "\x7f", "%2F", "0",
		`"`, `\`, "\n", "\t", "\x00", "\x1f", "é", "☃", "\xff", "\xe2\x98"}
	var b []byte
	for n := r.IntN(12); n > 0; n-- {
		p := pieces[r.IntN(len(pieces))]
		if r.IntN(3) > 0 { // mostly plain
			p = pieces[r.IntN(14)]
		}
		b = append(b, p...)
	}
	return string(b)
}

func randomField(r *rand.Rand) zap.Field {
	key := randomText(r)
	switch r.IntN(9) {
	case 0, 1, 2:
		return zap.String(key, randomText(r))
	case 3:
		return zap.Int(key, r.IntN(1<<20)-1<<19)
	case 4:
		return zap.Int64(key, int64(r.Uint64()))
	case 5:
		return zap.Int32(key, int32(r.Uint32()))
	case 6:
		return zap.Bool(key, r.IntN(2) == 0)
	case 7:
		return zap.Duration(key, time.Duration(r.IntN(1e9)))
	default:
		return zap.Error(errors.New(randomText(r)))
	}
}

// TestFlatJSONMatchesZap encodes random entries, with random context
// (namespaces included) and random fields, with flatJSON and with zap's
// own JSON encoder, and wants the same bytes. Encoders are reused and
// entries share their millisecond, level, logger and message often, so
// kept heads are reused, and missed when any of them changes.
func TestFlatJSONMatchesZap(t *testing.T) {
	iso := zap.NewProductionEncoderConfig()
	iso.EncodeTime = ISO8601
	dev := zap.NewDevelopmentEncoderConfig()
	dev.SkipLineEnding = true
	cfgs := []struct {
		cfg    zapcore.EncoderConfig
		msTime bool
	}{
		{iso, true},
		{zap.NewProductionEncoderConfig(), false}, // epoch seconds with nanoseconds: not kept
		{dev, false},
		{zapcore.EncoderConfig{MessageKey: "msg"}, false}, // no level or time: the line starts with the fields
		{zapcore.EncoderConfig{LineEnding: "\r\n", TimeKey: "t", EncodeTime: ISO8601}, true},
	}
	r := rand.New(rand.NewPCG(1, 2))
	type pair struct{ want, got zapcore.Encoder }
	var pairs []pair
	for i := 0; i < 40; i++ {
		c := cfgs[i%len(cfgs)]
		p := pair{zapcore.NewJSONEncoder(c.cfg), newFlatJSON(c.cfg, c.msTime)}
		for n := r.IntN(3); n > 0 && i >= len(cfgs); n-- { // context, as Logger.With adds it
			f := randomField(r)
			if r.IntN(8) == 0 {
				f = zap.Namespace(randomText(r))
			}
			p.want, p.got = p.want.Clone(), p.got.Clone()
			f.AddTo(p.want)
			f.AddTo(p.got)
		}
		pairs = append(pairs, p)
	}
	names, msgs := []string{"http", "", "refresher", "h\"ttp"}, []string{"request", "tc-credd started", "caf\xe9"}
	levels := []zapcore.Level{zapcore.InfoLevel, zapcore.WarnLevel, zapcore.DebugLevel}
	base := time.Date(2026, 11, 27, 0, 0, 0, 999_000_000, time.Local)
	fast := 0
	for i := 0; i < 30000; i++ {
		p := pairs[r.IntN(len(pairs))]
		var fields []zap.Field
		for n := r.IntN(9); n > 0; n-- {
			if r.IntN(2) == 0 { // an access-log line: all flat
				fields = append(fields, zap.String("path", "/latest/meta-data/"+randomText(r)), zap.Int("status", 200+r.IntN(300)))
			} else {
				fields = append(fields, randomField(r))
			}
		}
		ent := zapcore.Entry{
			Level:      levels[r.IntN(3)/2], // mostly info
			Time:       base.Add(time.Duration(r.IntN(2500)) * time.Microsecond),
			LoggerName: names[r.IntN(len(names))/2], // mostly "http"
			Message:    msgs[r.IntN(len(msgs))/2],
		}
		switch r.IntN(40) {
		case 0:
			ent.Stack = "goroutine 1"
		case 1:
			ent.Time = ent.Time.In(time.FixedZone("X", 3600))
		case 2:
			ent.Caller = zapcore.NewEntryCaller(0, "x/y.go", 7, true)
		}
		if allFlat(fields) && ent.Stack == "" {
			fast++
		}
		wb, err := p.want.EncodeEntry(ent, fields)
		if err != nil {
			t.Fatal(err)
		}
		gb, err := p.got.EncodeEntry(ent, fields)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb.Bytes(), wb.Bytes()) {
			t.Fatalf("case %d: entry %+v fields %v\n got %q\nwant %q", i, ent, fields, gb.Bytes(), wb.Bytes())
		}
		wb.Free()
		gb.Free()
	}
	// Both paths were compared, not only zap's.
	if fast < 3000 {
		t.Fatalf("only %d of 30000 cases took the flat path", fast)
	}
}

// BenchmarkAccessLine encodes one access-log line as the guard writes it,
// with zap's JSON encoder (the baseline) and with flatJSON.
func BenchmarkAccessLine(b *testing.B) {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = ISO8601
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Time: time.Now(), LoggerName: "http", Message: "request"}
	fields := []zap.Field{zap.String("method", "GET"), zap.String("path", "/latest/meta-data/iam/security-credentials/demo"),
		zap.String("route", "imds_credentials"), zap.Int("status", 200), zap.Int("bytes", 531), zap.Int64("durationMicros", 141),
		zap.String("remote", "127.0.0.1:59008"), zap.String("keyIdSuffix", "EAPC")}
	for _, c := range []struct {
		name string
		enc  zapcore.Encoder
	}{{"zap", zapcore.NewJSONEncoder(cfg)}, {"flat", newFlatJSON(cfg, true)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf, err := c.enc.EncodeEntry(ent, fields)
				if err != nil || buf.Len() < 200 {
					b.Fatalf("%v, %d bytes", err, buf.Len())
				}
				buf.Free()
			}
		})
	}
}

// plainByte is plain's rule for one byte, stated directly.
func plainByte(b byte) bool { return b >= 0x20 && b < 0x80 && b != '"' && b != '\\' }

// TestPlain checks the eight-at-a-time check against the rule: every byte
// value at every position of a word, next to neighbours that could hide or
// fake it (borrows run upwards), and then random strings of every length.
func TestPlain(t *testing.T) {
	for _, fill := range []byte{'a', 0x20, 0x7f, 0x21, 0x23, 0x5b, 0x5d, '"', 0x1f} {
		for pos := 0; pos < 11; pos++ {
			for v := 0; v < 256; v++ {
				s := bytes.Repeat([]byte{fill}, 11)
				s[pos] = byte(v)
				want := true
				for _, b := range s {
					want = want && plainByte(b)
				}
				if got := plain(string(s)); got != want {
					t.Fatalf("plain(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 100000; i++ {
		s := make([]byte, r.IntN(40))
		want := true
		for j := range s {
			s[j] = byte(0x20 + r.IntN(0x60))
			if r.IntN(60) == 0 {
				s[j] = byte(r.IntN(256))
			}
			want = want && plainByte(s[j])
		}
		if got := plain(string(s)); got != want {
			t.Fatalf("plain(%q) = %v, want %v", s, got, want)
		}
	}
}
