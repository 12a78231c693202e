package health

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ok(sec int, latency time.Duration) Observation {
	return Observation{Target: "tg", At: t0.Add(time.Duration(sec) * time.Second), OK: true, Latency: latency, Source: SourceProbe}
}

func fail(sec int, class string) Observation {
	return Observation{Target: "tg", At: t0.Add(time.Duration(sec) * time.Second), Class: class,
		Message: class + " failure", Source: SourceDelivery}
}

func TestApplyTransitions(t *testing.T) {
	fast := 50 * time.Millisecond
	tests := []struct {
		name   string
		policy Policy
		start  Status
		obs    []Observation
		// want is the state after each observation.
		want []string
	}{
		{"unknown to healthy", DefaultPolicy, Status{}, []Observation{ok(1, fast)}, []string{StateHealthy}},
		{"unknown to degraded on first failure", DefaultPolicy, Status{}, []Observation{fail(1, ClassTimeout)}, []string{StateDegraded}},
		{
			"degraded to unhealthy after 3 consecutive failures", DefaultPolicy, Status{},
			[]Observation{fail(1, ClassRefused), fail(2, ClassRefused), fail(3, ClassRefused), fail(4, ClassRefused)},
			[]string{StateDegraded, StateDegraded, StateUnhealthy, StateUnhealthy},
		},
		{
			"healthy to degraded to unhealthy", DefaultPolicy, Status{},
			[]Observation{ok(1, fast), fail(2, ClassDNS), fail(3, ClassDNS), fail(4, ClassDNS)},
			[]string{StateHealthy, StateDegraded, StateDegraded, StateUnhealthy},
		},
		{
			"a success resets the failure streak", DefaultPolicy, Status{},
			[]Observation{fail(1, ClassTLS), fail(2, ClassTLS), ok(3, fast), fail(4, ClassTLS), fail(5, ClassTLS)},
			[]string{StateDegraded, StateDegraded, StateHealthy, StateDegraded, StateDegraded},
		},
		{
			"unhealthy to healthy on one success", DefaultPolicy, Status{},
			[]Observation{fail(1, ClassAuth), fail(2, ClassAuth), fail(3, ClassAuth), ok(4, fast)},
			[]string{StateDegraded, StateDegraded, StateUnhealthy, StateHealthy},
		},
		{
			"slow success degrades", DefaultPolicy, Status{},
			[]Observation{ok(1, 6*time.Second), ok(2, fast)},
			[]string{StateDegraded, StateHealthy},
		},
		{
			"success exactly at SlowAfter is healthy", DefaultPolicy, Status{},
			[]Observation{ok(1, 5*time.Second)}, []string{StateHealthy},
		},
		{
			"unhealthy to degraded on a slow success", DefaultPolicy, Status{},
			[]Observation{fail(1, ClassNetwork), fail(2, ClassNetwork), fail(3, ClassNetwork), ok(4, 10*time.Second)},
			[]string{StateDegraded, StateDegraded, StateUnhealthy, StateDegraded},
		},
		{
			"out-of-order observation ignored", DefaultPolicy, Status{},
			[]Observation{ok(10, fast), fail(5, ClassTimeout), fail(5, ClassTimeout), fail(5, ClassTimeout)},
			[]string{StateHealthy, StateHealthy, StateHealthy, StateHealthy},
		},
		{
			"same timestamp is applied", DefaultPolicy, Status{},
			[]Observation{ok(10, fast), fail(10, ClassTimeout)},
			[]string{StateHealthy, StateDegraded},
		},
		{
			"custom policy: unhealthy after 1, slow after 100ms", Policy{UnhealthyAfter: 1, SlowAfter: 100 * time.Millisecond}, Status{},
			[]Observation{ok(1, 200*time.Millisecond), fail(2, ClassHTTPStatus)},
			[]string{StateDegraded, StateUnhealthy},
		},
		{
			"zero policy uses defaults", Policy{}, Status{},
			[]Observation{fail(1, ClassTimeout), fail(2, ClassTimeout), fail(3, ClassTimeout)},
			[]string{StateDegraded, StateDegraded, StateUnhealthy},
		},
		{
			"explicit unknown state start", DefaultPolicy, Status{State: StateUnknown},
			[]Observation{ok(1, fast)}, []string{StateHealthy},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.obs) != len(tc.want) {
				t.Fatalf("bad table: %d observations, %d states", len(tc.obs), len(tc.want))
			}
			s := tc.start
			for i, o := range tc.obs {
				s = tc.policy.Apply(s, o)
				if s.State != tc.want[i] {
					t.Fatalf("after observation %d (%+v): state %q, want %q", i, o, s.State, tc.want[i])
				}
				if s.Target != "tg" {
					t.Fatalf("target %q", s.Target)
				}
			}
		})
	}
}

func TestApplyCounters(t *testing.T) {
	p := DefaultPolicy
	var s Status
	s = p.Apply(s, ok(1, 10*time.Millisecond))
	if s.Since != t0.Add(time.Second) || s.Checks != 1 || s.ConsecutiveSuccesses != 1 || s.LastSuccess != t0.Add(time.Second) {
		t.Fatalf("after first success: %+v", s)
	}
	s = p.Apply(s, ok(2, 20*time.Millisecond))
	if s.Since != t0.Add(time.Second) {
		t.Errorf("Since moved without a state change: %v", s.Since)
	}
	if s.ConsecutiveSuccesses != 2 || s.LastLatency != 20*time.Millisecond || s.LastSource != SourceProbe {
		t.Errorf("after second success: %+v", s)
	}
	s = p.Apply(s, fail(3, ClassRefused))
	if s.State != StateDegraded || s.Since != t0.Add(3*time.Second) || s.ConsecutiveSuccesses != 0 ||
		s.ConsecutiveFailures != 1 || s.Failures != 1 || s.LastClass != ClassRefused ||
		s.LastError != "refused failure" || s.LastFailure != t0.Add(3*time.Second) || s.LastSource != SourceDelivery {
		t.Errorf("after failure: %+v", s)
	}
	s = p.Apply(s, fail(4, ClassTimeout))
	s = p.Apply(s, fail(5, ClassTimeout))
	if s.State != StateUnhealthy || s.ConsecutiveFailures != 3 || s.Failures != 3 || s.Checks != 5 || s.Since != t0.Add(5*time.Second) {
		t.Errorf("after three failures: %+v", s)
	}
	// An old observation changes nothing, counters included.
	before := s
	s = p.Apply(s, ok(0, time.Millisecond))
	if s != before {
		t.Errorf("out-of-order observation changed the status:\n%+v\n%+v", before, s)
	}
	s = p.Apply(s, ok(6, time.Millisecond))
	if s.State != StateHealthy || s.ConsecutiveFailures != 0 || s.Failures != 3 || s.LastClass != ClassTimeout {
		t.Errorf("after recovery (failure history kept): %+v", s)
	}
}

func TestUsable(t *testing.T) {
	want := map[string]map[string]bool{
		StrategySkipUnhealthy:         {StateUnknown: true, StateHealthy: true, StateDegraded: true, StateUnhealthy: false},
		StrategySkipUnhealthyDegraded: {StateUnknown: true, StateHealthy: true, StateDegraded: false, StateUnhealthy: false},
		StrategyAll:                   {StateUnknown: true, StateHealthy: true, StateDegraded: true, StateUnhealthy: true},
		"":                            {StateUnknown: true, StateHealthy: true, StateDegraded: true, StateUnhealthy: false},
	}
	for strategy, states := range want {
		for state, w := range states {
			if got := Usable(state, strategy); got != w {
				t.Errorf("Usable(%q, %q) = %v, want %v", state, strategy, got, w)
			}
		}
	}
}
