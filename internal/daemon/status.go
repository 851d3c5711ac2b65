package daemon

import (
	"time"

	"github.com/taskcluster/tc-credd/internal/status"
)

// recordReload keeps the outcome of a reload for the status page and the
// metrics.
func (d *Daemon) recordReload(err error) {
	r := &status.Reload{Time: d.clk.Now(), OK: err == nil}
	if err != nil {
		r.Error = err.Error()
	}
	d.lastReload.Store(r)
	d.metrics.ObserveReload(r.OK)
}

// status describes the daemon for the ops listener.
func (d *Daemon) status() status.Daemon {
	now := d.clk.Now()
	return status.Daemon{
		Version:       d.o.Version,
		Started:       d.started,
		UptimeSeconds: int64(now.Sub(d.started) / time.Second),
		LastReload:    d.lastReload.Load(),
		Client:        d.clientInfo(),
	}
}
