package app

import (
	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/metrics"
)

// newGuard returns the rate limiter and circuit breaker of deliveries.
func newGuard(*metrics.Metrics) activities.Guard { return nil }
