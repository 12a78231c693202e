// Package activities holds Herald's Temporal activities: resolving the
// targets of an alert and publishing a notification to one target. They run
// in the worker, where credentials live; their inputs and outputs carry
// target names only.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Modes of publishing.
const (
	ModeNormal      = "normal"
	ModeMetricsOnly = "metrics_only"
)

// Registry is the part of the target registry activities need.
type Registry interface {
	Get(name string) (target.Target, bool)
	// Retired returns a recently removed target (for resolves).
	Retired(name string) (target.Target, bool)
	Snapshot() target.Snapshot
}

// Guard protects a target from Herald: rate limits and circuit breakers.
// Acquire waits for a delivery slot; it fails retryably (a *publish.Error
// with RetryAfter) when the target's breaker is open. done reports the
// delivery outcome back.
type Guard interface {
	Acquire(ctx context.Context, t target.Target) (done func(err error), err error)
}

// Activities are registered on the worker.
type Activities struct {
	Registry   Registry
	Publishers publish.Publishers
	Guard      Guard // optional
	// DeadLetters records failed deliveries (the DeadLetter activity).
	DeadLetters *DeadLetterRecorder
	// Health is the shared health state; HealthReports receives the
	// outcome of every delivery; Prober checks targets.
	Health        *HealthStore
	HealthReports *HealthReporter
	// HealthView overrides where health is read from (default Health).
	HealthView HealthReader
	Prober     Prober
	Classifier Classifier
	// Strategy is the routing strategy (health.Strategies).
	Strategy string
	Metrics  *metrics.Metrics
	Logger   *slog.Logger
}

// ResolveTargetsInput is the alert to find targets for.
type ResolveTargetsInput struct {
	Labels map[string]string `json:"labels"`
}

// ResolveTargetsResult lists the targets an alert goes to.
type ResolveTargetsResult struct {
	Targets []target.Ref `json:"targets"`
	// Health is the state of each target; Strategy the routing strategy.
	Health   map[string]string `json:"health,omitempty"`
	Strategy string            `json:"strategy,omitempty"`
	// Filtered names the enabled targets whose filter excluded the alert.
	Filtered []string `json:"filtered,omitempty"`
	Mode     string   `json:"mode"`
	Reason   string   `json:"reason,omitempty"`
}

// ResolveTargets returns the enabled targets whose filter matches the alert,
// sorted by name. With no enabled target at all, Mode is metrics_only.
func (a *Activities) ResolveTargets(ctx context.Context, in ResolveTargetsInput) (ResolveTargetsResult, error) {
	snap := a.Registry.Snapshot()
	enabled := snap.Enabled()
	res := ResolveTargetsResult{Mode: ModeNormal, Targets: []target.Ref{}}
	if len(enabled) == 0 {
		res.Mode = ModeMetricsOnly
		res.Reason = "no enabled targets"
		if a.Metrics != nil {
			a.Metrics.MetricsOnlyAlerts.Inc()
		}
		return res, nil
	}
	names := make([]string, 0, len(enabled))
	for _, t := range enabled {
		if !t.Filter.Matches(in.Labels) {
			res.Filtered = append(res.Filtered, t.Name)
			continue
		}
		res.Targets = append(res.Targets, t.Ref())
		names = append(names, t.Name)
	}
	res.Strategy = a.Strategy
	if res.Strategy == "" {
		res.Strategy = health.StrategySkipUnhealthy
	}
	h, err := a.TargetHealth(ctx, names)
	if err != nil {
		// Health unknown is not a reason to hold deliveries back.
		a.logger().Warn("target health unavailable; routing as if unknown", "error", err)
		h = map[string]string{}
	}
	res.Health = h
	return res, nil
}

// PublishInput names the target and the notification. No credentials.
type PublishInput struct {
	Target       string               `json:"target"`
	Notification publish.Notification `json:"notification"`
	// Replay is true for a delivery replayed from the dead letters.
	Replay bool `json:"replay,omitempty"`
}

// PublishOutput is a successful delivery.
type PublishOutput struct {
	StatusCode  int                   `json:"statusCode"`
	State       publish.ProviderState `json:"state,omitempty"`
	Attempt     int32                 `json:"attempt"`
	DeliveredAt time.Time             `json:"deliveredAt"`
}

// FailureDetails travel with a failed delivery's ApplicationError so the
// workflow can record them.
type FailureDetails struct {
	Kind       string `json:"kind"`
	StatusCode int    `json:"statusCode,omitempty"`
	Attempt    int32  `json:"attempt"`
	Retryable  bool   `json:"retryable"`
}

// Publish delivers one notification to one target, looked up by name in the
// worker's registry so credentials never enter history. Failures are
// returned as Temporal ApplicationErrors: the error type is the failure kind,
// non-retryable for permanent failures, with NextRetryDelay when the
// receiver asked for one (Retry-After) or a breaker is open.
func (a *Activities) Publish(ctx context.Context, in PublishInput) (PublishOutput, error) {
	info := activity.GetInfo(ctx)
	log := a.logger().With("target", in.Target, "fingerprint", in.Notification.Alert.Fingerprint,
		"event", in.Notification.Event, "attempt", info.Attempt)
	t, ok := a.Registry.Get(in.Target)
	if !ok && in.Notification.Event == publish.EventResolved {
		// The target was deleted after the firing went to it: the resolve
		// still goes out, with its last configuration.
		if t, ok = a.Registry.Retired(in.Target); ok {
			log.Info("delivering a resolve to a removed target", "type", t.Type)
		}
	}
	if !ok {
		// The target may come back (a Secret being re-created): retryable.
		err := publish.Retryable(publish.KindTargetAbsent, 0, "target %q is not (or no longer) configured", in.Target)
		return PublishOutput{}, a.fail(log, target.Target{Name: in.Target, Type: "unknown"}, in, info.Attempt, err, 0)
	}
	pub, ok := a.Publishers[t.Type]
	if !ok {
		err := publish.Permanent(publish.KindUnknownType, "no publisher for target type %q", t.Type)
		return PublishOutput{}, a.fail(log, t, in, info.Attempt, err, 0)
	}
	done := func(error) {}
	if a.Guard != nil {
		waitStart := time.Now()
		d, err := a.Guard.Acquire(ctx, t)
		if a.Metrics != nil {
			a.Metrics.RateLimitWait.WithLabelValues(t.Type).Observe(time.Since(waitStart).Seconds())
		}
		if err != nil {
			return PublishOutput{}, a.fail(log, t, in, info.Attempt, err, 0)
		}
		done = d
	}
	start := time.Now()
	res, err := pub.Publish(ctx, t, in.Notification)
	elapsed := time.Since(start)
	done(err)
	if a.HealthReports != nil && health.Informative(err) {
		a.HealthReports.Observe(health.ObserveDelivery(t.Name, start.UTC(), elapsed, err))
	}
	if in.Replay && a.Metrics != nil {
		outcome := "success"
		if err != nil {
			outcome = "failure"
		}
		a.Metrics.DLQReplays.WithLabelValues(outcome).Inc()
	}
	if err != nil {
		return PublishOutput{}, a.fail(log, t, in, info.Attempt, err, elapsed)
	}
	if a.Metrics != nil {
		a.Metrics.Deliveries.WithLabelValues(t.Name, t.Type, in.Notification.Event, "success").Inc()
		a.Metrics.DeliveryLatency.WithLabelValues(t.Type, "success").Observe(elapsed.Seconds())
	}
	log.Info("delivered", "type", t.Type, "status", res.StatusCode, "duration", elapsed)
	return PublishOutput{StatusCode: res.StatusCode, State: res.State, Attempt: info.Attempt, DeliveredAt: time.Now().UTC()}, nil
}

// fail records a failed attempt and converts it into a Temporal error.
func (a *Activities) fail(log *slog.Logger, t target.Target, in PublishInput, attempt int32, err error, elapsed time.Duration) error {
	pe := publish.AsError(err)
	msg := publish.Redact(pe.Error(), t.Secrets())
	outcome := "permanent_error"
	if pe.Retryable {
		outcome = "retryable_error"
	}
	if a.Metrics != nil {
		a.Metrics.Deliveries.WithLabelValues(t.Name, t.Type, in.Notification.Event, outcome).Inc()
		a.Metrics.DeliveryErrors.WithLabelValues(t.Name, t.Type, pe.Kind).Inc()
		if elapsed > 0 {
			a.Metrics.DeliveryLatency.WithLabelValues(t.Type, outcome).Observe(elapsed.Seconds())
		}
	}
	log.Warn("delivery failed", "type", t.Type, "kind", pe.Kind, "status", pe.StatusCode,
		"retryable", pe.Retryable, "retry_after", pe.RetryAfter, "error", msg)
	return temporal.NewApplicationErrorWithOptions(msg, pe.Kind, temporal.ApplicationErrorOptions{
		NonRetryable:   !pe.Retryable,
		NextRetryDelay: pe.RetryAfter,
		Details:        []any{FailureDetails{Kind: pe.Kind, StatusCode: pe.StatusCode, Attempt: attempt, Retryable: pe.Retryable}},
	})
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// FailureFrom extracts the details of a failed delivery from the error the
// workflow got back from the activity.
func FailureFrom(err error) (FailureDetails, string) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		var d FailureDetails
		if appErr.HasDetails() {
			_ = appErr.Details(&d)
		}
		if d.Kind == "" {
			d.Kind = appErr.Type()
		}
		return d, appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return FailureDetails{Kind: publish.KindTimeout, Retryable: true}, fmt.Sprintf("activity timed out (%s)", timeoutErr.TimeoutType())
	}
	return FailureDetails{Kind: "unknown"}, err.Error()
}
