package integration

import (
	"context"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// historyDir holds the committed histories that workflows/replay_test.go
// replays on every test run.
const historyDir = "../../workflows/testdata"

// TestRecordedScenarios runs workflow scenarios on the real server (new
// alerts start on the current alert workflow type, AlertLifecycle) and
// replays their fresh histories against the current code. The
// first-generation fixtures (alert_v*.json) stay committed: they replay
// in workflows/replay_test.go while that type is registered. With
// HERALD_UPDATE_HISTORIES=1 it also writes the committed fixtures that do
// not exist yet; existing fixtures are never overwritten, because they are
// the record of what older code did.
func TestRecordedScenarios(t *testing.T) {
	update := os.Getenv("HERALD_UPDATE_HISTORIES") == "1"
	flaky := newSink(t, response{Status: 503}, response{Status: 200})
	good := newSink(t)
	broken := newSink(t, response{Status: 400, Body: "rejected"})
	fwd := newSink(t)
	h := startHerald(t, []target.Target{
		webhookTargetFor("good", good, quickRetry(5)),
		webhookTargetFor("flaky", flaky, quickRetry(5)),
		webhookTargetFor("broken", broken, quickRetry(5)),
		// Another Alertmanager: a firing alert is re-sent every TTL/3.
		{Name: "fwd", Type: "alertmanager", URL: fwd.URL, Retry: quickRetry(5),
			Config: &alertmanager.Config{Alertmanager: &alertmanager.Options{ForwardTTL: target.Duration(6 * time.Second)}}},
	})
	dlqID := workflows.DeadLetterWorkflowIDFor(h.taskQueue)

	scenarios := []struct {
		file       string
		fp         string
		workflowID string
		steps      func(fp string)
	}{
		{"lifecycle_fanout_resolve.json", "hist1", "", func(fp string) {
			a := firingAlert(fp, "HistoryFanOut")
			h.post(webhookBody(a))
			eventually(t, 30*time.Second, "firing done", func() bool { return flaky.count("firing") >= 1 && good.count("firing") >= 1 })
			h.post(webhookBody(a)) // repeat, suppressed
			b := a
			b.Annotations = map[string]string{"summary": "changed"}
			h.post(webhookBody(b)) // update
			time.Sleep(time.Second)
			h.post(webhookBody(resolvedAlert(b)))
		}},
		{"lifecycle_refire.json", "hist2", "", func(fp string) {
			a := firingAlert(fp, "HistoryReFire")
			h.post(webhookBody(a))
			time.Sleep(time.Second)
			h.post(webhookBody(resolvedAlert(a)))
			h.post(webhookBody(a))
			time.Sleep(time.Second)
			h.post(webhookBody(resolvedAlert(a)))
		}},
		{"lifecycle_order_refire.json", "hist4", "", func(fp string) {
			// A stale firing after its resolve is ignored, a genuine
			// re-fire (later StartsAt) is a new episode.
			a := firingAlert(fp, "HistoryOrder")
			h.post(webhookBody(a))
			eventually(t, 30*time.Second, "firing done", func() bool { return good.countFP(fp, "firing") >= 1 })
			h.post(webhookBody(resolvedAlert(a)))
			eventually(t, 30*time.Second, "resolve done", func() bool { return good.countFP(fp, "resolved") >= 1 })
			h.post(webhookBody(a)) // stale
			b := a
			b.StartsAt = resolvedAlert(a).EndsAt.Add(time.Minute)
			h.post(webhookBody(b))
			eventually(t, 30*time.Second, "re-fire done", func() bool { return good.countFP(fp, "firing") >= 2 })
			h.post(webhookBody(resolvedAlert(b)))
		}},
		{"lifecycle_resend_update.json", "hist5", "", func(fp string) {
			// The alert is re-sent to the alertmanager target while it
			// fires; an update and the resolve.
			a := firingAlert(fp, "HistoryLocalPrepare")
			start := len(fwd.all())
			h.post(webhookBody(a))
			eventually(t, 30*time.Second, "firing done", func() bool { return good.countFP(fp, "firing") >= 1 })
			eventually(t, 30*time.Second, "two re-sends to the alertmanager target", func() bool { return len(fwd.all())-start >= 3 })
			b := a
			b.Annotations = map[string]string{"summary": "changed"}
			h.post(webhookBody(b))
			eventually(t, 30*time.Second, "update done", func() bool { return good.countFP(fp, "firing") >= 2 })
			h.post(webhookBody(resolvedAlert(b)))
		}},
		{"lifecycle_deadletter_replay.json", "hist3", "", func(fp string) {
			a := firingAlert(fp, "HistoryDeadLetter")
			h.post(webhookBody(a))
			var list workflows.ListResponse
			eventually(t, 30*time.Second, "dead letter written", func() bool {
				return h.call("GET", "/api/v1/dlq?fingerprint="+fp, "", &list) == 200 && list.Matched == 1
			})
			broken.AnswerFromNowOn(publishtest.OK("")) // fixed
			var res workflows.ReplayResult
			if code := h.call("POST", "/api/v1/dlq/"+list.Entries[0].ID+"/replay", "", &res); code != 200 {
				t.Fatalf("replay = %d %+v", code, res)
			}
			h.post(webhookBody(resolvedAlert(a)))
		}},
	}
	for i := range scenarios {
		scenarios[i].workflowID = contract.AlertWorkflowID(scenarios[i].fp)
	}
	// The dead-letter workflow as the scenarios left it (running).
	scenarios = append(scenarios, struct {
		file       string
		fp         string
		workflowID string
		steps      func(fp string)
	}{"deadletter_v1.json", "", dlqID, func(string) {}})
	// The dead-letter workflow terminated with its entries: the next dead
	// letter starts a run that recovers them (versionHardened), then a drop
	// and a replay.
	scenarios = append(scenarios, struct {
		file       string
		fp         string
		workflowID string
		steps      func(fp string)
	}{"deadletter_v2_recovered.json", "", dlqID, func(string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := h.client.TerminateWorkflow(ctx, dlqID, "", "recording a recovery"); err != nil {
			t.Fatal(err)
		}
		broken.AnswerFromNowOn(response{Status: 400, Body: "rejected"})
		a := firingAlert("hist6", "HistoryRecovered")
		h.post(webhookBody(a))
		var list workflows.ListResponse
		eventually(t, 60*time.Second, "recovered run lists old and new dead letters", func() bool {
			return h.call("GET", "/api/v1/dlq?limit=100", "", &list) == 200 && list.Total > 1 &&
				slices.ContainsFunc(list.Entries, func(e *workflows.DeadLetter) bool { return e.Fingerprint == "hist6" })
		})
		var old, fresh string
		for _, e := range list.Entries {
			if e.Fingerprint == "hist6" {
				fresh = e.ID
			} else if old == "" {
				old = e.ID
			}
		}
		if code := h.call("DELETE", "/api/v1/dlq/"+old, "", nil); code != 200 {
			t.Fatalf("drop of a recovered entry = %d", code)
		}
		broken.AnswerFromNowOn(publishtest.OK(""))
		var res workflows.ReplayResult
		if code := h.call("POST", "/api/v1/dlq/"+fresh+"/replay", "", &res); code != 200 {
			t.Fatalf("replay = %d %+v", code, res)
		}
		h.post(webhookBody(resolvedAlert(a)))
		h.waitWorkflowDone("hist6")
	}})
	for _, sc := range scenarios {
		sc.steps(sc.fp)
		if sc.fp != "" {
			h.waitWorkflowDone(sc.fp)
		}
		recordHistory(t, h, sc.workflowID, "", sc.file, update)
	}
}

// recordHistory fetches the history of a workflow run once it is settled,
// replays it against the current code and, with update set, writes it as
// the committed fixture file when that does not exist yet. Existing
// fixtures are never overwritten: they are the record of what older code
// did, pinned by workflows/testdata/MANIFEST.sha256.
func recordHistory(t *testing.T, h *herald, workflowID, runID, file string, update bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hist := settledHistory(ctx, t, h, workflowID, runID)
	data, err := history.Marshal(hist)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	path := filepath.Join(t.TempDir(), file)
	fixture := filepath.Join(historyDir, file)
	write := false
	if _, err := os.Stat(fixture); update && os.IsNotExist(err) {
		path, write = fixture, true
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := history.Replay(workflows.Register, path); err != nil {
		t.Errorf("%s: fresh history does not replay: %v", file, err)
	}
	if write {
		fmt.Printf("wrote %s (%d events); append its line to %s/MANIFEST.sha256\n", path, len(hist.Events), historyDir)
	}
}

// settledHistory returns the history of a run with no workflow task in
// flight: a history cut between a task's start and its completion would
// record a half-made decision, which is not what a worker ever replays.
func settledHistory(ctx context.Context, t *testing.T, h *herald, workflowID, runID string) *historypb.History {
	t.Helper()
	for {
		d, err := h.client.DescribeWorkflowExecution(ctx, workflowID, runID)
		if err != nil {
			t.Fatalf("describe %s: %v", workflowID, err)
		}
		if d.GetPendingWorkflowTask() == nil {
			hist, err := history.Fetch(ctx, h.client, workflowID, runID)
			if err != nil {
				t.Fatal(err)
			}
			// Nothing arrived between the describe and the fetch.
			if int64(len(hist.Events)) == d.GetWorkflowExecutionInfo().GetHistoryLength() {
				return hist
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("history of %s did not settle: %v", workflowID, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestRecordedSupportWorkflows records the workflow types besides the alert
// workflows, each doing real work on the real server: the dead-letter
// workflow archiving bodies, replaying an archived entry and releasing the
// archive; the archive workflow holding, serving and being released; a
// health check of a healthy and a failing target; and the health state
// taking probe and delivery observations through unknown, unhealthy and
// healthy. HERALD_UPDATE_HISTORIES=1 writes the fixtures that do not exist
// yet (see TestRecordedScenarios).
func TestRecordedSupportWorkflows(t *testing.T) {
	update := os.Getenv("HERALD_UPDATE_HISTORIES") == "1"
	good := newSink(t)
	var isDown atomic.Bool
	isDown.Store(true)
	down := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	h := startHerald(t, []target.Target{
		webhookTargetFor("good", good, quickRetry(3)),
		{Name: "down", Type: "webhook", URL: down.URL + "/hook", Retry: quickRetry(2)},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	t.Run("dead-letter archive", func(t *testing.T) {
		id := workflows.DeadLetterWorkflowIDFor(h.taskQueue)
		// Three entries per run and a 1 KiB budget: every continue-as-new
		// moves the bodies into a new archive workflow.
		if _, err := h.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: h.taskQueue},
			workflows.DeadLetterWorkflowName, workflows.DeadLetterInput{SignalLimit: 3, StateBudget: 1024}); err != nil {
			t.Fatalf("start dead letters: %v", err)
		}
		entries := workflows.SampleDeadLetters(6, 18, []string{"good"}, time.Now().Add(-time.Hour))
		signal := func(es []workflows.DeadLetter) {
			t.Helper()
			for _, e := range es {
				if err := h.client.SignalWorkflow(ctx, id, "", workflows.DeadLetterAddSignal, e); err != nil {
					t.Fatalf("signal dead letter %s: %v", e.ID, err)
				}
			}
		}
		signal(entries[:3])
		var stats workflows.Stats
		eventually(t, 30*time.Second, "three bodies archived after a continue-as-new", func() bool {
			return h.call("GET", "/api/v1/dlq/stats", "", &stats) == 200 && stats.Total == 3 && stats.Archived == 3
		})
		var list workflows.ListResponse
		if code := h.call("GET", "/api/v1/dlq?limit=10", "", &list); code != 200 || len(list.Entries) != 3 || list.Entries[0].Archive == "" {
			t.Fatalf("list = %d %+v, want three archived entries", code, list.Entries)
		}
		archive := list.Entries[0].Archive
		// The archive serves the bodies it holds.
		q, err := h.client.QueryWorkflow(ctx, archive, "", workflows.DeadLetterArchiveBodiesQuery, []string{entries[1].ID})
		if err != nil {
			t.Fatalf("query archive %s: %v", archive, err)
		}
		var bodies map[string]activities.ArchivedBody
		if err := q.Get(&bodies); err != nil {
			t.Fatalf("decode archived bodies: %v", err)
		}
		if got := bodies[entries[1].ID].Alert.Annotations["description"]; got == "" || got != entries[1].Alert.Annotations["description"] {
			t.Fatalf("archive serves description %q, want %q", got, entries[1].Alert.Annotations["description"])
		}
		run := currentRunOf(ctx, t, h, id)
		// Run 2: a replay reads its body back from the archive; the other
		// two are dropped, so nothing refers to the archive any more.
		var res workflows.ReplayResult
		if code := h.call("POST", "/api/v1/dlq/"+entries[0].ID+"/replay", "", &res); code != 200 || !res.Delivered {
			t.Fatalf("replay of an archived entry = %d %+v", code, res)
		}
		if n := good.countFP(entries[0].Fingerprint, "firing"); n != 1 {
			t.Errorf("replayed alert reached the target %d times, want once", n)
		}
		for _, e := range entries[1:3] {
			if code := h.call("DELETE", "/api/v1/dlq/"+e.ID, "", nil); code != 200 {
				t.Fatalf("drop %s = %d", e.ID, code)
			}
		}
		// Three more entries end run 2: it releases the unused archive and
		// archives the new bodies into a second one.
		signal(entries[3:])
		eventually(t, 30*time.Second, "run 2 continued as new, the first archive released", func() bool {
			d, err := h.client.DescribeWorkflowExecution(ctx, archive, "")
			return err == nil && d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED &&
				currentRunOf(ctx, t, h, id) != run
		})
		recordHistory(t, h, archive, "", "deadletter_archive_served_released.json", update)
		recordHistory(t, h, id, run, "deadletter_v2_archive_replay_release.json", update)
	})

	t.Run("health check", func(t *testing.T) {
		// No target list: the workflow lists the enabled targets itself.
		run, err := h.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.HealthScheduleIDFor(h.taskQueue) + "-recorded", TaskQueue: h.taskQueue,
		}, workflows.HealthCheckWorkflowName, workflows.HealthCheckInput{})
		if err != nil {
			t.Fatalf("start health check: %v", err)
		}
		var obs []health.Observation
		if err := run.Get(ctx, &obs); err != nil {
			t.Fatalf("health check: %v", err)
		}
		ok := map[string]bool{}
		for _, o := range obs {
			ok[o.Target] = o.OK
		}
		if len(obs) != 2 || !ok["good"] || ok["down"] {
			t.Fatalf("observations = %+v, want good ok and down failing", obs)
		}
		recordHistory(t, h, run.GetID(), run.GetRunID(), "health_check_healthy_failing.json", update)
	})

	t.Run("health state", func(t *testing.T) {
		// Two more failed checks make down unhealthy (three in a row),
		// then it recovers; a delivery to good reports its outcome too.
		var res ingest.CheckResult
		for i := 0; i < 2; i++ {
			if code := h.call("POST", "/api/v1/targets/down/check", "", &res); code != 200 {
				t.Fatalf("check = %d", code)
			}
		}
		if res.Health.State != health.StateUnhealthy {
			t.Fatalf("after three failed checks: %+v, want unhealthy", res.Health)
		}
		isDown.Store(false)
		if code := h.call("POST", "/api/v1/targets/down/check", "", &res); code != 200 || res.Health.State != health.StateHealthy {
			t.Fatalf("check after recovery = %d %+v, want healthy", code, res.Health)
		}
		a := firingAlert("hist7", "HistoryHealth")
		h.post(webhookBody(a))
		eventually(t, 30*time.Second, "delivered", func() bool { return good.countFP("hist7", "firing") == 1 })
		h.post(webhookBody(resolvedAlert(a)))
		h.waitWorkflowDone("hist7")
		id := workflows.HealthStateWorkflowIDFor(h.taskQueue)
		eventually(t, 30*time.Second, "the delivery's observation in the health state", func() bool {
			hist, err := history.Fetch(ctx, h.client, id, "")
			if err != nil {
				return false
			}
			signals := 0
			for _, ev := range hist.GetEvents() {
				if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED {
					signals++
				}
			}
			// The first check, three checks of down, and the deliveries.
			return signals >= 5
		})
		recordHistory(t, h, id, "", "health_state_updates.json", update)
	})
}

// currentRunOf is the run ID of the current run of a workflow.
func currentRunOf(ctx context.Context, t *testing.T, h *herald, id string) string {
	t.Helper()
	d, err := h.client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	return d.GetWorkflowExecutionInfo().GetExecution().GetRunId()
}
