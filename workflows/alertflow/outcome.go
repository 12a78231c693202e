package alertflow

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/contract"
)

// delivered records a successful delivery that took attempts in all.
func (r *alertRun) delivered(ctx workflow.Context, ts *contract.TargetState, j job, out activities.PublishOutput, attempts int32) {
	now := workflow.Now(ctx)
	ts.Status, ts.DeliveredAt = contract.DeliveryDelivered, now
	ts.Attempts = attempts
	ts.TotalAttempts += attempts
	ts.StatusCode = out.StatusCode
	ts.LastError, ts.LastErrorKind = "", ""
	ts.Provider = ts.Provider.Merge(out.State)
	ts.AddRecord(contract.DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: contract.DeliveryDelivered, Attempts: attempts})
}

// skipped records a delivery that was not made, and never will be.
func (r *alertRun) skipped(ctx workflow.Context, ts *contract.TargetState, j job, why string) {
	now := workflow.Now(ctx)
	ts.Status, ts.Event, ts.SkipReason, ts.Attempts = contract.DeliverySkipped, j.event, why, 0
	ts.AddRecord(contract.DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: contract.DeliverySkipped, Error: why})
	workflow.GetLogger(ctx).Info("delivery skipped", "target", ts.Name, "event", j.event, "reason", why)
}

// failDelivery records a delivery that failed for good and writes it to
// the dead letters.
func (r *alertRun) failDelivery(ctx workflow.Context, ts *contract.TargetState, j job, d activities.FailureDetails, msg string, attempts int32) {
	now := workflow.Now(ctx)
	ts.Status, ts.Event, ts.FailedAt = contract.DeliveryFailed, j.event, now
	ts.Attempts = attempts
	ts.TotalAttempts += attempts
	ts.StatusCode = d.StatusCode
	ts.LastError, ts.LastErrorKind = msg, d.Kind
	workflow.GetLogger(ctx).Warn("delivery failed for good", "target", ts.Name, "event", j.event,
		"kind", d.Kind, "attempts", attempts)
	r.deadLetter(ctx, ts, j, d, msg, attempts)
	ts.AddRecord(contract.DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: contract.DeliveryDeadLettered, Attempts: attempts, Error: msg})
}

// deadLetter records a delivery that failed for good in the dead-letter
// workflow. The write is retried until it succeeds: a failure must never
// be forgotten.
func (r *alertRun) deadLetter(ctx workflow.Context, ts *contract.TargetState, j job, d activities.FailureDetails, msg string, attempts int32) {
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	e := activities.DeadLetter{
		ID:          contract.DeadLetterID(r.s.Fingerprint, info.WorkflowExecution.RunID, ts.Name, j.seq),
		Fingerprint: r.s.Fingerprint, AlertName: j.alert.Name(), Target: ts.Name, TargetType: ts.Type,
		Event: j.event, Update: j.update, ErrorKind: d.Kind, Error: msg, StatusCode: d.StatusCode,
		Attempts: attempts, Failures: 1, FirstFailure: now, LastFailure: now,
		AlertWorkflowID: info.WorkflowExecution.ID, AlertRunID: info.WorkflowExecution.RunID, Seq: j.seq,
		Alert: j.alert, Provider: ts.Provider.Clone(),
	}
	// The replay publishes as this delivery did.
	n := r.publishInput(ts, j).Notification
	e.Classification, e.Episode = &n.Classification, n.Episode
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          fmt.Sprintf("deadletter/%s/%d", ts.Name, j.seq),
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var acts *activities.Activities
	if err := workflow.ExecuteActivity(actx, acts.DeadLetter, e).Get(ctx, nil); err != nil {
		// Only cancellation of the workflow ends the retries above.
		workflow.GetLogger(ctx).Error("dead letter not recorded", "target", ts.Name, "error", err)
		return
	}
	ts.Status, ts.DeadLetterID = contract.DeliveryDeadLettered, e.ID
}

// applyReplays applies every dead-letter replay that delivered.
func (r *alertRun) applyReplays(ctx workflow.Context) {
	for {
		var dr contract.DeliveryReplayed
		if !r.replays.ReceiveAsync(&dr) {
			return
		}
		r.recordReplay(ctx, dr)
	}
}

// recordReplay applies one replay: a record, the provider state and the
// attempts; the status only when it is the latest delivery's.
func (r *alertRun) recordReplay(ctx workflow.Context, dr contract.DeliveryReplayed) {
	ts, l := r.s.Target(dr.Target), r.lanes[dr.Target]
	if ts == nil || l == nil {
		return
	}
	ts.AddRecord(contract.DeliveryRecord{Seq: dr.Seq, Event: dr.Event, Outcome: contract.DeliveryReplayedOutcome,
		Attempts: dr.Attempts, At: workflow.Now(ctx)})
	ts.Provider = ts.Provider.Merge(dr.Provider)
	ts.TotalAttempts += dr.Attempts
	if !l.busy && len(l.queue) == 0 && ts.Event == dr.Event && ts.Status == contract.DeliveryDeadLettered {
		ts.Status, ts.DeliveredAt, ts.LastError, ts.LastErrorKind, ts.DeadLetterID = contract.DeliveryDelivered, dr.DeliveredAt, "", "", ""
	}
}
