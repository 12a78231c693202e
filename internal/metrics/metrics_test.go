package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The SDK handler must never panic on a metric that clashes with Herald's
// own metrics or with an earlier label set of the same name: the tally
// reporter's default panics, and the SDK emits metrics while replaying
// workflow tasks, so one clash froze every alert workflow.
func TestTemporalHandlerNeverPanicsOnConflicts(t *testing.T) {
	m := New()
	h, closer := m.TemporalHandler(nil)
	defer closer.Close()

	cases := []struct {
		name    string
		emit    func()
		dropped float64 // cumulative registration errors after emit
	}{
		{"herald name through the SDK (the held-back path of old)", func() {
			h.WithTags(map[string]string{"target": "a", "reason": "unhealthy"}).Counter("herald_deliveries_skipped").Inc(1)
		}, 1},
		{"herald gauge name through the SDK", func() {
			h.Gauge("herald_dlq_entries").Update(3)
		}, 2},
		{"sdk metric, first label set", func() {
			h.WithTags(map[string]string{"a": "1"}).Counter("temporal_clash_probe").Inc(1)
		}, 2},
		{"same sdk metric with another label set", func() {
			h.WithTags(map[string]string{"a": "1", "b": "2"}).Counter("temporal_clash_probe").Inc(1)
		}, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			tc.emit()
			if got := counterValue(t, m, "herald_metric_registration_errors_total"); got != tc.dropped {
				t.Fatalf("registration errors = %v, want %v", got, tc.dropped)
			}
		})
	}
	// Herald's own skipped counter is untouched by the SDK's attempt.
	if n := len(families(t, m)["herald_deliveries_skipped_total"].GetMetric()); n != 0 {
		t.Fatalf("herald_deliveries_skipped_total has %d series from the SDK, want 0", n)
	}
	// A well-formed SDK metric still reaches the registry.
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := families(t, m)["temporal_clash_probe_total"]; !ok {
		t.Fatal("temporal_clash_probe_total not exposed")
	}
}

func TestDescName(t *testing.T) {
	m := New()
	for _, tc := range []struct{ in, want string }{
		{"herald_dlq_entries", "herald_dlq_entries"},
	} {
		ch := make(chan *prometheus.Desc, 1)
		m.DLQSize.Describe(ch)
		if got := descName(<-ch); got != tc.want {
			t.Errorf("descName = %q, want %q", got, tc.want)
		}
	}
}

func families(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func counterValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	var sum float64
	for _, mt := range families(t, m)[name].GetMetric() {
		sum += mt.GetCounter().GetValue()
	}
	return sum
}
