package daemon

import (
	"context"
	"net"
	"os"
	"strings"

	"go.uber.org/zap"
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
			if err := d.reload(ctx); err != nil {
				d.log.Error("config reload failed; the running config stays in force", zap.String("path", d.o.Path), zap.Error(err))
			}
		}
	}
}

// reload applies a new config file. Anything invalid leaves the running
// config untouched; unchanged sources keep their credentials and schedules.
func (d *Daemon) reload(ctx context.Context) error {
	if d.o.Path == "" {
		d.log.Warn("reload requested, but this daemon was not started from a config file")
		return nil
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
	}{{"listen", prev.Listen, next.Listen}, {"opsListen", prev.OpsListen, next.OpsListen}, {"localTokenFile", prev.LocalTokenFile, next.LocalTokenFile}} {
		if f.old != f.new {
			d.log.Warn("config: "+f.name+" changed; it takes effect at the next restart", zap.String("running", f.old), zap.String("file", f.new))
		}
	}
	next.Listen, next.OpsListen, next.LocalTokenFile = prev.Listen, prev.OpsListen, prev.LocalTokenFile

	// New per-source listeners bind first: a taken port fails the reload
	// before anything else changes.
	want := map[string]string{}
	for _, s := range next.AWS {
		if s.Listen != "" {
			want[s.Name] = s.Listen
		}
	}
	added := map[string]*listener{}
	for name, addr := range want {
		if l, ok := d.perSource[name]; ok && sameAddr(l.addr, addr) {
			continue
		}
		l, err := d.bind(name, addr)
		if err != nil {
			for _, a := range added {
				a.ln.Close()
			}
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
		for _, a := range added {
			a.ln.Close()
		}
		return err
	}
	if err := d.r.Set(Sources(next)); err != nil {
		return err
	}
	// Whatever made a source fail may be what this reload fixed.
	d.r.RetryFailing()
	d.cfg = next
	d.watchFiles(next)
	for name, l := range d.perSource {
		if addr, ok := want[name]; !ok || !sameAddr(l.addr, addr) {
			l.cancel()
			delete(d.perSource, name)
		}
	}
	for name, l := range added {
		d.perSource[name] = l
		d.serve(l)
	}
	d.main.handler.set(d.handlerFor(d.main, next))
	for _, l := range d.perSource {
		l.handler.set(d.handlerFor(l, next))
	}
	d.sinks.Set(sinks)
	d.log.Info("config reloaded", zap.Int("sources", len(d.r.Sources())), zap.Int("sinks", len(sinks)))
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
func (d *Daemon) notifyWhenStarted(ctx context.Context) {
	sock := d.o.Getenv("NOTIFY_SOCKET")
	if err := d.r.WaitFirstRound(ctx); err != nil {
		return
	}
	d.log.Info("first fetch of every source done", zap.Bool("ready", d.r.Ready()))
	if sock == "" {
		return
	}
	if strings.HasPrefix(sock, "@") {
		sock = "\x00" + sock[1:]
	}
	conn, err := net.Dial("unixgram", sock)
	if err != nil {
		d.log.Warn("sd_notify failed", zap.Error(err))
		return
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("READY=1"))
	_ = os.Unsetenv("NOTIFY_SOCKET")
}
