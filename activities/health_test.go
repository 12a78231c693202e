package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// fakeHealthView is the shared health state as a test scripts it.
type fakeHealthView struct {
	mu     sync.Mutex
	states map[string]string
	err    error
	calls  int
}

func (f *fakeHealthView) All(context.Context) (map[string]health.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]health.Status{}
	for n, s := range f.states {
		out[n] = health.Status{Target: n, State: s}
	}
	return out, nil
}

func resolveTargets(t *testing.T, a *activities.Activities, labels map[string]string) activities.ResolveTargetsResult {
	t.Helper()
	env := newActivityEnv()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.ResolveTargets, activities.ResolveTargetsInput{Labels: labels})
	require.NoError(t, err)
	var res activities.ResolveTargetsResult
	require.NoError(t, val.Get(&res))
	return res
}

func routingTargets() []target.Target {
	disabled := false
	return []target.Target{
		{Name: "zeta", Type: "webhook", URL: "https://z.example.com/hook"},
		{Name: "alpha", Type: "webhook", URL: "https://a.example.com/hook",
			Retry: &target.RetrySpec{MaxAttempts: 3}},
		{Name: "payments", Type: "slack", Config: &slack.Config{Token: apiToken, Channel: "#pay"},
			Filter: target.Filter{"team": {"payments", "billing"}}},
		{Name: "off", Type: "webhook", URL: "https://off.example.com/hook", Enabled: &disabled},
	}
}

func refNames(refs []target.Ref) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}

func TestResolveTargets(t *testing.T) {
	tests := []struct {
		name         string
		targets      []target.Target
		strategy     string
		view         *fakeHealthView
		labels       map[string]string
		wantMode     string
		wantTargets  []string
		wantFiltered []string
		wantStrategy string
		wantHealth   map[string]string
	}{
		{
			name: "filter excludes a target; disabled skipped", targets: routingTargets(),
			view:     &fakeHealthView{states: map[string]string{"alpha": health.StateHealthy, "zeta": health.StateUnhealthy, "off": health.StateHealthy}},
			labels:   map[string]string{"alertname": "A", "team": "infra"},
			wantMode: contract.ModeNormal, wantTargets: []string{"alpha", "zeta"}, wantFiltered: []string{"payments"},
			wantStrategy: health.StrategySkipUnhealthy,
			wantHealth:   map[string]string{"alpha": health.StateHealthy, "zeta": health.StateUnhealthy},
		},
		{
			name: "filter matches", targets: routingTargets(), strategy: health.StrategyAll,
			view:     &fakeHealthView{states: map[string]string{"payments": health.StateDegraded}},
			labels:   map[string]string{"alertname": "A", "team": "billing"},
			wantMode: contract.ModeNormal, wantTargets: []string{"alpha", "payments", "zeta"},
			wantStrategy: health.StrategyAll,
			wantHealth:   map[string]string{"alpha": health.StateUnknown, "payments": health.StateDegraded, "zeta": health.StateUnknown},
		},
		{
			name: "label missing for the filter", targets: routingTargets(),
			view:     &fakeHealthView{},
			labels:   map[string]string{"alertname": "A"},
			wantMode: contract.ModeNormal, wantTargets: []string{"alpha", "zeta"}, wantFiltered: []string{"payments"},
			wantStrategy: health.StrategySkipUnhealthy,
			wantHealth:   map[string]string{"alpha": health.StateUnknown, "zeta": health.StateUnknown},
		},
		{
			name: "health unavailable routes as unknown", targets: routingTargets(), strategy: health.StrategySkipUnhealthyDegraded,
			view:     &fakeHealthView{err: errors.New("query failed")},
			labels:   map[string]string{"team": "payments"},
			wantMode: contract.ModeNormal, wantTargets: []string{"alpha", "payments", "zeta"},
			wantStrategy: health.StrategySkipUnhealthyDegraded,
			wantHealth:   map[string]string{},
		},
		{
			name: "every enabled target filtered out", targets: routingTargets()[2:],
			view:     &fakeHealthView{},
			labels:   map[string]string{"team": "infra"},
			wantMode: contract.ModeNormal, wantTargets: []string{}, wantFiltered: []string{"payments"},
			wantStrategy: health.StrategySkipUnhealthy,
			wantHealth:   map[string]string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			a := &activities.Activities{
				Registry: newRegistry(tc.targets...), HealthView: tc.view, Strategy: tc.strategy,
				Metrics: m, Logger: quietLogger(),
			}
			res := resolveTargets(t, a, tc.labels)
			assert.Equal(t, tc.wantMode, res.Mode)
			assert.Equal(t, tc.wantTargets, refNames(res.Targets))
			assert.Equal(t, tc.wantFiltered, res.Filtered)
			assert.Equal(t, tc.wantStrategy, res.Strategy)
			if len(tc.wantHealth) == 0 {
				assert.Empty(t, res.Health)
			} else {
				assert.Equal(t, tc.wantHealth, res.Health)
			}
			assert.Empty(t, res.Reason)
			assert.Equal(t, 1, tc.view.calls, "health read once")
			assert.Zero(t, toFloat64(t, m.MetricsOnlyAlerts))
		})
	}
}

func TestResolveTargetsRefs(t *testing.T) {
	a := &activities.Activities{Registry: newRegistry(routingTargets()...), HealthView: &fakeHealthView{}, Logger: quietLogger()}
	res := resolveTargets(t, a, map[string]string{"team": "payments"})
	require.Len(t, res.Targets, 3)
	byName := map[string]target.Ref{}
	for _, r := range res.Targets {
		byName[r.Name] = r
	}
	assert.Equal(t, "slack", byName["payments"].Type)
	assert.Equal(t, int32(3), byName["alpha"].Retry.MaxAttempts, "per-target retry override")
	assert.Equal(t, target.DefaultRetry, byName["zeta"].Retry)

	// No credentials in what goes to the workflow.
	data, err := json.Marshal(res)
	require.NoError(t, err)
	for _, s := range []string{apiToken, "/hook", "example.com"} {
		assert.NotContains(t, string(data), s)
	}
}

func TestResolveTargetsMetricsOnly(t *testing.T) {
	disabled := false
	tests := []struct {
		name    string
		targets []target.Target
	}{
		{"no targets", nil},
		{"only disabled targets", []target.Target{{Name: "off", Type: "webhook", URL: "https://x.example.com", Enabled: &disabled}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			view := &fakeHealthView{}
			a := &activities.Activities{Registry: newRegistry(tc.targets...), HealthView: view, Metrics: m, Logger: quietLogger()}
			res := resolveTargets(t, a, map[string]string{"alertname": "A"})
			assert.Equal(t, contract.ModeMetricsOnly, res.Mode)
			assert.NotEmpty(t, res.Reason)
			assert.Empty(t, res.Targets)
			assert.Equal(t, 1.0, toFloat64(t, m.MetricsOnlyAlerts))

			// A second alert counts again.
			resolveTargets(t, a, map[string]string{"alertname": "B"})
			assert.Equal(t, 2.0, toFloat64(t, m.MetricsOnlyAlerts))
		})
	}
	// Without metrics it still works.
	a := &activities.Activities{Registry: newRegistry(), Logger: quietLogger()}
	assert.Equal(t, contract.ModeMetricsOnly, resolveTargets(t, a, nil).Mode)
}

func TestTargetHealth(t *testing.T) {
	view := &fakeHealthView{states: map[string]string{"a": health.StateHealthy, "b": health.StateUnhealthy, "blank": ""}}
	tests := []struct {
		name  string
		a     *activities.Activities
		names []string
		want  map[string]string
	}{
		{"observed and unobserved", &activities.Activities{HealthView: view}, []string{"a", "b", "never"},
			map[string]string{"a": health.StateHealthy, "b": health.StateUnhealthy, "never": health.StateUnknown}},
		{"empty state is unknown", &activities.Activities{HealthView: view}, []string{"blank"},
			map[string]string{"blank": health.StateUnknown}},
		{"no health source at all", &activities.Activities{}, []string{"a"},
			map[string]string{"a": health.StateUnknown}},
		{"no names", &activities.Activities{HealthView: view}, nil, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.a.TargetHealth(context.Background(), tc.names)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}

	_, err := (&activities.Activities{HealthView: &fakeHealthView{err: errors.New("down")}}).TargetHealth(context.Background(), []string{"a"})
	assert.EqualError(t, err, "down")
}

type fakeClassifier struct{ c publish.Classification }

func (f fakeClassifier) Classify(context.Context, alert.Alert) publish.Classification { return f.c }

func TestClassifyAlert(t *testing.T) {
	tests := []struct {
		name       string
		classifier activities.Classifier
		severity   string
		want       publish.Classification
	}{
		{"labels: critical", nil, "page", publish.Classification{Severity: alert.SeverityCritical, Source: "labels", Confidence: 0.9}},
		{"labels: info", nil, "low", publish.Classification{Severity: alert.SeverityInfo, Source: "labels", Confidence: 0.9}},
		{"labels: missing", nil, "", publish.Classification{Severity: alert.SeverityWarning, Source: "labels", Confidence: 0.9}},
		{"classifier decides", fakeClassifier{publish.Classification{Severity: alert.SeverityInfo, Source: "rules", Reason: "r1"}}, "critical",
			publish.Classification{Severity: alert.SeverityInfo, Source: "rules", Reason: "r1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &activities.Activities{Classifier: tc.classifier}
			al := alert.Alert{Fingerprint: "f", Status: alert.StatusFiring, Labels: map[string]string{"alertname": "A"}}
			if tc.severity != "" {
				al.Labels["severity"] = tc.severity
			}
			got, err := a.ClassifyAlert(context.Background(), al)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestListTargetNames(t *testing.T) {
	a := &activities.Activities{Registry: newRegistry(routingTargets()...)}
	names, err := a.ListTargetNames(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"alpha", "payments", "zeta"}, names)

	names, err = (&activities.Activities{Registry: newRegistry()}).ListTargetNames(context.Background())
	require.NoError(t, err)
	assert.Empty(t, names)
}

type fakeProber struct {
	obs   health.Observation
	calls []string
}

func (p *fakeProber) Probe(_ context.Context, t target.Target) health.Observation {
	p.calls = append(p.calls, t.Name)
	o := p.obs
	o.Target = t.Name
	return o
}

func TestProbeTarget(t *testing.T) {
	tests := []struct {
		name       string
		target     string
		prober     *fakeProber
		wantErr    bool
		wantClass  string
		wantOK     bool
		wantResult string // herald_health_checks_total result label; "" none
	}{
		{"healthy", "chat", &fakeProber{obs: health.Observation{OK: true, Latency: 20 * time.Millisecond, Source: health.SourceProbe}},
			false, "", true, "ok"},
		{"auth failure with the token in the message", "chat", &fakeProber{obs: health.Observation{Class: health.ClassAuth,
			Message: "invalid_auth: " + apiToken, Source: health.SourceProbe}}, false, health.ClassAuth, false, health.ClassAuth},
		{"not configured", "nope", &fakeProber{}, false, health.ClassConfig, false, ""},
		{"no prober", "chat", nil, true, "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			a := &activities.Activities{Registry: newRegistry(testTargets()...), Metrics: m}
			if tc.prober != nil {
				a.Prober = tc.prober
			}
			o, err := a.ProbeTarget(context.Background(), tc.target)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.target, o.Target)
			assert.Equal(t, tc.wantOK, o.OK)
			assert.Equal(t, tc.wantClass, o.Class)
			assert.NotContains(t, o.Message, apiToken)
			if tc.wantClass == health.ClassAuth {
				assert.Contains(t, o.Message, target.Redacted)
			}
			if tc.wantResult != "" {
				assert.Equal(t, 1.0, toFloat64(t, m.HealthChecks.WithLabelValues(tc.target, tc.wantResult)))
				assert.Equal(t, []string{tc.target}, tc.prober.calls)
			} else {
				assert.Zero(t, collectAndCount(m.HealthChecks))
				assert.Empty(t, tc.prober.calls, "prober called for an unconfigured target")
			}
		})
	}
}

func TestRecordHealthWithoutStore(t *testing.T) {
	err := (&activities.Activities{}).RecordHealth(context.Background(), []health.Observation{{Target: "a"}})
	assert.Error(t, err)
}

// jsonValue is a converter.EncodedValue holding JSON.
type jsonValue struct{ data []byte }

func (v jsonValue) HasValue() bool { return len(v.data) > 0 }
func (v jsonValue) Get(ptr any) error {
	return json.Unmarshal(v.data, ptr)
}

func statusValue(t *testing.T, list ...health.Status) jsonValue {
	t.Helper()
	data, err := json.Marshal(list)
	require.NoError(t, err)
	return jsonValue{data}
}

func TestHealthStoreAll(t *testing.T) {
	t.Run("decodes and caches", func(t *testing.T) {
		c := &mocks.Client{}
		c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
			Return(statusValue(t, health.Status{Target: "a", State: health.StateHealthy}, health.Status{Target: "b", State: health.StateDegraded}), nil)
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health", CacheTTL: time.Hour}
		all, err := s.All(context.Background())
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, health.StateHealthy, all["a"].State)
		assert.Equal(t, health.StateDegraded, all["b"].State)

		_, err = s.All(context.Background())
		require.NoError(t, err)
		c.AssertNumberOfCalls(t, "QueryWorkflow", 1)

		st, err := s.Of(context.Background(), "b")
		require.NoError(t, err)
		assert.Equal(t, health.StateDegraded, st.State)
		st, err = s.Of(context.Background(), "never")
		require.NoError(t, err)
		assert.Equal(t, health.Status{Target: "never", State: health.StateUnknown}, st)
		c.AssertNumberOfCalls(t, "QueryWorkflow", 1)

		s.Invalidate()
		_, err = s.All(context.Background())
		require.NoError(t, err)
		c.AssertNumberOfCalls(t, "QueryWorkflow", 2)
	})
	t.Run("not started yet: everything unknown", func(t *testing.T) {
		c := &mocks.Client{}
		c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
			Return(nil, serviceerror.NewNotFound("workflow not found"))
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health"}
		all, err := s.All(context.Background())
		require.NoError(t, err)
		assert.Empty(t, all)
		st, err := s.Of(context.Background(), "a")
		require.NoError(t, err)
		assert.Equal(t, health.StateUnknown, st.State)
	})
	t.Run("query error", func(t *testing.T) {
		c := &mocks.Client{}
		c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
			Return(nil, serviceerror.NewUnavailable("frontend down"))
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health"}
		_, err := s.All(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "frontend down")
		_, err = s.Of(context.Background(), "a")
		assert.Error(t, err)
		// Errors are not cached.
		c.AssertNumberOfCalls(t, "QueryWorkflow", 2)
	})
	t.Run("undecodable state", func(t *testing.T) {
		c := &mocks.Client{}
		c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").Return(jsonValue{[]byte(`{"not":"a list"}`)}, nil)
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health"}
		_, err := s.All(context.Background())
		assert.ErrorContains(t, err, "decode health state")
	})
}

// A storm of deliveries keeps the health workflow busy with observation
// signals, so its query can take seconds: a stale cache answers at once
// while one refresh runs behind it, and only Invalidate (a check that
// must show its own result) waits for the query.
func TestHealthStoreServesStaleWhileRefreshing(t *testing.T) {
	c := &mocks.Client{}
	release := make(chan struct{})
	var queries atomic.Int32
	c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
		Run(func(mock.Arguments) { queries.Add(1) }).
		Return(statusValue(t, health.Status{Target: "a", State: health.StateHealthy}), nil).Once()
	c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
		Run(func(mock.Arguments) { queries.Add(1); <-release }).
		Return(statusValue(t, health.Status{Target: "a", State: health.StateUnhealthy}), nil)
	s := &activities.HealthStore{Client: c, WorkflowID: "herald-health", CacheTTL: time.Millisecond}
	all, err := s.All(context.Background())
	require.NoError(t, err)
	require.Equal(t, health.StateHealthy, all["a"].State)
	time.Sleep(2 * time.Millisecond) // past the TTL

	// Twenty readers while the refresh hangs: all answer from the cache,
	// and only one query runs.
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		all, err := s.All(ctx)
		cancel()
		require.NoError(t, err)
		assert.Equal(t, health.StateHealthy, all["a"].State)
	}
	require.Eventually(t, func() bool { return queries.Load() == 2 }, 5*time.Second, time.Millisecond, "no refresh behind the stale cache")
	for range 5 {
		_, err := s.All(context.Background())
		require.NoError(t, err)
	}
	assert.Equal(t, int32(2), queries.Load(), "queries while the refresh hangs, want the one refresh")

	close(release)
	require.Eventually(t, func() bool {
		all, err := s.All(context.Background())
		return err == nil && all["a"].State == health.StateUnhealthy
	}, 5*time.Second, time.Millisecond, "the refresh never reached the cache")

	// Invalidate: the next read waits for its own query.
	s.Invalidate()
	n := queries.Load()
	_, err = s.All(context.Background())
	require.NoError(t, err)
	assert.Greater(t, queries.Load(), n, "a read after Invalidate did not query")
}

// After an idle spell longer than MaxStale the cache is too old to route
// on: the read waits for the query.
func TestHealthStoreWaitsAfterAnIdleSpell(t *testing.T) {
	c := &mocks.Client{}
	c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
		Return(statusValue(t, health.Status{Target: "a", State: health.StateHealthy}), nil).Once()
	c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
		Return(statusValue(t, health.Status{Target: "a", State: health.StateUnhealthy}), nil).Once()
	s := &activities.HealthStore{Client: c, WorkflowID: "herald-health", CacheTTL: time.Millisecond, MaxStale: 20 * time.Millisecond}
	all, err := s.All(context.Background())
	require.NoError(t, err)
	require.Equal(t, health.StateHealthy, all["a"].State)
	time.Sleep(30 * time.Millisecond)
	all, err = s.All(context.Background())
	require.NoError(t, err)
	assert.Equal(t, health.StateUnhealthy, all["a"].State, "a cache older than MaxStale was routed on")
}

func TestHealthStoreRecord(t *testing.T) {
	obs := []health.Observation{{Target: "a", OK: true, Source: health.SourceProbe}}
	t.Run("signal with start, then a fresh read", func(t *testing.T) {
		c := &mocks.Client{}
		var queries atomic.Int32
		c.On("QueryWorkflow", mock.Anything, "herald-health", "", "health").
			Run(func(mock.Arguments) { queries.Add(1) }).Return(statusValue(t), nil)
		c.On("SignalWithStartWorkflow", mock.Anything, "herald-health", "observe", obs, mock.Anything, "HealthStateWorkflow", mock.Anything).
			Return(&mocks.WorkflowRun{}, nil).Once()
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health", TaskQueue: "herald-q", CacheTTL: time.Hour,
			Policy: health.Policy{UnhealthyAfter: 5}}
		_, err := s.All(context.Background())
		require.NoError(t, err)

		a := &activities.Activities{Health: s}
		require.NoError(t, a.RecordHealth(context.Background(), obs))
		c.AssertExpectations(t)
		opts := c.Calls[1].Arguments.Get(4).(client.StartWorkflowOptions)
		assert.Equal(t, "herald-health", opts.ID)
		assert.Equal(t, "herald-q", opts.TaskQueue)
		// The start argument carries the policy.
		data, err := json.Marshal(c.Calls[1].Arguments.Get(6))
		require.NoError(t, err)
		assert.Contains(t, string(data), `"unhealthyAfter":5`)

		// The cache is stale: the next read answers from it and queries
		// again behind it.
		_, err = s.All(context.Background())
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return queries.Load() == 2
		}, 5*time.Second, time.Millisecond, "no refresh after the observations were recorded")
	})
	t.Run("nothing to record", func(t *testing.T) {
		c := &mocks.Client{}
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health"}
		require.NoError(t, s.Record(context.Background(), nil))
		c.AssertNotCalled(t, "SignalWithStartWorkflow")
	})
	t.Run("signal error", func(t *testing.T) {
		c := &mocks.Client{}
		c.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
			Return(nil, errors.New("unavailable"))
		s := &activities.HealthStore{Client: c, WorkflowID: "herald-health"}
		err := s.Record(context.Background(), obs)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "unavailable")
	})
}

func TestHealthReporterFlush(t *testing.T) {
	c := &mocks.Client{}
	var got []health.Observation
	c.On("SignalWithStartWorkflow", mock.Anything, "herald-health", "observe", mock.Anything, mock.Anything, "HealthStateWorkflow", mock.Anything).
		Run(func(args mock.Arguments) { got = args.Get(3).([]health.Observation) }).
		Return(&mocks.WorkflowRun{}, nil)
	r := &activities.HealthReporter{Store: &activities.HealthStore{Client: c, WorkflowID: "herald-health"}}

	r.Flush(context.Background()) // nothing queued: no signal
	c.AssertNumberOfCalls(t, "SignalWithStartWorkflow", 0)

	r.Observe(health.Observation{Target: "a", OK: true})
	r.Observe(health.Observation{Target: "b", Class: health.ClassTimeout})
	r.Flush(context.Background())
	c.AssertNumberOfCalls(t, "SignalWithStartWorkflow", 1)
	require.Len(t, got, 2)
	assert.Equal(t, "a", got[0].Target)
	assert.Equal(t, "b", got[1].Target)

	r.Flush(context.Background()) // the batch was taken
	c.AssertNumberOfCalls(t, "SignalWithStartWorkflow", 1)
}

func TestPublishReportsInformativeOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		guardErr error
		want     int // observations recorded
	}{
		{"success", nil, nil, 1},
		{"receiver error", publish.Retryable(publish.KindHTTPServer, 0, "x"), nil, 1},
		{"breaker open is not the target's fault", nil, publish.Retryable(publish.KindCircuitOpen, time.Second, "open"), 0},
		{"Herald's own rate limit", publish.Retryable(publish.KindRateLimited, time.Second, "local limit"), nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &mocks.Client{}
			var got []health.Observation
			c.On("SignalWithStartWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).
				Run(func(args mock.Arguments) { got = args.Get(3).([]health.Observation) }).
				Return(&mocks.WorkflowRun{}, nil)
			reporter := &activities.HealthReporter{Store: &activities.HealthStore{Client: c, WorkflowID: "herald-health"}}
			a := &activities.Activities{
				Registry:      newRegistry(testTargets()...),
				Publishers:    publish.Publishers{"webhook": &fakePublisher{res: publish.Result{StatusCode: 200}, err: tc.err}},
				HealthReports: reporter,
				Logger:        quietLogger(),
			}
			if tc.guardErr != nil {
				a.Guard = &fakeGuard{err: tc.guardErr}
			}
			_, _ = runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
			reporter.Flush(context.Background())
			require.Len(t, got, tc.want)
			if tc.want == 1 {
				assert.Equal(t, "hook", got[0].Target)
				assert.Equal(t, health.SourceDelivery, got[0].Source)
				assert.Equal(t, tc.err == nil, got[0].OK)
			}
		})
	}
}
