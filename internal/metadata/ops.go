package metadata

import (
	"net/http"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/clock"
	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/status"
)

// OpsOptions configure the ops listener.
type OpsOptions struct {
	View    View
	Metrics Metrics // optional: /metrics and request counts
	Logger  *zap.Logger
	Clock   clock.Clock
	Guard   GuardOptions
	// Daemon describes the daemon (version, uptime, last reload, its own
	// credentials) for /v1/status; optional.
	Daemon func() status.Daemon
	// Receivers returns, per source key, the callers that received it
	// recently; optional.
	Receivers func() map[string][]status.Receiver
	// Sinks, optional, are in /v1/status; one never written keeps
	// /readyz at 503.
	Sinks func() []status.Sink
}

// NewOps returns the ops listener's handler: /healthz, /readyz, /metrics
// and /v1/status. None of them can reach a secret: they see states only.
func NewOps(o OpsOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	r := mux.NewRouter()
	r.Use(nameRoute)
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, "ok\n")
	}).Methods(get...).Name("healthz")
	r.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		var unwritten []string
		if o.Sinks != nil {
			for _, s := range o.Sinks() {
				if s.LastWrite.IsZero() {
					unwritten = append(unwritten, "sink "+s.Path+" (never written)")
				}
			}
		}
		if o.View.Ready() && len(unwritten) == 0 {
			writeText(w, "ready\n")
			return
		}
		var waiting []string
		for _, s := range o.View.States() {
			if s.Status != refresher.StatusOK && s.Status != refresher.StatusDegraded {
				waiting = append(waiting, s.Key+" ("+string(s.Status)+")")
			}
		}
		waiting = append(waiting, unwritten...)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "notReady": waiting})
	}).Methods(get...).Name("readyz")
	r.HandleFunc("/v1/status", func(w http.ResponseWriter, r *http.Request) {
		st := map[string]any{"ready": o.View.Ready(), "sources": o.View.States()}
		if o.Daemon != nil {
			d := o.Daemon()
			st["version"], st["started"], st["uptimeSeconds"], st["client"] = d.Version, d.Started, d.UptimeSeconds, d.Client
			if d.LastReload != nil {
				st["lastReload"] = d.LastReload
			}
		}
		if o.Receivers != nil {
			st["receivers"] = o.Receivers()
		}
		if o.Sinks != nil {
			st["sinks"] = o.Sinks()
		}
		writeJSON(w, http.StatusOK, st)
	}).Methods(get...).Name("status")
	if o.Metrics != nil {
		r.Handle("/metrics", o.Metrics.Handler()).Methods(get...).Name("metrics")
	}
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)
	return chain(r, observe(o.Logger, o.Metrics, o.Clock), securityChecks(o.Guard))
}
