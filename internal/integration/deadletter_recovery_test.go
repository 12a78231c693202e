package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// TestDeadLetterRecoveryAfterTerminate (issue 17, item 10): the dead-letter
// workflow holding entries (three with their alert archived after a
// continue-as-new, one dropped) is terminated; the next dead letter starts
// a new run, which holds the old entries exactly as they were (the dropped
// one stays dropped, archived ones keep their archive) plus the new one,
// and replays an archived one with its full alert. A run that was itself
// recovered and then cancelled is recovered from in turn.
func TestDeadLetterRecoveryAfterTerminate(t *testing.T) {
	s := newSink(t, response{Status: http.StatusInternalServerError})
	h := startHerald(t, []target.Target{webhookTargetFor("flaky", s, quickRetry(2))})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	id := workflows.DeadLetterWorkflowIDFor(h.taskQueue)

	// Run 1 continues as new after three entries with a byte budget so
	// small that their alert bodies move to an archive workflow.
	if _, err := h.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue},
		workflows.DeadLetterWorkflowName, workflows.DeadLetterInput{SignalLimit: 3, StateBudget: 1024}); err != nil {
		t.Fatal(err)
	}
	entries := workflows.SampleDeadLetters(5, 11, []string{"flaky"}, time.Now().Add(-time.Hour))
	signal := func(e workflows.DeadLetter) {
		t.Helper()
		if err := h.client.SignalWorkflow(ctx, id, "", workflows.DeadLetterAddSignal, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries[:3] {
		signal(e)
	}
	var stats workflows.Stats
	eventually(t, 30*time.Second, "three entries archived after a continue-as-new", func() bool {
		return h.call("GET", "/api/v1/dlq/stats", "", &stats) == 200 && stats.Total == 3 && stats.Archived == 3
	})
	// Run 2: two more entries, one of them dropped.
	signal(entries[3])
	signal(entries[4])
	eventually(t, 30*time.Second, "five entries", func() bool {
		return h.call("GET", "/api/v1/dlq/stats", "", &stats) == 200 && stats.Total == 5
	})
	var dropped workflows.DropResult
	if code := h.call("DELETE", "/api/v1/dlq/"+entries[4].ID, "", &dropped); code != 200 || dropped.Dropped != 1 {
		t.Fatalf("drop = %d %+v", code, dropped)
	}
	run2 := currentRun(ctx, t, h, id)
	if err := h.client.TerminateWorkflow(ctx, id, "", "terminated by an operator"); err != nil {
		t.Fatal(err)
	}

	// The next dead letter starts run 3 (SignalWithStart, no carried state).
	if code, body := h.post(webhookBody(firingAlert("rec1", "AfterTerminate"))); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	var list workflows.ListResponse
	eventually(t, 60*time.Second, "new run lists old and new entries", func() bool {
		return currentRun(ctx, t, h, id) != run2 && h.call("GET", "/api/v1/dlq?limit=100", "", &list) == 200 && list.Total == 5
	})
	want := map[string]bool{entries[0].ID: true, entries[1].ID: true, entries[2].ID: true, entries[3].ID: true}
	newID := ""
	for _, e := range list.Entries {
		switch {
		case want[e.ID]:
			delete(want, e.ID)
		case e.Fingerprint == "rec1":
			newID = e.ID
		default:
			t.Errorf("unexpected entry %s (the dropped one is %s)", e.ID, entries[4].ID)
		}
	}
	if len(want) != 0 || newID == "" {
		t.Errorf("entries %+v: missing old %v, new found %v", list.Entries, want, newID != "")
	}
	for _, e := range list.Entries[:3] {
		if e.Archive == "" {
			t.Errorf("recovered entry %s lost its archive reference", e.ID)
		}
	}
	if first := firstEvent(ctx, t, h, id); first.GetContinuedExecutionRunId() != "" {
		t.Errorf("run 3 continues run %s; want a new start", first.GetContinuedExecutionRunId())
	}
	h.call("GET", "/api/v1/dlq/stats", "", &stats)
	if r := stats.Recovery; r == nil || r.From != run2 || r.Status != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED.String() ||
		r.Entries != 4 || !r.Done {
		t.Errorf("recovery = %+v, want 4 entries from the terminated run %s", stats.Recovery, run2)
	}
	if stats.Written != 6 || stats.Dropped != 1 || stats.Archived != 3 || stats.ArchiveWorkflows != 1 {
		t.Errorf("stats = %+v, want the old counters carried", stats)
	}

	// The archive outlived the terminated run: a replay sends the full alert.
	s.AnswerFromNowOn(publishtest.OK(""))
	var res workflows.ReplayResult
	if code := h.call("POST", "/api/v1/dlq/"+entries[0].ID+"/replay", "", &res); code != 200 || !res.Delivered {
		t.Fatalf("replay of a recovered archived entry = %d %+v", code, res)
	}
	got := s.all()
	if desc := publishtest.Get(got[len(got)-1].Body, "alerts.0.annotations.description"); desc != entries[0].Alert.Annotations["description"] {
		t.Errorf("replayed alert has description %v, want the archived body", desc)
	}

	// Run 3 (itself recovered) is cancelled; run 4 recovers from it.
	run3 := currentRun(ctx, t, h, id)
	if err := h.client.CancelWorkflow(ctx, id, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "run 3 cancelled", func() bool {
		d, err := h.client.DescribeWorkflowExecution(ctx, id, run3)
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED
	})
	s.AnswerFromNowOn(response{Status: http.StatusInternalServerError})
	if code, body := h.post(webhookBody(firingAlert("rec2", "AfterCancel"))); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 60*time.Second, "run 4 holds run 3's entries and the new one", func() bool {
		return currentRun(ctx, t, h, id) != run3 && h.call("GET", "/api/v1/dlq?limit=100", "", &list) == 200 && list.Total == 5
	})
	h.call("GET", "/api/v1/dlq/stats", "", &stats)
	if r := stats.Recovery; r == nil || r.From != run3 || r.Status != enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED.String() || r.Entries != 4 {
		t.Errorf("recovery = %+v, want 4 entries from the cancelled run %s", stats.Recovery, run3)
	}
	if stats.Replayed != 1 || stats.Dropped != 1 || stats.Written != 7 {
		t.Errorf("stats = %+v", stats)
	}
}

// currentRun is the run ID of the open (or latest) run of a workflow.
func currentRun(ctx context.Context, t *testing.T, h *herald, id string) string {
	t.Helper()
	d, err := h.client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}

// firstEvent returns the start attributes of the current run of id.
func firstEvent(ctx context.Context, t *testing.T, h *herald, id string) *historypb.WorkflowExecutionStartedEventAttributes {
	t.Helper()
	resp, err := h.client.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: server.GetDefaultNamespace(), Execution: &commonpb.WorkflowExecution{WorkflowId: id}, MaximumPageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetHistory().GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
}

// TestDeadLetterRecoveryAtSize measures recovery at the size limit: the
// run to terminate holds 9,999 realistic entries (9,000 carried across
// continue-as-new, most of their bodies archived, and 999 received since,
// full; with the default input, as the DeadLetter activity starts it), and
// the next dead letter's run recovers all of them, reaching the 10,000
// limit. It takes a few minutes (writing the entries), so it runs only with
// HERALD_DLQ_MEASURE=1; the numbers are in docs/dead-letters.md.
func TestDeadLetterRecoveryAtSize(t *testing.T) {
	if os.Getenv("HERALD_DLQ_MEASURE") != "1" {
		t.Skip("set HERALD_DLQ_MEASURE=1 to measure recovery of 10,000 dead letters")
	}
	const total = workflows.DefaultMaxDeadLetters
	h := startHerald(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	id := workflows.DeadLetterWorkflowIDFor(h.taskQueue)
	if _, err := h.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue},
		workflows.DeadLetterWorkflowName, struct{}{}); err != nil {
		t.Fatal(err)
	}
	entries := workflows.SampleDeadLetters(total, 21, []string{"sink", "elsewhere"}, time.Now().Add(-2*time.Hour))
	var stats workflows.Stats
	// In waves of 1,000: each full wave ends in a continue-as-new (the
	// signal limit), which archives the oldest bodies.
	for w := 0; w < total-1; w += 1000 {
		end := min(w+1000, total-1)
		signalAll(ctx, t, h, id, entries[w:end], 6)
		eventually(t, 2*time.Minute, fmt.Sprintf("%d entries recorded", end), func() bool {
			return h.call("GET", "/api/v1/dlq/stats", "", &stats) == 200 && stats.Total == end
		})
	}
	old := currentRun(ctx, t, h, id)
	d, err := h.client.DescribeWorkflowExecution(ctx, id, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run to terminate: %d entries (%d archived), history %d events, %d bytes", stats.Total, stats.Archived,
		d.GetWorkflowExecutionInfo().GetHistoryLength(), d.GetWorkflowExecutionInfo().GetHistorySizeBytes())
	if err := h.client.TerminateWorkflow(ctx, id, "", "measuring recovery"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// As the DeadLetter activity writes one.
	if _, err := h.client.SignalWithStartWorkflow(ctx, id, workflows.DeadLetterAddSignal, entries[total-1],
		client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue}, workflows.DeadLetterWorkflowName, struct{}{}); err != nil {
		t.Fatal(err)
	}
	var code int
	for stats = (workflows.Stats{}); ; {
		if code = h.call("GET", "/api/v1/dlq/stats", "", &stats); code == 200 {
			break
		}
		if time.Since(start) > 5*time.Minute {
			d, _ := h.client.DescribeWorkflowExecution(ctx, id, "")
			for _, a := range d.GetPendingActivities() {
				t.Logf("pending %s attempt %d: %v", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure())
			}
			t.Fatalf("not recovered after 5 minutes (stats answer %d)", code)
		}
		time.Sleep(200 * time.Millisecond)
	}
	took := time.Since(start)
	run := currentRun(ctx, t, h, id)
	hist, err := history.Fetch(ctx, h.client, id, run)
	if err != nil {
		t.Fatal(err)
	}
	pages, largest, sum := 0, 0, 0
	for _, ev := range hist.GetEvents() {
		if a := ev.GetActivityTaskCompletedEventAttributes(); a != nil {
			for _, p := range a.GetResult().GetPayloads() {
				if n := len(p.GetData()); n > 1000 { // the pages, not the previous-run lookup
					pages++
					sum += n
					largest = max(largest, n)
				}
			}
		}
	}
	d, err = h.client.DescribeWorkflowExecution(ctx, id, run)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("recovered %+v: %d entries (%d archived, overflow %d) in %s: %d pages, largest %d bytes, %d bytes in all; new run's history %d events, %d bytes",
		stats.Recovery, stats.Total, stats.Archived, stats.Overflow.Count, took.Round(100*time.Millisecond), pages, largest, sum,
		d.GetWorkflowExecutionInfo().GetHistoryLength(), d.GetWorkflowExecutionInfo().GetHistorySizeBytes())
	if stats.Recovery == nil || stats.Recovery.Entries != total-1 || stats.Total != total || stats.Overflow.Count != 0 || largest > 1<<20 {
		t.Errorf("recovery = %+v, %d entries, overflow %d, largest page %d bytes; want all %d", stats.Recovery, stats.Total,
			stats.Overflow.Count, largest, total)
	}
}
