package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// historyDir holds the committed histories that workflows/replay_test.go
// replays on every test run.
const historyDir = "../../workflows/testdata"

// TestRecordedScenarios runs workflow scenarios on the real server and
// replays their fresh histories against the current code. With
// HERALD_UPDATE_HISTORIES=1 it also (re)writes the committed fixtures:
// do that only for a new workflow version, keeping the old fixtures.
func TestRecordedScenarios(t *testing.T) {
	update := os.Getenv("HERALD_UPDATE_HISTORIES") == "1"
	flaky := newSink(t, response{Status: 503}, response{Status: 200})
	good := newSink(t)
	broken := newSink(t, response{Status: 400, Body: "rejected"})
	h := startHerald(t, []target.Target{
		webhookTargetFor("good", good, quickRetry(5)),
		webhookTargetFor("flaky", flaky, quickRetry(5)),
		webhookTargetFor("broken", broken, quickRetry(5)),
	})

	scenarios := []struct {
		file  string
		fp    string
		steps func(fp string)
	}{
		{"alert_v1_fanout_resolve.json", "hist1", func(fp string) {
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
		{"alert_v1_refire.json", "hist2", func(fp string) {
			a := firingAlert(fp, "HistoryReFire")
			h.post(webhookBody(a))
			time.Sleep(time.Second)
			h.post(webhookBody(resolvedAlert(a)))
			h.post(webhookBody(a))
			time.Sleep(time.Second)
			h.post(webhookBody(resolvedAlert(a)))
		}},
	}
	for _, sc := range scenarios {
		sc.steps(sc.fp)
		h.waitWorkflowDone(sc.fp)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		hist, err := history.Fetch(ctx, h.client, workflows.AlertWorkflowID(sc.fp), "")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		data, err := history.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), sc.file)
		if update {
			path = filepath.Join(historyDir, sc.file)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := history.Replay(workflows.Register, path); err != nil {
			t.Errorf("%s: fresh history does not replay: %v", sc.file, err)
		}
		if update {
			fmt.Printf("wrote %s (%d events)\n", path, len(hist.Events))
		}
	}
}
