package health

import (
	"context"
	"errors"

	"github.com/herald-alerts/herald/internal/publish"
)

// Informative reports whether a delivery outcome says anything about the
// target's health: a breaker that is open, Herald's own rate limit, a
// target that is not (or no longer) configured, an unsupported type or a
// shutdown do not, so they are not recorded as observations.
func Informative(err error) bool {
	if errors.Is(err, context.Canceled) {
		// The worker is shutting down.
		return false
	}
	var pe *publish.Error
	if err == nil || !errors.As(err, &pe) {
		return true
	}
	switch {
	case pe.Kind == publish.KindCircuitOpen, pe.Kind == publish.KindTargetAbsent, pe.Kind == publish.KindUnknownType:
		return false
	case pe.Kind == publish.KindRateLimited && pe.StatusCode == 0:
		// Herald's own rate limiter, not the target.
		return false
	}
	return true
}
