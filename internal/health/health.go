// Package health models target health: observations from probes and real
// deliveries, and the state machine unknown → healthy / degraded /
// unhealthy that turns them into a state. Apply is a pure function, so the
// health workflow can run it deterministically.
package health

import "time"

// States of a target.
const (
	StateUnknown   = "unknown"
	StateHealthy   = "healthy"
	StateDegraded  = "degraded"
	StateUnhealthy = "unhealthy"
)

// States lists every state (metric label values).
var States = []string{StateUnknown, StateHealthy, StateDegraded, StateUnhealthy}

// Sources of observations.
const (
	SourceProbe    = "probe"
	SourceDelivery = "delivery"
)

// Failure classes of a probe or delivery.
const (
	ClassTimeout    = "timeout"
	ClassDNS        = "dns"
	ClassTLS        = "tls"
	ClassRefused    = "refused"
	ClassNetwork    = "network"
	ClassHTTPStatus = "http_status"
	ClassAuth       = "auth"
	ClassConfig     = "config"
)

// Observation is one check of a target: a probe or a real delivery.
type Observation struct {
	Target  string        `json:"target"`
	At      time.Time     `json:"at"`
	OK      bool          `json:"ok"`
	Latency time.Duration `json:"latency"`
	// Class of the failure (timeout, dns, tls, refused, network,
	// http_status, auth, config); empty when OK.
	Class      string `json:"class,omitempty"`
	StatusCode int    `json:"statusCode,omitempty"`
	Message    string `json:"message,omitempty"`
	Source     string `json:"source"`
}

// Status is the health of one target.
type Status struct {
	Target               string        `json:"target"`
	State                string        `json:"state"`
	Since                time.Time     `json:"since,omitzero"`
	ConsecutiveFailures  int           `json:"consecutiveFailures"`
	ConsecutiveSuccesses int           `json:"consecutiveSuccesses"`
	Checks               int           `json:"checks"`
	Failures             int           `json:"failures"`
	LastCheck            time.Time     `json:"lastCheck,omitzero"`
	LastSuccess          time.Time     `json:"lastSuccess,omitzero"`
	LastFailure          time.Time     `json:"lastFailure,omitzero"`
	LastLatency          time.Duration `json:"lastLatency"`
	LastClass            string        `json:"lastClass,omitempty"`
	LastError            string        `json:"lastError,omitempty"`
	LastSource           string        `json:"lastSource,omitempty"`
}

// Policy tunes the state machine (defaults in DefaultPolicy).
type Policy struct {
	// UnhealthyAfter consecutive failures make a target unhealthy; fewer
	// make it degraded.
	UnhealthyAfter int `json:"unhealthyAfter"`
	// SlowAfter: a success slower than this makes a target degraded.
	SlowAfter time.Duration `json:"slowAfter"`
}

// DefaultPolicy: 3 consecutive failures → unhealthy; a success slower than
// 5s → degraded.
var DefaultPolicy = Policy{UnhealthyAfter: 3, SlowAfter: 5 * time.Second}

// Apply returns s after observation o. Observations older than the last
// check are ignored (they arrive out of order from several workers).
func (p Policy) Apply(s Status, o Observation) Status {
	if p.UnhealthyAfter <= 0 {
		p.UnhealthyAfter = DefaultPolicy.UnhealthyAfter
	}
	if p.SlowAfter <= 0 {
		p.SlowAfter = DefaultPolicy.SlowAfter
	}
	if s.State == "" {
		s.State = StateUnknown
	}
	s.Target = o.Target
	if !s.LastCheck.IsZero() && o.At.Before(s.LastCheck) {
		return s
	}
	s.Checks++
	s.LastCheck, s.LastLatency, s.LastSource = o.At, o.Latency, o.Source
	next := s.State
	if o.OK {
		s.ConsecutiveFailures = 0
		s.ConsecutiveSuccesses++
		s.LastSuccess = o.At
		if o.Latency > p.SlowAfter {
			next = StateDegraded
		} else {
			next = StateHealthy
		}
	} else {
		s.Failures++
		s.ConsecutiveSuccesses = 0
		s.ConsecutiveFailures++
		s.LastFailure, s.LastClass, s.LastError = o.At, o.Class, o.Message
		if s.ConsecutiveFailures >= p.UnhealthyAfter {
			next = StateUnhealthy
		} else {
			next = StateDegraded
		}
	}
	if next != s.State {
		s.State, s.Since = next, o.At
	}
	return s
}

// Usable reports whether a routing strategy sends deliveries to a target
// in this state.
func Usable(state, strategy string) bool {
	switch strategy {
	case StrategyAll:
		return true
	case StrategySkipUnhealthyDegraded:
		return state != StateUnhealthy && state != StateDegraded
	default:
		return state != StateUnhealthy
	}
}

// Routing strategies of the alert workflow.
const (
	StrategySkipUnhealthy         = "skip-unhealthy"
	StrategySkipUnhealthyDegraded = "skip-unhealthy-and-degraded"
	StrategyAll                   = "all"
)

// Strategies lists the valid strategies.
var Strategies = []string{StrategySkipUnhealthy, StrategySkipUnhealthyDegraded, StrategyAll}
