package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/authtest"
	"github.com/taskcluster/tc-credd/internal/config"
)

// DevOptions configure the demo mode.
type DevOptions struct {
	Listen    string // default config.DefaultListen
	OpsListen string // default 127.0.0.1:8766
	Logger    *zap.Logger
	Stdout    io.Writer
	Started   func(Addrs)
	Version   string
}

// demoScopes are what the demo client holds: exactly the demo sources.
var demoScopes = []string{
	"auth:aws-s3:read-write:tc-credd-demo/demo/",
	"auth:gcp:access-token:tc-credd-dev/demo@tc-credd-dev.iam.gserviceaccount.com",
	"auth:azure-container:read-write:devaccount/demo",
	"auth:sentry:demo",
	"auth:websocktunnel-token:demo-audience/demo-client",
	"auth:github-repo-token:tc-credd-dev/demo-owner/demo:contents:read",
	"auth:current-scopes",
}

// DemoConfig is the config `tc-credd dev` runs: one source of every kind
// and an env-file sink, against the embedded fake Auth service at rootURL.
// On Linux, where callers can be identified, it also runs the signing
// proxy for the user running the demo (uid), narrowed to one scope.
func DemoConfig(rootURL, clientID, accessToken, dir, listen, opsListen string, uid int) string {
	proxy := ""
	if runtime.GOOS == "linux" {
		proxy = fmt.Sprintf(`proxy:
  listen: 127.0.0.1:0
  policies:
    - allow: {uids: [%d]}
      scopes: [auth:current-scopes]
`, uid)
	}
	return fmt.Sprintf(`rootUrl: %s
credentials:
  clientId: %s
  accessToken: %s
listen: %s
opsListen: %s
localTokenFile: %s
imds:
  region: us-east-1
aws:
  - name: demo
    bucket: tc-credd-demo
    prefix: demo/
    level: read-write
gcp:
  - projectId: tc-credd-dev
    serviceAccount: demo@tc-credd-dev.iam.gserviceaccount.com
    numericProjectId: "123456789012"
azure:
  - name: demo
    account: devaccount
    container: demo
    level: read-write
sentry:
  - name: demo
    project: demo
websocktunnel:
  - name: demo
    audience: demo-audience
    client: demo-client
github:
  - name: demo
    app: tc-credd-dev
    owner: demo-owner
    repositories: [demo]
    permissions: {contents: read}
sinks:
  - source: sentry/demo
    path: %s
    format: env
`, rootURL, clientID, accessToken, listen, opsListen, filepath.Join(dir, "token"), filepath.Join(dir, "sentry.env")) + proxy
}

// Dev runs tc-credd against an embedded fake Auth service with a demo
// config, and prints the environment that points the SDKs at it.
func Dev(ctx context.Context, o DevOptions) error {
	if o.Listen == "" {
		o.Listen = config.DefaultListen
	}
	if o.OpsListen == "" {
		o.OpsListen = "127.0.0.1:8766"
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	fake := authtest.New(authtest.Options{})
	tok := fake.AddClient("tc-credd-dev", demoScopes...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("dev: fake Auth service: %w", err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	dir, err := os.MkdirTemp("", "tc-credd-dev-")
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "config.yml")
	text := DemoConfig("http://"+ln.Addr().String(), "tc-credd-dev", tok.Reveal(), dir, o.Listen, o.OpsListen, os.Getuid())
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	cfg, _, err := Load(path, func(string) string { return "" })
	if err != nil {
		return fmt.Errorf("dev: demo config: %w", err)
	}
	err = Run(ctx, cfg, Options{Path: path, Logger: o.Logger, Version: o.Version, Getenv: func(string) string { return "" }, Started: func(a Addrs) {
		printDevHelp(o.Stdout, a, dir)
		if o.Started != nil {
			o.Started(a)
		}
	}})
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("%w (is another tc-credd running? try: tc-credd dev --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0)", err)
	}
	return err
}

func printDevHelp(w io.Writer, a Addrs, dir string) {
	proxy, tryProxy := "", ""
	if a.Proxy != "" {
		proxy = fmt.Sprintf(`  # Taskcluster clients, through the signing proxy (this user only)
  export TASKCLUSTER_PROXY_URL=http://%s
`, a.Proxy)
		tryProxy = "  curl -s $TASKCLUSTER_PROXY_URL/api/auth/v1/scopes/current\n"
	}
	fmt.Fprintf(w, `tc-credd dev: demo credentials from an embedded fake Taskcluster Auth service.

Point unmodified SDKs at it:

  # AWS, through IMDSv2 (the final / matters: botocore appends paths as they are)
  export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://%[1]s/
  # AWS, or through container credentials
  export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://%[1]s/v1/credentials/aws/demo
  export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%[2]s
  # Google (gcloud reads GCE_METADATA_ROOT)
  export GCE_METADATA_HOST=%[1]s
  export GCE_METADATA_ROOT=%[1]s
  export GCE_METADATA_IP=%[1]s
%[5]s
Try:
  curl -s -H "Authorization: $(cat %[2]s)" http://%[1]s/v1/credentials/sentry/demo
  curl -s http://%[3]s/v1/status
  cat %[4]s
%[6]s
Ctrl-C stops it.
`, a.Listen, a.TokenFile, a.OpsListen, filepath.Join(dir, "sentry.env"), proxy, tryProxy)
}
