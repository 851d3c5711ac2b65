package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/taskcluster/tc-credd/internal/audit"
	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/identity"
	"github.com/taskcluster/tc-credd/internal/localtoken"
	"github.com/taskcluster/tc-credd/internal/logging"
	"github.com/taskcluster/tc-credd/internal/metadata"
	"github.com/taskcluster/tc-credd/internal/metrics"
	"github.com/taskcluster/tc-credd/internal/proxy"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/sink"
	"github.com/taskcluster/tc-credd/internal/status"
)

// ShutdownGrace bounds how long listeners wait for in-flight requests
// before closing the connections that remain.
const ShutdownGrace = config.DefaultShutdownGrace

// Options configure Run.
type Options struct {
	// Path is the config file reloads read; empty disables reload.
	Path   string
	Getenv func(string) string
	Logger *zap.Logger
	Clock  clock.Clock
	// Reload receives a value per reload request (SIGHUP).
	Reload <-chan struct{}
	// Started is called once the listeners are up, with their addresses.
	Started func(Addrs)
	// ShutdownGrace replaces the config's shutdownGrace when positive.
	ShutdownGrace time.Duration
	// Version is the build's version, for the status page and metrics.
	Version string
}

// Addrs are the bound addresses.
type Addrs struct {
	Listen    string
	OpsListen string
	TokenFile string
	// UnixSocket is the Unix socket's path, "" without one.
	UnixSocket string
	// Proxy is the proxy listener's address, "" without one.
	Proxy string
}

// swapFetcher lets a reload change the Auth client under the refresher.
type swapFetcher struct {
	p atomic.Pointer[refresher.Fetcher]
}

func (s *swapFetcher) set(f refresher.Fetcher) { s.p.Store(&f) }
func (s *swapFetcher) Fetch(ctx context.Context, src refresher.Source) (*refresher.Credential, error) {
	return (*s.p.Load()).Fetch(ctx, src)
}

// swapHandler lets a reload rebuild a listener's handler in place.
type swapHandler struct{ p atomic.Pointer[http.Handler] }

func (s *swapHandler) set(h http.Handler) { s.p.Store(&h) }
func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*s.p.Load()).ServeHTTP(w, r)
}

// listener is one credential listener: the main one, or an aws source's.
type listener struct {
	role    string // "" for the main listener and the Unix socket
	unix    bool   // the Unix socket: the JSON API only
	ln      net.Listener
	addr    string
	port    int
	tokens  *metadata.IMDSSessions
	handler swapHandler
	cancel  context.CancelFunc
}

// Daemon is a running tc-credd.
type Daemon struct {
	o          Options
	log        *zap.Logger
	clk        clock.Clock
	cfg        *config.Config
	fetcher    *swapFetcher
	r          *refresher.Refresher
	token      *localtoken.Token
	metrics    *metrics.Metrics
	sinks      *sink.Runner
	audit      *audit.Trail
	rules      map[string]*identity.Rule     // guarded by mu, as cfg
	client     atomic.Pointer[status.Client] // the Taskcluster credentials in use
	started    time.Time
	lastReload atomic.Pointer[status.Reload]
	own        own
	upstream   atomic.Pointer[proxy.Upstream] // what the proxy signs with
	policies   atomic.Pointer[[]proxyPolicy]  // who the proxy signs for
	proxyLn    net.Listener
	proxy      http.Handler // the signing proxy, behind proxyGuard
	proxyGuard swapHandler  // the proxy listener's checks, rebuilt by a reload
	opsLn      net.Listener
	ops        swapHandler // the ops listener's handler, rebuilt by a reload

	mu        sync.Mutex
	main      *listener
	unix      *listener // nil without unixSocket
	perSource map[string]*listener
	group     *errgroup.Group
	gctx      context.Context
}

// Run runs the daemon for a validated config until ctx ends.
func Run(ctx context.Context, cfg *config.Config, o Options) error {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = cfg.ShutdownGrace
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = ShutdownGrace
	}
	d := &Daemon{o: o, log: o.Logger, clk: o.Clock, cfg: cfg, fetcher: &swapFetcher{}, perSource: map[string]*listener{}, started: o.Clock.Now()}
	cr, err := ReadCredentials(cfg)
	if err != nil {
		return err
	}
	if _, err := d.useCredentials(cr); err != nil {
		return err
	}
	d.r = refresher.New(refresher.Options{Fetcher: d.fetcher, Clock: d.clk, Logger: d.log.Named("refresher")})
	if err := d.r.Set(Sources(cfg)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.LocalTokenFile), 0o700); err != nil {
		return fmt.Errorf("localTokenFile: %w", err)
	}
	if d.token, err = localtoken.Load(cfg.LocalTokenFile, cfg.TokenFileMode(), d.clk, d.log); err != nil {
		return fmt.Errorf("localTokenFile: %w", err)
	}
	if d.rules, err = Rules(cfg); err != nil {
		return err
	}
	policies, err := ProxyPolicies(cfg)
	if err != nil {
		return err
	}
	d.policies.Store(&policies)
	d.metrics = metrics.New(metrics.Options{States: d.r.States, Client: d.clientInfo, LastReload: d.lastReload.Load, Clock: d.clk, Version: o.Version,
		UIDLabels: cfg.Audit.UIDLabels})
	d.audit, err = audit.New(audit.Options{Logger: d.log.Named("audit"), Clock: d.clk, Metrics: d.metrics,
		File: cfg.Audit.File, MaxBytes: int64(cfg.Audit.MaxSizeMB) << 20, Keep: cfg.Audit.Keep})
	if err != nil {
		return err
	}
	defer d.audit.Close()
	sinks, err := Sinks(cfg)
	if err != nil {
		return err
	}
	d.sinks = sink.NewRunner(d.r, d.log.Named("sink"), d.clk)
	d.sinks.AuditWith(d.audit)
	d.metrics.Registry.MustRegister(d.sinks)

	// Bind everything before serving anything, so a taken port fails the
	// start instead of leaving half a daemon.
	var opened []net.Listener
	fail := func(err error) error {
		for _, ln := range opened {
			ln.Close()
		}
		return err
	}
	if d.main, err = d.bind("", cfg.Listen, cfg, d.rules); err != nil {
		return err
	}
	opened = append(opened, d.main.ln)
	var bound []*listener
	for _, s := range cfg.AWS {
		if s.Listen == "" {
			continue
		}
		l, err := d.bind(s.Name, s.Listen, cfg, d.rules)
		if err != nil {
			return fail(err)
		}
		opened = append(opened, l.ln)
		d.perSource[s.Name] = l
		bound = append(bound, l)
	}
	var unixL *listener
	if cfg.UnixSocket != "" {
		ln, err := metadata.ListenUnix(cfg.UnixSocket)
		if err != nil {
			return fail(fmt.Errorf("unixSocket: %w", err))
		}
		opened = append(opened, ln)
		unixL = &listener{unix: true, ln: ln, addr: cfg.UnixSocket, tokens: metadata.NewIMDSSessions(d.clk)}
		unixL.handler.set(d.handlerFor(unixL, cfg, d.rules))
		bound = append(bound, unixL)
	}
	var opsLn net.Listener
	if cfg.OpsListen != "" {
		if opsLn, err = metadata.Listen(cfg.OpsListen, cfg.AllowNonLoopback); err != nil {
			return fail(fmt.Errorf("opsListen: %w", err))
		}
		opened = append(opened, opsLn)
	}
	if cfg.Proxy != nil {
		if d.proxyLn, err = metadata.Listen(cfg.Proxy.Listen, cfg.AllowNonLoopback); err != nil {
			return fail(fmt.Errorf("proxy.listen: %w", err))
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	d.group, d.gctx = g, gctx
	g.Go(func() error { return d.r.Run(gctx) })
	g.Go(func() error { d.sinks.Run(gctx, sinks); return nil })
	if w, err := d.token.Watch(); err != nil {
		d.log.Warn("the local token file is not watched; a rotated token needs a restart", zap.Error(err))
	} else {
		g.Go(func() error { w.Run(gctx); return nil })
	}
	d.serve(d.main)
	for _, l := range bound {
		d.serve(l)
	}
	d.unix = unixL
	addrs := Addrs{Listen: d.main.addr, TokenFile: cfg.LocalTokenFile, UnixSocket: cfg.UnixSocket}
	if d.proxyLn != nil {
		addrs.Proxy = d.proxyLn.Addr().String()
		d.proxy = d.newProxy()
		d.proxyGuard.set(d.proxyHandler(cfg))
		srv := metadata.NewServer(&d.proxyGuard)
		// Artifact uploads and downloads stream for as long as they take:
		// only the headers and idle connections have a deadline here.
		srv.ReadTimeout, srv.WriteTimeout = 0, 0
		g.Go(func() error { return metadata.Serve(gctx, srv, d.proxyLn, o.ShutdownGrace) })
	}
	if opsLn != nil {
		addrs.OpsListen = opsLn.Addr().String()
		d.opsLn = opsLn
		d.ops.set(d.opsHandler(cfg))
		g.Go(func() error { return metadata.Serve(gctx, metadata.NewServer(&d.ops), opsLn, o.ShutdownGrace) })
	}
	g.Go(func() error { d.notifyWhenStarted(gctx); return nil })
	g.Go(func() error { d.reloadLoop(gctx); return nil })
	followCredentials := d.watchCredentials()
	g.Go(func() error { followCredentials(gctx); return nil })
	d.log.Info("tc-credd started", zap.String(logging.KeyListen, addrs.Listen), zap.String("opsListen", addrs.OpsListen),
		zap.Int("sources", len(d.r.Sources())), zap.String(logging.KeyClientID, cfg.Credentials.ClientID))
	if o.Started != nil {
		o.Started(addrs)
	}
	err = g.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	d.log.Info("tc-credd stopped")
	return nil
}

// opsHandler serves health, status and metrics behind the checks cfg
// asks for.
func (d *Daemon) opsHandler(cfg *config.Config) http.Handler {
	return metadata.NewOps(metadata.OpsOptions{View: d.r, Metrics: d.metrics, Logger: d.log.Named("ops"), Clock: d.clk, Daemon: d.status, Receivers: d.audit.Recent, Sinks: d.sinks.States,
		Guard: metadata.GuardOptions{Port: metadata.PortOf(d.opsLn), Hosts: cfg.AllowedHosts, AllowRemote: cfg.AllowNonLoopback}})
}

// bind opens a credential listener whose handler serves cfg with rules:
// at a reload, the new config's, before the listener serves anything.
func (d *Daemon) bind(role, addr string, cfg *config.Config, rules map[string]*identity.Rule) (*listener, error) {
	field := "listen"
	if role != "" {
		field = "aws[" + role + "].listen"
	}
	ln, err := metadata.Listen(addr, cfg.AllowNonLoopback)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	l := &listener{role: role, ln: ln, addr: ln.Addr().String(), port: metadata.PortOf(ln), tokens: metadata.NewIMDSSessions(d.clk)}
	l.handler.set(d.handlerFor(l, cfg, rules))
	return l, nil
}

// serve starts a bound listener under the daemon's group. A listener
// failing stops the daemon; one removed by a reload just stops.
func (d *Daemon) serve(l *listener) {
	ctx, cancel := context.WithCancel(d.gctx)
	l.cancel = cancel
	srv := metadata.NewServer(&l.handler)
	d.group.Go(func() error { return metadata.Serve(ctx, srv, l.ln, d.o.ShutdownGrace) })
}

// handlerFor builds a credential listener's handler from a config and its
// rules.
func (d *Daemon) handlerFor(l *listener, c *config.Config, rules map[string]*identity.Rule) http.Handler {
	roles := SharedRoles(c)
	if l.role != "" {
		roles = []string{l.role}
	}
	return metadata.New(metadata.Options{
		View: d.r, Clock: d.clk, Logger: d.log.Named("http"), Metrics: d.metrics,
		AWSRoles: roles, AllowIMDSv1: c.IMDS.AllowV1, Region: c.IMDS.Region,
		GCP: GCPAccounts(c), Token: d.token, Sessions: l.tokens,
		Rules: rules, Audit: d.audit, APIOnly: l.unix,
		Guard: metadata.GuardOptions{Port: l.port, Hosts: c.AllowedHosts, AllowRemote: c.AllowNonLoopback, Unix: l.unix},
	})
}
