package contract

import (
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Settings govern how an alert workflow delivers and when it ends. They are
// the worker's (HERALD_DELIVERY_TIMEOUT, HERALD_ALERT_INACTIVITY, ...): the
// Prepare activity returns them with every preparation, so a changed worker
// setting applies from the next episode or resolve of every alert, open
// ones included.
type Settings struct {
	// InactivityTimeout ends an alert workflow that heard nothing of its
	// firing alert for this long.
	InactivityTimeout time.Duration `json:"inactivityTimeout,omitempty"`
	// DeliveryTimeout bounds one attempt of a delivery activity.
	DeliveryTimeout time.Duration `json:"deliveryTimeout,omitempty"`
	// FirstAttemptTimeout bounds the first attempt of every delivery, which
	// runs as a local activity inside the workflow task.
	FirstAttemptTimeout time.Duration `json:"firstAttemptTimeout,omitempty"`
	// MaxHealthWait bounds how long a delivery waits for an unhealthy
	// target (or an open breaker) before it is dead-lettered.
	MaxHealthWait time.Duration `json:"maxHealthWait,omitempty"`
	// HealthRecheck is the first interval between health checks of a
	// held-back delivery (doubling up to HealthRecheckMax).
	HealthRecheck time.Duration `json:"healthRecheck,omitempty"`
	// ResolvedLinger keeps a resolved alert's workflow open this long, so
	// late notifications are recognised as stale.
	ResolvedLinger time.Duration `json:"resolvedLinger,omitempty"`
}

// Defaults of Settings (documented in docs/workflows.md).
const (
	DefaultInactivityTimeout   = 24 * time.Hour
	DefaultDeliveryTimeout     = 30 * time.Second
	DefaultFirstAttemptTimeout = 5 * time.Second
	DefaultMaxHealthWait       = 24 * time.Hour
	DefaultHealthRecheck       = 30 * time.Second
	DefaultResolvedLinger      = 10 * time.Minute
	// HealthRecheckMax bounds the backoff between health checks.
	HealthRecheckMax = 10 * time.Minute
)

// WithDefaults fills unset settings with their defaults. The first attempt
// never outlasts a delivery attempt.
func (s Settings) WithDefaults() Settings {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&s.InactivityTimeout, DefaultInactivityTimeout)
	def(&s.DeliveryTimeout, DefaultDeliveryTimeout)
	def(&s.FirstAttemptTimeout, DefaultFirstAttemptTimeout)
	def(&s.MaxHealthWait, DefaultMaxHealthWait)
	def(&s.HealthRecheck, DefaultHealthRecheck)
	def(&s.ResolvedLinger, DefaultResolvedLinger)
	s.FirstAttemptTimeout = min(s.FirstAttemptTimeout, s.DeliveryTimeout)
	return s
}

// PrepareInput asks the worker for what an alert workflow needs before it
// delivers, in one local activity: for a new firing episode (Episode set)
// the classification, the targets and their health; for a resolve or an
// update (Targets set) the health and the enabled state of the episode's
// targets. Settings come with both.
type PrepareInput struct {
	// Episode is the firing alert of a new episode.
	Episode *alert.Alert `json:"episode,omitempty"`
	// FirstNews is a resolve Herald saw no firing of: resolve the targets
	// for it, without classification.
	FirstNews *alert.Alert `json:"firstNews,omitempty"`
	// Targets are the episode's targets to look at again.
	Targets []string `json:"targets,omitempty"`
}

// PrepareResult answers a PrepareInput.
type PrepareResult struct {
	Settings Settings `json:"settings"`
	// Waiting is set when the targets cannot be decided yet (a target
	// source has not synced): the workflow asks again later.
	Waiting string `json:"waiting,omitempty"`
	// Classification of a new episode.
	Classification *publish.Classification `json:"classification,omitempty"`
	// Resolved is true when Targets, Filtered, Mode and Reason were decided.
	Resolved bool         `json:"resolved,omitempty"`
	Targets  []target.Ref `json:"targets,omitempty"`
	Filtered []string     `json:"filtered,omitempty"`
	Mode     string       `json:"mode,omitempty"`
	Reason   string       `json:"reason,omitempty"`
	// Health is the state of each target asked about or resolved;
	// Strategy the routing strategy.
	Health   map[string]string `json:"health,omitempty"`
	Strategy string            `json:"strategy,omitempty"`
	// Disabled maps targets asked about that no longer take deliveries to
	// the reason.
	Disabled map[string]string `json:"disabled,omitempty"`
}

// Modes of publishing.
const (
	ModeNormal      = "normal"
	ModeMetricsOnly = "metrics_only"
)
