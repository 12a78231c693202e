package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/health"
)

// Names of the health workflows.
const (
	// HealthCheckWorkflowName probes targets; a Temporal Schedule runs it.
	HealthCheckWorkflowName = "HealthCheckWorkflow"
	// HealthStateWorkflowName keeps the health of every target.
	HealthStateWorkflowName = "HealthStateWorkflow"
	// HealthObserveSignal carries []health.Observation.
	HealthObserveSignal = "observe"
	// HealthQuery returns []health.Status sorted by target.
	HealthQuery = "health"
	// HealthScheduleID is the schedule of the default task queue.
	HealthScheduleID = "herald-health-check"
	// HealthStateWorkflowID is the health state of the default task queue.
	HealthStateWorkflowID = "herald-health"
)

// HealthScheduleIDFor and HealthStateWorkflowIDFor name the schedule and the
// state workflow of the Herald deployment on taskQueue.
func HealthScheduleIDFor(taskQueue string) string { return withQueue(HealthScheduleID, taskQueue) }

// HealthStateWorkflowIDFor: see HealthScheduleIDFor.
func HealthStateWorkflowIDFor(taskQueue string) string {
	return withQueue(HealthStateWorkflowID, taskQueue)
}

func withQueue(id, taskQueue string) string {
	if taskQueue == "" || taskQueue == "herald" {
		return id
	}
	return id + "-" + taskQueue
}

// HealthCheckInput selects targets to probe (all enabled ones when empty).
type HealthCheckInput struct {
	Targets []string `json:"targets,omitempty"`
}

// HealthCheckWorkflow probes every selected target in parallel (one
// activity per target, no retries: the next run is the retry), records the
// observations in the health state workflow and returns them.
func HealthCheckWorkflow(ctx workflow.Context, in HealthCheckInput) ([]health.Observation, error) {
	var acts *activities.Activities
	names := in.Targets
	if len(names) == 0 {
		lctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		})
		if err := workflow.ExecuteActivity(lctx, acts.ListTargetNames).Get(ctx, &names); err != nil {
			return nil, fmt.Errorf("list targets: %w", err)
		}
	}
	names = append([]string(nil), names...)
	sort.Strings(names)
	futures := make([]workflow.Future, len(names))
	for i, name := range names {
		pctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ActivityID:          "probe/" + name,
			StartToCloseTimeout: 30 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		futures[i] = workflow.ExecuteActivity(pctx, acts.ProbeTarget, name)
	}
	obs := make([]health.Observation, 0, len(names))
	for i, f := range futures {
		var o health.Observation
		if err := f.Get(ctx, &o); err != nil {
			o = health.Observation{Target: names[i], At: workflow.Now(ctx), Class: health.ClassNetwork,
				Message: "probe did not run: " + err.Error(), Source: health.SourceProbe}
		}
		obs = append(obs, o)
	}
	if len(obs) == 0 {
		return obs, nil
	}
	rctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: 30 * time.Second, MaximumAttempts: 10},
	})
	if err := workflow.ExecuteActivity(rctx, acts.RecordHealth, obs).Get(ctx, nil); err != nil {
		return obs, fmt.Errorf("record health: %w", err)
	}
	return obs, nil
}

// HealthStateInput starts or continues the health state workflow.
type HealthStateInput struct {
	Policy health.Policy   `json:"policy"`
	State  []health.Status `json:"state,omitempty"`
	// Limit: continue as new after this many observation batches (1000).
	Limit int `json:"limit,omitempty"`
}

// healthSignalLimit: continue as new after this many observation batches.
const healthSignalLimit = 1000

// HealthStateWorkflow keeps the health of every target, shared by every
// worker and starter replica: probes and real deliveries signal
// observations, the state machine (health.Policy) turns them into states,
// and HealthQuery answers with all of them.
func HealthStateWorkflow(ctx workflow.Context, in HealthStateInput) error {
	states := map[string]health.Status{}
	for _, s := range in.State {
		states[s.Target] = s
	}
	limit := in.Limit
	if limit <= 0 {
		limit = healthSignalLimit
	}
	if err := workflow.SetQueryHandler(ctx, HealthQuery, func() ([]health.Status, error) {
		return sortedStatuses(states), nil
	}); err != nil {
		return err
	}
	apply := func(batch []health.Observation) {
		for _, o := range batch {
			prev := states[o.Target]
			next := in.Policy.Apply(prev, o)
			if prev.State != next.State {
				workflow.GetLogger(ctx).Info("target health changed", "target", o.Target,
					"from", prev.State, "to", next.State, "class", o.Class)
			}
			states[o.Target] = next
		}
	}
	ch := workflow.GetSignalChannel(ctx, HealthObserveSignal)
	signals := 0
	for {
		var batch []health.Observation
		ch.Receive(ctx, &batch)
		signals++
		apply(batch)
		if signals >= limit || workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			for ch.ReceiveAsync(&batch) {
				apply(batch)
			}
			next := in
			next.State = sortedStatuses(states)
			return workflow.NewContinueAsNewError(ctx, HealthStateWorkflow, next)
		}
	}
}

func sortedStatuses(states map[string]health.Status) []health.Status {
	names := make([]string, 0, len(states))
	for n := range states {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]health.Status, 0, len(names))
	for _, n := range names {
		out = append(out, states[n])
	}
	return out
}
