package ingest

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// OpsHandler serves only /healthz, /readyz and /metrics: the HTTP server of
// a worker process, which takes no webhooks and offers no API. Readiness
// uses cfg.Ready, or else cfg.Client as in New.
func OpsHandler(cfg Config) http.Handler {
	s, r := newOpsServer(cfg)
	fallbacks(r)
	s.router = r
	return s
}

// newOpsServer applies the defaults of cfg and returns a server whose
// router has the recoverer and the ops endpoints.
func newOpsServer(cfg Config) (*Server, chi.Router) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.BodyReadTimeout <= 0 {
		cfg.BodyReadTimeout = DefaultBodyReadTimeout
	}
	s := &Server{cfg: cfg, log: cfg.Logger}
	s.ready = &readiness{client: cfg.Client, namespace: cfg.Namespace, taskQueue: cfg.TaskQueue, check: cfg.Ready}
	r := chi.NewRouter()
	// The body deadline first (a refused request's body is discarded
	// within it too), then unknown Hosts (DNS rebinding), then browsers'
	// cross-origin changes.
	r.Use(middleware.Recoverer, BodyDeadline(cfg.BodyReadTimeout), HostGuard(cfg.ListenAddr, cfg.AllowedHosts, s.log.Warn), checkOrigin)
	s.mountOps(r)
	return s, r
}

// mountOps mounts liveness, readiness and the Prometheus exposition.
func (s *Server) mountOps(r chi.Router) {
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Get("/readyz", s.handleReady)
	r.Handle("/metrics", promhttp.HandlerFor(s.cfg.Metrics.Registry, promhttp.HandlerOpts{Registry: s.cfg.Metrics.Registry}))
}

// fallbacks answers unknown paths and methods with a JSON error.
func fallbacks(r chi.Router) {
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
	})
}

// Publishing modes of GET /api/v1/mode.
const (
	// ModeNormal: every source has synced and at least one target is
	// enabled.
	ModeNormal = "normal"
	// ModeMetricsOnly: every source has synced and no target is enabled;
	// alerts are counted, not published.
	ModeMetricsOnly = "metrics-only"
	// ModeWaitingForDiscovery: a target source (Kubernetes discovery) has
	// not synced yet. Alerts are accepted and wait (ResolveTargets fails
	// retryably); they are delivered once every source has synced.
	ModeWaitingForDiscovery = "waiting-for-discovery"
)

// ModeState is the answer of GET /api/v1/mode.
type ModeState struct {
	Mode           string `json:"mode"`
	Reason         string `json:"reason"`
	EnabledTargets int    `json:"enabled_targets"`
	// UnsyncedSources are the target sources not synced yet (only in
	// ModeWaitingForDiscovery).
	UnsyncedSources []string `json:"unsynced_sources,omitempty"`
}

// Mode returns the publishing mode implied by a snapshot of the targets.
func Mode(snap target.Snapshot) ModeState {
	enabled := len(snap.Enabled())
	if pending := snap.Unsynced(); len(pending) > 0 {
		return ModeState{Mode: ModeWaitingForDiscovery, EnabledTargets: enabled, UnsyncedSources: pending,
			Reason: "waiting for discovery: target sources not synced yet: " + strings.Join(pending, ", ") +
				"; alerts are accepted and wait, and are delivered once they sync"}
	}
	if enabled == 0 {
		if total := len(snap.List()); total > 0 {
			return ModeState{Mode: ModeMetricsOnly, Reason: "no enabled targets (" + strconv.Itoa(total) + " disabled)"}
		}
		return ModeState{Mode: ModeMetricsOnly, Reason: "no targets configured"}
	}
	return ModeState{Mode: ModeNormal, Reason: strconv.Itoa(enabled) + " enabled targets", EnabledTargets: enabled}
}

func (s *Server) handleMode(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, Mode(s.cfg.Registry.Snapshot()))
}
