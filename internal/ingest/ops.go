package ingest

import (
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herald-alerts/herald/internal/metrics"
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
