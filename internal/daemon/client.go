package daemon

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/config"
	"github.com/taskcluster/tc-credd/internal/logging"
	"github.com/taskcluster/tc-credd/internal/proxy"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/status"
)

// expiryWarning is how close to their expiry tc-credd's own temporary
// credentials must be for a start or reload to log a warning. Between
// those, tc_credd_client_expiry_seconds is what to alert on.
const expiryWarning = 24 * time.Hour

// The log messages of useClient and the credential watch.
const (
	msgClientExpired  = "tc-credd's temporary Taskcluster credentials have expired: every fetch fails until new ones are in the config and it is reloaded (SIGHUP)"
	msgClientExpiring = "tc-credd's temporary Taskcluster credentials expire soon: put new ones in the config and reload (SIGHUP) before then"
	msgClientTemp     = "tc-credd's Taskcluster credentials are temporary"
	msgCredsChanged   = "Taskcluster credentials or rootUrl changed; new fetches use them"
)

// own is what the daemon knows of its own Taskcluster credentials.
type own struct {
	mu      sync.Mutex
	creds   Credentials
	watcher *fsnotify.Watcher // nil when the files cannot be watched
	dirs    map[string]bool   // folders watched
}

// useCredentials makes new fetches sign with cr, a single HTTP request
// per attempt: the refresher owns retries, so an outage is not multiplied
// by the client's own. It reports whether cr differs from those in use.
func (d *Daemon) useCredentials(cr Credentials) (bool, error) {
	d.own.mu.Lock()
	defer d.own.mu.Unlock()
	if d.client.Load() != nil && cr.Equal(d.own.creds) {
		return false, nil
	}
	ac, cl, err := cr.client(-1, d.observeUpstream)
	if err != nil {
		return false, err
	}
	creds, err := cr.hawk()
	if err != nil {
		return false, err
	}
	d.fetcher.set(refresher.AuthFetcher{Client: ac})
	d.upstream.Store(&proxy.Upstream{RootURL: cr.RootURL, Credentials: creds})
	d.own.creds = cr
	d.useClient(cl)
	return true, nil
}

// useClient records the credentials now in use and says in the log how
// long temporary ones have left: nothing in tc-credd renews them, and
// when they lapse every fetch fails (taskcluster/taskcluster#5014).
func (d *Daemon) useClient(c status.Client) {
	d.client.Store(&c)
	if c.Expires.IsZero() {
		return
	}
	left := c.Expires.Sub(d.clk.Now())
	fields := []zap.Field{zap.String(logging.KeyClientID, c.ClientID), zap.Time(logging.KeyExpires, c.Expires), zap.Duration("left", left.Truncate(time.Second))}
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

// credentialFiles are the files a config reads its credentials from.
func credentialFiles(c *config.Config) []string {
	var out []string
	for _, p := range []string{c.Credentials.AccessTokenFile, c.Credentials.CertificateFile} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// watchFiles adds the folders of c's credential files to the watch. The
// folder, not the file: a renewer that writes a new file and renames it
// over the old one replaces the file being watched.
func (d *Daemon) watchFiles(c *config.Config) {
	d.own.mu.Lock()
	defer d.own.mu.Unlock()
	if d.own.watcher == nil {
		return
	}
	for _, f := range credentialFiles(c) {
		dir := filepath.Dir(f)
		if d.own.dirs[dir] {
			continue
		}
		if err := d.own.watcher.Add(dir); err != nil {
			d.log.Warn("cannot watch a credentials folder; a replaced file takes effect at the next reload (SIGHUP)", zap.String("folder", dir), zap.Error(err))
			continue
		}
		d.own.dirs[dir] = true
	}
}

// watchCredentials starts watching the credential files and returns the
// loop that follows them until ctx ends: when one changes, new fetches use
// what it now holds and failing sources retry at once. The watch is in
// place when it returns, so no change made after start-up is missed. Any
// change in a watched folder re-reads the files, and contents decide: a
// rename through a symlink (as Kubernetes does with secrets) names neither
// file.
func (d *Daemon) watchCredentials() func(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("cannot watch the credential files; replacing them takes effect at the next reload (SIGHUP)", zap.Error(err))
		return func(context.Context) {}
	}
	d.own.mu.Lock()
	d.own.watcher, d.own.dirs = w, map[string]bool{}
	d.own.mu.Unlock()
	d.mu.Lock()
	d.watchFiles(d.cfg)
	d.mu.Unlock()
	return func(ctx context.Context) {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.Errors:
				d.log.Warn("watching the credential files", zap.Error(err))
			case <-w.Events:
				d.credentialFilesChanged()
			}
		}
	}
}

// credentialFilesChanged re-reads the credential files of the running
// config. A file caught half-written fails to read or authenticates
// badly; the write that completes it is another change.
func (d *Daemon) credentialFilesChanged() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(credentialFiles(d.cfg)) == 0 {
		return
	}
	cr, err := ReadCredentials(d.cfg)
	if err != nil {
		d.log.Debug("credential files changed but cannot be read yet", zap.Error(err))
		return
	}
	changed, err := d.useCredentials(cr)
	switch {
	case err != nil:
		d.log.Warn("credential files changed but hold no usable credentials; the previous ones stay in use", zap.Error(err))
	case changed:
		d.log.Info(msgCredsChanged, zap.String("why", "a credential file changed"))
		d.r.RetryFailing()
	}
}

// observeUpstream times the refresher's requests to Taskcluster in the
// metrics. The refresher sends none before the metrics exist.
func (d *Daemon) observeUpstream(endpoint string, status int, elapsed time.Duration) {
	d.metrics.ObserveUpstream(endpoint, status, elapsed)
}
