package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// NewHealthStore returns the client side of the shared health state of the
// deployment on taskQueue.
func NewHealthStore(c client.Client, taskQueue string) *activities.HealthStore {
	return &activities.HealthStore{
		Client: c, TaskQueue: taskQueue, WorkflowID: workflows.HealthStateWorkflowIDFor(taskQueue),
		Policy: health.DefaultPolicy,
	}
}

// EnsureHealthSchedule creates the Temporal Schedule that runs the health
// check workflow every interval, or updates it when it exists: calling it
// again (another replica, a restart with a new interval) never duplicates it.
func EnsureHealthSchedule(ctx context.Context, c client.Client, taskQueue string, interval time.Duration) error {
	if interval <= 0 {
		interval = 2 * time.Minute
	}
	id := workflows.HealthScheduleIDFor(taskQueue)
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: interval}}}
	action := &client.ScheduleWorkflowAction{
		ID:                       id,
		Workflow:                 workflows.HealthCheckWorkflowName,
		Args:                     []any{workflows.HealthCheckInput{}},
		TaskQueue:                taskQueue,
		WorkflowExecutionTimeout: interval + time.Minute,
	}
	_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      id,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "Herald target health checks",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) && !isAlreadyExists(err) {
		return fmt.Errorf("create health schedule: %w", err)
	}
	h := c.ScheduleClient().GetHandle(ctx, id)
	err = h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update health schedule: %w", err)
	}
	return nil
}

func isAlreadyExists(err error) bool {
	var ae *serviceerror.AlreadyExists
	return errors.As(err, &ae)
}

// watchHealth publishes the shared health state of the current targets as
// metrics until ctx ends.
func watchHealth(ctx context.Context, store *activities.HealthStore, reg *target.Registry, m *metrics.Metrics, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if all, err := store.All(ctx); err == nil {
			m.TargetHealth.Reset()
			for _, tg := range reg.List() {
				st := health.StateUnknown
				if s, ok := all[tg.Name]; ok && s.State != "" {
					st = s.State
				}
				for _, state := range health.States {
					v := 0.0
					if state == st {
						v = 1
					}
					m.TargetHealth.WithLabelValues(tg.Name, state).Set(v)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchDeadLetters publishes the size of the dead letters as a metric until
// ctx ends; every replica reads the same workflow, so all report the same.
func watchDeadLetters(ctx context.Context, c client.Client, taskQueue string, m *metrics.Metrics, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	id := workflows.DeadLetterWorkflowIDFor(taskQueue)
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		v, err := c.QueryWorkflow(qctx, id, "", workflows.DeadLetterStatsQuery)
		var st workflows.Stats
		switch {
		case err == nil && v.Get(&st) == nil:
			m.DLQSize.Set(float64(st.Total))
		case isNotFound(err):
			m.DLQSize.Set(0)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
