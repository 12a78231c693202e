package app

import (
	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/metrics"
)

// newGuard returns the per-target rate limits and circuit breakers of
// deliveries, reporting breaker states to metrics.
func newGuard(m *metrics.Metrics) activities.Guard {
	return guard.New(guard.Options{OnStateChange: guard.MetricsHook(m.BreakerState)})
}
