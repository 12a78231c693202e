package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// Runtime is the state shared by the parts of one Herald process.
type Runtime struct {
	Config   config.Config
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	Registry *target.Registry
	// Client and Health are set by Connect; Health is the one view of the
	// shared target health of this process (worker, API and metrics).
	Client client.Client
	Health *activities.HealthStore
	// worker is set once this process runs a worker: its readiness then
	// also needs every target source synced.
	worker bool

	wg      sync.WaitGroup
	closers []func()
}

// NewRuntime creates metrics and the target registry and starts the target
// sources (the targets file, Kubernetes discovery). A targets file that does
// not load is an error: Herald does not start with a broken configuration.
func NewRuntime(ctx context.Context, cfg config.Config, log *slog.Logger) (*Runtime, error) {
	rt := &Runtime{Config: cfg, Log: log, Metrics: metrics.New(), Registry: target.NewRegistry()}
	target.ObserveRegistry(rt.Registry, rt.Metrics)
	rt.Registry.Watch(func(s target.Snapshot) { observeMode(rt.Metrics, s) })
	rt.Registry.Watch(targetWarnings(log))
	observeMode(rt.Metrics, rt.Registry.Snapshot())
	if err := rt.startSources(ctx); err != nil {
		return nil, err
	}
	return rt, nil
}

func (rt *Runtime) startSources(ctx context.Context) error {
	if rt.Config.TargetsFile != "" {
		fs := &target.FileSource{
			Path: rt.Config.TargetsFile, PollInterval: rt.Config.TargetsPoll, Logger: rt.Log,
			OnError: func(reason string, _ error) {
				rt.Metrics.DiscoveryErrors.WithLabelValues(target.FileErrorSource, reason).Inc()
			},
		}
		fs.InitMetrics(rt.Metrics)
		targets, problems, err := fs.Load()
		if err != nil {
			return fmt.Errorf("targets file: %w", err)
		}
		rt.Registry.Update(fs.Name(), targets, problems)
		rt.goRun(func() {
			if err := fs.Run(ctx, rt.Registry); err != nil {
				rt.Log.Error("targets file source stopped", "error", err)
			}
		})
	}
	if len(rt.Config.K8sNamespaces) > 0 {
		if err := rt.startKubernetes(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (rt *Runtime) goRun(fn func()) {
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		fn()
	}()
}

// OnClose registers fn to run at Close (in reverse order).
func (rt *Runtime) OnClose(fn func()) { rt.closers = append(rt.closers, fn) }

// Close waits for background sources (whose ctx must be done) and runs closers.
func (rt *Runtime) Close() {
	rt.wg.Wait()
	for i := len(rt.closers) - 1; i >= 0; i-- {
		rt.closers[i]()
	}
}

// observeMode publishes the publishing mode and the last sync of each
// source.
func observeMode(m *metrics.Metrics, s target.Snapshot) {
	for src, at := range s.Synced {
		if !at.IsZero() {
			m.DiscoveryLastOK.WithLabelValues(src).Set(float64(at.Unix()))
		}
	}
	switch {
	case len(s.Unsynced()) > 0:
		// Alerts wait for discovery; they are delivered once it syncs.
		m.SetMode(metrics.ModeWaitingForDiscovery)
	case len(s.Enabled()) == 0:
		m.SetMode(metrics.ModeMetricsOnly)
	default:
		m.SetMode(metrics.ModeNormal)
	}
}

// Connect dials Temporal at address (closed at Close) and starts
// publishing the shared target health and the dead-letter size as metrics
// until ctx ends.
func (rt *Runtime) Connect(ctx context.Context, address string) error {
	c, closeClient, err := Dial(rt.Config, address, rt.Metrics, rt.Log)
	if err != nil {
		return err
	}
	rt.OnClose(closeClient)
	rt.Client = c
	rt.Health = NewHealthStore(c, rt.Config.TaskQueue)
	rt.goRun(func() { watchHealth(ctx, rt.Health, rt.Registry, rt.Metrics, 15*time.Second) })
	rt.goRun(func() { watchDeadLetters(ctx, c, rt.Config.TaskQueue, rt.Metrics, 15*time.Second) })
	return nil
}

// Handler is the HTTP handler of this process (devSink adds the logging
// dev sink of `worker dev`).
func (rt *Runtime) Handler(devSink bool) *ingest.Server {
	return newHTTP(rt.Config, rt.Client, rt.Health, rt.Registry, rt.Metrics, rt.Log, rt.ready, devSink)
}

// ready is the readiness of this process: Temporal reachable and a worker
// polling, and, where a worker runs, every target source synced (before
// that no alert can be routed).
func (rt *Runtime) ready(ctx context.Context) error {
	if rt.worker {
		if pending := rt.Registry.Snapshot().Unsynced(); len(pending) > 0 {
			return fmt.Errorf("target discovery has not synced yet: %s (alerts are accepted and wait)", strings.Join(pending, ", "))
		}
	}
	return ingest.TemporalReady(ctx, rt.Client, rt.Config.TemporalNamespace, rt.Config.TaskQueue)
}

// StartWorker registers search attributes and starts a worker on the
// runtime's task queue (after Connect). The worker stops at Close.
func (rt *Runtime) StartWorker(ctx context.Context) (worker.Worker, error) {
	c := rt.Client
	if err := retry(ctx, 30*time.Second, func() error {
		return EnsureSearchAttributes(ctx, c, rt.Config.TemporalNamespace)
	}); err != nil {
		return nil, err
	}
	deps, err := NewWorkerDeps(rt.Config, rt.Registry, rt.Metrics, rt.Health, rt.Log)
	if err != nil {
		return nil, err
	}
	reporter := deps.HealthReports
	w := NewWorker(c, rt.Config.TaskQueue, deps, worker.Options{
		WorkerStopTimeout:                rt.Config.ShutdownTimeout,
		MaxConcurrentWorkflowTaskPollers: rt.Config.WorkflowTaskPollers,
		MaxConcurrentActivityTaskPollers: rt.Config.ActivityTaskPollers,
	})
	if err := w.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	rt.worker = true
	rctx, stopReporter := context.WithCancel(context.Background())
	reported := make(chan struct{})
	go func() { reporter.Run(rctx); close(reported) }()
	rt.OnClose(func() { stopReporter(); <-reported })
	rt.OnClose(w.Stop)
	if err := retry(ctx, 30*time.Second, func() error {
		return EnsureHealthSchedule(ctx, c, rt.Config.TaskQueue, rt.Config.HealthInterval)
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// retry calls fn until it succeeds or within passes, backing off.
func retry(ctx context.Context, within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	delay := 200 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 5*time.Second {
			delay *= 2
		}
	}
}

// connect builds the runtime of a worker or starter process, connected to
// the Temporal cluster at HERALD_TEMPORAL_ADDRESS.
func connect(ctx context.Context, cfg config.Config, log *slog.Logger) (*Runtime, error) {
	if cfg.Embedded() {
		return nil, errors.New("HERALD_TEMPORAL_ADDRESS is required (use `worker dev` for a local embedded Temporal)")
	}
	rt, err := NewRuntime(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := rt.Connect(ctx, cfg.TemporalAddress); err != nil {
		rt.Close()
		return nil, err
	}
	return rt, nil
}

// RunWorker runs a worker process: target sources, the Temporal worker and
// an HTTP server with only /healthz, /readyz and /metrics. Webhooks and the
// API are the starter's: a worker pod has no endpoint that changes state.
func RunWorker(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ServePprof(ctx, cfg.PprofAddr, log)
	rt, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	if _, err := rt.StartWorker(ctx); err != nil {
		return err
	}
	log.Info("worker started", "temporal", cfg.TemporalAddress, "namespace", cfg.TemporalNamespace,
		"task_queue", cfg.TaskQueue, "http", cfg.HTTPAddr)
	return Serve(ctx, cfg.HTTPAddr, workerHandler(rt), cfg.ShutdownTimeout, log)
}

// workerHandler is the HTTP handler of a worker process: health, readiness
// (rt.ready) and metrics.
func workerHandler(rt *Runtime) http.Handler {
	return ingest.OpsHandler(ingest.Config{
		Client: rt.Client, Namespace: rt.Config.TemporalNamespace, TaskQueue: rt.Config.TaskQueue,
		Metrics: rt.Metrics, Logger: rt.Log, Ready: rt.ready, Registry: rt.Registry,
		ListenAddr: rt.Config.HTTPAddr, AllowedHosts: rt.Config.AllowedHosts, BodyReadTimeout: rt.Config.BodyReadTimeout,
	})
}

// RunStarter runs the webhook starter: HTTP server and target sources (for
// the API). It needs no worker in the same process.
func RunStarter(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	ServePprof(ctx, cfg.PprofAddr, log)
	rt, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer rt.Close()
	log.Info("starter listening", "http", cfg.HTTPAddr, "temporal", cfg.TemporalAddress,
		"namespace", cfg.TemporalNamespace, "task_queue", cfg.TaskQueue)
	return Serve(ctx, cfg.HTTPAddr, rt.WithConsole(rt.Handler(false), cfg.TemporalUIURL), cfg.ShutdownTimeout, log)
}

// targetWarnings logs, once per target and change, what a target's
// definition allows that weakens its deliveries (an http_config that skips
// certificate verification): the same sentences the API shows.
func targetWarnings(log *slog.Logger) func(target.Snapshot) {
	var (
		mu     sync.Mutex
		logged = map[string]string{}
	)
	return func(s target.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, t := range s.List() {
			seen[t.Name] = true
			w := t.Public().Warnings
			key := strings.Join(w, "\n")
			if logged[t.Name] == key {
				continue
			}
			logged[t.Name] = key
			for _, msg := range w {
				log.Warn("target weakens its deliveries", "target", t.Name, "origin", t.Origin, "warning", msg)
			}
		}
		for name := range logged {
			if !seen[name] {
				delete(logged, name)
			}
		}
	}
}
