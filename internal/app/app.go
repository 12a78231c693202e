// Package app wires Herald together: configuration, target sources, the
// Temporal client, the worker and the HTTP server. The worker and starter
// mains, the local dev mode and the integration tests all build on it.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/httpconfig"
	"log/slog"
	"net"
	"net/http"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/providers"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// Dial connects to Temporal. The client is lazy: it connects on first use,
// so the starter comes up (and answers 503) while Temporal is down. An
// existing cluster (cfg.TemporalAddress set) is reached with the configured
// TLS and API key.
func Dial(cfg config.Config, address string, m *metrics.Metrics, log *slog.Logger) (client.Client, func(), error) {
	opts := client.Options{
		HostPort:  address,
		Namespace: cfg.TemporalNamespace,
		Logger:    sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
	}
	if err := useEncryption(&opts, cfg, log); err != nil {
		return nil, nil, err
	}
	if err := connectionOptions(cfg, &opts); err != nil {
		return nil, nil, fmt.Errorf("temporal client for %s: %w", address, err)
	}
	closeMetrics := func() {}
	if m != nil {
		h, closer := m.TemporalHandler(log)
		opts.MetricsHandler = h
		closeMetrics = func() { _ = closer.Close() }
	}
	c, err := client.NewLazyClient(opts)
	if err != nil {
		closeMetrics()
		return nil, nil, fmt.Errorf("temporal client for %s: %w", address, err)
	}
	return c, func() { c.Close(); closeMetrics() }, nil
}

// EnsureSearchAttributes registers Herald's custom search attributes in the
// namespace when they are missing (idempotent).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range contract.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

// HTTPClient is the client deliveries use: pooled connections, bounded
// dial and TLS handshakes; the per-attempt deadline comes from the context.
// Requests of a tenant's target (their context carries its dial policy)
// go over connections of their own, each address checked when it is
// dialled (netguard.Transport).
func HTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 32
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = dialer.DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 25 * time.Second
	// Deliveries never follow redirects: a 301/302/303 would turn the POST
	// into a body-less GET recorded as delivered, and a 307/308 would send
	// the body, routing key and secret headers to another host. The
	// publishers classify the 3xx as a permanent failure.
	base := &http.Client{Transport: netguard.NewTransport(tr, dialer), CheckRedirect: publish.NoRedirect}
	// Each target's http_config (TLS, auth, proxy) applies through the
	// request's context (httpconfig.WithConfig).
	return httpconfig.NewClient(base)
}

// Publishers returns a publisher for every target type. With m, every
// format step is observed in herald_format_duration_seconds{type}, whose
// series exist at zero for every type from the start.
func Publishers(hc *http.Client, m *metrics.Metrics) publish.Publishers {
	var observe publish.FormatObserver
	if m != nil {
		observe = func(typ string, d time.Duration) { m.FormatLatency.WithLabelValues(typ).Observe(d.Seconds()) }
	}
	pubs := publish.Publishers(providers.Publishers(provider.Deps{Client: hc, ObserveFormat: observe}))
	if m != nil {
		for typ := range pubs {
			m.FormatLatency.WithLabelValues(typ)
		}
	}
	return pubs
}

// WorkerDeps are what the worker's activities use.
type WorkerDeps struct {
	Registry   *target.Registry
	Publishers publish.Publishers
	Guard      activities.Guard
	// DeadLetters defaults to the namespace's dead-letter workflow.
	DeadLetters   *activities.DeadLetterRecorder
	Health        *activities.HealthStore
	HealthReports *activities.HealthReporter
	// HealthView overrides where health is read from (default Health).
	HealthView activities.HealthReader
	Prober     activities.Prober
	Classifier activities.Classifier
	Strategy   string
	// Settings govern delivery; alert workflows read them when they apply
	// them (contract.Settings).
	Settings contract.Settings
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
}

// NewWorkerDeps composes the worker's activities from the configuration:
// publishers on Herald's delivery HTTP client, the guard (rate limits and
// breakers), the classifier, the prober, the routing strategy and the
// delivery settings. The worker and the tests use this one composition.
func NewWorkerDeps(cfg config.Config, reg *target.Registry, m *metrics.Metrics, hs *activities.HealthStore, log *slog.Logger) (WorkerDeps, error) {
	classifier, err := newClassifier(cfg)
	if err != nil {
		return WorkerDeps{}, err
	}
	hc := HTTPClient()
	return WorkerDeps{
		Registry:      reg,
		Publishers:    Publishers(hc, m),
		Guard:         newGuard(m, reg),
		Health:        hs,
		HealthReports: &activities.HealthReporter{Store: hs, Logger: log},
		Prober:        &health.Prober{Client: hc},
		Classifier:    classifier,
		Strategy:      cfg.RoutingStrategy,
		Settings: contract.Settings{
			InactivityTimeout:   cfg.AlertInactivity,
			DeliveryTimeout:     cfg.DeliveryTimeout,
			FirstAttemptTimeout: cfg.FirstAttemptTimeout,
			MaxHealthWait:       cfg.MaxHealthWait,
			HealthRecheck:       cfg.HealthRecheck,
			ResolvedLinger:      cfg.ResolvedLinger,
		},
		Metrics: m,
		Logger:  log,
	}, nil
}

// NewWorker creates a worker on taskQueue with every workflow and activity
// registered.
func NewWorker(c client.Client, taskQueue string, deps WorkerDeps, opts worker.Options) worker.Worker {
	w := worker.New(c, taskQueue, opts)
	if deps.Health == nil {
		deps.Health = NewHealthStore(c, taskQueue)
	}
	if deps.DeadLetters == nil {
		deps.DeadLetters = &activities.DeadLetterRecorder{Client: c, TaskQueue: taskQueue, WorkflowID: workflows.DeadLetterWorkflowIDFor(taskQueue)}
	}
	Register(w, deps)
	return w
}

// Register registers Herald's workflows and activities on a worker (or any
// registry, such as a test environment).
func Register(r worker.Registry, deps WorkerDeps) {
	workflows.Register(r)
	r.RegisterActivity(NewActivities(deps))
}

// NewActivities is the activities of deps.
func NewActivities(deps WorkerDeps) *activities.Activities {
	return &activities.Activities{
		Registry:      deps.Registry,
		Publishers:    deps.Publishers,
		Guard:         deps.Guard,
		DeadLetters:   deps.DeadLetters,
		Health:        deps.Health,
		HealthReports: deps.HealthReports,
		HealthView:    deps.HealthView,
		Prober:        deps.Prober,
		Classifier:    deps.Classifier,
		Strategy:      deps.Strategy,
		Settings:      deps.Settings,
		Metrics:       deps.Metrics,
		Logger:        deps.Logger,
	}
}

// Serve runs an HTTP server until ctx ends, then shuts it down gracefully.
func Serve(ctx context.Context, addr string, h http.Handler, grace time.Duration, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ServeListener(ctx, ln, h, grace, log)
}

// ServeListener is Serve on an existing listener. Headers must arrive
// within ReadHeaderTimeout; the handler bounds reading a body
// (ingest.BodyDeadline). There is no ReadTimeout: it would also end the
// context of a long request without a body (a replay-all waiting for its
// result) when it expires.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration, log *slog.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("http server shutdown", "error", err)
	}
	return nil
}

// NewHTTP builds the HTTP handler (webhook, API, health, metrics).
func NewHTTP(cfg config.Config, c client.Client, reg *target.Registry, m *metrics.Metrics, log *slog.Logger, ready func(context.Context) error) *ingest.Server {
	return newHTTP(cfg, c, NewHealthStore(c, cfg.TaskQueue), reg, m, log, ready, false)
}

func newHTTP(cfg config.Config, c client.Client, health *activities.HealthStore, reg *target.Registry, m *metrics.Metrics,
	log *slog.Logger, ready func(context.Context) error, devSink bool) *ingest.Server {
	codecH, dc := httpEncryption(cfg)
	return ingest.New(ingest.Config{
		DevSink:       devSink,
		Client:        c,
		Health:        health,
		Namespace:     cfg.TemporalNamespace,
		TaskQueue:     cfg.TaskQueue,
		Registry:      reg,
		Metrics:       m,
		Logger:        log,
		WebhookToken:  cfg.WebhookToken,
		AdminToken:    cfg.AdminToken,
		MaxBodyBytes:  cfg.MaxBodyBytes,
		Ready:         ready,
		Codec:         codecH,
		DataConverter: dc,

		WebhookTimeout:     cfg.WebhookTimeout,
		SignalTimeout:      cfg.SignalTimeout,
		WebhookConcurrency: cfg.WebhookConcurrency,
		AlertLimits:        alert.Limits{MaxBytes: cfg.MaxAlertBytes, MaxLabels: cfg.MaxAlertLabels},
		AdminReads:         cfg.AdminReads,

		ListenAddr:      cfg.HTTPAddr,
		AllowedHosts:    cfg.AllowedHosts,
		BodyReadTimeout: cfg.BodyReadTimeout,
		APIConcurrency:  cfg.APIConcurrency,
	})
}
