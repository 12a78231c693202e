package alertflow_test

import (
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows/alertflow"
)

// A firing alert goes to every target and its resolve follows, each first
// attempt a local activity: no regular activity runs on the happy path.
func TestFanOutAndResolveWithLocalFirstAttempts(t *testing.T) {
	rcs := map[string]*receiver{"a": newReceiver(t), "b": newReceiver(t), "c": newReceiver(t)}
	h := newHarness(t, nil, rcs)
	f := firing(t0, map[string]string{"summary": "disk full"})
	h.signalAt(0, f)
	h.signalAt(time.Minute, f) // a repeat: suppressed
	h.signalAt(2*time.Minute, resolvedAt(f, t0, t0.Add(time.Hour)))
	st := h.run()
	for name, rc := range rcs {
		if rc.count("firing") != 1 || rc.count("resolved") != 1 {
			t.Errorf("%s got %d firing, %d resolved; want 1 and 1", name, rc.count("firing"), rc.count("resolved"))
		}
		ts := target_(t, st, name)
		if ts.Status != contract.DeliveryDelivered || ts.Event != "resolved" || ts.TotalAttempts != 2 || len(ts.Records) != 2 {
			t.Errorf("%s: %+v", name, ts)
		}
	}
	if st.Completed != contract.CompletedResolved || st.Suppressed != 1 || st.Episode != 1 {
		t.Errorf("state: completed %q suppressed %d episode %d", st.Completed, st.Suppressed, st.Episode)
	}
	if n := h.started(h.regular, "Publish"); n != 0 {
		t.Errorf("%d regular publish activities on the happy path, want 0", n)
	}
	if n := h.started(h.local, "Publish"); n != 6 {
		t.Errorf("%d local publish activities, want 6", n)
	}
	if n := h.started(h.local, "Prepare"); n != 2 {
		t.Errorf("%d Prepare local activities, want 2 (one per episode start and resolve)", n)
	}
}

// Delivery settings are the worker's: the workflow reads them through
// Prepare, none is frozen into its input.
func TestSettingsComeFromTheWorker(t *testing.T) {
	rcs := map[string]*receiver{"a": newReceiver(t)}
	h := newHarness(t, func(c *config.Config) { c.ResolvedLinger = 3 * time.Minute; c.AlertInactivity = 5 * time.Hour }, rcs)
	f := firing(t0, nil)
	h.signalAt(0, f)
	h.signalAt(time.Minute, resolvedAt(f, t0, t0.Add(time.Hour)))
	start := h.env.Now()
	st := h.run()
	if st.Settings.ResolvedLinger != 3*time.Minute || st.Settings.InactivityTimeout != 5*time.Hour {
		t.Errorf("settings = %+v", st.Settings)
	}
	if took := h.env.Now().Sub(start); took < 4*time.Minute || took > 5*time.Minute {
		t.Errorf("workflow took %s of workflow time, want the 1m to resolve + the worker's 3m linger", took)
	}
}

// A first attempt that fails goes on as a regular activity with the
// attempts left; one that is refused for good is dead-lettered at once.
func TestFirstAttemptFailures(t *testing.T) {
	tests := []struct {
		name        string
		script      []int
		wantStatus  string
		wantTries   int32
		wantRegular int // attempts of regular activities
		wantDead    int
	}{
		{"retryable then ok", []int{500, 503}, contract.DeliveryDelivered, 3, 2, 0},
		{"permanent", []int{400}, contract.DeliveryDeadLettered, 1, 0, 1},
		{"retryable until the attempts end", []int{500, 500, 500, 500}, contract.DeliveryDeadLettered, 4, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcs := map[string]*receiver{"ok": newReceiver(t), "flaky": newReceiver(t, tc.script...)}
			h := newHarness(t, nil, rcs)
			h.signalAt(0, firing(t0, nil))
			h.signalAt(time.Hour, resolvedAt(firing(t0, nil), t0, t0.Add(time.Hour)))
			st := h.run()
			ts := target_(t, st, "flaky")
			fired := ts.Records[0]
			if fired.Outcome != tc.wantStatus || fired.Attempts != tc.wantTries {
				t.Errorf("firing record %+v, want outcome %s after %d attempts", fired, tc.wantStatus, tc.wantTries)
			}
			if got := rcs["flaky"].count("firing"); got != int(tc.wantTries) {
				t.Errorf("receiver got %d firing requests, want %d", got, tc.wantTries)
			}
			if n := h.started(h.regular, "Publish"); n != tc.wantRegular {
				t.Errorf("%d attempts of regular publish activities, want %d", n, tc.wantRegular)
			}
			if len(h.deadLetters) != tc.wantDead {
				t.Errorf("%d dead letters, want %d", len(h.deadLetters), tc.wantDead)
			}
			// A dead letter keeps what its replay publishes with.
			for _, e := range h.deadLetters {
				if e.Classification == nil || e.Classification.Severity == "" || e.Episode != 1 {
					t.Errorf("dead letter %s: classification %+v, episode %d; want the delivery's (episode 1)", e.ID, e.Classification, e.Episode)
				}
			}
			if rcs["ok"].count("firing") != 1 || target_(t, st, "ok").Records[0].Attempts != 1 {
				t.Errorf("healthy target: %+v", target_(t, st, "ok"))
			}
		})
	}
}

// A slow target never delays another: its first attempt times out and
// goes on as a regular activity, while the others are delivered at once.
func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	slow := newReceiver(t)
	slow.delay = 1500 * time.Millisecond
	rcs := map[string]*receiver{"fast": newReceiver(t), "slow": slow}
	h := newHarness(t, func(c *config.Config) { c.FirstAttemptTimeout = 300 * time.Millisecond }, rcs)
	h.signalAt(0, firing(t0, nil))
	h.signalAt(time.Hour, resolvedAt(firing(t0, nil), t0, t0.Add(time.Hour)))
	st := h.run()
	if d := rcs["fast"].first().Sub(slow.first()); d > time.Second || d < -time.Second {
		t.Errorf("fast target got its alert %s after the slow one's request started", d)
	}
	if ts := target_(t, st, "slow"); ts.Records[0].Outcome != contract.DeliveryDelivered || ts.Records[0].Attempts < 2 {
		t.Errorf("slow target: %+v", ts.Records)
	}
	if n := h.started(h.regular, "Publish"); n < 1 {
		t.Error("the slow first attempt did not go on as a regular activity")
	}
}

// Resolves that API clients make (startsAt = endsAt, matching no episode)
// close the current episode; only a resolve of a closed episode is stale.
func TestResolvesFromAPIClients(t *testing.T) {
	f := firing(t0, nil)
	tests := []struct {
		name      string
		notes     []alertAt
		wantFire  int
		wantRes   int
		wantStale int
		wantDone  string
	}{
		{"endsAt only, before the firing's startsAt", []alertAt{{0, f}, {time.Minute, resolvedAt(f, t0.Add(-time.Hour), t0.Add(-time.Hour))}}, 1, 1, 0, contract.CompletedResolved},
		{"endsAt only, after it", []alertAt{{0, f}, {time.Minute, resolvedAt(f, t0.Add(time.Hour), t0.Add(time.Hour))}}, 1, 1, 0, contract.CompletedResolved},
		{"late resolve of a closed episode", []alertAt{
			{0, f}, {time.Minute, resolvedAt(f, t0, t0.Add(time.Hour))},
			{2 * time.Minute, firing(t0.Add(2*time.Hour), nil)},
			{3 * time.Minute, resolvedAt(f, t0, t0.Add(time.Hour+time.Second))},
			{4 * time.Minute, resolvedAt(f, t0.Add(2*time.Hour), t0.Add(3*time.Hour))},
		}, 2, 2, 1, contract.CompletedResolved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcs := map[string]*receiver{"a": newReceiver(t)}
			h := newHarness(t, nil, rcs)
			for _, n := range tc.notes {
				h.signalAt(n.at, n.alert)
			}
			st := h.run()
			if rcs["a"].count("firing") != tc.wantFire || rcs["a"].count("resolved") != tc.wantRes {
				t.Errorf("receiver got %d firing, %d resolved; want %d, %d", rcs["a"].count("firing"), rcs["a"].count("resolved"), tc.wantFire, tc.wantRes)
			}
			if st.Stale != tc.wantStale || st.Completed != tc.wantDone {
				t.Errorf("stale %d completed %q; want %d %q", st.Stale, st.Completed, tc.wantStale, tc.wantDone)
			}
		})
	}
}

// A disabled target receives nothing from the moment it is disabled, not
// even the resolve of an alert it got; the state says why.
func TestDisabledTargetGetsNoResolve(t *testing.T) {
	rcs := map[string]*receiver{"keep": newReceiver(t), "off": newReceiver(t)}
	h := newHarness(t, nil, rcs)
	f := firing(t0, nil)
	h.signalAt(0, f)
	h.env.RegisterDelayedCallback(func() { h.disable("off") }, 30*time.Second)
	h.signalAt(time.Minute, resolvedAt(f, t0, t0.Add(time.Hour)))
	st := h.run()
	if rcs["off"].count("firing") != 1 || rcs["off"].count("resolved") != 0 {
		t.Errorf("disabled target got %d firing, %d resolved; want 1, 0", rcs["off"].count("firing"), rcs["off"].count("resolved"))
	}
	if rcs["keep"].count("resolved") != 1 {
		t.Errorf("enabled target got %d resolves", rcs["keep"].count("resolved"))
	}
	ts := target_(t, st, "off")
	if ts.Status != contract.DeliverySkipped || ts.SkipReason != activities.ReasonDisabled || ts.Event != "resolved" {
		t.Errorf("disabled target state: status %q reason %q event %q", ts.Status, ts.SkipReason, ts.Event)
	}
}

// A dead-letter replay that arrives while the run decides to continue as
// new is carried into the next run, not dropped. The window: the
// preparation of a notification that queues no delivery (here a new
// episode whose only target was removed) blocks on a local activity, the
// replay arrives meanwhile, and the run is then idle and past its budget.
func TestReplaysCarriedOverContinueAsNew(t *testing.T) {
	defer alertflow.SetSignalsPerRun(2)()
	rcs := map[string]*receiver{"a": newReceiver(t, 400), "b": newReceiver(t)}
	h := newHarness(t, nil, rcs)
	h.targets[1].Filter = target.Filter{"severity": {"warning"}}
	h.reg.Update("test", h.targets, nil)
	h.signalAt(0, firing(t0, nil))
	h.env.RegisterDelayedCallback(func() {
		h.reg.Update("test", h.targets[1:], nil)
		// The next health read (the new episode's preparation) sees the
		// replay of the dead-lettered firing arrive.
		h.health.onRead = func() {
			h.health.onRead = nil
			h.env.SignalWorkflow(contract.DeliveryReplayedSignal, contract.DeliveryReplayed{Target: "a", Seq: 1, Event: "firing", Attempts: 1, DeliveredAt: t0})
		}
	}, 30*time.Second)
	h.signalAt(time.Minute, firing(t0.Add(time.Hour), nil))
	h.env.ExecuteWorkflow(alertflow.Workflow, contract.AlertInput{Fingerprint: "fp1"})
	var next contract.AlertInput
	if err := continuedWith(h.env.GetWorkflowError(), &next); err != nil || next.State == nil {
		t.Fatalf("workflow did not continue as new: %v", h.env.GetWorkflowError())
	}
	ts := next.State.Target("a")
	if ts == nil || ts.Active {
		t.Fatalf("target a not carried as inactive: %+v; state episode %d notifications %d mode %q %q", ts, next.State.Episode, next.State.Notifications, next.State.Mode, next.State.ModeReason)
	}
	if ts.Status != contract.DeliveryDelivered || ts.Records[len(ts.Records)-1].Outcome != contract.DeliveryReplayedOutcome {
		t.Errorf("replay not carried over: status %q records %+v", ts.Status, ts.Records)
	}
}

// continuedWith decodes the input of a continue-as-new.
func continuedWith(err error, in *contract.AlertInput) error {
	var can *workflow.ContinueAsNewError
	if !asContinueAsNew(err, &can) {
		return err
	}
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, in)
}

type alertAt struct {
	at    time.Duration
	alert alert.Alert
}

func asContinueAsNew(err error, can **workflow.ContinueAsNewError) bool {
	return errors.As(err, can)
}

// A firing alert that hears nothing for the worker's inactivity timeout
// ends; with no enabled target at all it records metrics-only mode and
// publishes nothing.
func TestInactivityAndMetricsOnly(t *testing.T) {
	t.Run("inactive", func(t *testing.T) {
		rcs := map[string]*receiver{"a": newReceiver(t)}
		h := newHarness(t, func(c *config.Config) { c.AlertInactivity = 3 * time.Hour }, rcs)
		h.signalAt(0, firing(t0, nil))
		h.signalAt(2*time.Hour, firing(t0, nil)) // a repeat keeps it alive
		start := h.env.Now()
		st := h.run()
		if st.Completed != contract.CompletedInactive || st.Suppressed != 1 {
			t.Errorf("completed %q suppressed %d", st.Completed, st.Suppressed)
		}
		if took := h.env.Now().Sub(start); took < 5*time.Hour || took > 5*time.Hour+time.Minute {
			t.Errorf("ended after %s of workflow time, want 2h + the 3h inactivity", took)
		}
	})
	t.Run("metrics only", func(t *testing.T) {
		rcs := map[string]*receiver{"a": newReceiver(t)}
		h := newHarness(t, nil, rcs)
		h.disable("a")
		f := firing(t0, nil)
		h.signalAt(0, f)
		h.signalAt(time.Minute, resolvedAt(f, t0, t0.Add(time.Hour)))
		st := h.run()
		if st.Mode != contract.ModeMetricsOnly || rcs["a"].count("firing")+rcs["a"].count("resolved") != 0 {
			t.Errorf("mode %q, receiver got %d requests", st.Mode, len(rcs["a"].got))
		}
	})
}

// A delivery to an unhealthy target is held back, tried as a canary at
// each re-check, and delivered by the canary when the target answers.
func TestHeldBackDeliveryCanary(t *testing.T) {
	rcs := map[string]*receiver{"down": newReceiver(t, 503), "up": newReceiver(t)}
	h := newHarness(t, func(c *config.Config) { c.HealthRecheck = time.Minute }, rcs)
	h.health.states["down"] = "unhealthy"
	f := firing(t0, nil)
	h.signalAt(0, f)
	h.signalAt(time.Hour, resolvedAt(f, t0, t0.Add(time.Hour)))
	st := h.run()
	ts := target_(t, st, "down")
	// The firing: a canary answered 503, the next one delivered; the
	// resolve (the target still reads unhealthy): one canary delivered.
	if ts.Canaries != 3 || ts.Records[0].Outcome != contract.DeliveryDelivered || ts.Records[0].Attempts != 2 || ts.Records[1].Outcome != contract.DeliveryDelivered {
		t.Errorf("held-back target: %d canaries, records %+v; want 3 canaries (firing: a 503, then delivered; resolve: delivered)", ts.Canaries, ts.Records)
	}
	if rcs["up"].count("firing") != 1 || target_(t, st, "up").Records[0].Attempts != 1 {
		t.Errorf("the healthy target waited for the unhealthy one: %+v", target_(t, st, "up").Records)
	}
}
