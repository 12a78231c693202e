package target_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

func obsGauge(t *testing.T, g *prometheus.GaugeVec, lvs ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.WithLabelValues(lvs...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func obsSeries(g *prometheus.GaugeVec) int {
	ch := make(chan prometheus.Metric, 100)
	g.Collect(ch)
	close(ch)
	return len(ch)
}

// obsNonZero counts the series of g whose value is not zero.
func obsNonZero(t *testing.T, g *prometheus.GaugeVec) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	g.Collect(ch)
	close(ch)
	n := 0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		if d.GetGauge().GetValue() != 0 {
			n++
		}
	}
	return n
}

func TestMetricsObserver(t *testing.T) {
	m := metrics.New()
	reg := target.NewRegistry()
	target.ObserveRegistry(reg, m)

	// Before any source reports, every type shows zero targets.
	if n := obsSeries(m.Targets); n != 2*len(target.Types()) {
		t.Errorf("%d herald_targets series, want %d", n, 2*len(target.Types()))
	}

	off := false
	disabled := regTarget("pd-off", "pagerduty", "secret:ns/pd-off")
	disabled.Enabled = &off
	reg.Update("kubernetes", []target.Target{
		regTarget("hook-1", "webhook", "secret:ns/h1"),
		regTarget("hook-2", "webhook", "secret:ns/h2"),
		disabled,
	}, []target.Problem{
		{Origin: "secret:ns/bad", Reason: "invalid_json"},
		{Origin: "secret:ns/dup", Target: "hook-1", Reason: "duplicate_name"},
	})
	want := map[[2]string]float64{
		{"webhook", "enabled"}: 2, {"webhook", "disabled"}: 0,
		{"pagerduty", "enabled"}: 0, {"pagerduty", "disabled"}: 1,
		{"slack", "enabled"}: 0,
	}
	for k, v := range want {
		if got := obsGauge(t, m.Targets, k[0], k[1]); got != v {
			t.Errorf("herald_targets{type=%s,state=%s} = %v, want %v", k[0], k[1], got, v)
		}
	}
	if got := obsGauge(t, m.DiscoveryProblem, "secret:ns/bad", "invalid_json"); got != 1 {
		t.Errorf("invalid_json gauge = %v", got)
	}
	old := reg.Snapshot()

	// The bad secret is fixed, the duplicate stays.
	reg.Update("kubernetes", []target.Target{regTarget("hook-1", "webhook", "secret:ns/h1")},
		[]target.Problem{{Origin: "secret:ns/dup", Target: "hook-1", Reason: "duplicate_name"}})
	if n := obsNonZero(t, m.DiscoveryProblem); n != 1 {
		t.Errorf("%d problem series, want only the duplicate", n)
	}
	// The source's own series: one per reason, at zero, so that the metric
	// exists before anything is skipped.
	if n := obsSeries(m.DiscoveryProblem); n != 1+len(target.ProblemReasons) {
		t.Errorf("%d series, want the duplicate and %d zero series of the source", n, len(target.ProblemReasons))
	}
	for _, r := range target.ProblemReasons {
		if got := obsGauge(t, m.DiscoveryProblem, "kubernetes", r); got != 0 {
			t.Errorf("herald_discovery_invalid_targets{origin=kubernetes,reason=%s} = %v, want 0", r, got)
		}
	}
	if got := obsGauge(t, m.Targets, "webhook", "enabled"); got != 1 {
		t.Errorf("webhook enabled = %v", got)
	}

	// A stale snapshot arriving late changes nothing.
	o := target.NewMetricsObserver(m)
	o.Observe(reg.Snapshot())
	o.Observe(old)
	if got := obsGauge(t, m.Targets, "webhook", "enabled"); got != 1 {
		t.Errorf("stale snapshot applied: webhook enabled = %v", got)
	}
}
