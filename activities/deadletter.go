package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
)

// Names the DeadLetter activity uses to reach the dead-letter workflow
// (kept here so activities do not import workflows).
const (
	deadLetterWorkflowName = "DeadLetterWorkflow"
	deadLetterAddSignal    = "add"
)

// DeadLetter is a delivery that failed for good. It holds what is needed to
// run the delivery again, and no credentials: the target is named, and its
// current credentials are looked up in the worker at replay.
type DeadLetter struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	AlertName   string `json:"alertName"`
	Target      string `json:"target"`
	TargetType  string `json:"targetType"`
	Event       string `json:"event"`
	Update      bool   `json:"update,omitempty"`
	ErrorKind   string `json:"errorKind"`
	Error       string `json:"error"`
	StatusCode  int    `json:"statusCode,omitempty"`
	Attempts    int32  `json:"attempts"`
	// Failures counts how often this delivery failed for good (the first
	// time and failed replays).
	Failures     int       `json:"failures"`
	FirstFailure time.Time `json:"firstFailure"`
	LastFailure  time.Time `json:"lastFailure"`
	// The alert workflow the delivery belongs to.
	AlertWorkflowID string `json:"alertWorkflowId"`
	AlertRunID      string `json:"alertRunId,omitempty"`
	Seq             int    `json:"seq"`
	// Alert is the alert as it was to be delivered.
	Alert alert.Alert `json:"alert"`
	// Provider is the target's provider state at the time (e.g. Slack ts).
	Provider publish.ProviderState `json:"provider,omitempty"`
	Replays  int                   `json:"replays,omitempty"`
}

// DeadLetterRecorder writes dead letters: SignalWithStart of the one
// dead-letter workflow of the namespace.
type DeadLetterRecorder struct {
	Client     client.Client
	TaskQueue  string
	WorkflowID string
}

// DeadLetter records a failed delivery in the dead-letter workflow,
// starting it if needed.
func (a *Activities) DeadLetter(ctx context.Context, e DeadLetter) error {
	if a.DeadLetters == nil || a.DeadLetters.Client == nil {
		return fmt.Errorf("dead letters are not configured on this worker")
	}
	r := a.DeadLetters
	_, err := r.Client.SignalWithStartWorkflow(ctx, r.WorkflowID, deadLetterAddSignal, e,
		client.StartWorkflowOptions{
			ID:            r.WorkflowID,
			TaskQueue:     r.TaskQueue,
			StaticSummary: "Herald dead letters",
		}, deadLetterWorkflowName, struct{}{})
	if err != nil {
		return fmt.Errorf("signal dead-letter workflow: %w", err)
	}
	if a.Metrics != nil {
		a.Metrics.DLQWrites.WithLabelValues(e.Target, e.ErrorKind).Inc()
	}
	a.logger().Warn("delivery dead-lettered", "id", e.ID, "target", e.Target, "fingerprint", e.Fingerprint,
		"kind", e.ErrorKind, "attempts", e.Attempts)
	return nil
}
