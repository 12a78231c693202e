// Package ingest is Herald's HTTP front door: the Alertmanager webhook that
// hands every alert durably to Temporal, the read/operate API, health and
// metrics endpoints.
package ingest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// Config of the HTTP server.
type Config struct {
	Client       client.Client
	Health       *activities.HealthStore
	Namespace    string
	TaskQueue    string
	Registry     *target.Registry
	Metrics      *metrics.Metrics
	Logger       *slog.Logger
	WebhookToken string
	AdminToken   string
	MaxBodyBytes int64
	// Ready reports readiness; nil uses the Temporal readiness check.
	Ready func(ctx context.Context) error
	// DevSink mounts /dev/sink/{name}, a logging target for local runs.
	DevSink bool
	// Codec, when set, serves /codec/* (payload encryption, internal/codec);
	// DataConverter then decodes failure messages read from Temporal.
	Codec         http.Handler
	DataConverter converter.DataConverter

	// WebhookTimeout bounds one POST /webhook; SignalTimeout bounds each of
	// its alerts' SignalWithStart within it (zero: the defaults).
	WebhookTimeout time.Duration
	SignalTimeout  time.Duration
	// WebhookConcurrency bounds the webhook requests processed at once
	// (zero: 2 x GOMAXPROCS, at least 4).
	WebhookConcurrency int
	// AlertLimits bound each alert of a webhook.
	AlertLimits alert.Limits
	// AdminReads makes every /api/v1 call, reads too, require AdminToken.
	AdminReads bool

	// ListenAddr is the address the server listens on (host:port). On a
	// loopback address only requests for that address, localhost, a
	// loopback IP or a name in AllowedHosts are served (DNS rebinding);
	// empty: every Host is served.
	ListenAddr   string
	AllowedHosts []string
	// BodyReadTimeout bounds receiving one request body (zero:
	// DefaultBodyReadTimeout).
	BodyReadTimeout time.Duration
	// APIConcurrency bounds the /api/v1 and /codec requests processed at
	// once, apart from the webhook's budget (zero: DefaultAPIConcurrency).
	APIConcurrency int
}

// Server serves the webhook and the API.
type Server struct {
	cfg    Config
	log    *slog.Logger
	router chi.Router
	ready  *readiness

	webhookSlots slots
	queueWait    time.Duration
	limits       alert.Limits
	api          *apiGate
}

// DefaultMaxBodyBytes is the default webhook size limit.
const DefaultMaxBodyBytes = 5 << 20

// New builds the router.
func New(cfg Config) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.WebhookTimeout <= 0 {
		cfg.WebhookTimeout = DefaultWebhookTimeout
	}
	if cfg.SignalTimeout <= 0 {
		cfg.SignalTimeout = min(DefaultSignalTimeout, cfg.WebhookTimeout)
	}
	if cfg.WebhookConcurrency <= 0 {
		cfg.WebhookConcurrency = DefaultWebhookConcurrency()
	}
	if cfg.APIConcurrency <= 0 {
		cfg.APIConcurrency = DefaultAPIConcurrency()
	}
	s, r := newOpsServer(cfg)
	cfg = s.cfg
	s.webhookSlots, s.queueWait, s.limits = newSlots(cfg.WebhookConcurrency, cfg.MaxBodyBytes), webhookQueueWait, cfg.AlertLimits
	if cfg.Metrics != nil {
		s.webhookSlots.waiting = cfg.Metrics.WebhookWaiting
	}
	s.api = newAPIGate(cfg.APIConcurrency)
	r.With(s.bearer(cfg.WebhookToken, "webhook")).Post("/webhook", s.handleWebhook)
	if cfg.DevSink {
		s.mountDevSink(r)
	}
	if cfg.Codec != nil {
		r.With(s.api.limit).Handle("/codec/*", cfg.Codec)
		if cfg.AdminToken == "" && !IsLoopbackAddr(cfg.ListenAddr) {
			s.log.Warn("/codec is served without an admin token on a non-loopback address: anyone who reaches it can decrypt payloads; set HERALD_ADMIN_TOKEN",
				"listen", cfg.ListenAddr)
		}
	}
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(s.countAPI, s.api.limit)
		r.Use(s.markAdmin) // tenancy.go: who may read error excerpts
		admin := s.bearer(cfg.AdminToken, "admin")
		if cfg.AdminReads {
			r.Use(admin)
		}
		r.Get("/alerts", s.handleAlertList)
		r.Get("/alerts/{fingerprint}", s.handleAlert)
		r.Get("/targets", s.handleTargets)
		r.Get("/mode", s.handleMode)
		s.mountDeadLetters(r, admin)
		s.mountHealth(r, admin)
	})
	fallbacks(r)
	s.router = r
	return s
}

// DefaultWebhookConcurrency is 2 x GOMAXPROCS, at least 4.
func DefaultWebhookConcurrency() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// bearer requires "Authorization: Bearer <token>" when token is set.
func (s *Server) bearer(token, realm string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if token == "" {
			return next
		}
		want := []byte("Bearer " + token)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := []byte(r.Header.Get("Authorization"))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="herald-`+realm+`"`)
				if realm == "webhook" {
					s.cfg.Metrics.WebhookRequests.WithLabelValues("401").Inc()
				}
				WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func (s *Server) countAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		s.cfg.Metrics.APIRequests.WithLabelValues(r.Method+" "+route, strconv.Itoa(ww.Status())).Inc()
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.ready.Check(ctx); err != nil {
		WriteError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, s.readyAnswer()) // tenancy.go
}

func (s *Server) handleTargets(w http.ResponseWriter, r *http.Request) {
	snap := s.cfg.Registry.Snapshot()
	list := snap.List()
	out := TargetList{Problems: snap.Problems}
	if out.Problems == nil {
		out.Problems = []target.Problem{}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	out.Targets = s.targetViews(ctx, list)
	writeJSON(w, http.StatusOK, out)
}

// TargetList is the answer of GET /api/v1/targets: the targets with their
// health, and the definitions that were skipped.
type TargetList struct {
	Targets  []TargetView     `json:"targets"`
	Problems []target.Problem `json:"problems"`
}

// ErrorBody is the body of every error answer (WriteError).
type ErrorBody struct {
	Error string `json:"error"`
}

// WriteError writes {"error": msg} with the status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// isUnavailable reports whether err means Temporal could not be reached.
func isUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"unavailable", "connection refused", "deadline exceeded", "no such host", "transport"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
