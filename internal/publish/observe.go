package publish

import "time"

// FormatObserver is told how long building one notification's request body
// (the format step of a delivery) took for a target type. The worker points
// it at herald_format_duration_seconds{type}.
type FormatObserver func(targetType string, d time.Duration)

// Since reports the time since start for targetType. A nil observer does
// nothing, so publishers built without one (tests, tools) need no check.
func (o FormatObserver) Since(targetType string, start time.Time) {
	if o != nil {
		o(targetType, time.Since(start))
	}
}
