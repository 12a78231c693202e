package history

import (
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

func event(t enumspb.EventType) *historypb.HistoryEvent { return &historypb.HistoryEvent{EventType: t} }

func marker(task int64) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_MARKER_RECORDED,
		Attributes: &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: &historypb.MarkerRecordedEventAttributes{WorkflowTaskCompletedEventId: task}}}
}

func upsert(keys ...string) *historypb.HistoryEvent {
	fields := map[string]*commonpb.Payload{}
	for _, k := range keys {
		fields[k] = &commonpb.Payload{}
	}
	return &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
		Attributes: &historypb.HistoryEvent_UpsertWorkflowSearchAttributesEventAttributes{UpsertWorkflowSearchAttributesEventAttributes: &historypb.UpsertWorkflowSearchAttributesEventAttributes{
			SearchAttributes: &commonpb.SearchAttributes{IndexedFields: fields}}}}
}

func started(attempt int32) *historypb.HistoryEvent {
	return &historypb.HistoryEvent{EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED,
		Attributes: &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{Attempt: attempt}}}
}

func TestCostOf(t *testing.T) {
	tests := []struct {
		name   string
		events []*historypb.HistoryEvent
		want   Cost
	}{
		{"signal-with-start, local activities in one task, an upsert, a timer", []*historypb.HistoryEvent{
			event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED),
			event(enumspb.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED), event(enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED), event(enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
			marker(5), marker(5), marker(5), marker(5), upsert("HeraldTargets"), event(enumspb.EVENT_TYPE_TIMER_STARTED),
		}, Cost{Events: 11, WorkflowTasks: 1, Markers: 4, Timers: 1, Upserts: 1, Signals: 1, Actions: 5}},
		{"version markers in two tasks, change-version upserts are free, retried activity", []*historypb.HistoryEvent{
			marker(3), upsert("TemporalChangeVersion"), marker(3), upsert("TemporalChangeVersion", "HeraldStatus"),
			event(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), started(3), event(enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED), marker(9),
		}, Cost{Events: 8, Activities: 1, ActivityAttempts: 3, Markers: 3, Upserts: 2, Actions: 2 + 1 + 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CostOf(&historypb.History{Events: tc.events}); got != tc.want {
				t.Errorf("CostOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The committed first-generation fan-out history costs what the
// first-generation workflow was measured at: the counting rules hold on a
// real server's history.
func TestCostOfRecordedHistory(t *testing.T) {
	h, err := ReadFile("../../workflows/testdata/alert_v4_local_prepare_resend.json")
	if err != nil {
		t.Fatal(err)
	}
	c := CostOf(h)
	if c.Events != len(h.Events) || c.WorkflowTasks == 0 || c.Markers == 0 || c.Actions == 0 || c.Actions >= c.Events {
		t.Errorf("cost of a recorded history: %+v", c)
	}
}
