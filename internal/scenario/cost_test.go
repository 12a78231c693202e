package scenario

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/history"
)

// Engine cost of one alert, read from its history as `worker export`
// writes it: the cost goals of the alert workflow are pinned here, so a
// change that adds history events fails.
const (
	// A firing alert to 3 targets: started, signaled, one workflow task
	// (3 events), the preparation and 3 deliveries as local-activity
	// markers, the targets upsert, the inactivity timer.
	firingEvents = 11
	// Its resolve: signaled, one workflow task, the preparation and 3
	// markers, the status upsert, the linger timer.
	resolveEvents = 10
	// The end, after the linger: the timer fires, one workflow task, the
	// completion. The inactivity timer of the firing is never cancelled
	// (no TimerCanceled event).
	endEvents = 5
)

// (h) The cost of an alert: a firing alert to 3 webhook targets and its
// resolve, on `worker dev` with its defaults, each exported with
// `worker export` and counted.
func TestScenarioHCostPerAlert(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	r := NewReceiver(t, "cost", ReceiverConfig{})
	frontend, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(frontend)
	h := StartHerald(t, HeraldOptions{
		Targets: []map[string]any{webhookTarget("c1", r.URL+"/1"), webhookTarget("c2", r.URL+"/2"), webhookTarget("c3", r.URL+"/3")},
		// A short linger, so the test sees the workflow complete.
		Env: map[string]string{"HERALD_TEMPORAL_PORT": port, "HERALD_RESOLVED_LINGER": "3s"},
	})
	s := NewSender(h)
	a := genAlerts("cost", 1, 1)[0]
	export := func(name string) history.Cost {
		t.Helper()
		out := filepath.Join(t.TempDir(), name+".json")
		cmd := exec.CommandContext(ctx, workerBin, "export", "-workflow-id", "alert-"+a.Fingerprint, "-out", out, "-temporal-address", frontend)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("worker export: %v\n%s", err, b)
		}
		hist, err := history.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s", name, strings.TrimSpace(string(b)))
		return history.CostOf(hist)
	}
	// The state query answers from completed workflow tasks only: once it
	// shows every target delivered, the history holds the deliveries.
	deliveredAll := func(event string) bool {
		v, _, err := h.Alert(a.Fingerprint)
		if err != nil || len(v.Targets) != 3 {
			return false
		}
		for _, ts := range v.Targets {
			if ts.Status != "delivered" || ts.Event != event {
				return false
			}
		}
		return true
	}

	if err := s.Send(ctx, []WebhookAlert{a}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := waitFor(ctx, time.Minute, 50*time.Millisecond, func() bool { return deliveredAll("firing") }); !ok {
		t.Fatalf("firing not delivered to 3 targets: %s", r.Tally("firing", []string{a.Fingerprint}))
	}
	firing := export("firing")
	if err := s.Send(ctx, []WebhookAlert{resolvedAt(a, time.Now())}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := waitFor(ctx, time.Minute, 50*time.Millisecond, func() bool { return deliveredAll("resolved") }); !ok {
		t.Fatalf("resolve not delivered to 3 targets")
	}
	both := export("resolved")
	resolve := both.Sub(firing)
	if ok, _ := waitFor(ctx, time.Minute, 100*time.Millisecond, func() bool {
		v, _, err := h.Alert(a.Fingerprint)
		return err == nil && v.WorkflowStatus == "completed"
	}); !ok {
		t.Fatal("alert workflow did not complete after the linger")
	}
	end := export("completed").Sub(both)
	t.Logf("scenario (h) cost per alert, 3 targets: firing %s; resolve %s; end %s", firing, resolve, end)

	if firing.Events != firingEvents || firing.WorkflowTasks != 1 || firing.Activities != 0 {
		t.Errorf("firing alert to 3 targets: %s; want %d events in 1 workflow task and no activity", firing, firingEvents)
	}
	if resolve.Events != resolveEvents || resolve.WorkflowTasks != 1 || resolve.Activities != 0 {
		t.Errorf("its resolve: %s; want %d events in 1 workflow task and no activity", resolve, resolveEvents)
	}
	if end.Events != endEvents || end.WorkflowTasks != 1 {
		t.Errorf("completion after the linger: %s; want %d events in 1 workflow task", end, endEvents)
	}
	if r.Count(a.Fingerprint, "firing") != 3 || r.Count(a.Fingerprint, "resolved") != 3 {
		t.Errorf("receiver got %d firing, %d resolved; want 3 and 3", r.Count(a.Fingerprint, "firing"), r.Count(a.Fingerprint, "resolved"))
	}
}
