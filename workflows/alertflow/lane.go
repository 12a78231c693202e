package alertflow

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
)

// lane is one target's queue of deliveries. Each target has its own, so a
// slow or failing target never delays another, and a target's resolve
// always follows its firing.
type lane struct {
	ts    *contract.TargetState
	queue []job
	busy  bool
}

// job is one delivery to make.
type job struct {
	seq    int
	event  string
	update bool
	alert  alert.Alert
	queued time.Time
}

func (r *alertRun) openLane(ctx workflow.Context, ts *contract.TargetState) {
	l := &lane{ts: ts}
	r.lanes[ts.Name] = l
	workflow.Go(ctx, func(ctx workflow.Context) { r.runLane(ctx, l) })
}

// idle reports whether no delivery is queued or running.
func (r *alertRun) idle() bool {
	for _, l := range r.lanes {
		if l.busy || len(l.queue) > 0 {
			return false
		}
	}
	return true
}

// resolvedAndDone reports whether the alert is resolved and every resolve
// is out.
func (r *alertRun) resolvedAndDone() bool {
	return r.s.Status == alert.StatusResolved && r.idle()
}

// enqueueAll queues a delivery of event to every target of the episode. A
// queued firing that has not started yet is superseded by a newer one.
func (r *alertRun) enqueueAll(ctx workflow.Context, event string, update bool, a alert.Alert) {
	now := workflow.Now(ctx)
	for _, ts := range r.s.Targets {
		if !ts.Active {
			continue
		}
		l := r.lanes[ts.Name]
		r.s.Seq++
		j := job{seq: r.s.Seq, event: event, update: update, alert: a, queued: now}
		if n := len(l.queue); n > 0 && l.queue[n-1].event == publish.EventFiring && event == publish.EventFiring {
			j.update = l.queue[n-1].update && update
			l.queue[n-1] = j
			continue
		}
		l.queue = append(l.queue, j)
		if !l.busy {
			ts.Status, ts.QueuedAt = contract.DeliveryPending, now
		}
	}
}

// runLane delivers a target's jobs one after another. For a target with a
// ForwardTTL (alertmanager), an idle lane of a firing alert re-sends the
// alert every ForwardTTL/3, so the receiving Alertmanager never expires an
// alert that still fires.
func (r *alertRun) runLane(ctx workflow.Context, l *lane) {
	for {
		if every := l.ts.Ref.ForwardTTL / 3; every > 0 && len(l.queue) == 0 {
			got, err := workflow.AwaitWithTimeout(ctx, every, func() bool { return len(l.queue) > 0 })
			if err != nil {
				return
			}
			if !got {
				r.enqueueResend(ctx, l)
				continue
			}
		} else if err := workflow.Await(ctx, func() bool { return len(l.queue) > 0 }); err != nil {
			return
		}
		j := l.queue[0]
		l.queue = l.queue[1:]
		l.busy = true
		r.deliver(ctx, l.ts, j)
		l.busy = false
		r.changes++
		r.quietSince = workflow.Now(ctx)
	}
}

// enqueueResend queues a re-send of the firing alert when the alert still
// fires and the target has it.
func (r *alertRun) enqueueResend(ctx workflow.Context, l *lane) {
	ts := l.ts
	if r.s.Status != alert.StatusFiring || !ts.Active || ts.Event != publish.EventFiring || ts.Status != contract.DeliveryDelivered {
		return
	}
	r.s.Seq++
	ts.Resends++
	l.queue = append(l.queue, job{seq: r.s.Seq, event: publish.EventFiring, update: true, alert: r.s.Alert, queued: workflow.Now(ctx)})
}

// deliver makes one delivery. The first attempt is a local activity, run
// inside the workflow task with a short timeout; when it fails or times
// out, the delivery goes on as a regular activity with the attempts left
// of the target's retry policy. Herald's own throttling (rate limit, open
// breaker) defers a delivery without using attempts; a target the routing
// strategy excludes is held back (with canaries) until it recovers.
func (r *alertRun) deliver(ctx workflow.Context, ts *contract.TargetState, j job) {
	if ts.SkipReason != "" {
		r.skipped(ctx, ts, j, ts.SkipReason)
		return
	}
	if !health.Usable(ts.Health, r.s.Strategy) && r.holdBack(ctx, ts, j) {
		return
	}
	ts.Status, ts.Event, ts.QueuedAt, ts.Attempts = contract.DeliveryDelivering, j.event, j.queued, 0
	maxAttempts := ts.Ref.Retry.MaxAttempts
	var used int32 // attempts that reached the receiver or failed for real
	var circuitWait time.Duration
	in := r.publishInput(ts, j)
	out, err := r.publishLocal(ctx, ts, in)
	local := true
	for try := 1; ; try++ {
		var wait time.Duration
		switch {
		case err != nil:
			d, msg := activities.FailureFrom(err)
			used += max(1, d.Attempt)
			if !local || (!d.Retryable && d.Kind != publish.KindTimeout) || (maxAttempts > 0 && used >= maxAttempts) {
				r.failDelivery(ctx, ts, j, d, msg, used)
				return
			}
			ts.LastError, ts.LastErrorKind, ts.StatusCode = msg, d.Kind, d.StatusCode
			wait = retryDelay(err, ts.Ref.Retry.InitialInterval)
		case out.Skipped != "":
			r.skipped(ctx, ts, j, out.Skipped)
			return
		case out.Deferred > 0:
			// The attempt that was deferred sent nothing.
			used += out.Attempt - 1
			ts.Deferrals++
			ts.Status, ts.LastErrorKind, ts.LastError = contract.DeliveryDeferred, out.DeferKind, out.DeferReason
			in.Ticket, wait = out.Ticket, out.Deferred
			if out.DeferKind == publish.KindCircuitOpen {
				// A breaker that never closes is a target that stays down:
				// the same bound as for an unhealthy target applies.
				if circuitWait += out.Deferred; circuitWait >= r.set.MaxHealthWait {
					r.failDelivery(ctx, ts, j, activities.FailureDetails{Kind: publish.KindCircuitOpen, Retryable: true},
						fmt.Sprintf("circuit breaker of target %s stayed open for %s", ts.Name, r.set.MaxHealthWait), used)
					return
				}
			}
		default:
			r.delivered(ctx, ts, j, out, used+out.Attempt)
			return
		}
		ts.Attempts = used
		if wait > 0 {
			if err := workflow.Sleep(ctx, wait); err != nil {
				return
			}
		}
		left := int32(0)
		if maxAttempts > 0 {
			left = max(1, maxAttempts-used)
		}
		ts.Status = contract.DeliveryDelivering
		out, err = r.publish(ctx, ts, fmt.Sprintf("publish/%s/%d/%d", ts.Name, j.seq, try), left, in)
		local = false
	}
}

// retryDelay is how long to wait before the first regular attempt after a
// failed local attempt: what the receiver asked for (Retry-After), else
// the target's initial retry interval.
func retryDelay(err error, initial time.Duration) time.Duration {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NextRetryDelay() > 0 {
		return appErr.NextRetryDelay()
	}
	return initial
}

// holdBack keeps a delivery to a target the routing strategy excludes
// waiting, re-checking its health with backoff. A probe is never the only
// evidence: at every re-check the delivery is also tried once for real (a
// canary, whose outcome feeds the target's health like any delivery). It
// returns true when it finished the job (delivered by a canary, failed for
// good, skipped, or waited longer than MaxHealthWait: dead letter); false
// when the target became usable.
func (r *alertRun) holdBack(ctx workflow.Context, ts *contract.TargetState, j job) bool {
	start := workflow.Now(ctx)
	ts.Status, ts.Event, ts.WaitingSince = contract.DeliveryWaiting, j.event, start
	workflow.GetLogger(ctx).Info("delivery held back: target not usable", "target", ts.Name,
		"health", ts.Health, "strategy", r.s.Strategy)
	wait := r.set.HealthRecheck
	var tried int32
	for {
		if workflow.Now(ctx).Sub(start) >= r.set.MaxHealthWait {
			r.failDelivery(ctx, ts, j, activities.FailureDetails{Kind: contract.KindTargetUnhealthy},
				fmt.Sprintf("target %s stayed %s for %s", ts.Name, ts.Health, r.set.MaxHealthWait), tried)
			return true
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return true
		}
		wait = min(wait*2, contract.HealthRecheckMax)
		if res, err := r.prepare(ctx, contract.PrepareInput{Targets: []string{ts.Name}}); err == nil {
			r.applyPreparation(ctx, res)
		}
		if ts.SkipReason != "" {
			ts.WaitingSince = time.Time{}
			r.skipped(ctx, ts, j, ts.SkipReason)
			return true
		}
		if health.Usable(ts.Health, r.s.Strategy) {
			ts.WaitingSince = time.Time{}
			return false
		}
		ts.Canaries++
		out, err := r.publish(ctx, ts, fmt.Sprintf("publish/%s/%d/canary-%d", ts.Name, j.seq, ts.Canaries), 1, r.publishInput(ts, j))
		switch {
		case err == nil && (out.Deferred > 0 || out.Skipped != ""):
			// Herald's own throttling, or a target disabled meanwhile
			// (the next re-check skips it): nothing was tried.
		case err == nil:
			ts.WaitingSince = time.Time{}
			r.delivered(ctx, ts, j, out, tried+out.Attempt)
			return true
		default:
			tried++
			d, msg := activities.FailureFrom(err)
			ts.LastError, ts.LastErrorKind, ts.StatusCode = msg, d.Kind, d.StatusCode
			if !d.Retryable && d.Kind != publish.KindTimeout {
				r.failDelivery(ctx, ts, j, d, msg, tried)
				return true
			}
			ts.Status = contract.DeliveryWaiting
		}
	}
}

// publishInput is the activity input of job j to ts (no credentials).
func (r *alertRun) publishInput(ts *contract.TargetState, j job) activities.PublishInput {
	c := r.s.Classification
	if c.Severity == "" {
		c = publish.Classification{Severity: j.alert.Severity(), Source: "labels"}
	}
	return activities.PublishInput{
		Target: ts.Name,
		Notification: publish.Notification{
			Alert: j.alert, Event: j.event, Update: j.update, State: ts.Provider.Clone(),
			Classification: c, Episode: r.s.Episode,
		},
		Defer:        true,
		SkipDisabled: true,
	}
}

// publishLocal makes the first attempt of a delivery: a local activity,
// one attempt, bounded by the worker's first-attempt timeout. Its failure
// comes back as an output (encrypted like every payload), and is turned
// into the error a regular activity would have returned.
func (r *alertRun) publishLocal(ctx workflow.Context, ts *contract.TargetState, in activities.PublishInput) (activities.PublishOutput, error) {
	in.FailureAsOutput = true
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: r.set.FirstAttemptTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var acts *activities.Activities
	var out activities.PublishOutput
	err := workflow.ExecuteLocalActivity(lctx, acts.Publish, in).Get(ctx, &out)
	if err == nil && out.Failed != nil {
		return out, out.Failed.Error()
	}
	return out, err
}

// publish runs one publish activity (with the target's retry policy and
// maxAttempts attempts; 0 is unlimited).
func (r *alertRun) publish(ctx workflow.Context, ts *contract.TargetState, id string, maxAttempts int32, in activities.PublishInput) (activities.PublishOutput, error) {
	p := ts.Ref.Retry
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          id,
		StartToCloseTimeout: r.set.DeliveryTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    p.InitialInterval,
			BackoffCoefficient: p.Backoff,
			MaximumInterval:    p.MaxInterval,
			MaximumAttempts:    maxAttempts,
		},
	})
	if sev := r.s.Classification.Severity; sev != "" {
		actx = workflow.WithPriority(actx, temporal.Priority{PriorityKey: contract.PriorityFor(sev)})
	}
	var acts *activities.Activities
	var out activities.PublishOutput
	err := workflow.ExecuteActivity(actx, acts.Publish, in).Get(ctx, &out)
	return out, err
}
