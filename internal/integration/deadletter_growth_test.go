package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// TestDeadLetterGrowth runs the dead letters at size on a real server:
// 10,000 realistic entries (about 2.9 KB each, 2.4 KB of it the alert),
// 3,000 of them sent as one flood of SignalWithStart from 24 clients, are
// all kept, no run's history comes near Temporal's limits, and they are
// carried across continue-as-new within the 1.5 MiB state budget (Temporal
// refuses payloads over 2 MiB), then a replay-all of the 5,000 of one target
// delivers each exactly once in batches across runs, far from Temporal's
// 51,200-event limit; a second replay-all meanwhile is refused (409), a
// retry with the same Idempotency-Key joins it, and a dead letter whose
// alert was delivered later is skipped as superseded.
func TestDeadLetterGrowth(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 dead letters and replays 5,000")
	}
	t.Parallel() // its own task queue and dead-letter workflow
	const total, replayed = 10000, 5000
	s := newSink(t)
	h := startHerald(t, []target.Target{{Name: "sink", Type: "webhook", URL: s.URL + "/hook", Retry: quickRetry(3)}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	id := workflows.DeadLetterWorkflowIDFor(h.taskQueue)

	// An alert delivered normally (firing, then resolve) whose firing also
	// sits in the dead letters from an earlier failure: superseded.
	if code, body := h.post(webhookBody(firingAlert("sup1", "Superseded"))); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 30*time.Second, "firing delivered", func() bool { return len(s.all()) == 1 })
	if code, body := h.post(webhookBody(resolvedAlert(firingAlert("sup1", "Superseded")))); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	h.waitWorkflowDone("sup1")
	normal := len(s.all())

	// The dead-letter workflow, with room for every entry (no overflow).
	if _, err := h.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue},
		workflows.DeadLetterWorkflowName, workflows.DeadLetterInput{MaxEntries: 2 * total}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-2 * time.Hour)
	entries := workflows.SampleDeadLetters(total, 42, []string{"sink", "elsewhere"}, t0)
	sup := entries[0]
	sup.ID, sup.Fingerprint, sup.AlertWorkflowID, sup.Target = "sup1.sink.x.1", "sup1", contract.AlertWorkflowID("sup1"), "sink"
	sup.Alert.Fingerprint = "sup1"
	entries[0] = sup
	start := time.Now()
	var stats workflows.Stats
	// 3,000 as one unbroken flood of SignalWithStart from 24 clients, as
	// the DeadLetter activities of a storm send them: none is lost although
	// the run cannot continue as new meanwhile (Temporal refuses to close a
	// run with unseen signals). The rest in waves of 1,000, between which
	// it can. (A flooded run's history grows by about 6 KB per realistic
	// entry: the signal, then the body again when it is archived at the
	// continue-as-new; see docs/dead-letters.md.)
	const flood = 3000
	signalAll(ctx, t, h, id, entries[:flood], 24)
	eventually(t, 2*time.Minute, fmt.Sprintf("%d flooded entries recorded", flood), func() bool {
		return h.call("GET", "/api/v1/dlq/stats", "", &stats) == 200 && stats.Total == flood
	})
	for w := flood; w < total; w += 1000 {
		signalAll(ctx, t, h, id, entries[w:w+1000], 6)
		eventually(t, 2*time.Minute, fmt.Sprintf("%d entries recorded", w+1000), func() bool {
			return h.call("GET", "/api/v1/dlq/stats", "", &stats) == 200 && stats.Total == w+1000
		})
	}
	t.Logf("10,000 entries signalled and recorded in %s", time.Since(start).Round(time.Second))
	var page workflows.ListResponse
	if code := h.call("GET", "/api/v1/dlq?target=elsewhere&limit=1000", "", &page); code != 200 ||
		page.Matched != stats.ByTarget["elsewhere"] || page.Matched == 0 || len(page.Entries) != min(1000, page.Matched) {
		t.Errorf("list of one target = %d, matched %d of %d, %d entries", code, page.Matched, stats.ByTarget["elsewhere"], len(page.Entries))
	}
	// One more continue-as-new carries all 10,000: signal until the run changes.
	carried, runs := carriedAfterNextRun(ctx, t, h, id)
	stats = workflows.Stats{}
	h.call("GET", "/api/v1/dlq/stats", "", &stats)
	kept := stats.Total
	t.Logf("carried across continue-as-new with %d entries: %d bytes (%d archived in %d archive workflows; %d runs so far)",
		stats.Total, carried, stats.Archived, stats.ArchiveWorkflows, runs)
	if carried >= 2_000_000 || carried > workflows.DefaultStateBudget {
		t.Errorf("carried state = %d bytes, want at most the %d budget and under 2 MB", carried, workflows.DefaultStateBudget)
	}
	if stats.Total < total || stats.Overflow.Count != 0 || stats.Archived == 0 {
		t.Errorf("stats = %+v, want every entry kept and the oldest bodies archived", stats)
	}
	checkRunHistories(ctx, t, h, id)

	// Replay-all of one target, with a refused second request and a retry.
	type answer struct {
		code int
		res  workflows.ReplayAllResult
		raw  string
	}
	replayAll := func(key string) answer {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.http.URL+"/api/v1/dlq/replay?target=sink", nil)
		req.Header.Set("Idempotency-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return answer{code: -1, raw: err.Error()}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var a answer
		a.code, a.raw = resp.StatusCode, string(b)
		_ = json.Unmarshal(b, &a.res)
		return a
	}
	before := len(s.all())
	start = time.Now()
	answers := make(chan answer, 2)
	go func() { answers <- replayAll("replay-5000") }()
	eventually(t, time.Minute, "replay-all running", func() bool {
		var st workflows.Stats
		return h.call("GET", "/api/v1/dlq/stats", "", &st) == 200 && st.ReplayAll != nil
	})
	if a := replayAll("another-key"); a.code != http.StatusConflict || !strings.Contains(a.raw, workflows.ErrReplayAllRunning) {
		t.Errorf("second replay-all = %d %s, want 409 already running", a.code, a.raw)
	}
	go func() { answers <- replayAll("replay-5000") }()
	first, retry := <-answers, <-answers
	took := time.Since(start)
	for name, a := range map[string]answer{"first": first, "retry": retry} {
		if a.code != 200 || !a.res.Done || a.res.Total != replayed || a.res.Delivered != replayed-1 || a.res.Skipped != 1 {
			t.Errorf("%s replay-all = %d %+v, want %d delivered and the superseded one skipped", name, a.code, a.res, replayed-1)
		}
	}
	// Each entry exactly once, with its full alert (read back from the
	// archive for the oldest).
	got := map[string]int{}
	for _, r := range s.all()[before:] {
		var wh alert.Webhook
		if err := json.Unmarshal([]byte(r.Raw), &wh); err != nil || len(wh.Alerts) != 1 {
			t.Fatalf("sink got %q", r.Raw)
		}
		a := wh.Alerts[0]
		if a.Annotations["description"] == "" || a.Labels["namespace"] == "" {
			t.Fatalf("replayed alert %s lacks its body: %+v", a.Fingerprint, a)
		}
		got[a.Fingerprint]++
	}
	want := map[string]bool{}
	for _, e := range entries[1:] {
		if e.Target == "sink" {
			want[e.Fingerprint] = true
		}
	}
	dups, missing := 0, 0
	for fp := range want {
		switch got[fp] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	if len(got) != len(want) || dups != 0 || missing != 0 || got["sup1"] != 0 {
		t.Errorf("sink got %d alerts (%d missing, %d more than once, superseded sent %d times), want each of %d once",
			len(got), missing, dups, got["sup1"], len(want))
	}
	if n := len(s.all()); n-normal != replayed-1 {
		t.Errorf("sink got %d replays, want %d", n-normal, replayed-1)
	}
	stats = workflows.Stats{}
	h.call("GET", "/api/v1/dlq/stats", "", &stats)
	if stats.Total != kept-replayed || stats.Superseded != 1 || stats.ByTarget["sink"] != 0 {
		t.Errorf("after replay-all: %+v", stats)
	}

	// Events of the dead-letter workflow per run.
	execs := listRuns(ctx, t, h, id)
	maxEvents, sum := 0, 0
	for _, ex := range execs {
		n := int(ex.GetHistoryLength())
		sum += n
		maxEvents = max(maxEvents, n)
	}
	t.Logf("replay-all of 5,000 took %s; dead-letter workflow: %d runs, at most %d events in one run, %d events in all runs (writes and replay)",
		took.Round(time.Second), len(execs), maxEvents, sum)
	// A run continues as new between batches once past 4,000 events
	// (docs/dead-letters.md): one batch and the signals that came
	// meanwhile on top of that, measured up to about 6,500.
	if maxEvents > 8000 {
		t.Errorf("largest run has %d events, want at most 8,000 (continue-as-new past 4,000, plus one batch)", maxEvents)
	}
}

// signalAll sends entries to the dead-letter workflow id from clients
// concurrent callers, each with SignalWithStart as the DeadLetter activity
// does.
func signalAll(ctx context.Context, t *testing.T, h *herald, id string, entries []workflows.DeadLetter, clients int) {
	t.Helper()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				// A loaded machine can time one RPC out; the dead-letter
				// workflow keys entries by ID, so a retried signal that did
				// get through is not counted twice.
				var err error
				for try := 0; try < 5; try++ {
					_, err = h.client.SignalWithStartWorkflow(ctx, id, workflows.DeadLetterAddSignal, entries[i],
						client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue}, workflows.DeadLetterWorkflowName, workflows.DeadLetterInput{})
					if err == nil || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(try+1) * 500 * time.Millisecond)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for i := range entries {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("signal: %v", firstErr)
	}
}

// carriedAfterNextRun signals extra entries until the dead-letter workflow
// continues as new, and returns the size of the new run's input (the state
// carried) and how many runs there are.
func carriedAfterNextRun(ctx context.Context, t *testing.T, h *herald, id string) (int, int) {
	t.Helper()
	runOf := func() string {
		d, err := h.client.DescribeWorkflowExecution(ctx, id, "")
		if err != nil {
			t.Fatalf("describe dead-letter workflow: %v", err)
		}
		return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	}
	was := runOf()
	extra := workflows.SampleDeadLetters(2000, 7, []string{"elsewhere"}, time.Now())
	for i := 0; ; i++ {
		if i == len(extra) {
			t.Fatal("the dead-letter workflow never continued as new")
		}
		extra[i].ID = fmt.Sprintf("extra-%d", i)
		if err := h.client.SignalWorkflow(ctx, id, "", workflows.DeadLetterAddSignal, extra[i]); err != nil {
			t.Fatalf("signal extra entry %d: %v", i, err)
		}
		// In groups with a pause: a run continues as new in a quiet moment.
		if i%50 == 49 {
			time.Sleep(2 * time.Second)
			if runOf() != was {
				break
			}
		}
	}
	var run string
	eventually(t, 30*time.Second, "new run", func() bool { run = runOf(); return run != was })
	// Only the first event: the run's input.
	resp, err := h.client.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: server.GetDefaultNamespace(), Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: run},
		MaximumPageSize: 1})
	if err != nil {
		t.Fatalf("first event of run %s: %v", run, err)
	}
	in := resp.GetHistory().GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(in) != 1 {
		t.Fatalf("new run input = %v", in)
	}
	return len(in[0].GetData()), len(listRuns(ctx, t, h, id))
}

func listRuns(ctx context.Context, t *testing.T, h *herald, id string) []*workflowpb.WorkflowExecutionInfo {
	t.Helper()
	var execs []*workflowpb.WorkflowExecutionInfo
	var token []byte
	for {
		resp, err := h.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: server.GetDefaultNamespace(), Query: fmt.Sprintf("WorkflowId = %q", id), PageSize: 1000, NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		execs = append(execs, resp.GetExecutions()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return execs
		}
	}
}

// checkRunHistories checks that every run of the workflow id stays far
// below Temporal's history limits (51,200 events and 50 MB per history) and
// that it continued as new at least once.
func checkRunHistories(ctx context.Context, t *testing.T, h *herald, id string) {
	t.Helper()
	var execs []*workflowpb.WorkflowExecutionInfo
	eventually(t, 30*time.Second, "runs visible", func() bool {
		resp, err := h.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: server.GetDefaultNamespace(), Query: fmt.Sprintf("WorkflowId = %q", id), PageSize: 1000})
		if err != nil {
			return false
		}
		execs = resp.GetExecutions()
		return len(execs) >= 2
	})
	maxEvents, maxBytes := int64(0), int64(0)
	for _, ex := range execs {
		maxEvents = max(maxEvents, ex.GetHistoryLength())
		maxBytes = max(maxBytes, ex.GetHistorySizeBytes())
	}
	t.Logf("dead letters: %d runs, largest history %d events, %d bytes", len(execs), maxEvents, maxBytes)
	// Under a flood of signals a run can only continue as new once the
	// flood pauses, so a run may hold more than its usual share; it must
	// still stay at half of Temporal's hard limits.
	if maxEvents > 25000 || maxBytes > 25<<20 {
		t.Errorf("largest run history: %d events, %d bytes; want at most half of 51,200 events / 50 MB", maxEvents, maxBytes)
	}
}
