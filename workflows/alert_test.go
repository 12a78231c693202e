package workflows

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// scriptedPublisher records deliveries and fails the first N attempts of a
// target with a scripted error.
type scriptedPublisher struct {
	mu    sync.Mutex
	calls []call
	fail  map[string][]error // target -> errors returned in order before success
	// onPublish sees every notification (optional).
	onPublish func(publish.Notification)
}

type call struct {
	Target string
	Event  string
	Update bool
	State  publish.ProviderState
}

func (p *scriptedPublisher) Publish(_ context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, call{Target: t.Name, Event: n.Event, Update: n.Update, State: n.State})
	if p.onPublish != nil {
		p.onPublish(n)
	}
	if errs := p.fail[t.Name]; len(errs) > 0 {
		err := errs[0]
		p.fail[t.Name] = errs[1:]
		if err != nil {
			return publish.Result{}, err
		}
	}
	return publish.Result{StatusCode: 200, State: publish.ProviderState{"id": t.Name + "-" + n.Event}}, nil
}

func (p *scriptedPublisher) count(targetName, event string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if c.Target == targetName && c.Event == event {
			n++
		}
	}
	return n
}

type harness struct {
	env         *testsuite.TestWorkflowEnvironment
	pub         *scriptedPublisher
	reg         *target.Registry
	health      *fakeHealth
	mu          sync.Mutex
	deadLetters []activities.DeadLetter
}

// fakeHealth is the shared health state as tests script it.
type fakeHealth struct {
	mu     sync.Mutex
	states map[string]string
}

func (f *fakeHealth) set(name, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.states[name] = state
}

func (f *fakeHealth) All(context.Context) (map[string]health.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]health.Status{}
	for n, s := range f.states {
		out[n] = health.Status{Target: n, State: s}
	}
	return out, nil
}

func fastRetry(attempts int32) *target.RetrySpec {
	return &target.RetrySpec{InitialInterval: target.Duration(10 * time.Millisecond), Backoff: 1,
		MaxInterval: target.Duration(10 * time.Millisecond), MaxAttempts: attempts}
}

func newHarness(t *testing.T, targets ...target.Target) *harness {
	t.Helper()
	return newGuardedHarness(t, nil, targets...)
}

// newGuardedHarness is newHarness with a guard on the deliveries.
func newGuardedHarness(t *testing.T, g activities.Guard, targets ...target.Target) *harness {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	reg := target.NewRegistry()
	for i := range targets {
		if targets[i].Retry == nil {
			targets[i].Retry = fastRetry(3)
		}
	}
	reg.Update("test", targets, nil)
	pub := &scriptedPublisher{fail: map[string][]error{}}
	fh := &fakeHealth{states: map[string]string{}}
	env.RegisterActivity(&activities.Activities{
		Registry:   reg,
		Publishers: publish.Publishers{"webhook": pub, "alertmanager": pub},
		HealthView: fh,
		Guard:      g,
	})
	env.RegisterWorkflow(AlertWorkflow)
	h := &harness{env: env, pub: pub, reg: reg, health: fh}
	// The dead-letter workflow is tested on its own; here the activity
	// that writes to it records what it was given.
	env.OnActivity("DeadLetter", mock.Anything, mock.Anything).Return(func(_ context.Context, e activities.DeadLetter) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.deadLetters = append(h.deadLetters, e)
		return nil
	})
	return h
}

func webhookTarget(name string) target.Target {
	return target.Target{Name: name, Type: "webhook", URL: "http://example.invalid/" + name}
}

func firing(fp string, annotations map[string]string) alert.Alert {
	return alert.Alert{
		Fingerprint: fp, Status: alert.StatusFiring,
		Labels:      map[string]string{"alertname": "DiskFull", "severity": "critical"},
		Annotations: annotations,
		StartsAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func resolved(a alert.Alert) alert.Alert {
	a.Status = alert.StatusResolved
	a.EndsAt = a.StartsAt.Add(time.Hour)
	return a
}

// signalAt sends a notification after the given delay of workflow time.
func (h *harness) signalAt(d time.Duration, a alert.Alert) {
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.AlertSignal, contract.Notify{Alert: a, ReceivedAt: time.Now()})
	}, d)
}

func (h *harness) run(t *testing.T) *AlertState {
	t.Helper()
	h.env.ExecuteWorkflow(AlertWorkflow, AlertInput{Fingerprint: "fp1", InactivityTimeout: 48 * time.Hour})
	if !h.env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error: %v", err)
	}
	var st AlertState
	if err := h.env.GetWorkflowResult(&st); err != nil {
		t.Fatalf("result: %v", err)
	}
	return &st
}

func targetState(t *testing.T, st *AlertState, name string) *TargetState {
	t.Helper()
	for _, ts := range st.Targets {
		if ts.Name == name {
			return ts
		}
	}
	t.Fatalf("no state for target %q in %+v", name, st.Targets)
	return nil
}

func TestAlertWorkflow_FanOutAndResolve(t *testing.T) {
	h := newHarness(t, webhookTarget("a"), webhookTarget("b"), webhookTarget("c"))
	a := firing("fp1", map[string]string{"summary": "disk full"})
	h.signalAt(0, a)
	h.signalAt(time.Minute, resolved(a))
	st := h.run(t)

	for _, name := range []string{"a", "b", "c"} {
		if got := h.pub.count(name, publish.EventFiring); got != 1 {
			t.Errorf("target %s: %d firing deliveries, want 1", name, got)
		}
		if got := h.pub.count(name, publish.EventResolved); got != 1 {
			t.Errorf("target %s: %d resolved deliveries, want 1", name, got)
		}
		ts := targetState(t, st, name)
		if ts.Status != contract.DeliveryDelivered || ts.Event != publish.EventResolved || ts.Attempts != 1 {
			t.Errorf("target %s state = %s/%s/%d attempts, want delivered/resolved/1", name, ts.Status, ts.Event, ts.Attempts)
		}
		// The resolve carried the provider state the firing returned.
		if ts.Provider["id"] != name+"-resolved" {
			t.Errorf("target %s provider state = %v", name, ts.Provider)
		}
	}
	if st.Completed != "resolved" || st.Status != alert.StatusResolved {
		t.Errorf("completed=%q status=%q, want resolved/resolved", st.Completed, st.Status)
	}
	// The resolve of each target received the firing's provider state.
	for _, c := range h.pub.calls {
		if c.Event == publish.EventResolved && c.State["id"] != c.Target+"-firing" {
			t.Errorf("resolve to %s carried state %v, want the firing's", c.Target, c.State)
		}
	}
}

func TestAlertWorkflow_RepeatsAreSuppressed(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	a := firing("fp1", map[string]string{"summary": "disk full"})
	h.signalAt(0, a)
	h.signalAt(time.Minute, a)
	h.signalAt(2*time.Minute, a)
	h.signalAt(3*time.Minute, resolved(a))
	h.signalAt(3*time.Minute+time.Second, resolved(a))
	st := h.run(t)
	if got := h.pub.count("a", publish.EventFiring); got != 1 {
		t.Errorf("firing deliveries = %d, want 1", got)
	}
	if got := h.pub.count("a", publish.EventResolved); got != 1 {
		t.Errorf("resolved deliveries = %d, want 1", got)
	}
	if st.Suppressed < 2 {
		t.Errorf("suppressed = %d, want at least 2", st.Suppressed)
	}
}

func TestAlertWorkflow_ChangedAnnotationsPublishUpdate(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	a := firing("fp1", map[string]string{"summary": "disk 90% full"})
	b := firing("fp1", map[string]string{"summary": "disk 99% full"})
	h.signalAt(0, a)
	h.signalAt(time.Minute, b)
	h.signalAt(2*time.Minute, resolved(b))
	h.run(t)
	if got := h.pub.count("a", publish.EventFiring); got != 2 {
		t.Fatalf("firing deliveries = %d, want 2 (first + update)", got)
	}
	if !h.pub.calls[1].Update {
		t.Errorf("second firing delivery is not marked as update: %+v", h.pub.calls[1])
	}
}

func TestAlertWorkflow_PartialFailure(t *testing.T) {
	h := newHarness(t, webhookTarget("good"), webhookTarget("flaky"), webhookTarget("broken"))
	h.pub.fail["flaky"] = []error{
		publish.Retryable(publish.KindHTTPServer, 0, "boom"),
		publish.Retryable(publish.KindNetwork, 0, "refused"),
	}
	h.pub.fail["broken"] = []error{&publish.Error{Kind: publish.KindHTTPClient, StatusCode: 400, Msg: "bad request"}}
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Hour, resolved(a))
	st := h.run(t)

	good, flaky, broken := targetState(t, st, "good"), targetState(t, st, "flaky"), targetState(t, st, "broken")
	if good.Records[0].Outcome != contract.DeliveryDelivered || good.Records[0].Attempts != 1 {
		t.Errorf("good firing record = %+v", good.Records[0])
	}
	if flaky.Records[0].Outcome != contract.DeliveryDelivered || flaky.Records[0].Attempts != 3 {
		t.Errorf("flaky firing record = %+v, want delivered after 3 attempts", flaky.Records[0])
	}
	fr := broken.Records[0]
	if fr.Outcome != contract.DeliveryDeadLettered || fr.Attempts != 1 {
		t.Errorf("broken firing record = %+v, want failed after 1 attempt (400 is not retried)", fr)
	}
	if fr.Error == "" {
		t.Error("broken firing record has no error message")
	}
	if got := h.pub.count("broken", publish.EventFiring); got != 1 {
		t.Errorf("broken got %d firing attempts, want 1", got)
	}
	if got := h.pub.count("flaky", publish.EventFiring); got != 3 {
		t.Errorf("flaky got %d firing attempts, want 3", got)
	}
	if len(h.deadLetters) != 1 {
		t.Fatalf("dead letters = %+v, want one for broken", h.deadLetters)
	}
	dl := h.deadLetters[0]
	if dl.Target != "broken" || dl.ErrorKind != publish.KindHTTPClient || dl.StatusCode != 400 || dl.Event != publish.EventFiring ||
		dl.Fingerprint != "fp1" || dl.Alert.Name() != "DiskFull" || dl.ID == "" {
		t.Errorf("dead letter = %+v", dl)
	}
	if broken.DeadLetterID != "" && fr.Outcome != contract.DeliveryDeadLettered {
		t.Errorf("record outcome = %s, want dead_lettered", fr.Outcome)
	}
}

func TestAlertWorkflow_RetriesExhausted(t *testing.T) {
	h := newHarness(t, webhookTarget("down"))
	h.pub.fail["down"] = []error{
		publish.Retryable(publish.KindHTTPServer, 0, "e1"),
		publish.Retryable(publish.KindHTTPServer, 0, "e2"),
		publish.Retryable(publish.KindHTTPServer, 0, "e3"),
	}
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Hour, resolved(a))
	st := h.run(t)
	down := targetState(t, st, "down")
	if down.Records[0].Outcome != contract.DeliveryDeadLettered || down.Records[0].Attempts != 3 {
		t.Errorf("firing record = %+v, want failed after 3 attempts (max_attempts)", down.Records[0])
	}
	if down.TotalAttempts != 4 {
		t.Errorf("total attempts = %d, want 4 (3 failed firing + 1 resolve)", down.TotalAttempts)
	}
}

func TestAlertWorkflow_ReFireAfterResolveStartsNewEpisode(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	a := firing("fp1", nil)
	h.signalAt(0, a)
	// The resolve and the re-fire arrive together: the workflow must not
	// complete on the resolve while a re-fire is pending. A genuine re-fire
	// starts after the resolve ended.
	again := a
	again.StartsAt = resolved(a).EndsAt.Add(time.Minute)
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.AlertSignal, contract.Notify{Alert: resolved(a)})
		h.env.SignalWorkflow(contract.AlertSignal, contract.Notify{Alert: again})
	}, time.Minute)
	h.signalAt(2*time.Minute, resolved(again))
	st := h.run(t)
	if st.Episode != 2 {
		t.Errorf("episode = %d, want 2", st.Episode)
	}
	if got := h.pub.count("a", publish.EventFiring); got != 2 {
		t.Errorf("firing deliveries = %d, want 2", got)
	}
	if got := h.pub.count("a", publish.EventResolved); got != 2 {
		t.Errorf("resolved deliveries = %d, want 2", got)
	}
}

func TestAlertWorkflow_MetricsOnlyMode(t *testing.T) {
	disabled := webhookTarget("off")
	no := false
	disabled.Enabled = &no
	h := newHarness(t, disabled)
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Minute, resolved(a))
	st := h.run(t)
	if st.Mode != contract.ModeMetricsOnly {
		t.Errorf("mode = %q, want metrics_only", st.Mode)
	}
	if len(h.pub.calls) != 0 {
		t.Errorf("published %d notifications in metrics-only mode", len(h.pub.calls))
	}
}

func TestAlertWorkflow_FilterSelectsTargets(t *testing.T) {
	pager := webhookTarget("pager")
	pager.Filter = target.Filter{"severity": {"critical"}}
	chat := webhookTarget("chat")
	chat.Filter = target.Filter{"severity": {"info"}}
	h := newHarness(t, pager, chat)
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Minute, resolved(a))
	st := h.run(t)
	if h.pub.count("pager", publish.EventFiring) != 1 || h.pub.count("chat", publish.EventFiring) != 0 {
		t.Errorf("calls = %+v, want only pager", h.pub.calls)
	}
	if len(st.Filtered) != 1 || st.Filtered[0] != "chat" {
		t.Errorf("filtered = %v, want [chat]", st.Filtered)
	}
}

func TestAlertWorkflow_InactivityEndsWorkflow(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	h.signalAt(0, firing("fp1", nil))
	h.env.ExecuteWorkflow(AlertWorkflow, AlertInput{Fingerprint: "fp1", InactivityTimeout: time.Hour})
	if !h.env.IsWorkflowCompleted() || h.env.GetWorkflowError() != nil {
		t.Fatalf("completed=%v err=%v", h.env.IsWorkflowCompleted(), h.env.GetWorkflowError())
	}
	var st AlertState
	if err := h.env.GetWorkflowResult(&st); err != nil {
		t.Fatal(err)
	}
	if st.Completed != "inactive" || st.Status != alert.StatusFiring {
		t.Errorf("completed=%q status=%q, want inactive/firing", st.Completed, st.Status)
	}
}

func TestAlertWorkflow_ResolveGoesToFiringTargetsOnly(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	a := firing("fp1", nil)
	h.signalAt(0, a)
	// A target added after the firing does not get the resolve of an alert
	// it never saw.
	h.env.RegisterDelayedCallback(func() {
		h.reg.Update("test", []target.Target{webhookTarget("a"), webhookTarget("late")}, nil)
	}, 30*time.Second)
	h.signalAt(time.Minute, resolved(a))
	h.run(t)
	if got := h.pub.count("late", publish.EventResolved); got != 0 {
		t.Errorf("late target got %d resolves, want 0", got)
	}
	if got := h.pub.count("a", publish.EventResolved); got != 1 {
		t.Errorf("a got %d resolves, want 1", got)
	}
}

func TestAlertWorkflow_QueryDuringDelivery(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	a := firing("fp1", nil)
	h.signalAt(0, a)
	var queried *AlertState
	h.env.RegisterDelayedCallback(func() {
		v, err := h.env.QueryWorkflow(contract.StateQuery)
		if err != nil {
			t.Errorf("query: %v", err)
			return
		}
		queried = &AlertState{}
		if err := v.Get(queried); err != nil {
			t.Errorf("decode query: %v", err)
		}
	}, 30*time.Second)
	h.signalAt(time.Minute, resolved(a))
	h.run(t)
	if queried == nil || queried.Status != alert.StatusFiring || len(queried.Targets) != 1 ||
		queried.Targets[0].Status != contract.DeliveryDelivered {
		t.Errorf("queried state = %+v", queried)
	}
}
