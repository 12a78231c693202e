// Package history exports workflow histories as JSON (the format of
// `temporal workflow show --output json`) and replays them against the
// current workflow code, to prove that a code change stays deterministic.
package history

import (
	"context"
	"fmt"
	"os"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Fetch reads the full history of a workflow run (runID "" is the latest).
func Fetch(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("read history of %s: %w", workflowID, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// Marshal renders a history as indented JSON.
func Marshal(h *historypb.History) ([]byte, error) {
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("marshal history: %w", err)
	}
	return append(data, '\n'), nil
}

// Export writes the history of a workflow run to path, payloads as stored:
// encrypted when Herald's payload encryption is on.
func Export(ctx context.Context, c client.Client, workflowID, runID, path string) (int, error) {
	h, err := Fetch(ctx, c, workflowID, runID)
	if err != nil {
		return 0, err
	}
	data, err := Marshal(h)
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	return len(h.Events), nil
}

// Replay replays each history file against the workflows registered by
// register. It fails on the first nondeterminism or error.
func Replay(register func(worker.WorkflowRegistry), files ...string) error {
	return ReplayWith(ReplayOptions{}, register, files...)
}

// ReplayOptions are the converters a replay decodes payloads with: those
// of the clients that wrote the history (internal/codec when its payloads
// are encrypted). Nil means the SDK's defaults.
type ReplayOptions struct {
	DataConverter    converter.DataConverter
	FailureConverter converter.FailureConverter
}

// ReplayWith is Replay with the given converters.
func ReplayWith(opts ReplayOptions, register func(worker.WorkflowRegistry), files ...string) error {
	r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
		DataConverter: opts.DataConverter, FailureConverter: opts.FailureConverter,
	})
	if err != nil {
		return fmt.Errorf("replayer: %w", err)
	}
	register(r)
	for _, f := range files {
		h, err := ReadFile(f)
		if err != nil {
			return fmt.Errorf("replay %s: %w", f, err)
		}
		// Under the workflow ID it ran with: a workflow that derives IDs
		// from its own (the dead-letter archive children) would otherwise
		// see the replayer's placeholder ID and fail as nondeterministic.
		var id string
		if evs := h.GetEvents(); len(evs) > 0 {
			id = evs[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowId()
		}
		opts := worker.ReplayWorkflowHistoryOptions{}
		if id != "" {
			opts.OriginalExecution = workflow.Execution{ID: id}
		}
		if err := r.ReplayWorkflowHistoryWithOptions(nil, h, opts); err != nil {
			return fmt.Errorf("replay %s: %w", f, err)
		}
	}
	return nil
}
