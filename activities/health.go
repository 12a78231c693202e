package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Names the health activities use (activities do not import workflows).
const (
	healthStateWorkflowName = "HealthStateWorkflow"
	healthObserveSignal     = "observe"
	healthQuery             = "health"
)

// Prober checks a target without creating an alert there.
type Prober interface {
	Probe(ctx context.Context, t target.Target) health.Observation
}

// Classifier decides an alert's severity (rules, optionally an LLM).
type Classifier interface {
	Classify(ctx context.Context, a alert.Alert) publish.Classification
}

// HealthStore reads and writes the shared health state kept in the health
// state workflow, with a short read cache.
type HealthStore struct {
	Client     client.Client
	TaskQueue  string
	WorkflowID string
	Policy     health.Policy
	// CacheTTL of reads (default 5s); MaxStale bounds the age of a cache
	// answered while it is refreshed (default 30s).
	CacheTTL time.Duration
	MaxStale time.Duration

	mu      sync.Mutex
	cached  map[string]health.Status
	fetched time.Time
	// inflight is closed when the running fetch ends; concurrent readers
	// share it instead of each querying the health workflow (a storm of
	// deliveries would otherwise queue hundreds of queries on it).
	inflight chan struct{}
	lastErr  error
	// mustFetch makes the next read wait for a fresh query (Invalidate);
	// stale makes it refresh behind the cache (Record).
	mustFetch, stale bool
}

// Record signals observations into the health state workflow, starting it
// if needed.
func (h *HealthStore) Record(ctx context.Context, obs []health.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	_, err := h.Client.SignalWithStartWorkflow(ctx, h.WorkflowID, healthObserveSignal, obs,
		client.StartWorkflowOptions{ID: h.WorkflowID, TaskQueue: h.TaskQueue, StaticSummary: "Herald target health"},
		healthStateWorkflowName, struct {
			Policy health.Policy `json:"policy"`
		}{h.Policy})
	if err != nil {
		return fmt.Errorf("signal health state: %w", err)
	}
	h.mu.Lock()
	h.stale = true // the next read refreshes the cache
	h.mu.Unlock()
	return nil
}

// refreshTimeout bounds a background refresh of the health cache.
const refreshTimeout = 30 * time.Second

// All returns the health of every observed target (cached). A cache past
// its TTL, or marked stale by Record, is still answered at once while one
// query refreshes it behind: deliveries do not wait on the health
// workflow's query, which under a storm of observation signals can take
// seconds. A cache older than MaxStale (after an idle spell), the first
// read, and the first after Invalidate wait for the query.
func (h *HealthStore) All(ctx context.Context) (map[string]health.Status, error) {
	ttl, maxStale := h.CacheTTL, h.MaxStale
	if ttl <= 0 {
		ttl = 5 * time.Second
	}
	if maxStale <= 0 {
		maxStale = 30 * time.Second
	}
	for {
		h.mu.Lock()
		age := time.Since(h.fetched)
		if c := h.cached; c != nil && !h.mustFetch && age < maxStale {
			if (h.stale || age >= ttl) && h.inflight == nil {
				done := h.beginFetchLocked()
				go func() {
					rctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
					defer cancel()
					_, _ = h.endFetch(rctx, done)
				}()
			}
			h.mu.Unlock()
			return c, nil
		}
		if wait := h.inflight; wait != nil {
			h.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, fmt.Errorf("query health state: %w", ctx.Err())
			}
			h.mu.Lock()
			c, err := h.cached, h.lastErr
			h.mu.Unlock()
			if err != nil && c != nil {
				// The shared fetch failed: the last known state is better
				// than none.
				return c, nil
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		done := h.beginFetchLocked()
		h.mu.Unlock()
		out, err := h.endFetch(ctx, done)
		if err != nil {
			h.mu.Lock()
			stale := h.cached
			h.mu.Unlock()
			if stale != nil {
				return stale, nil
			}
		}
		return out, err
	}
}

// beginFetchLocked marks a fetch as running; h.mu is held.
func (h *HealthStore) beginFetchLocked() chan struct{} {
	done := make(chan struct{})
	h.inflight, h.mustFetch, h.stale = done, false, false
	return done
}

// endFetch runs the fetch begun with done and publishes its result to the
// readers waiting on done.
func (h *HealthStore) endFetch(ctx context.Context, done chan struct{}) (map[string]health.Status, error) {
	out, err := h.fetch(ctx)
	h.mu.Lock()
	h.inflight, h.lastErr = nil, err
	if err == nil {
		h.cached, h.fetched = out, time.Now()
	}
	h.mu.Unlock()
	close(done)
	return out, err
}

// fetch queries the health state workflow.
func (h *HealthStore) fetch(ctx context.Context) (map[string]health.Status, error) {
	out := map[string]health.Status{}
	v, err := h.Client.QueryWorkflow(ctx, h.WorkflowID, "", healthQuery)
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		// Nothing observed yet: every target is unknown.
	case err != nil:
		return nil, fmt.Errorf("query health state: %w", err)
	default:
		var list []health.Status
		if err := v.Get(&list); err != nil {
			return nil, fmt.Errorf("decode health state: %w", err)
		}
		for _, s := range list {
			out[s.Target] = s
		}
	}
	return out, nil
}

// Invalidate makes the next read wait for a fresh query (a check that
// must show its own observation).
func (h *HealthStore) Invalidate() {
	h.mu.Lock()
	h.mustFetch = true
	h.mu.Unlock()
}

// Of returns the health of one target (unknown when never observed).
func (h *HealthStore) Of(ctx context.Context, name string) (health.Status, error) {
	all, err := h.All(ctx)
	if err != nil {
		return health.Status{}, err
	}
	s, ok := all[name]
	if !ok {
		s = health.Status{Target: name, State: health.StateUnknown}
	}
	return s, nil
}

// HealthReporter batches observations from real deliveries and records
// them every interval, so deliveries do not wait on it.
type HealthReporter struct {
	Store    *HealthStore
	Interval time.Duration
	Logger   *slog.Logger

	mu      sync.Mutex
	pending []health.Observation
}

// Observe queues an observation.
func (r *HealthReporter) Observe(o health.Observation) {
	r.mu.Lock()
	if len(r.pending) < 10000 {
		r.pending = append(r.pending, o)
	}
	r.mu.Unlock()
}

// Pending returns a copy of the observations not sent yet.
func (r *HealthReporter) Pending() []health.Observation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]health.Observation(nil), r.pending...)
}

// Run flushes queued observations until ctx ends (and once more after).
func (r *HealthReporter) Run(ctx context.Context) {
	interval := r.Interval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.Flush(fctx)
			cancel()
			return
		case <-t.C:
			r.Flush(ctx)
		}
	}
}

// Flush records the queued observations now.
func (r *HealthReporter) Flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := r.Store.Record(ctx, batch); err != nil && r.Logger != nil {
		r.Logger.Warn("delivery health observations not recorded", "count", len(batch), "error", err)
	}
}

// ListTargetNames returns the enabled targets' names, sorted.
func (a *Activities) ListTargetNames(ctx context.Context) ([]string, error) {
	enabled := a.Registry.Snapshot().Enabled()
	names := make([]string, 0, len(enabled))
	for _, t := range enabled {
		names = append(names, t.Name)
	}
	return names, nil
}

// ProbeTarget probes one target.
func (a *Activities) ProbeTarget(ctx context.Context, name string) (health.Observation, error) {
	t, ok := a.Registry.Get(name)
	if !ok {
		return health.Observation{Target: name, At: time.Now().UTC(), Class: health.ClassConfig,
			Message: "target is not configured", Source: health.SourceProbe}, nil
	}
	if a.Prober == nil {
		return health.Observation{}, errors.New("no prober configured on this worker")
	}
	o := a.Prober.Probe(ctx, t)
	o.Message = publish.Redact(o.Message, t.Secrets())
	if a.Metrics != nil {
		result := "ok"
		if !o.OK {
			result = o.Class
		}
		a.Metrics.HealthChecks.WithLabelValues(name, result).Inc()
		a.Metrics.HealthCheckTime.WithLabelValues(name).Observe(o.Latency.Seconds())
	}
	return o, nil
}

// RecordHealth writes probe observations into the shared health state.
func (a *Activities) RecordHealth(ctx context.Context, obs []health.Observation) error {
	if a.Health == nil {
		return errors.New("no health store configured on this worker")
	}
	return a.Health.Record(ctx, obs)
}

// HealthReader reads the shared health of all targets.
type HealthReader interface {
	All(ctx context.Context) (map[string]health.Status, error)
}

// TargetHealth returns the health state of each named target.
func (a *Activities) TargetHealth(ctx context.Context, names []string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	var all map[string]health.Status
	var reader HealthReader
	if a.HealthView != nil {
		reader = a.HealthView
	} else if a.Health != nil {
		reader = a.Health
	}
	if reader != nil {
		var err error
		if all, err = reader.All(ctx); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		st := health.StateUnknown
		if s, ok := all[n]; ok && s.State != "" {
			st = s.State
		}
		out[n] = st
	}
	return out, nil
}

// ClassifyAlert classifies an alert (rules, optionally an LLM with
// fallback to the rules).
func (a *Activities) ClassifyAlert(ctx context.Context, al alert.Alert) (publish.Classification, error) {
	if a.Classifier == nil {
		return publish.Classification{Severity: al.Severity(), Source: "labels", Confidence: 0.9}, nil
	}
	return a.Classifier.Classify(ctx, al), nil
}
