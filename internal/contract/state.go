package contract

import (
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// AlertInput starts (or continues as new) an alert workflow. Settings
// that govern delivery are not part of it: they belong to the worker and
// are read when applied (see Settings).
type AlertInput struct {
	Fingerprint string `json:"fingerprint"`
	// State is carried over by continue-as-new.
	State *AlertState `json:"state,omitempty"`
}

// Notify is one occurrence of the alert in a webhook (the AlertSignal).
type Notify struct {
	Alert      alert.Alert `json:"alert"`
	ReceivedAt time.Time   `json:"receivedAt"`
}

// DeliveryReplayed tells an alert workflow a dead letter was delivered.
type DeliveryReplayed struct {
	Target      string                `json:"target"`
	Seq         int                   `json:"seq"`
	Event       string                `json:"event"`
	Attempts    int32                 `json:"attempts"`
	DeliveredAt time.Time             `json:"deliveredAt"`
	Provider    publish.ProviderState `json:"provider,omitempty"`
}

// Delivery statuses of a target (TargetState.Status) and outcomes of a
// finished delivery (DeliveryRecord.Outcome).
const (
	DeliveryPending    = "pending"
	DeliveryDelivering = "delivering"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"
	// DeliveryDeadLettered: failed for good and recorded in the dead letters.
	DeliveryDeadLettered = "dead_lettered"
	// DeliveryWaiting: held back because the routing strategy excludes the
	// target (unhealthy).
	DeliveryWaiting = "waiting_for_target"
	// DeliveryDeferred: waiting for a slot of Herald's own rate limit or
	// for an open breaker to half-open; no attempt is used.
	DeliveryDeferred = "deferred"
	// DeliverySkipped: not sent, and never will be (the target is
	// disabled); SkipReason says why.
	DeliverySkipped = "skipped"
	// DeliveryReplayedOutcome is the outcome of a dead letter delivered by
	// a replay.
	DeliveryReplayedOutcome = "replayed"
)

// KindTargetUnhealthy is the dead-letter kind of a delivery that waited
// too long for its target to recover.
const KindTargetUnhealthy = "target_unhealthy"

// Why an alert workflow completed (AlertState.Completed).
const (
	CompletedResolved = "resolved"
	CompletedInactive = "inactive"
)

// AlertState is what the alert workflow knows; StateQuery returns it. The
// first-generation workflow answers with the same JSON (without the fields
// added since).
type AlertState struct {
	Fingerprint string      `json:"fingerprint"`
	Alert       alert.Alert `json:"alert"`
	Name        string      `json:"name"`
	Severity    string      `json:"severity"`
	// Status is the alert's last known status: firing or resolved.
	Status string `json:"status"`
	// Mode is normal, or metrics_only when no target was enabled.
	Mode       string `json:"mode"`
	ModeReason string `json:"modeReason,omitempty"`
	// Episode counts firing episodes (a re-fire after resolve starts a new one).
	Episode       int       `json:"episode"`
	FirstSeen     time.Time `json:"firstSeen,omitzero"`
	LastSeen      time.Time `json:"lastSeen,omitzero"`
	Notifications int       `json:"notifications"`
	// Suppressed counts repeats of unchanged content that published nothing.
	Suppressed int `json:"suppressed"`
	// Stale counts notifications of an episode Herald already closed (a
	// firing that started before the last resolve ended, a second resolve
	// of a closed episode); they publish nothing.
	Stale int `json:"stale,omitempty"`
	// Closed lists the startsAt of recently closed episodes (newest last),
	// so a late resolve of one of them is recognised as stale.
	Closed []time.Time `json:"closed,omitempty"`
	// Classification is Herald's severity decision (rules or LLM).
	Classification publish.Classification `json:"classification"`
	// Strategy is the routing strategy of the current episode.
	Strategy string `json:"strategy,omitempty"`
	// Filtered lists enabled targets whose filter excluded this alert.
	Filtered []string       `json:"filtered,omitempty"`
	Targets  []*TargetState `json:"targets"`
	// Completed says why the workflow ended (resolved, inactive), if it has.
	Completed string `json:"completed,omitempty"`
	// LingerUntil is set while a resolved alert's workflow stays open for
	// late notifications.
	LingerUntil time.Time `json:"lingerUntil,omitzero"`
	// Settings are the worker's delivery settings last read.
	Settings Settings `json:"settings,omitzero"`

	// LastHash identifies the content last acted on (see alert.ContentHash).
	LastHash string `json:"lastHash,omitempty"`
	// Seq numbers deliveries for activity IDs.
	Seq int `json:"seq"`
}

// Target returns the state of the named target, or nil.
func (s *AlertState) Target(name string) *TargetState {
	for _, ts := range s.Targets {
		if ts.Name == name {
			return ts
		}
	}
	return nil
}

// TargetState is the delivery state of the alert at one target.
type TargetState struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Status of the latest delivery (Delivery* above).
	Status string `json:"status"`
	// Event of the latest delivery: firing or resolved.
	Event string `json:"event"`
	// Attempts of the latest delivery; TotalAttempts over all deliveries.
	Attempts      int32                 `json:"attempts"`
	TotalAttempts int32                 `json:"totalAttempts"`
	LastError     string                `json:"lastError,omitempty"`
	LastErrorKind string                `json:"lastErrorKind,omitempty"`
	StatusCode    int                   `json:"statusCode,omitempty"`
	QueuedAt      time.Time             `json:"queuedAt,omitzero"`
	DeliveredAt   time.Time             `json:"deliveredAt,omitzero"`
	FailedAt      time.Time             `json:"failedAt,omitzero"`
	Provider      publish.ProviderState `json:"provider,omitempty"`
	// DeadLetterID names the dead-letter entry of the latest failure.
	DeadLetterID string           `json:"deadLetterId,omitempty"`
	Records      []DeliveryRecord `json:"records,omitempty"`
	// Health is the target's health state when last looked at.
	Health string `json:"health,omitempty"`
	// SkipReason says why deliveries to the target are skipped (disabled).
	SkipReason string `json:"skipReason,omitempty"`
	// WaitingSince is set while a delivery waits for the target to recover.
	WaitingSince time.Time `json:"waitingSince,omitzero"`
	// Canaries counts real tries of held-back deliveries; Deferrals the
	// times Herald's own throttling deferred a delivery.
	Canaries  int `json:"canaries,omitempty"`
	Deferrals int `json:"deferrals,omitempty"`
	// Resends counts re-sends of a firing alert to an alertmanager target
	// (every forward TTL / 3).
	Resends int `json:"resends,omitempty"`
	// Active is true when the target takes part in the current episode;
	// targets that left (deleted, filtered) keep their state but get no
	// new deliveries.
	Active bool `json:"active"`
	// Ref is the credential-free target reference deliveries use.
	Ref target.Ref `json:"ref"`
}

// DeliveryRecord is one finished delivery (bounded history per target).
type DeliveryRecord struct {
	Seq      int       `json:"seq"`
	Event    string    `json:"event"`
	Update   bool      `json:"update,omitempty"`
	Outcome  string    `json:"outcome"`
	Attempts int32     `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at,omitzero"`
}

// MaxRecords is how many delivery records each target keeps.
const MaxRecords = 20

// AddRecord appends rec, keeping the newest MaxRecords.
func (ts *TargetState) AddRecord(rec DeliveryRecord) {
	ts.Records = append(ts.Records, rec)
	if len(ts.Records) > MaxRecords {
		ts.Records = ts.Records[len(ts.Records)-MaxRecords:]
	}
}
