package activities_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Credentials of the test targets; none may leave the activity.
const (
	hookSecretPath = "/services/T0001/B0002/sEcReTpAtH"
	hookURL        = "https://hooks.example.com" + hookSecretPath
	apiToken       = "xoxb-123-456-sEcReTtOkEn"
	headerSecret   = "Bearer hdr-sEcReT-value"
)

// fakePublisher returns a scripted result and records its calls.
type fakePublisher struct {
	mu     sync.Mutex
	res    publish.Result
	err    error
	calls  int
	target target.Target
	notif  publish.Notification
}

func (p *fakePublisher) Publish(_ context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.target, p.notif = t, n
	return p.res, p.err
}

func (p *fakePublisher) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// fakeGuard fails Acquire with err, or lets the delivery through and
// records the outcome reported to done.
type fakeGuard struct {
	mu       sync.Mutex
	err      error
	acquired []string
	outcomes []error
	requests []guard.Request
	ticket   string
}

func (g *fakeGuard) Admit(_ context.Context, t target.Target, req guard.Request) (guard.Admission, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.acquired = append(g.acquired, t.Name)
	g.requests = append(g.requests, req)
	if pe := publish.AsError(g.err); g.err != nil && (pe.Kind == publish.KindCircuitOpen || pe.Kind == publish.KindRateLimited) {
		return guard.Admission{Delay: pe.RetryAfter, Kind: pe.Kind, Reason: pe.Msg, Ticket: g.ticket}, nil
	}
	if g.err != nil {
		return guard.Admission{}, g.err
	}
	return guard.Admission{Done: func(err error) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.outcomes = append(g.outcomes, err)
	}}, nil
}

func testTargets() []target.Target {
	disabled := false
	return []target.Target{
		{Name: "hook", Type: "webhook", URL: hookURL, Headers: map[string]string{"Authorization": headerSecret}},
		{Name: "chat", Type: "slack", Config: &slack.Config{Token: apiToken, Channel: "#alerts"}},
		{Name: "odd", Type: "carrier-pigeon", URL: "https://pigeon.example.com"},
		{Name: "off", Type: "webhook", URL: "https://off.example.com", Enabled: &disabled},
	}
}

func newRegistry(targets ...target.Target) *target.Registry {
	reg := target.NewRegistry()
	reg.Update("test", targets, nil)
	return reg
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func notification() publish.Notification {
	return publish.Notification{
		Alert: alert.Alert{Fingerprint: "fp1", Status: alert.StatusFiring,
			Labels: map[string]string{"alertname": "DiskFull", "severity": "critical"}},
		Event: publish.EventFiring,
		State: publish.ProviderState{"ts": "123.456"},
	}
}

// newActivityEnv returns a test activity environment that does not log
// the (expected) activity errors.
func newActivityEnv() *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(quietLogger()))
	return suite.NewTestActivityEnvironment()
}

// runPublish executes the Publish activity in a test activity environment.
func runPublish(t *testing.T, a *activities.Activities, in activities.PublishInput) (activities.PublishOutput, error) {
	t.Helper()
	env := newActivityEnv()
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.Publish, in)
	if err != nil {
		return activities.PublishOutput{}, err
	}
	var out activities.PublishOutput
	require.NoError(t, val.Get(&out))
	return out, nil
}

// appError returns the ApplicationError inside the activity error.
func appError(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "error %T (%v) does not wrap an ApplicationError", err, err)
	return appErr
}

func details(t *testing.T, appErr *temporal.ApplicationError) activities.FailureDetails {
	t.Helper()
	require.True(t, appErr.HasDetails(), "ApplicationError has no details")
	var d activities.FailureDetails
	require.NoError(t, appErr.Details(&d))
	return d
}

func TestPublishSuccess(t *testing.T) {
	pub := &fakePublisher{res: publish.Result{StatusCode: 201, State: publish.ProviderState{"id": "msg-1"}}}
	a := &activities.Activities{
		Registry:   newRegistry(testTargets()...),
		Publishers: publish.Publishers{"webhook": pub},
		Logger:     quietLogger(),
	}
	before := time.Now().UTC()
	out, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
	require.NoError(t, err)
	assert.Equal(t, 201, out.StatusCode)
	assert.Equal(t, publish.ProviderState{"id": "msg-1"}, out.State)
	assert.Equal(t, int32(1), out.Attempt)
	assert.False(t, out.DeliveredAt.Before(before.Add(-time.Second)), "DeliveredAt %v before the call", out.DeliveredAt)

	// The publisher got the full target (credentials looked up in the
	// worker) and the notification as given.
	require.Equal(t, 1, pub.callCount())
	assert.Equal(t, "hook", pub.target.Name)
	assert.Equal(t, hookURL, pub.target.URL)
	assert.Equal(t, headerSecret, pub.target.Headers["Authorization"])
	assert.Equal(t, publish.EventFiring, pub.notif.Event)
	assert.Equal(t, "fp1", pub.notif.Alert.Fingerprint)
	assert.Equal(t, publish.ProviderState{"ts": "123.456"}, pub.notif.State)
}

func TestPublishFailures(t *testing.T) {
	tests := []struct {
		name   string
		target string
		// err is what the webhook publisher returns.
		err           error
		wantType      string
		nonRetryable  bool
		retryDelay    time.Duration
		wantStatus    int
		wantInMessage string
		publisherCall bool
	}{
		{
			name: "rate limited with Retry-After", target: "hook",
			err:      publish.Retryable(publish.KindRateLimited, 7*time.Second, "slow down"),
			wantType: "rate_limited", retryDelay: 7 * time.Second, wantInMessage: "slow down", publisherCall: true,
		},
		{
			name: "HTTP 429 from the status classifier", target: "hook",
			err:      publish.ClassifyStatus(429, map[string][]string{"Retry-After": {"3"}}, []byte("too many"), time.Now()),
			wantType: publish.KindRateLimited, retryDelay: 3 * time.Second, wantStatus: 429, publisherCall: true,
		},
		{
			name: "permanent 400", target: "hook",
			err:      publish.ClassifyStatus(400, nil, []byte(`{"error":"invalid payload"}`), time.Now()),
			wantType: publish.KindHTTPClient, nonRetryable: true, wantStatus: 400, wantInMessage: "invalid payload", publisherCall: true,
		},
		{
			name: "server error 502", target: "hook",
			err:      publish.ClassifyStatus(502, nil, nil, time.Now()),
			wantType: publish.KindHTTPServer, wantStatus: 502, publisherCall: true,
		},
		{
			name: "plain error is a retryable network error", target: "hook",
			err:      errors.New("connection reset by peer"),
			wantType: publish.KindNetwork, wantInMessage: "connection reset", publisherCall: true,
		},
		{
			name: "deadline exceeded is a timeout", target: "hook",
			err:      fmt.Errorf("post: %w", context.DeadlineExceeded),
			wantType: publish.KindTimeout, publisherCall: true,
		},
		{
			name: "unknown target", target: "nope",
			wantType: "target_not_found", wantInMessage: `"nope"`,
		},
		{
			name: "disabled targets are still known by name", target: "off",
			err:      publish.Permanent(publish.KindConfig, "bad config"),
			wantType: publish.KindConfig, nonRetryable: true, publisherCall: true,
		},
		{
			name: "unknown type", target: "odd",
			wantType: publish.KindUnknownType, nonRetryable: true, wantInMessage: "carrier-pigeon",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{err: tc.err}
			a := &activities.Activities{
				Registry:   newRegistry(testTargets()...),
				Publishers: publish.Publishers{"webhook": pub, "slack": pub},
				Logger:     quietLogger(),
			}
			_, err := runPublish(t, a, activities.PublishInput{Target: tc.target, Notification: notification()})
			appErr := appError(t, err)
			assert.Equal(t, tc.wantType, appErr.Type())
			assert.Equal(t, tc.nonRetryable, appErr.NonRetryable())
			assert.Equal(t, tc.retryDelay, appErr.NextRetryDelay())
			if tc.wantInMessage != "" {
				assert.Contains(t, appErr.Message(), tc.wantInMessage)
			}
			d := details(t, appErr)
			assert.Equal(t, activities.FailureDetails{
				Kind: tc.wantType, StatusCode: tc.wantStatus, Attempt: 1, Retryable: !tc.nonRetryable,
			}, d)
			if tc.publisherCall {
				assert.Equal(t, 1, pub.callCount())
			} else {
				assert.Zero(t, pub.callCount(), "publisher called")
			}
			// FailureFrom on what the workflow would see gives the same details.
			fd, msg := activities.FailureFrom(err)
			assert.Equal(t, d, fd)
			assert.Equal(t, appErr.Message(), msg)
		})
	}
}

func TestPublishRateLimitedDetails(t *testing.T) {
	// The exact shape the workflow relies on.
	pub := &fakePublisher{err: publish.Retryable(publish.KindRateLimited, 7*time.Second, "rate limited by receiver")}
	a := &activities.Activities{
		Registry:   newRegistry(testTargets()...),
		Publishers: publish.Publishers{"webhook": pub},
		Logger:     quietLogger(),
	}
	_, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
	appErr := appError(t, err)
	assert.Equal(t, "rate_limited", appErr.Type())
	assert.False(t, appErr.NonRetryable())
	assert.Equal(t, 7*time.Second, appErr.NextRetryDelay())
	d := details(t, appErr)
	assert.Equal(t, "rate_limited", d.Kind)
	assert.Equal(t, int32(1), d.Attempt)
	assert.True(t, d.Retryable)
}

func TestPublishRedactsSecrets(t *testing.T) {
	secrets := []string{hookSecretPath, apiToken, headerSecret, "sEcReT"}
	tests := []struct {
		name   string
		target string
		err    error
	}{
		{"URL path in a plain error", "hook", fmt.Errorf("Post %q: dial tcp: connection refused", hookURL)},
		{"URL path in a publish error", "hook", publish.Retryable(publish.KindHTTPServer, 0, "upstream %s failed", hookURL)},
		{"header value echoed by the receiver", "hook", publish.Permanent(publish.KindHTTPClient, "rejected Authorization: %s", headerSecret)},
		{"token echoed by the provider", "chat", publish.Permanent(publish.KindProvider, "invalid_auth for token %s", apiToken)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub := &fakePublisher{err: tc.err}
			m := metrics.New()
			a := &activities.Activities{
				Registry:   newRegistry(testTargets()...),
				Publishers: publish.Publishers{"webhook": pub, "slack": pub},
				Logger:     quietLogger(),
				Metrics:    m,
			}
			_, err := runPublish(t, a, activities.PublishInput{Target: tc.target, Notification: notification()})
			appErr := appError(t, err)
			assert.Contains(t, appErr.Message(), target.Redacted)
			for _, s := range secrets {
				assert.NotContains(t, appErr.Message(), s)
				assert.NotContains(t, err.Error(), s)
			}
			// Nor in any metric label.
			families, gerr := m.Registry.Gather()
			require.NoError(t, gerr)
			for _, f := range families {
				for _, mt := range f.GetMetric() {
					for _, l := range mt.GetLabel() {
						for _, s := range secrets {
							assert.NotContains(t, l.GetValue(), s, "metric %s label %s", f.GetName(), l.GetName())
						}
					}
				}
			}
		})
	}
}

func TestPublishGuard(t *testing.T) {
	t.Run("open breaker: no call, delay from the guard", func(t *testing.T) {
		pub := &fakePublisher{}
		g := &fakeGuard{err: publish.Retryable(publish.KindCircuitOpen, 45*time.Second, "circuit open for %s", "hook")}
		a := &activities.Activities{
			Registry:   newRegistry(testTargets()...),
			Publishers: publish.Publishers{"webhook": pub},
			Guard:      g,
			Logger:     quietLogger(),
		}
		_, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
		appErr := appError(t, err)
		assert.Zero(t, pub.callCount(), "publisher called with the breaker open")
		assert.Equal(t, publish.KindCircuitOpen, appErr.Type())
		assert.False(t, appErr.NonRetryable())
		assert.Equal(t, 45*time.Second, appErr.NextRetryDelay())
		assert.Equal(t, []string{"hook"}, g.acquired)
		assert.Empty(t, g.outcomes)
	})
	t.Run("deferral: no call, no failure, the slot's ticket and delay go back to the workflow", func(t *testing.T) {
		pub := &fakePublisher{}
		g := &fakeGuard{err: publish.Retryable(publish.KindRateLimited, 7*time.Second, "next slot in 7s"), ticket: "target/hook#3"}
		m := metrics.New()
		a := &activities.Activities{
			Registry:   newRegistry(testTargets()...),
			Publishers: publish.Publishers{"webhook": pub},
			Guard:      g,
			Metrics:    m,
			Logger:     quietLogger(),
		}
		out, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification(), Defer: true, Ticket: "target/hook#2"})
		require.NoError(t, err)
		assert.Zero(t, pub.callCount())
		assert.Equal(t, 7*time.Second, out.Deferred)
		assert.Equal(t, "target/hook#3", out.Ticket)
		assert.Equal(t, publish.KindRateLimited, out.DeferKind)
		assert.Equal(t, []guard.Request{{Ticket: "target/hook#2", Defer: true}}, g.requests)
		assert.Equal(t, 1.0, toFloat64(t, m.Deferrals.WithLabelValues("hook", publish.KindRateLimited)))
		// Herald's own refusal is no delivery error.
		ch := make(chan prometheus.Metric, 4)
		m.DeliveryErrors.Collect(ch)
		close(ch)
		assert.Empty(t, ch, "a deferral was counted as a delivery error")
	})
	t.Run("outcome is reported back", func(t *testing.T) {
		perr := publish.Retryable(publish.KindHTTPServer, 0, "boom")
		pub := &fakePublisher{err: perr}
		g := &fakeGuard{}
		a := &activities.Activities{
			Registry:   newRegistry(testTargets()...),
			Publishers: publish.Publishers{"webhook": pub},
			Guard:      g,
			Logger:     quietLogger(),
		}
		_, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
		require.Error(t, err)
		assert.Equal(t, 1, pub.callCount())
		require.Len(t, g.outcomes, 1)
		assert.Same(t, perr, g.outcomes[0])
	})
	t.Run("unknown target never reaches the guard", func(t *testing.T) {
		g := &fakeGuard{}
		a := &activities.Activities{
			Registry:   newRegistry(testTargets()...),
			Publishers: publish.Publishers{"webhook": &fakePublisher{}},
			Guard:      g,
			Logger:     quietLogger(),
		}
		_, err := runPublish(t, a, activities.PublishInput{Target: "nope", Notification: notification()})
		require.Error(t, err)
		assert.Empty(t, g.acquired)
	})
}

func TestPublishMetrics(t *testing.T) {
	tests := []struct {
		name    string
		replay  bool
		err     error
		outcome string // herald_deliveries_total outcome
		kind    string // herald_delivery_errors_total kind ("" on success)
		replayO string // herald_dlq_replays_total outcome ("" unless replay)
	}{
		{"success", false, nil, "success", "", ""},
		{"retryable", false, publish.Retryable(publish.KindHTTPServer, 0, "x"), "retryable_error", publish.KindHTTPServer, ""},
		{"permanent", false, publish.Permanent(publish.KindHTTPClient, "x"), "permanent_error", publish.KindHTTPClient, ""},
		{"replay success", true, nil, "success", "", "success"},
		{"replay failure", true, publish.Permanent(publish.KindHTTPClient, "x"), "permanent_error", publish.KindHTTPClient, "failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			a := &activities.Activities{
				Registry:   newRegistry(testTargets()...),
				Publishers: publish.Publishers{"webhook": &fakePublisher{res: publish.Result{StatusCode: 200}, err: tc.err}},
				Logger:     quietLogger(),
				Metrics:    m,
			}
			_, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification(), Replay: tc.replay})
			assert.Equal(t, tc.err == nil, err == nil, "err = %v", err)

			for _, o := range []string{"success", "retryable_error", "permanent_error"} {
				want := 0.0
				if o == tc.outcome {
					want = 1
				}
				assert.Equal(t, want, toFloat64(t, m.Deliveries.WithLabelValues("hook", "webhook", publish.EventFiring, o)), "deliveries outcome=%s", o)
			}
			if tc.kind != "" {
				assert.Equal(t, 1.0, toFloat64(t, m.DeliveryErrors.WithLabelValues("hook", "webhook", tc.kind)))
			} else {
				assert.Zero(t, collectAndCount(m.DeliveryErrors))
			}
			for _, o := range []string{"success", "failure"} {
				want := 0.0
				if o == tc.replayO {
					want = 1
				}
				assert.Equal(t, want, toFloat64(t, m.DLQReplays.WithLabelValues(o)), "dlq replays outcome=%s", o)
			}
			assert.Equal(t, 1, collectAndCount(m.DeliveryLatency), "one latency series")
		})
	}
}

func TestPublishGuardWaitMetric(t *testing.T) {
	m := metrics.New()
	a := &activities.Activities{
		Registry:   newRegistry(testTargets()...),
		Publishers: publish.Publishers{"webhook": &fakePublisher{res: publish.Result{StatusCode: 200}}},
		Guard:      &fakeGuard{},
		Logger:     quietLogger(),
		Metrics:    m,
	}
	_, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
	require.NoError(t, err)
	assert.Equal(t, 1, collectAndCount(m.RateLimitWait))
	assert.True(t, strings.Contains(gatherText(t, m), `herald_rate_limit_wait_seconds_count{type="webhook"} 1`))
}

func gatherText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	var b strings.Builder
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			if h := mt.GetHistogram(); h != nil {
				var labels []string
				for _, l := range mt.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				fmt.Fprintf(&b, "%s_count{%s} %d\n", f.GetName(), strings.Join(labels, ","), h.GetSampleCount())
			}
		}
	}
	return b.String()
}

func TestFailureFrom(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		want    activities.FailureDetails
		wantMsg string
	}{
		{
			name: "application error with details",
			err: temporal.NewApplicationErrorWithOptions("http_4xx (HTTP 404): not found", publish.KindHTTPClient, temporal.ApplicationErrorOptions{
				NonRetryable: true,
				Details:      []any{activities.FailureDetails{Kind: publish.KindHTTPClient, StatusCode: 404, Attempt: 3}},
			}),
			want:    activities.FailureDetails{Kind: publish.KindHTTPClient, StatusCode: 404, Attempt: 3},
			wantMsg: "http_4xx (HTTP 404): not found",
		},
		{
			name:    "application error without details takes the kind from its type",
			err:     temporal.NewApplicationError("boom", "custom_kind"),
			want:    activities.FailureDetails{Kind: "custom_kind"},
			wantMsg: "boom",
		},
		{
			name: "wrapped application error",
			err: fmt.Errorf("activity failed: %w", temporal.NewApplicationErrorWithOptions("slow", publish.KindRateLimited, temporal.ApplicationErrorOptions{
				Details: []any{activities.FailureDetails{Kind: publish.KindRateLimited, Attempt: 2, Retryable: true}},
			})),
			want:    activities.FailureDetails{Kind: publish.KindRateLimited, Attempt: 2, Retryable: true},
			wantMsg: "slow",
		},
		{
			name:    "timeout",
			err:     temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil),
			want:    activities.FailureDetails{Kind: publish.KindTimeout, Retryable: true},
			wantMsg: "activity timed out (StartToClose)",
		},
		{
			name:    "plain error",
			err:     errors.New("something else"),
			want:    activities.FailureDetails{Kind: "unknown"},
			wantMsg: "something else",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, msg := activities.FailureFrom(tc.err)
			assert.Equal(t, tc.want, d)
			assert.Contains(t, msg, tc.wantMsg)
		})
	}
}

// toFloat64 reads a counter, gauge or untyped metric. (prometheus/testutil
// is not usable here: its diff dependency is not in go.sum.)
func toFloat64(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 10)
	c.Collect(ch)
	close(ch)
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	require.Len(t, ms, 1, "collector must yield exactly one metric")
	var pb dto.Metric
	require.NoError(t, ms[0].Write(&pb))
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	case pb.Untyped != nil:
		return pb.Untyped.GetValue()
	}
	t.Fatalf("metric is neither counter, gauge nor untyped: %v", &pb)
	return 0
}

// collectAndCount returns the number of series a collector yields.
func collectAndCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 100)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// No delivery is decided while a configured target source has not synced:
// the alert would go to fewer targets, or none.
func TestResolveTargetsWaitsForUnsyncedSources(t *testing.T) {
	reg := newRegistry(testTargets()...)
	reg.Expect("kubernetes")
	a := &activities.Activities{Registry: reg, Logger: quietLogger(), Metrics: metrics.New()}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(a)
	_, err := env.ExecuteActivity(a.ResolveTargets, activities.ResolveTargetsInput{Labels: map[string]string{"alertname": "X"}})
	appErr := appError(t, err)
	assert.Equal(t, activities.KindTargetsNotSynced, appErr.Type())
	assert.False(t, appErr.NonRetryable(), "must be retried until the source syncs")
	assert.Contains(t, appErr.Message(), "kubernetes")

	reg.Update("kubernetes", nil, nil)
	v, err := env.ExecuteActivity(a.ResolveTargets, activities.ResolveTargetsInput{Labels: map[string]string{"alertname": "X"}})
	require.NoError(t, err)
	var res activities.ResolveTargetsResult
	require.NoError(t, v.Get(&res))
	assert.Equal(t, contract.ModeNormal, res.Mode)
	assert.NotEmpty(t, res.Targets)
}

// A delivery error that echoes the target's credentials reaches the shared
// health state (history, GET /api/v1/targets) redacted.
func TestPublishHealthObservationHoldsNoSecret(t *testing.T) {
	echo := publish.Retryable(publish.KindHTTPServer, 0, "receiver said: bad auth %s at %s", headerSecret, hookURL)
	reporter := &activities.HealthReporter{}
	a := &activities.Activities{
		Registry:      newRegistry(testTargets()...),
		Publishers:    publish.Publishers{"webhook": &fakePublisher{err: echo}},
		HealthReports: reporter,
		Logger:        quietLogger(),
	}
	_, err := runPublish(t, a, activities.PublishInput{Target: "hook", Notification: notification()})
	require.Error(t, err)
	obs := reporter.Pending()
	require.Len(t, obs, 1)
	assert.False(t, obs[0].OK)
	assert.NotEmpty(t, obs[0].Message)
	for _, secret := range []string{headerSecret, "hdr-sEcReT-value", hookURL} {
		assert.NotContains(t, obs[0].Message, secret, "health observation leaks a credential")
	}
}
