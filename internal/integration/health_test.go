package integration

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// TestTargetDownAlertsFlowAndItCatchesUp is the scenario "a target goes
// down, alerts keep flowing to the others, the down target catches up
// after recovery, nothing is lost" on a real Temporal server.
func TestTargetDownAlertsFlowAndItCatchesUp(t *testing.T) {
	up := newSink(t)
	var isDown atomic.Bool
	isDown.Store(true)
	downSink := newSink(t)
	down := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isDown.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		downSink.Config.Handler.ServeHTTP(w, r)
	}))
	h := startHerald(t, []target.Target{
		webhookTargetFor("up", up, quickRetry(3)),
		{Name: "down", Type: "webhook", URL: down.URL + "/hook", Retry: quickRetry(3)},
	}, func(c *config.Config) { c.HealthRecheck = time.Second })

	// Three failed checks make the target unhealthy (shared state).
	var res ingest.CheckResult
	for i := 0; i < 3; i++ {
		if code := h.call("POST", "/api/v1/targets/down/check", "", &res); code != 200 {
			t.Fatalf("check = %d", code)
		}
	}
	if res.Health.State != health.StateUnhealthy || res.Observation.OK {
		t.Fatalf("after 3 failed checks: %+v", res)
	}
	var st ingest.HealthView
	if code := h.call("GET", "/api/v1/targets/down/health", "", &st); code != 200 || st.State != health.StateUnhealthy {
		t.Fatalf("GET health = %d %+v", code, st)
	}

	a := firingAlert("hd1", "TargetDown")
	if code, body := h.post(webhookBody(a)); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 30*time.Second, "healthy target gets the alert", func() bool { return up.count("firing") == 1 })
	eventually(t, 10*time.Second, "delivery to the down target is held back", func() bool {
		_, v := h.alertState("hd1")
		for _, ts := range v.Targets {
			if ts.Name == "down" {
				return ts.Status == contract.DeliveryWaiting
			}
		}
		return false
	})
	if n := len(downSink.all()); n != 0 {
		t.Fatalf("down target was sent %d notifications while unhealthy", n)
	}

	// Recovery: a successful check flips it healthy; the held-back
	// delivery goes out.
	isDown.Store(false)
	if code := h.call("POST", "/api/v1/targets/down/check", "", &res); code != 200 || res.Health.State != health.StateHealthy {
		t.Fatalf("check after recovery = %d %+v", code, res)
	}
	eventually(t, 30*time.Second, "down target catches up", func() bool { return downSink.count("firing") == 1 })
	h.post(webhookBody(resolvedAlert(a)))
	final := h.waitWorkflowDone("hd1")
	for _, ts := range final.Targets {
		if ts.Status != contract.DeliveryDelivered || ts.Event != "resolved" {
			t.Errorf("%s: %s/%s at the end, want delivered/resolved", ts.Name, ts.Status, ts.Event)
		}
	}
	if up.count("firing") != 1 || downSink.count("firing") != 1 || downSink.count("resolved") != 1 {
		t.Errorf("up firing=%d, down firing=%d resolved=%d; want 1 each", up.count("firing"),
			downSink.count("firing"), downSink.count("resolved"))
	}
	var targets struct {
		Targets []ingest.TargetView `json:"targets"`
	}
	if code := h.call("GET", "/api/v1/targets", "", &targets); code != 200 {
		t.Fatalf("GET /api/v1/targets = %d", code)
	}
	listed := false
	for _, tv := range targets.Targets {
		if tv.Name != "down" {
			continue
		}
		listed = true
		if tv.Health == nil || tv.Health.State != health.StateHealthy {
			t.Errorf("targets API health of down = %+v", tv.Health)
		}
	}
	if !listed {
		t.Errorf("targets API does not list the target down: %+v", targets.Targets)
	}
}

func TestHealthScheduleIsCreatedOnce(t *testing.T) {
	c := server.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const queue = "schedule-once"
	for _, every := range []time.Duration{time.Hour, 2 * time.Hour} {
		if err := app.EnsureHealthSchedule(ctx, c, queue, every); err != nil {
			t.Fatalf("ensure schedule (%s): %v", every, err)
		}
	}
	id := workflows.HealthScheduleIDFor(queue)
	// Visibility of schedules is eventually consistent: wait until the
	// schedule is listed, then it must be listed exactly once.
	n := 0
	eventually(t, 20*time.Second, "the health schedule listed", func() bool {
		it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
		if err != nil {
			return false
		}
		n = 0
		for it.HasNext() {
			s, err := it.Next()
			if err != nil {
				return false
			}
			if s.ID == id {
				n++
			}
		}
		return n > 0
	})
	if n != 1 {
		t.Errorf("schedule %s listed %d times, want once", id, n)
	}
	desc, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A slow run is never overlapped by the next (docs/workflows.md).
	if got := desc.Schedule.Policy.Overlap; got != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP {
		t.Errorf("overlap policy = %v, want skip", got)
	}
	if got := desc.Schedule.Spec.Intervals; len(got) != 1 || got[0].Every != 2*time.Hour {
		t.Errorf("intervals = %+v, want one of 2h (updated, not duplicated)", got)
	}
}
