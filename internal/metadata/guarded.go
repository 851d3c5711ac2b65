package metadata

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/clock"
)

// GuardedOptions are what every listener of tc-credd's puts around its
// handler.
type GuardedOptions struct {
	Logger  *zap.Logger
	Metrics Metrics // optional
	Clock   clock.Clock
	Guard   GuardOptions
	// Route names every request in the access log and metrics.
	Route string
}

// Guarded gives a handler of another package (the proxy's) the same
// access log, metrics, loopback-peer and Host checks as the credential
// and ops listeners, and refuses forwarded requests as the credential
// routes do.
func Guarded(h http.Handler, o GuardedOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r).route = o.Route
		refuseForwarded(h).ServeHTTP(w, r)
	})
	return chain(named, observe(o.Logger, o.Metrics, o.Clock), securityChecks(o.Guard))
}
