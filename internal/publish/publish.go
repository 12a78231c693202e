// Package publish defines the one interface every integration implements,
// the notification it receives, and the shared outcome classifier that turns
// HTTP responses and transport errors into retryable or permanent failures.
package publish

import (
	"context"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/target"
)

// Events a notification can carry.
const (
	EventFiring   = "firing"
	EventResolved = "resolved"
)

// ProviderState holds identifiers a provider returned for an alert (a Slack
// message ts, a Rootly alert id). The alert workflow keeps it per target and
// hands it back with every later notification of the same alert. It never
// holds credentials.
type ProviderState map[string]string

// Clone returns a copy of s.
func (s ProviderState) Clone() ProviderState {
	if s == nil {
		return nil
	}
	out := make(ProviderState, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// Merge returns s with the entries of other added (other wins).
func (s ProviderState) Merge(other ProviderState) ProviderState {
	if len(other) == 0 {
		return s
	}
	out := s.Clone()
	if out == nil {
		out = ProviderState{}
	}
	for k, v := range other {
		out[k] = v
	}
	return out
}

// Notification is one thing to tell a target about an alert.
type Notification struct {
	Alert alert.Alert `json:"alert"`
	// Event is firing or resolved.
	Event string `json:"event"`
	// Update is true for a firing alert whose content changed after it was
	// first published (providers that can edit a message do so).
	Update bool `json:"update,omitempty"`
	// Episode numbers the firing episodes of the alert (1 for the first
	// firing, 2 after a resolve and re-fire, ...); the alert workflow sets
	// it. 0 means unknown (notifications from before episodes were
	// counted): providers then use their episode-less identifiers.
	Episode int `json:"episode,omitempty"`
	// State is what earlier deliveries of this alert to this target returned.
	State ProviderState `json:"state,omitempty"`
	// Classification is Herald's view of the alert (severity, priority).
	Classification Classification `json:"classification"`
}

// Classification is the result of classifying an alert.
type Classification struct {
	Severity   string  `json:"severity"`
	Confidence float64 `json:"confidence,omitempty"`
	Reason     string  `json:"reason,omitempty"`
	Source     string  `json:"source,omitempty"`
}

// Severity returns the classified severity, else the alert's own.
func (n Notification) Severity() string {
	if n.Classification.Severity != "" {
		return n.Classification.Severity
	}
	return n.Alert.Severity()
}

// Result is a successful delivery.
type Result struct {
	StatusCode int `json:"statusCode"`
	// State is merged into the alert's provider state for this target.
	State ProviderState `json:"state,omitempty"`
	// Skipped says why the publisher sent nothing and still succeeded
	// (for example a resolve of an alert the provider never received).
	Skipped string `json:"skipped,omitempty"`
}

// Publisher delivers notifications to targets of one type. Implementations
// format the notification, send it, and return nil or an *Error from the
// shared classifier.
type Publisher interface {
	Publish(ctx context.Context, t target.Target, n Notification) (Result, error)
}

// Publishers maps a target type to its publisher.
type Publishers map[string]Publisher
