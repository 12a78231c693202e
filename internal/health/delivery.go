package health

import (
	"errors"

	"github.com/herald-alerts/herald/internal/publish"
)

// Informative reports whether a delivery outcome says anything about the
// target's health: a breaker that is open, a target that is not (or no
// longer) configured or an unsupported type do not, so they are not
// recorded as observations.
func Informative(err error) bool {
	var pe *publish.Error
	if err == nil || !errors.As(err, &pe) {
		return true
	}
	switch pe.Kind {
	case publish.KindCircuitOpen, publish.KindTargetAbsent, publish.KindUnknownType:
		return false
	}
	return true
}
