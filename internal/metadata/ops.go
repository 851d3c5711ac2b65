package metadata

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/taskcluster/tc-credd/internal/refresher"
	"github.com/taskcluster/tc-credd/internal/sink"
)

// OpsOptions configure the ops listener.
type OpsOptions struct {
	View    View
	Metrics *Metrics
	Logger  *zap.Logger
	Guard   GuardOptions
	Client  func() Client // optional: shown in /v1/status
	// Sinks, optional, are in /v1/status; one never written keeps
	// /readyz at 503.
	Sinks func() []sink.State
}

// NewOps returns the ops listener's handler: /healthz, /readyz, /metrics
// and /v1/status. None of them can reach a secret: they see states only.
func NewOps(o OpsOptions) http.Handler {
	r := mux.NewRouter()
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
		status := map[string]any{"ready": o.View.Ready(), "sources": o.View.States()}
		if o.Client != nil {
			status["client"] = o.Client()
		}
		if o.Sinks != nil {
			status["sinks"] = o.Sinks()
		}
		writeJSON(w, http.StatusOK, status)
	}).Methods(get...).Name("status")
	if o.Metrics != nil {
		r.Handle("/metrics", promhttp.HandlerFor(o.Metrics.Registry, promhttp.HandlerOpts{})).Methods(get...).Name("metrics")
	}
	g := o.Guard
	g.Logger, g.Metrics = o.Logger, o.Metrics
	return guard(g, r, nil)
}
