package activities_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// herald_deliveries_skipped_total{target,reason} takes exactly the reasons
// the docs name: "filtered" for a target whose filter does not match, and
// the health state ("unhealthy", "degraded") for one the routing strategy
// holds back. Every (target, reason) pair exists from the start at zero
// and only those pairs ever appear.
func TestDeliveriesSkippedValues(t *testing.T) {
	hook := func(name string) target.Target {
		return target.Target{Name: name, Type: "webhook", URL: "https://example.com/" + name}
	}
	picky := hook("picky")
	picky.Filter = target.Filter{"team": {"payments"}}
	targets := []target.Target{hook("well"), hook("sick"), hook("slow"), picky}
	for _, tc := range []struct {
		strategy string
		want     map[string]float64 // "target/reason" → count
	}{
		{health.StrategySkipUnhealthy, map[string]float64{"sick/unhealthy": 1, "picky/filtered": 1}},
		{health.StrategySkipUnhealthyDegraded, map[string]float64{"sick/unhealthy": 1, "slow/degraded": 1, "picky/filtered": 1}},
		{health.StrategyAll, map[string]float64{"picky/filtered": 1}},
	} {
		t.Run(tc.strategy, func(t *testing.T) {
			m := metrics.New()
			for _, tg := range targets {
				m.InitTarget(tg.Name)
			}
			a := &activities.Activities{Registry: newRegistry(targets...), Metrics: m, Strategy: tc.strategy, Logger: quietLogger(),
				HealthView: &fakeHealthView{states: map[string]string{"sick": health.StateUnhealthy, "slow": health.StateDegraded}}}
			resolveTargets(t, a, map[string]string{"alertname": "X", "team": "checkout"})

			got := map[string]float64{}
			ch := make(chan prometheus.Metric, 64)
			go func() { m.Skipped.Collect(ch); close(ch) }()
			for pm := range ch {
				var d dto.Metric
				if err := pm.Write(&d); err != nil {
					t.Fatal(err)
				}
				var name, reason string
				for _, l := range d.GetLabel() {
					switch l.GetName() {
					case "target":
						name = l.GetValue()
					case "reason":
						reason = l.GetValue()
					}
				}
				assert.Contains(t, []string{"filtered", health.StateUnhealthy, health.StateDegraded}, reason, "reason of %s", name)
				if v := d.GetCounter().GetValue(); v != 0 {
					got[name+"/"+reason] = v
				}
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
