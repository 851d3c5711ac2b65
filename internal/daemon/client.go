package daemon

import (
	"time"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/status"
)

// expiryWarning is how close to their expiry tc-credd's own temporary
// credentials must be for a start or reload to log a warning. Between
// those, tc_credd_client_expiry_seconds is what to alert on.
const expiryWarning = 24 * time.Hour

// The log messages of useClient.
const (
	msgClientExpired  = "tc-credd's temporary Taskcluster credentials have expired: every fetch fails until new ones are in the config and it is reloaded (SIGHUP)"
	msgClientExpiring = "tc-credd's temporary Taskcluster credentials expire soon: put new ones in the config and reload (SIGHUP) before then"
	msgClientTemp     = "tc-credd's Taskcluster credentials are temporary"
)

// useClient records the credentials now in use and says in the log how
// long temporary ones have left: nothing in tc-credd renews them, and
// when they lapse every fetch fails (taskcluster/taskcluster#5014).
func (d *Daemon) useClient(c status.Client) {
	d.client.Store(&c)
	if c.Expires.IsZero() {
		return
	}
	left := c.Expires.Sub(d.clk.Now())
	fields := []zap.Field{zap.String("clientId", c.ClientID), zap.Time("expires", c.Expires), zap.Duration("left", left.Truncate(time.Second))}
	switch {
	case left <= 0:
		d.log.Error(msgClientExpired, fields...)
	case left < expiryWarning:
		d.log.Warn(msgClientExpiring, fields...)
	default:
		d.log.Info(msgClientTemp, fields...)
	}
}

// clientInfo is what the ops listener and metrics read.
func (d *Daemon) clientInfo() status.Client { return *d.client.Load() }
