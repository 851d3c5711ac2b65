package metadata_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// BenchmarkIMDSCredentials measures the handler alone on the IMDSv2
// credential path, in parallel, with a JSON access log to io.Discard, next
// to a bare handler writing the same document: the difference is what
// tc-credd's checks, routing, logging and metrics cost per request.
// `make bench` measures the binary over real connections.
func BenchmarkIMDSCredentials(b *testing.B) {
	e := newEnv(b, envOpts{jsonLog: zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)})
	tok := e.imdsToken()
	req := httptest.NewRequest(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+role, nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-aws-ec2-metadata-token", tok)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	doc := rec.Body.Bytes()
	if rec.Code != 200 || len(doc) == 0 {
		b.Fatalf("status %d, %d bytes", rec.Code, len(doc))
	}
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"tc-credd", e.handler}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					bc.h.ServeHTTP(rec, req)
					if rec.Code != 200 || rec.Body.Len() != len(doc) {
						b.Fatalf("status %d, %d bytes", rec.Code, rec.Body.Len())
					}
				}
			})
		})
	}
}
