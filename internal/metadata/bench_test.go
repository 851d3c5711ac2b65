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
// credential path, in parallel, with a JSON access log to io.Discard.
// `make bench` measures the binary over real connections.
func BenchmarkIMDSCredentials(b *testing.B) {
	e := newEnv(b, envOpts{jsonLog: zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel)})
	tok := e.imdsToken()
	req := httptest.NewRequest(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+role, nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-aws-ec2-metadata-token", tok)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
			_, _ = io.Discard.Write(rec.Body.Bytes())
		}
	})
}
