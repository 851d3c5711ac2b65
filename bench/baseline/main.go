// Command baseline is the benchmark's yardstick: a bare net/http server
// that answers every request with one fixed document, the size of the
// credential document tc-credd serves. It does no routing, checking or
// logging, so it bounds what any handler on this machine can do.
//
// With --log-like, it also writes one zap JSON line per request to
// --log, with the keys and values of the tc-credd access-log line it is
// given: what an access log alone costs, without the rest of tc-credd.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/logging"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address")
	doc := flag.String("doc", "", "file whose bytes every response carries")
	like := flag.String("log-like", "", "file holding one tc-credd access-log line to imitate")
	logPath := flag.String("log", "", "file the imitated lines go to")
	flag.Parse()
	body, err := os.ReadFile(*doc)
	if err != nil {
		fail(err)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	if *like != "" {
		if h, err = withLog(h, *like, *logPath); err != nil {
			fail(err)
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fail(err)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, h)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "baseline:", err)
	os.Exit(2)
}

// withLog wraps next in an access log whose lines carry the fields of the
// line in like, in its order, with the request's own duration and remote
// address, written unbuffered as tc-credd writes its own.
func withLog(next http.Handler, like, path string) (http.Handler, error) {
	line, err := os.ReadFile(like)
	if err != nil {
		return nil, err
	}
	fields, err := fieldsOf(line)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", like, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	log, _ := logging.New(f)
	log = log.Named("http")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		elapsed := time.Since(start)
		fs := make([]zap.Field, len(fields))
		copy(fs, fields)
		for i := range fs {
			switch fs[i].Key {
			case logging.KeyDuration:
				fs[i] = zap.Int64(fs[i].Key, elapsed.Microseconds())
			case logging.KeyRemote:
				fs[i] = zap.String(fs[i].Key, r.RemoteAddr)
			}
		}
		log.Info("request", fs...)
	}), nil
}

// fieldsOf reads a JSON log line's fields in order, leaving out those zap
// writes itself.
func fieldsOf(line []byte) ([]zap.Field, error) {
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var fields []zap.Field
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return nil, err
		}
		var v any
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		key := k.(string)
		switch key {
		case "level", "ts", "logger", "msg":
			continue
		}
		switch v := v.(type) {
		case json.Number:
			n, err := v.Int64()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			fields = append(fields, zap.Int64(key, n))
		case string:
			fields = append(fields, zap.String(key, v))
		default:
			return nil, fmt.Errorf("%s: a %T", key, v)
		}
	}
	return fields, nil
}
