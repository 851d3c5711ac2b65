package metadata_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/taskcluster/tc-credd/internal/metadata"
)

func TestHostAllowList(t *testing.T) {
	e := newEnv(t, envOpts{})
	port := e.host[strings.LastIndex(e.host, ":")+1:]
	for host, want := range map[string]int{
		"127.0.0.1:" + port:    200,
		"localhost:" + port:    200,
		"[::1]:" + port:        200,
		"127.0.0.1":            200,
		"evil.example:" + port: 403,
		"evil.example":         403,
		"127.0.0.1:1":          403,
		"169.254.169.254":      403,
	} {
		if st, _, _ := e.do(http.MethodGet, "/", map[string]string{"Host": host}); st != want {
			t.Errorf("Host %q: %d, want %d", host, st, want)
		}
	}
}

func TestRemotePeerRefused(t *testing.T) {
	e := newEnv(t, envOpts{})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "192.0.2.10:4567"
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("non-loopback peer: %d, want 403", rec.Code)
	}
}

func TestListenRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.1:0", ":0"} {
		if ln, err := metadata.Listen(addr, false); err == nil {
			ln.Close()
			t.Errorf("%s: bound without allowNonLoopback", addr)
		}
	}
	ln, err := metadata.Listen("localhost:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	srv := metadata.NewServer(http.NotFoundHandler())
	if srv.ReadHeaderTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("server timeouts unset: %+v", srv)
	}
}
