package history

import (
	"fmt"
	"os"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
)

// Cost is what a workflow history cost the engine: its events, workflow
// tasks and commands, and the Temporal Cloud Actions they bill.
type Cost struct {
	Events        int `json:"events"`
	WorkflowTasks int `json:"workflowTasks"`
	// Activities scheduled, and their attempts (each attempt is billed).
	Activities       int `json:"activities"`
	ActivityAttempts int `json:"activityAttempts"`
	Markers          int `json:"markers"`
	Timers           int `json:"timers"`
	Upserts          int `json:"upserts"`
	Signals          int `json:"signals"`
	// Actions are Temporal Cloud's billable Actions, by its published rules:
	// a workflow start (Signal-With-Start included), every signal, every
	// activity attempt, every timer, every search-attribute upsert (except
	// TemporalChangeVersion alone), and the markers of one workflow task
	// (local activities, side effects, versions) as one.
	Actions int `json:"actions"`
}

func (c Cost) String() string {
	return fmt.Sprintf("%d events, %d workflow tasks, %d activities (%d attempts), %d markers, %d timers, %d upserts, %d signals; %d Temporal Cloud actions",
		c.Events, c.WorkflowTasks, c.Activities, c.ActivityAttempts, c.Markers, c.Timers, c.Upserts, c.Signals, c.Actions)
}

// Sub is the cost of what happened after before.
func (c Cost) Sub(before Cost) Cost {
	return Cost{
		Events: c.Events - before.Events, WorkflowTasks: c.WorkflowTasks - before.WorkflowTasks,
		Activities: c.Activities - before.Activities, ActivityAttempts: c.ActivityAttempts - before.ActivityAttempts,
		Markers: c.Markers - before.Markers, Timers: c.Timers - before.Timers, Upserts: c.Upserts - before.Upserts,
		Signals: c.Signals - before.Signals, Actions: c.Actions - before.Actions,
	}
}

// CostOf counts the cost of a history.
func CostOf(h *historypb.History) Cost {
	var c Cost
	markerTask := int64(-1) // the workflow task whose markers were counted
	for _, ev := range h.GetEvents() {
		c.Events++
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			c.Actions++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			c.Signals++
			c.Actions++
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			c.WorkflowTasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			c.Activities++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			n := int(max(1, ev.GetActivityTaskStartedEventAttributes().GetAttempt()))
			c.ActivityAttempts += n
			c.Actions += n
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			c.Timers++
			c.Actions++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			c.Upserts++
			if !onlyChangeVersion(ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes()) {
				c.Actions++
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			c.Markers++
			if task := ev.GetMarkerRecordedEventAttributes().GetWorkflowTaskCompletedEventId(); task != markerTask {
				markerTask = task
				c.Actions++
			}
		}
	}
	return c
}

func onlyChangeVersion(sa *commonpb.SearchAttributes) bool {
	fields := sa.GetIndexedFields()
	_, ok := fields["TemporalChangeVersion"]
	return ok && len(fields) == 1
}

// ReadFile reads an exported history (the JSON Export writes).
func ReadFile(path string) (*historypb.History, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var h historypb.History
	if err := (temporalproto.CustomJSONUnmarshalOptions{}).Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("decode history %s: %w", path, err)
	}
	return &h, nil
}
