package activities

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/publish"
)

// checkConcurrency bounds parallel queries of one check.
const checkConcurrency = 8

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
	// Classification and Episode are those of the failed delivery; a
	// replay publishes with them (severity, priority and the provider's
	// episode identifiers as the original delivery would have). Entries
	// written before they were kept have neither: a replay then classifies
	// by the alert's labels and uses episode-less identifiers.
	Classification *publish.Classification `json:"classification,omitempty"`
	Episode        int                     `json:"episode,omitempty"`
	Replays        int                     `json:"replays,omitempty"`
	// Archive names the archive workflow holding Alert and Provider once
	// they were moved out of the dead-letter workflow's carried state; Alert
	// then keeps only the fingerprint, status and alert name.
	Archive string `json:"archive,omitempty"`
}

// ArchivedBody is the part of a dead letter an archive workflow keeps.
type ArchivedBody struct {
	Alert          alert.Alert             `json:"alert"`
	Provider       publish.ProviderState   `json:"provider,omitempty"`
	Classification *publish.Classification `json:"classification,omitempty"`
	Episode        int                     `json:"episode,omitempty"`
}

// FetchArchivedInput names entries of one archive workflow.
type FetchArchivedInput struct {
	Archive string   `json:"archive"`
	IDs     []string `json:"ids"`
}

// FetchArchived reads the alert bodies of archived dead letters (for a
// replay) from their archive workflow.
func (a *Activities) FetchArchived(ctx context.Context, in FetchArchivedInput) (map[string]ArchivedBody, error) {
	if a.DeadLetters == nil || a.DeadLetters.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("dead letters are not configured on this worker", "config", nil)
	}
	v, err := a.DeadLetters.Client.QueryWorkflow(ctx, in.Archive, "", contract.DeadLetterArchiveBodiesQuery, in.IDs)
	if err != nil {
		return nil, fmt.Errorf("query dead-letter archive %s: %w", in.Archive, err)
	}
	out := map[string]ArchivedBody{}
	if err := v.Get(&out); err != nil {
		return nil, fmt.Errorf("decode dead-letter archive %s: %w", in.Archive, err)
	}
	return out, nil
}

// DeliveryCheck asks whether a dead letter was superseded: whether its
// target received a later delivery of the same alert.
type DeliveryCheck struct {
	ID              string    `json:"id"`
	AlertWorkflowID string    `json:"alertWorkflowId"`
	Target          string    `json:"target"`
	Seq             int       `json:"seq"`
	FirstFailure    time.Time `json:"firstFailure"`
}

// DeliveryVerdict answers a DeliveryCheck.
type DeliveryVerdict struct {
	ID string `json:"id"`
	// Superseded: the target received a later delivery; Reason says which.
	Superseded bool   `json:"superseded,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Running: the alert workflow is open (it can be told of a replay).
	Running bool `json:"running,omitempty"`
}

// alertView is the part of the alert workflow's state (contract.AlertState)
// a check reads.
type alertView struct {
	Completed string `json:"completed"`
	Targets   []struct {
		Name    string          `json:"name"`
		Records []DeliveryFacts `json:"records"`
	} `json:"targets"`
}

// DeliveryFacts is one finished delivery as the alert workflow records it.
type DeliveryFacts struct {
	Seq     int       `json:"seq"`
	Event   string    `json:"event"`
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
}

// Superseded decides whether a dead letter is superseded by the deliveries
// its alert workflow recorded for the same target: a normal delivery after
// the dead letter's first failure (target lanes deliver in order, so it is
// a later event of the alert), or a replay of a later delivery (higher
// seq). A replay of an earlier dead letter does not supersede it.
func Superseded(c DeliveryCheck, records []DeliveryFacts) (bool, string) {
	for _, r := range records {
		if !r.At.After(c.FirstFailure) {
			continue
		}
		switch {
		case r.Outcome == "delivered":
			return true, fmt.Sprintf("superseded: %s (seq %d) was delivered at %s", r.Event, r.Seq, r.At.UTC().Format(time.RFC3339))
		case r.Outcome == "replayed" && r.Seq > c.Seq:
			return true, fmt.Sprintf("superseded: %s (seq %d) was replayed at %s", r.Event, r.Seq, r.At.UTC().Format(time.RFC3339))
		}
	}
	return false, ""
}

// CheckDeliveries queries the alert workflow of every check (once per
// workflow) and tells which dead letters are superseded. An alert workflow
// that no longer exists supersedes nothing.
func (a *Activities) CheckDeliveries(ctx context.Context, checks []DeliveryCheck) ([]DeliveryVerdict, error) {
	if a.DeadLetters == nil || a.DeadLetters.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("dead letters are not configured on this worker", "config", nil)
	}
	ids := map[string]bool{}
	for _, c := range checks {
		ids[c.AlertWorkflowID] = true
	}
	wfIDs := make([]string, 0, len(ids))
	for id := range ids {
		wfIDs = append(wfIDs, id)
	}
	sort.Strings(wfIDs)
	views := make(map[string]*alertView, len(wfIDs))
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for _, id := range wfIDs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			v, err := a.alertView(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			views[id] = v
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	out := make([]DeliveryVerdict, len(checks))
	for i, c := range checks {
		out[i].ID = c.ID
		v := views[c.AlertWorkflowID]
		if v == nil {
			continue
		}
		out[i].Running = v.Completed == ""
		for _, ts := range v.Targets {
			if ts.Name == c.Target {
				out[i].Superseded, out[i].Reason = Superseded(c, ts.Records)
			}
		}
	}
	return out, nil
}

// alertView queries one alert workflow; nil when it does not exist.
func (a *Activities) alertView(ctx context.Context, workflowID string) (*alertView, error) {
	v, err := a.DeadLetters.Client.QueryWorkflow(ctx, workflowID, "", contract.StateQuery)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("query alert workflow %s: %w", workflowID, err)
	}
	var view alertView
	if err := v.Get(&view); err != nil {
		return nil, fmt.Errorf("decode state of alert workflow %s: %w", workflowID, err)
	}
	return &view, nil
}

// PreviousRunInput names the dead-letter workflow and the run that asks.
type PreviousRunInput struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

// PreviousRun is the latest closed run of a workflow ID; RunID is empty
// when there is none (or its history is gone after the namespace's
// retention).
type PreviousRun struct {
	RunID     string    `json:"runId,omitempty"`
	Status    string    `json:"status,omitempty"`
	CloseTime time.Time `json:"closeTime,omitzero"`
}

// previousRunCandidates is how many runs of the ID are read from
// visibility. Open runs come first, then closed ones by close time, so the
// run before the asking one is among the first two even when visibility
// has not recorded its close yet.
const previousRunCandidates = 10

// PreviousDeadLetterRun finds the run of the dead-letter workflow before
// in.RunID: among the runs visibility lists for the ID, the one (other than
// the asking run) that started last; runs of one ID never overlap, so that
// is the previous one. Its status and close time come from describing it,
// which is consistent even while visibility lags behind.
func (a *Activities) PreviousDeadLetterRun(ctx context.Context, in PreviousRunInput) (PreviousRun, error) {
	if a.DeadLetters == nil || a.DeadLetters.Client == nil {
		return PreviousRun{}, temporal.NewNonRetryableApplicationError("dead letters are not configured on this worker", "config", nil)
	}
	c := a.DeadLetters.Client
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = %q", in.WorkflowID), PageSize: previousRunCandidates})
	if err != nil {
		return PreviousRun{}, fmt.Errorf("list runs of %s: %w", in.WorkflowID, err)
	}
	var best *workflowpb.WorkflowExecutionInfo
	for _, ex := range resp.GetExecutions() {
		if ex.GetExecution().GetRunId() == in.RunID {
			continue
		}
		if best == nil || ex.GetStartTime().AsTime().After(best.GetStartTime().AsTime()) {
			best = ex
		}
	}
	if best == nil {
		return PreviousRun{}, nil
	}
	runID := best.GetExecution().GetRunId()
	d, err := c.DescribeWorkflowExecution(ctx, in.WorkflowID, runID)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return PreviousRun{}, nil // deleted after the retention period
	}
	if err != nil {
		return PreviousRun{}, fmt.Errorf("describe run %s of %s: %w", runID, in.WorkflowID, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		// Only one run of an ID is open at a time, and the asking run is.
		return PreviousRun{}, fmt.Errorf("run %s of %s is still open", runID, in.WorkflowID)
	}
	return PreviousRun{RunID: runID, Status: info.GetStatus().String(), CloseTime: info.GetCloseTime().AsTime()}, nil
}

// ExportInput asks for one page of a dead-letter run's state.
type ExportInput struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Offset     int    `json:"offset"`
	MaxBytes   int    `json:"maxBytes,omitempty"`
}

// ExportRequest is the argument of the dead-letter workflow's export query:
// entries from Offset, at most MaxBytes of uncompressed JSON (at least one).
type ExportRequest struct {
	Offset   int `json:"offset"`
	MaxBytes int `json:"maxBytes,omitempty"`
}

// ExportDeadLetters reads one page of the state of a dead-letter run, also
// of a closed one (a terminated or failed run answers queries: a worker
// replays its history), through the workflow's export query. The page is
// returned as it is: compressed, bounded in size by MaxBytes.
func (a *Activities) ExportDeadLetters(ctx context.Context, in ExportInput) ([]byte, error) {
	if a.DeadLetters == nil || a.DeadLetters.Client == nil {
		return nil, temporal.NewNonRetryableApplicationError("dead letters are not configured on this worker", "config", nil)
	}
	v, err := a.DeadLetters.Client.QueryWorkflow(ctx, in.WorkflowID, in.RunID, contract.DeadLetterExportQuery,
		ExportRequest{Offset: in.Offset, MaxBytes: in.MaxBytes})
	if err != nil {
		return nil, fmt.Errorf("query dead letters of run %s: %w", in.RunID, err)
	}
	var page []byte
	if err := v.Get(&page); err != nil {
		return nil, fmt.Errorf("decode dead letters of run %s: %w", in.RunID, err)
	}
	return page, nil
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
	_, err := r.Client.SignalWithStartWorkflow(ctx, r.WorkflowID, contract.DeadLetterAddSignal, e,
		client.StartWorkflowOptions{
			ID:            r.WorkflowID,
			TaskQueue:     r.TaskQueue,
			StaticSummary: "Herald dead letters",
		}, contract.DeadLetterWorkflow, struct{}{})
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
