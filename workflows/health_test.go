package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

func obs(name string, at time.Time, ok bool) health.Observation {
	o := health.Observation{Target: name, At: at, OK: ok, Latency: 10 * time.Millisecond, Source: health.SourceProbe}
	if !ok {
		o.Class = health.ClassRefused
	}
	return o
}

func TestHealthStateWorkflow_Transitions(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(HealthStateWorkflow)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	query := func() map[string]health.Status {
		v, err := env.QueryWorkflow(HealthQuery)
		if err != nil {
			t.Fatal(err)
		}
		var list []health.Status
		_ = v.Get(&list)
		out := map[string]health.Status{}
		for _, s := range list {
			out[s.Target] = s
		}
		return out
	}
	send := func(d time.Duration, batch ...health.Observation) {
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(HealthObserveSignal, batch) }, d)
	}
	var seen []map[string]health.Status
	check := func(d time.Duration) {
		env.RegisterDelayedCallback(func() { seen = append(seen, query()) }, d)
	}
	// a: fails 3 times → degraded, degraded, unhealthy; then recovers.
	// b: healthy; c: one failure → degraded. Concurrent observations of
	// several targets arrive in one batch.
	send(1*time.Second, obs("a", t0, false), obs("b", t0, true), obs("c", t0, false))
	check(2 * time.Second)
	send(3*time.Second, obs("a", t0.Add(time.Minute), false))
	send(4*time.Second, obs("a", t0.Add(2*time.Minute), false))
	check(5 * time.Second)
	// An out-of-order (older) success does not count.
	send(6*time.Second, obs("a", t0.Add(90*time.Second), true))
	check(7 * time.Second)
	send(8*time.Second, obs("a", t0.Add(3*time.Minute), true))
	check(9 * time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Second)
	env.ExecuteWorkflow(HealthStateWorkflow, HealthStateInput{Policy: health.DefaultPolicy})
	if len(seen) != 4 {
		t.Fatalf("queries = %d", len(seen))
	}
	want := []map[string]string{
		{"a": health.StateDegraded, "b": health.StateHealthy, "c": health.StateDegraded},
		{"a": health.StateUnhealthy},
		{"a": health.StateUnhealthy},
		{"a": health.StateHealthy},
	}
	for i, w := range want {
		for name, state := range w {
			if got := seen[i][name].State; got != state {
				t.Errorf("step %d: %s = %s, want %s", i, name, got, state)
			}
		}
	}
	if got := seen[1]["a"].ConsecutiveFailures; got != 3 {
		t.Errorf("consecutive failures = %d, want 3", got)
	}
}

func TestHealthStateWorkflow_ContinueAsNewKeepsState(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(HealthStateWorkflow)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(HealthObserveSignal, []health.Observation{obs("a", at, false)}) }, time.Duration(i+1)*time.Second)
	}
	env.ExecuteWorkflow(HealthStateWorkflow, HealthStateInput{Limit: 3})
	var can *workflow.ContinueAsNewError
	if !errors.As(env.GetWorkflowError(), &can) {
		t.Fatalf("got %v, want continue-as-new", env.GetWorkflowError())
	}
	var next HealthStateInput
	if err := decodeArg(can, &next); err != nil {
		t.Fatal(err)
	}
	if len(next.State) != 1 || next.State[0].State != health.StateUnhealthy || next.State[0].Checks != 3 {
		t.Errorf("carried state = %+v", next.State)
	}
}

func TestHealthCheckWorkflow_ProbesAllTargetsAndRecords(t *testing.T) {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(HealthCheckWorkflow)
	reg := target.NewRegistry()
	reg.Update("test", []target.Target{webhookTarget("x"), webhookTarget("y"), webhookTarget("z")}, nil)
	var recorded []health.Observation
	env.RegisterActivity(&activities.Activities{Registry: reg, Prober: fakeProber{down: map[string]bool{"y": true}}})
	env.OnActivity("RecordHealth", mock.Anything, mock.Anything).Return(func(_ context.Context, o []health.Observation) error {
		recorded = o
		return nil
	})
	env.ExecuteWorkflow(HealthCheckWorkflow, HealthCheckInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(recorded) != 3 {
		t.Fatalf("recorded %d observations, want 3", len(recorded))
	}
	for _, o := range recorded {
		if want := o.Target != "y"; o.OK != want {
			t.Errorf("%s ok = %v, want %v", o.Target, o.OK, want)
		}
	}
}

type fakeProber struct{ down map[string]bool }

func (f fakeProber) Probe(_ context.Context, t target.Target) health.Observation {
	o := health.Observation{Target: t.Name, At: time.Now(), OK: !f.down[t.Name], Source: health.SourceProbe}
	if !o.OK {
		o.Class = health.ClassRefused
	}
	return o
}

// With one target unhealthy, the healthy one gets the alert at once and the
// unhealthy one after it recovers: skipping never means losing.
func TestAlertWorkflow_UnhealthyTargetCatchesUpAfterRecovery(t *testing.T) {
	h := newHarness(t, webhookTarget("up"), webhookTarget("down"))
	h.health.set("up", health.StateHealthy)
	h.health.set("down", health.StateUnhealthy)
	// While down, the held-back delivery's canaries fail.
	for range 20 {
		h.pub.fail["down"] = append(h.pub.fail["down"], publish.Retryable(publish.KindHTTPServer, 0, "HTTP 503"))
	}
	a := firing("fp1", nil)
	h.signalAt(0, a)
	var during *AlertState
	var canaries int
	h.env.RegisterDelayedCallback(func() {
		v, _ := h.env.QueryWorkflow(contract.StateQuery)
		during = &AlertState{}
		_ = v.Get(during)
		if h.pub.count("up", publish.EventFiring) != 1 {
			t.Errorf("while down: up got %d firings, want 1", h.pub.count("up", publish.EventFiring))
		}
		// Re-checks at 30s, 1m30s, 3m30s, 7m30s: one canary each.
		canaries = h.pub.count("down", publish.EventFiring)
		h.health.set("down", health.StateHealthy)
		h.pub.fail["down"] = nil
	}, 10*time.Minute)
	h.signalAt(time.Hour, resolved(a))
	st := h.run(t)
	if ts := targetState(t, during, "down"); ts.Status != contract.DeliveryWaiting || ts.Health != health.StateUnhealthy || ts.Canaries != canaries {
		t.Errorf("down while unhealthy = %s/%s with %d canaries, want waiting_for_target/unhealthy with %d",
			ts.Status, ts.Health, ts.Canaries, canaries)
	}
	if canaries != 4 {
		t.Errorf("held-back delivery tried %d times in 10m, want 4 canaries (30s, 1m, 2m, 4m apart)", canaries)
	}
	if h.pub.count("down", publish.EventFiring) != canaries+1 || h.pub.count("down", publish.EventResolved) != 1 {
		t.Errorf("down target got firing=%d resolved=%d after recovery, want %d/1",
			h.pub.count("down", publish.EventFiring), h.pub.count("down", publish.EventResolved), canaries+1)
	}
	if ts := targetState(t, st, "down"); ts.Status != contract.DeliveryDelivered || !ts.WaitingSince.IsZero() {
		t.Errorf("down at end = %+v", ts)
	}
}

func TestAlertWorkflow_UnhealthyTooLongGoesToDeadLetters(t *testing.T) {
	h := newHarness(t, webhookTarget("gone"))
	h.health.set("gone", health.StateUnhealthy)
	for range 100 {
		h.pub.fail["gone"] = append(h.pub.fail["gone"], publish.ClassifyTransport(errors.New("connection refused")))
	}
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(48*time.Hour, resolved(a))
	h.env.ExecuteWorkflow(AlertWorkflow, AlertInput{Fingerprint: "fp1", InactivityTimeout: 72 * time.Hour, MaxHealthWait: 2 * time.Hour})
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	// Only canaries, at bounded intervals (30s doubling up to 10m): about
	// 15 per held-back delivery in 2h, never a storm.
	if n := len(h.pub.calls); n == 0 || n > 40 {
		t.Errorf("%d tries of an unreachable target in 2×2h, want a few canaries", n)
	}
	if len(h.deadLetters) != 2 || h.deadLetters[0].ErrorKind != contract.KindTargetUnhealthy || h.deadLetters[1].Event != publish.EventResolved {
		t.Errorf("dead letters = %+v, want firing and resolved with kind target_unhealthy", h.deadLetters)
	}
}

func TestAlertWorkflow_ClassificationSetsSeverityAndPriority(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	h.env.OnActivity("ClassifyAlert", mock.Anything, mock.Anything).Return(
		publish.Classification{Severity: "info", Confidence: 0.8, Source: "llm", Reason: "noise"}, nil)
	var notified publish.Notification
	h.pub.onPublish = func(n publish.Notification) { notified = n }
	a := firing("fp1", nil) // labelled critical
	h.signalAt(0, a)
	h.signalAt(time.Minute, resolved(a))
	st := h.run(t)
	if st.Severity != "info" || st.Classification.Source != "llm" {
		t.Errorf("state severity = %s (%+v), want info from llm", st.Severity, st.Classification)
	}
	if notified.Classification.Severity != "info" {
		t.Errorf("notification classification = %+v", notified.Classification)
	}
	if contract.PriorityFor("critical") >= contract.PriorityFor("warning") || contract.PriorityFor("warning") >= contract.PriorityFor("info") {
		t.Error("critical must run before warning before info")
	}
}
