package app

import (
	"sync"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// newGuard returns the per-target rate limits and circuit breakers of
// deliveries, reporting breaker states to metrics. The state of targets
// that leave the registry is dropped, and their per-target series with it;
// new targets get their series at zero.
func newGuard(m *metrics.Metrics, reg *target.Registry) activities.Guard {
	g := guard.New(guard.Options{OnStateChange: guard.MetricsHook(m.BreakerState)})
	var mu sync.Mutex
	known := map[string]target.Target{}
	for _, t := range reg.List() {
		known[t.Name] = t
		m.InitTarget(t.Name)
		m.InitDeliveryErrors(t.Name, t.Type)
	}
	reg.Watch(func(s target.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		for name, t := range known {
			if _, ok := s.Get(name); !ok {
				g.Forget(t)
				m.BreakerState.DeleteLabelValues(name)
				m.ForgetTarget(name)
				delete(known, name)
			}
		}
		for _, t := range s.List() {
			if _, ok := known[t.Name]; !ok {
				m.InitTarget(t.Name)
				m.InitDeliveryErrors(t.Name, t.Type)
			}
			known[t.Name] = t
		}
	})
	return g
}
