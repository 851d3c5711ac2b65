package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/logging"
)

func (d *Daemon) reloadLoop(ctx context.Context) {
	if d.o.Reload == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.o.Reload:
			// The outcome is recorded before it is logged, so whoever reads
			// the log line finds the status page already saying the same.
			err := d.reload(ctx)
			d.recordReload(err)
			if err != nil {
				d.log.Error("config reload failed; the running config stays in force", zap.String(logging.KeyPath, d.o.Path), zap.Error(err))
			} else {
				d.log.Info("config reloaded", zap.Int("sources", len(d.r.Sources())))
			}
		}
	}
}

// reload applies a new config file. Anything invalid leaves the running
// config untouched; unchanged sources keep their credentials and schedules.
func (d *Daemon) reload(ctx context.Context) error {
	if d.o.Path == "" {
		return errors.New("this daemon was not started from a config file: nothing to reload")
	}
	next, warnings, err := Load(d.o.Path, d.o.Getenv)
	for _, w := range warnings {
		d.log.Warn("config: " + w)
	}
	if err != nil {
		return err
	}
	sinks, err := Sinks(next)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	prev := d.cfg
	for _, f := range []struct {
		name     string
		old, new string
	}{{"listen", prev.Listen, next.Listen}, {"opsListen", prev.OpsListen, next.OpsListen}, {"localTokenFile", prev.LocalTokenFile, next.LocalTokenFile},
		{"unixSocket", prev.UnixSocket, next.UnixSocket}, {"audit", fmt.Sprint(prev.Audit), fmt.Sprint(next.Audit)},
		{"proxy.listen", proxyListen(prev), proxyListen(next)}, {"shutdownGrace", prev.ShutdownGrace.String(), next.ShutdownGrace.String()}} {
		if f.old != f.new {
			d.log.Warn("config: "+f.name+" changed; it takes effect at the next restart", zap.String("running", f.old), zap.String("file", f.new))
		}
	}
	next.Listen, next.OpsListen, next.LocalTokenFile = prev.Listen, prev.OpsListen, prev.LocalTokenFile
	next.UnixSocket, next.Audit = prev.UnixSocket, prev.Audit
	rules, err := Rules(next)
	if err != nil {
		return err
	}
	policies, err := ProxyPolicies(next)
	if err != nil {
		return err
	}
	if (prev.Proxy == nil) != (next.Proxy == nil) {
		// The proxy listener is bound at start only; its policies follow.
		next.Proxy = prev.Proxy
		policies = *d.policies.Load()
	} else if next.Proxy != nil {
		next.Proxy.Listen = prev.Proxy.Listen
	}

	// New per-source listeners bind first: a taken port fails the reload
	// before anything else changes.
	want := map[string]string{}
	for _, s := range next.AWS {
		if s.Listen != "" {
			want[s.Name] = s.Listen
		}
	}
	added := map[string]*listener{}
	// abandon closes what this reload bound, when it fails after binding.
	abandon := func() {
		for _, a := range added {
			a.ln.Close()
		}
	}
	for name, addr := range want {
		if l, ok := d.perSource[name]; ok && sameAddr(l.addr, addr) {
			continue
		}
		l, err := d.bind(name, addr, next, rules)
		if err != nil {
			abandon()
			return err
		}
		added[name] = l
	}
	// Contents, not paths: a reload after a credential file was rewritten
	// picks up the new token.
	cr, err := ReadCredentials(next)
	if err == nil {
		var changed bool
		if changed, err = d.useCredentials(cr); changed {
			d.log.Info(msgCredsChanged, zap.String("why", "reload"))
		}
	}
	if err != nil {
		abandon()
		return err
	}
	if err := d.r.Set(Sources(next)); err != nil {
		abandon()
		return err
	}
	// Whatever made a source fail may be what this reload fixed.
	d.r.RetryFailing()
	d.cfg = next
	d.policies.Store(&policies)
	d.watchFiles(next)
	for name, l := range d.perSource {
		if addr, ok := want[name]; !ok || !sameAddr(l.addr, addr) {
			// Cancelled first, so Serve takes the closed listener for a stop;
			// closed here, so the port is free when the reload returns.
			l.cancel()
			l.ln.Close()
			delete(d.perSource, name)
		}
	}
	for name, l := range added {
		d.perSource[name] = l
		d.serve(l)
	}
	d.rules = rules
	d.main.handler.set(d.handlerFor(d.main, next, rules))
	if d.unix != nil {
		d.unix.handler.set(d.handlerFor(d.unix, next, rules))
	}
	for _, l := range d.perSource {
		l.handler.set(d.handlerFor(l, next, rules))
	}
	if d.opsLn != nil {
		d.ops.set(d.opsHandler(next))
	}
	if d.proxyLn != nil {
		d.proxyGuard.set(d.proxyHandler(next))
	}
	d.sinks.Set(sinks)
	return nil
}

// sameAddr compares a bound address with a configured one; a configured
// port 0 never matches (it asks for a new port).
func sameAddr(bound, configured string) bool {
	bh, bp, _ := net.SplitHostPort(bound)
	ch, cp, _ := net.SplitHostPort(configured)
	if strings.EqualFold(ch, "localhost") {
		ch = "127.0.0.1"
	}
	return cp != "0" && bp == cp && bh == ch
}

// notifyWhenStarted tells systemd (Type=notify) that start-up is done once
// every source has had its first fetch, whether or not it succeeded: a
// source refused by Taskcluster must not hold the service in "activating".
// NOTIFY_SOCKET is read from the process environment, where systemd puts it,
// and removed so that sink commands do not inherit it.
func (d *Daemon) notifyWhenStarted(ctx context.Context) {
	if err := d.r.WaitFirstRound(ctx); err != nil {
		return
	}
	d.log.Info("first fetch of every source done", zap.Bool("ready", d.r.Ready()))
	if _, err := sddaemon.SdNotify(true, sddaemon.SdNotifyReady); err != nil {
		d.log.Warn("sd_notify failed", zap.Error(err))
	}
}

// proxyListen is the proxy's address in c, "" without a proxy.
func proxyListen(c *config.Config) string {
	if c.Proxy == nil {
		return ""
	}
	return c.Proxy.Listen
}
