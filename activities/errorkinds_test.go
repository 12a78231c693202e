package activities_test

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Herald's own refusals send nothing, yet they are why a target's alerts
// do not arrive: herald_delivery_errors_total counts an open breaker
// (circuit_open, once per refusal, deferred or not) and a target that no
// longer exists (target_not_found). They are no delivery attempts
// (herald_deliveries_total), and Herald's own rate limit is neither.
func TestPublishCountsRefusals(t *testing.T) {
	circuitOpen := publish.Retryable(publish.KindCircuitOpen, 30*time.Second, "circuit open")
	rateLimited := publish.Retryable(publish.KindRateLimited, 3*time.Second, "next slot in 3s")
	type series struct{ target, typ, kind string }
	tests := []struct {
		name      string
		guardErr  error
		deferred  bool
		target    string
		removed   bool // the target was configured, then removed
		runs      int
		want      map[series]float64 // every herald_delivery_errors_total series
		wantFails bool
	}{
		{name: "open breaker, not deferred", guardErr: circuitOpen, target: "hook", runs: 1, wantFails: true,
			want: map[series]float64{{"hook", "webhook", publish.KindCircuitOpen}: 1}},
		{name: "open breaker, deferred: once per refusal", guardErr: circuitOpen, deferred: true, target: "hook", runs: 3,
			want: map[series]float64{{"hook", "webhook", publish.KindCircuitOpen}: 3}},
		{name: "own rate limit, deferred: no error", guardErr: rateLimited, deferred: true, target: "hook", runs: 1,
			want: map[series]float64{}},
		{name: "own rate limit, not deferred: no error", guardErr: rateLimited, target: "hook", runs: 1, wantFails: true,
			want: map[series]float64{}},
		{name: "target never configured", target: "nope", runs: 2, wantFails: true,
			want: map[series]float64{{"nope", "unknown", publish.KindTargetAbsent}: 2}},
		{name: "target removed: counted with its last type", target: "hook", removed: true, runs: 1, wantFails: true,
			want: map[series]float64{{"hook", "webhook", publish.KindTargetAbsent}: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(testTargets()...)
			if tc.removed {
				reg.Update("test", testTargets()[1:], nil)
			}
			m := metrics.New()
			pub := &fakePublisher{}
			a := &activities.Activities{
				Registry:   reg,
				Publishers: publish.Publishers{"webhook": pub},
				Guard:      &fakeGuard{err: tc.guardErr},
				Metrics:    m,
				Logger:     quietLogger(),
			}
			for i := 0; i < tc.runs; i++ {
				_, err := runPublish(t, a, activities.PublishInput{Target: tc.target, Notification: notification(), Defer: tc.deferred})
				assert.Equal(t, tc.wantFails, err != nil, "run %d: err = %v", i, err)
			}
			assert.Zero(t, pub.callCount(), "a refused delivery reached the publisher")
			assert.Zero(t, collectAndCount(m.Deliveries), "a refusal was counted as a delivery attempt")
			assert.Equal(t, len(tc.want), collectAndCount(m.DeliveryErrors), "series of herald_delivery_errors_total")
			for s, want := range tc.want {
				assert.Equal(t, want, toFloat64(t, m.DeliveryErrors.WithLabelValues(s.target, s.typ, s.kind)), "%+v", s)
			}
		})
	}
}

// The refusal kinds the metrics pre-create are the kinds Publish counts.
func TestRefusalKindsArePublishKinds(t *testing.T) {
	assert.ElementsMatch(t, []string{publish.KindCircuitOpen, publish.KindTargetAbsent}, metrics.RefusalKinds)
}

// herald_rate_limit_wait_seconds sees the wait a delivery really felt: a
// delivery deferred by the rate limit and admitted when it comes back with
// its ticket observes the deferral, once; the deferral itself observes
// nothing, and a delivery admitted at once observes 0.
func TestPublishRateLimitWaitCoversDeferrals(t *testing.T) {
	clk := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	g := guard.New(guard.Options{Now: func() time.Time { return clk }, InlineWait: 10 * time.Millisecond})
	slow := target.Target{Name: "slow", Type: "webhook", URL: "https://example.com/slow",
		RateLimit: &target.RateLimitSpec{PerSecond: 0.1, Burst: 1}}
	m := metrics.New()
	a := &activities.Activities{
		Registry:   newRegistry(slow),
		Publishers: publish.Publishers{"webhook": &fakePublisher{res: publish.Result{StatusCode: 200}}},
		Guard:      g,
		Metrics:    m,
		Logger:     quietLogger(),
	}
	in := activities.PublishInput{Target: "slow", Notification: notification(), Defer: true}

	out, err := runPublish(t, a, in)
	require.NoError(t, err)
	require.Zero(t, out.Deferred, "the first delivery takes the free slot")
	deferred, err := runPublish(t, a, in)
	require.NoError(t, err)
	require.Equal(t, 10*time.Second, deferred.Deferred, "the second waits for the next slot")

	clk = clk.Add(deferred.Deferred) // the workflow's timer
	in.Ticket = deferred.Ticket
	out, err = runPublish(t, a, in)
	require.NoError(t, err)
	require.Zero(t, out.Deferred, "back at its slot, the delivery goes")

	h := histogram(t, m, "herald_rate_limit_wait_seconds")
	assert.Equal(t, uint64(2), h.GetSampleCount(), "one observation per admitted delivery, none per deferral")
	assert.InDelta(t, 10, h.GetSampleSum(), 0.01, "the deferred delivery waited its 10s deferral")
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == 5 {
			assert.Equal(t, uint64(1), b.GetCumulativeCount(), "only the delivery admitted at once is under 5s")
		}
	}
}

// histogram returns the single series of a histogram family.
func histogram(t *testing.T, m *metrics.Metrics, name string) *dto.Histogram {
	t.Helper()
	families, err := m.Registry.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			require.Len(t, f.GetMetric(), 1, "series of %s", name)
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("%s not exposed", name)
	return nil
}
