package alertflow_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows/alertflow"
)

// receiver is an HTTP receiver of webhook deliveries: it records every
// request and answers with the scripted statuses first, then 200.
type receiver struct {
	mu     sync.Mutex
	got    []received
	script []int
	delay  time.Duration
	srv    *httptest.Server
}

type received struct {
	Status string
	At     time.Time
}

func newReceiver(t *testing.T, script ...int) *receiver {
	t.Helper()
	rc := &receiver{script: script}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var msg struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(body, &msg)
		rc.mu.Lock()
		delay := rc.delay
		code := http.StatusOK
		if len(rc.script) > 0 {
			code, rc.script = rc.script[0], rc.script[1:]
		}
		rc.got = append(rc.got, received{Status: msg.Status, At: time.Now()})
		rc.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// count returns how many requests of this status (firing, resolved) came.
func (rc *receiver) count(status string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, g := range rc.got {
		if g.Status == status {
			n++
		}
	}
	return n
}

func (rc *receiver) first() time.Time {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) == 0 {
		return time.Time{}
	}
	return rc.got[0].At
}

// fakeHealth is the shared health state as a test scripts it.
type fakeHealth struct {
	mu     sync.Mutex
	states map[string]string
	onRead func()
}

func (f *fakeHealth) All(context.Context) (map[string]health.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.onRead != nil {
		f.onRead()
	}
	out := map[string]health.Status{}
	for n, s := range f.states {
		out[n] = health.Status{Target: n, State: s}
	}
	return out, nil
}

// harness runs the alert workflow in the test environment with the
// worker's own composition of activities (app.NewWorkerDeps: publishers,
// guard, classifier) against real HTTP receivers. Only the dead-letter
// write is recorded instead of signalled.
type harness struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	reg     *target.Registry
	targets []target.Target
	health  *fakeHealth

	mu          sync.Mutex
	deadLetters []activities.DeadLetter
	local       map[string]int // local activities started, by type
	regular     map[string]int // activities started, by type
}

func newHarness(t *testing.T, set func(*config.Config), rcs map[string]*receiver) *harness {
	t.Helper()
	cfg, err := config.Load("worker", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(&cfg)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(time.Minute)
	h := &harness{t: t, env: env, reg: target.NewRegistry(), health: &fakeHealth{states: map[string]string{}},
		local: map[string]int{}, regular: map[string]int{}}
	for _, name := range sortedKeys(rcs) {
		h.targets = append(h.targets, target.Target{Name: name, Type: "webhook", URL: rcs[name].srv.URL + "/" + name,
			Retry: &target.RetrySpec{InitialInterval: target.Duration(time.Second), Backoff: 2,
				MaxInterval: target.Duration(10 * time.Second), MaxAttempts: 4}})
	}
	h.reg.Update("test", h.targets, nil)
	deps, err := app.NewWorkerDeps(cfg, h.reg, metrics.New(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	deps.HealthView = h.health
	app.Register(env, deps)
	env.OnActivity("DeadLetter", mock.Anything, mock.Anything).Return(func(_ context.Context, e activities.DeadLetter) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.deadLetters = append(h.deadLetters, e)
		return nil
	})
	env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.local[info.ActivityType.Name]++
	})
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.regular[info.ActivityType.Name]++
	})
	return h
}

// disable disables the named target from now on.
func (h *harness) disable(name string) {
	off := false
	for i := range h.targets {
		if h.targets[i].Name == name {
			h.targets[i].Enabled = &off
		}
	}
	h.reg.Update("test", h.targets, nil)
}

// signalAt sends a notification after d of workflow time.
func (h *harness) signalAt(d time.Duration, a alert.Alert) {
	h.env.RegisterDelayedCallback(func() {
		h.env.SignalWorkflow(contract.AlertSignal, contract.Notify{Alert: a, ReceivedAt: time.Now()})
	}, d)
}

// run runs the workflow to its end and returns its final state.
func (h *harness) run() *contract.AlertState {
	h.t.Helper()
	h.env.ExecuteWorkflow(alertflow.Workflow, contract.AlertInput{Fingerprint: "fp1"})
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("workflow did not complete")
	}
	if err := h.env.GetWorkflowError(); err != nil {
		h.t.Fatalf("workflow error: %v", err)
	}
	var st contract.AlertState
	if err := h.env.GetWorkflowResult(&st); err != nil {
		h.t.Fatalf("result: %v", err)
	}
	return &st
}

func (h *harness) started(kind map[string]int, name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return kind[name]
}

func target_(t *testing.T, st *contract.AlertState, name string) *contract.TargetState {
	t.Helper()
	ts := st.Target(name)
	if ts == nil {
		t.Fatalf("no state of target %q in %+v", name, st.Targets)
	}
	return ts
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func firing(startsAt time.Time, annotations map[string]string) alert.Alert {
	return alert.Alert{
		Fingerprint: "fp1", Status: alert.StatusFiring,
		Labels:      map[string]string{"alertname": "DiskFull", "severity": "critical"},
		Annotations: annotations, StartsAt: startsAt,
	}
}

func resolvedAt(a alert.Alert, startsAt, endsAt time.Time) alert.Alert {
	a.Status, a.StartsAt, a.EndsAt = alert.StatusResolved, startsAt, endsAt
	return a
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
