package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/history"
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
		{Name: "fwd", Type: target.TypeAlertmanager, URL: fwd.URL, Retry: quickRetry(5),
			Alertmanager: &target.AlertmanagerOptions{ForwardTTL: target.Duration(6 * time.Second)}},
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
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		hist, err := history.Fetch(ctx, h.client, sc.workflowID, "")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		data, err := history.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), sc.file)
		fixture := filepath.Join(historyDir, sc.file)
		write := false
		if _, err := os.Stat(fixture); update && os.IsNotExist(err) {
			path, write = fixture, true
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := history.Replay(workflows.Register, path); err != nil {
			t.Errorf("%s: fresh history does not replay: %v", sc.file, err)
		}
		if write {
			fmt.Printf("wrote %s (%d events)\n", path, len(hist.Events))
		}
	}
}
