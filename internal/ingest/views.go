package ingest

import (
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// The API's view types. What workflows carry in history keeps its form
// (durations as nanoseconds); the API answers with durations as Go
// duration strings ("1s", "5m0s"), as the configuration takes them, and
// leaves unset times out. Each view embeds the type it shows and shadows
// the fields whose form differs (encoding/json and Go selectors take the
// shallower field), so fields added to the embedded types appear as they
// are.

// AlertView is the answer of GET /api/v1/alerts/{fingerprint}: the alert
// workflow's state plus what Temporal knows of deliveries in flight.
type AlertView struct {
	*contract.AlertState
	Alert    AlertBody         `json:"alert"`
	Settings SettingsView      `json:"settings,omitzero"`
	Targets  []TargetStateView `json:"targets"`

	WorkflowID     string          `json:"workflowId"`
	RunID          string          `json:"runId"`
	WorkflowStatus string          `json:"workflowStatus"`
	InFlight       []InFlightRetry `json:"inFlight,omitempty"`
}

// newAlertView is the view of st.
func newAlertView(st *contract.AlertState) AlertView {
	v := AlertView{AlertState: st, Alert: newAlertBody(st.Alert), Settings: newSettingsView(st.Settings),
		Targets: make([]TargetStateView, 0, len(st.Targets))}
	for _, ts := range st.Targets {
		if ts != nil {
			v.Targets = append(v.Targets, newTargetStateView(ts))
		}
	}
	return v
}

// Target returns the state of the named target, or nil (it shadows
// AlertState.Target, which a decoded view leaves empty).
func (v AlertView) Target(name string) *TargetStateView {
	for i := range v.Targets {
		if v.Targets[i].TargetState != nil && v.Targets[i].Name == name {
			return &v.Targets[i]
		}
	}
	return nil
}

// AlertBody is an alert as the API shows it: no zero startsAt or endsAt
// (a firing alert has no end yet).
type AlertBody struct {
	alert.Alert
	StartsAt time.Time `json:"startsAt,omitzero"`
	EndsAt   time.Time `json:"endsAt,omitzero"`
}

func newAlertBody(a alert.Alert) AlertBody {
	return AlertBody{Alert: a, StartsAt: a.StartsAt, EndsAt: a.EndsAt}
}

// SettingsView is contract.Settings with duration strings.
type SettingsView struct {
	contract.Settings
	InactivityTimeout   target.Duration `json:"inactivityTimeout,omitzero"`
	DeliveryTimeout     target.Duration `json:"deliveryTimeout,omitzero"`
	FirstAttemptTimeout target.Duration `json:"firstAttemptTimeout,omitzero"`
	MaxHealthWait       target.Duration `json:"maxHealthWait,omitzero"`
	HealthRecheck       target.Duration `json:"healthRecheck,omitzero"`
	ResolvedLinger      target.Duration `json:"resolvedLinger,omitzero"`
}

func newSettingsView(s contract.Settings) SettingsView {
	return SettingsView{Settings: s,
		InactivityTimeout: target.Duration(s.InactivityTimeout), DeliveryTimeout: target.Duration(s.DeliveryTimeout),
		FirstAttemptTimeout: target.Duration(s.FirstAttemptTimeout), MaxHealthWait: target.Duration(s.MaxHealthWait),
		HealthRecheck: target.Duration(s.HealthRecheck), ResolvedLinger: target.Duration(s.ResolvedLinger)}
}

// TargetStateView is the delivery state at one target, its reference with
// duration strings.
type TargetStateView struct {
	*contract.TargetState
	Ref RefView `json:"ref"`
}

func newTargetStateView(ts *contract.TargetState) TargetStateView {
	return TargetStateView{TargetState: ts, Ref: newRefView(ts.Ref)}
}

// RefView is target.Ref with duration strings.
type RefView struct {
	target.Ref
	Retry      RetryView       `json:"retry"`
	ForwardTTL target.Duration `json:"forwardTTL,omitzero"`
}

func newRefView(r target.Ref) RefView {
	return RefView{Ref: r, Retry: newRetryView(r.Retry), ForwardTTL: target.Duration(r.ForwardTTL)}
}

// RetryView is target.RetryPolicy with duration strings.
type RetryView struct {
	target.RetryPolicy
	InitialInterval target.Duration `json:"initialInterval"`
	MaxInterval     target.Duration `json:"maxInterval"`
}

func newRetryView(p target.RetryPolicy) RetryView {
	return RetryView{RetryPolicy: p, InitialInterval: target.Duration(p.InitialInterval), MaxInterval: target.Duration(p.MaxInterval)}
}

// InFlightRetry is a delivery Temporal is retrying right now.
type InFlightRetry struct {
	ActivityID    string    `json:"activityId"`
	Attempt       int32     `json:"attempt"`
	State         string    `json:"state"`
	LastFailure   string    `json:"lastFailure,omitempty"`
	LastAttemptAt time.Time `json:"lastAttemptAt,omitzero"`
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
}

// TargetView is one entry of GET /api/v1/targets.
type TargetView struct {
	target.Public
	Health *HealthView `json:"health"`
}

// HealthView is a target's health with its last latency as a duration
// string.
type HealthView struct {
	health.Status
	LastLatency target.Duration `json:"lastLatency,omitzero"`
}

func newHealthView(st health.Status) HealthView {
	return HealthView{Status: st, LastLatency: target.Duration(st.LastLatency)}
}

// ObservationView is one check of a target with its latency as a
// duration string.
type ObservationView struct {
	health.Observation
	At      time.Time       `json:"at,omitzero"`
	Latency target.Duration `json:"latency"`
}

func newObservationView(o health.Observation) ObservationView {
	return ObservationView{Observation: o, At: o.At, Latency: target.Duration(o.Latency)}
}

// CheckResult answers POST /api/v1/targets/{name}/check; Observation is
// left out when the check observed nothing.
type CheckResult struct {
	Observation ObservationView `json:"observation,omitzero"`
	Health      HealthView      `json:"health"`
}

// DeadLetterList is a page of GET /api/v1/dlq.
type DeadLetterList struct {
	workflows.ListResponse
	Entries []DeadLetterView `json:"entries"`
}

func newDeadLetterList(resp workflows.ListResponse) DeadLetterList {
	out := DeadLetterList{ListResponse: resp, Entries: make([]DeadLetterView, 0, len(resp.Entries))}
	for _, e := range resp.Entries {
		if e != nil {
			out.Entries = append(out.Entries, newDeadLetterView(e))
		}
	}
	return out
}

func newDeadLetterView(e *workflows.DeadLetter) DeadLetterView {
	return DeadLetterView{DeadLetter: e, Alert: newAlertBody(e.Alert), FirstFailure: e.FirstFailure, LastFailure: e.LastFailure}
}

// DeadLetterView is a dead-letter entry without zero times (an archived
// entry keeps only a stub of its alert): an entry of GET /api/v1/dlq and
// the answer of GET /api/v1/dlq/{id}.
type DeadLetterView struct {
	*workflows.DeadLetter
	Alert        AlertBody `json:"alert"`
	FirstFailure time.Time `json:"firstFailure,omitzero"`
	LastFailure  time.Time `json:"lastFailure,omitzero"`
}
