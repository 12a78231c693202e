// Package activities holds Herald's Temporal activities: resolving the
// targets of an alert and publishing a notification to one target. They run
// in the worker, where credentials live; their inputs and outputs carry
// target names only.
package activities

import (
	"context"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/httpconfig"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Registry is the part of the target registry activities need.
type Registry interface {
	Get(name string) (target.Target, bool)
	// Retired returns a recently removed target (for resolves).
	Retired(name string) (target.Target, bool)
	Snapshot() target.Snapshot
}

// Guard protects a target from Herald: rate limits and circuit breakers.
// Admit admits a delivery (the Admission's Done reports the outcome back)
// or defers it: come back later, with the ticket of the reserved slot.
// Without req.Defer a deferral is a retryable error instead.
type Guard interface {
	Admit(ctx context.Context, t target.Target, req guard.Request) (guard.Admission, error)
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
	// Settings are the worker's delivery settings, which the alert
	// workflow reads through Prepare.
	Settings contract.Settings
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

// ResolveTargets returns the enabled targets that accept the alert (their
// filter matches and, for a namespace-scoped target from a Secret, the
// alert's namespace label is its namespace), sorted by name. With no enabled target at all, Mode is metrics_only.
func (a *Activities) ResolveTargets(ctx context.Context, in ResolveTargetsInput) (ResolveTargetsResult, error) {
	snap := a.Registry.Snapshot()
	if pending := snap.Unsynced(); len(pending) > 0 {
		// The targets of these sources are not known yet: deciding now
		// would route the alert to fewer targets, or to none (metrics-only).
		return ResolveTargetsResult{}, temporal.NewApplicationError(
			fmt.Sprintf("target sources not synced yet: %s; the alert waits for them", strings.Join(pending, ", ")),
			KindTargetsNotSynced)
	}
	enabled := snap.Enabled()
	res := ResolveTargetsResult{Mode: contract.ModeNormal, Targets: []target.Ref{}}
	if len(enabled) == 0 {
		res.Mode = contract.ModeMetricsOnly
		res.Reason = "no enabled targets"
		if a.Metrics != nil {
			a.Metrics.MetricsOnlyAlerts.Inc()
		}
		return res, nil
	}
	names := make([]string, 0, len(enabled))
	for _, t := range enabled {
		// Accepts: the filter, and for a target from a tenant's Secret
		// its namespace (target.Scope), decided here in the worker.
		if !t.Accepts(in.Labels) {
			res.Filtered = append(res.Filtered, t.Name)
			if a.Metrics != nil {
				a.Metrics.Skipped.WithLabelValues(t.Name, metrics.SkipFiltered).Inc()
			}
			continue
		}
		res.Targets = append(res.Targets, t.Ref())
		names = append(names, t.Name)
	}
	res.Strategy = a.strategy()
	h, err := a.TargetHealth(ctx, names)
	if err != nil {
		// Health unknown is not a reason to hold deliveries back.
		a.logger().Warn("target health unavailable; routing as if unknown", "error", err)
		h = map[string]string{}
	}
	res.Health = h
	if a.Metrics != nil {
		for _, name := range names {
			if st := h[name]; !health.Usable(st, res.Strategy) {
				a.Metrics.Skipped.WithLabelValues(name, st).Inc()
			}
		}
	}
	return res, nil
}

// KindTargetsNotSynced is the (retryable) error type of ResolveTargets
// while a configured target source has not synced.
const KindTargetsNotSynced = "targets_not_synced"

// PublishInput names the target and the notification. No credentials.
type PublishInput struct {
	Target       string               `json:"target"`
	Notification publish.Notification `json:"notification"`
	// Replay is true for a delivery replayed from the dead letters.
	Replay bool `json:"replay,omitempty"`
	// Defer: the workflow understands PublishOutput.Deferred, so Herald's
	// own throttling (rate limit, open breaker) answers "come back later"
	// instead of failing the attempt. Ticket is the slot reserved by the
	// previous deferral.
	Defer  bool   `json:"defer,omitempty"`
	Ticket string `json:"ticket,omitempty"`
	// SkipDisabled: a target that is disabled gets nothing; the output
	// says so (Skipped) instead.
	SkipDisabled bool `json:"skipDisabled,omitempty"`
	// FailureAsOutput: a failed attempt is answered as PublishOutput.Failed
	// instead of an error. Local activities use it: the SDK records a local
	// activity's error in its marker with the message in clear, while an
	// output is a payload (encrypted with Herald's codec).
	FailureAsOutput bool `json:"failureAsOutput,omitempty"`
}

// PublishOutput is a successful delivery.
type PublishOutput struct {
	StatusCode  int                   `json:"statusCode"`
	State       publish.ProviderState `json:"state,omitempty"`
	Attempt     int32                 `json:"attempt"`
	DeliveredAt time.Time             `json:"deliveredAt,omitzero"`
	// Deferred > 0: nothing was sent; Herald's own throttling asks to come
	// back after this long (with Ticket). The attempt is not a failure.
	Deferred    time.Duration `json:"deferred,omitempty"`
	Ticket      string        `json:"ticket,omitempty"`
	DeferKind   string        `json:"deferKind,omitempty"`
	DeferReason string        `json:"deferReason,omitempty"`
	// Skipped says why nothing was sent, and nothing will be (a disabled
	// target, with PublishInput.SkipDisabled).
	Skipped string `json:"skipped,omitempty"`
	// Failed is a failed attempt (with PublishInput.FailureAsOutput).
	Failed *Failed `json:"failed,omitempty"`
}

// Failed is a failed delivery attempt as an output.
type Failed struct {
	FailureDetails
	Message    string        `json:"message"`
	RetryAfter time.Duration `json:"retryAfter,omitempty"`
}

// Error is the failure as the error a delivery activity returns.
func (f *Failed) Error() error {
	return temporal.NewApplicationErrorWithOptions(f.Message, f.Kind, temporal.ApplicationErrorOptions{
		NonRetryable: !f.Retryable, NextRetryDelay: f.RetryAfter, Details: []any{f.FailureDetails},
	})
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
	out, err := a.publish(ctx, in)
	if err == nil || !in.FailureAsOutput {
		return out, err
	}
	d, msg := FailureFrom(err)
	f := &Failed{FailureDetails: d, Message: msg}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		f.RetryAfter = appErr.NextRetryDelay()
	}
	return PublishOutput{Attempt: activity.GetInfo(ctx).Attempt, Failed: f}, nil
}

func (a *Activities) publish(ctx context.Context, in PublishInput) (PublishOutput, error) {
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
		return PublishOutput{}, a.fail(log, a.absentTarget(in.Target), in, info.Attempt, err, 0)
	}
	if in.SkipDisabled && !t.IsEnabled() {
		log.Info("delivery skipped: target disabled")
		return PublishOutput{Attempt: info.Attempt, Skipped: ReasonDisabled}, nil
	}
	pub, ok := a.Publishers[t.Type]
	if !ok {
		err := publish.Permanent(publish.KindUnknownType, "no publisher for target type %q", t.Type)
		return PublishOutput{}, a.fail(log, t, in, info.Attempt, err, 0)
	}
	done := func(error) {}
	if a.Guard != nil {
		ad, err := a.Guard.Admit(ctx, t, guard.Request{Ticket: in.Ticket, Defer: in.Defer})
		if err == nil && ad.Deferred() {
			if in.Defer {
				log.Debug("delivery deferred by Herald's own throttling", "kind", ad.Kind, "delay", ad.Delay)
				a.countDeferral(t, ad.Kind)
				return PublishOutput{Attempt: info.Attempt, Deferred: max(ad.Delay, time.Millisecond), Ticket: ad.Ticket,
					DeferKind: ad.Kind, DeferReason: ad.Reason}, nil
			}
			err = ad.Error()
		}
		if err != nil {
			return PublishOutput{}, a.fail(log, t, in, info.Attempt, err, 0)
		}
		if a.Metrics != nil {
			// Observed once, on admission: the whole wait, deferrals included.
			a.Metrics.RateLimitWait.WithLabelValues(t.Type).Observe(ad.Waited.Seconds())
		}
		done = ad.Done
	}
	start := time.Now()
	// A tenant's target connects only where its dial policy lets it.
	res, err := pub.Publish(httpconfig.WithConfig(netguard.WithPolicy(ctx, t.Scope.Dial), httpconfig.Of(t.HTTPConfig)), t, in.Notification)
	elapsed := time.Since(start)
	done(err)
	if a.HealthReports != nil && health.Informative(err) {
		o := health.ObserveDelivery(t.Name, start.UTC(), elapsed, err)
		o.Message = publish.Redact(o.Message, t.Secrets())
		a.HealthReports.Observe(o)
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
	a.countFailure(t, in.Notification.Event, err, elapsed)
	log.Warn("delivery failed", "type", t.Type, "kind", pe.Kind, "status", pe.StatusCode,
		"retryable", pe.Retryable, "retry_after", pe.RetryAfter, "error", msg)
	return temporal.NewApplicationErrorWithOptions(msg, pe.Kind, temporal.ApplicationErrorOptions{
		NonRetryable:   !pe.Retryable,
		NextRetryDelay: pe.RetryAfter,
		Details:        []any{FailureDetails{Kind: pe.Kind, StatusCode: pe.StatusCode, Attempt: attempt, Retryable: pe.Retryable}},
	})
}

// countFailure counts a failed attempt. Herald's own refusals (an open
// breaker, a target that no longer exists) sent nothing, so they are no
// delivery attempt, but they are counted as error kinds: they are why a
// target's alerts do not arrive. Its own rate limit and unsupported target
// types are neither.
func (a *Activities) countFailure(t target.Target, event string, err error, elapsed time.Duration) {
	pe := publish.AsError(err)
	outcome := "permanent_error"
	if pe.Retryable {
		outcome = "retryable_error"
	}
	switch {
	case a.Metrics == nil:
	case health.Informative(err):
		a.Metrics.Deliveries.WithLabelValues(t.Name, t.Type, event, outcome).Inc()
		a.Metrics.DeliveryErrors.WithLabelValues(t.Name, t.Type, pe.Kind).Inc()
		if elapsed > 0 {
			a.Metrics.DeliveryLatency.WithLabelValues(t.Type, outcome).Observe(elapsed.Seconds())
		}
	case isRefusal(pe.Kind):
		a.Metrics.DeliveryErrors.WithLabelValues(t.Name, t.Type, pe.Kind).Inc()
	}
}

// countDeferral counts a delivery Herald deferred; one the open breaker
// refused is also an error of kind circuit_open, once per refusal.
func (a *Activities) countDeferral(t target.Target, kind string) {
	if a.Metrics == nil {
		return
	}
	a.Metrics.Deferrals.WithLabelValues(t.Name, kind).Inc()
	if isRefusal(kind) {
		a.Metrics.DeliveryErrors.WithLabelValues(t.Name, t.Type, kind).Inc()
	}
}

// isRefusal: a kind of herald_delivery_errors_total that counts Herald's
// own refusals (pre-created at zero for every known target).
func isRefusal(kind string) bool { return slices.Contains(metrics.RefusalKinds, kind) }

// absentTarget is the target a delivery names that is not (or no longer)
// configured, for logs and metrics: its last configuration when it was
// removed recently (so its type, and the series pre-created for it, are
// kept), else its name with type "unknown".
func (a *Activities) absentTarget(name string) target.Target {
	if t, ok := a.Registry.Retired(name); ok {
		return target.Target{Name: t.Name, Type: t.Type}
	}
	return target.Target{Name: name, Type: "unknown"}
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
