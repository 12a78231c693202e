package target

import (
	"sync"

	"github.com/herald-alerts/herald/internal/metrics"
)

// Target states used as the "state" label of herald_targets.
const (
	StateEnabled  = "enabled"
	StateDisabled = "disabled"
)

// MetricsObserver publishes registry snapshots into Herald's metrics:
// herald_targets{type,state} (every known type and both states, zeros
// included) and herald_discovery_invalid_targets{origin,reason} (one series
// per definition that is currently skipped, removed once it is fixed; and
// one zero series per source and reason of ProblemReasons, origin the
// source's name, so that the metric exists from the start).
type MetricsObserver struct {
	m *metrics.Metrics

	mu       sync.Mutex
	gen      uint64
	observed bool
	types    map[string]bool
	problems map[problemKey]bool
	sources  map[string]bool
}

type problemKey struct{ origin, reason string }

// NewMetricsObserver returns an observer that writes into m.
func NewMetricsObserver(m *metrics.Metrics) *MetricsObserver {
	o := &MetricsObserver{m: m, types: map[string]bool{}, problems: map[problemKey]bool{}, sources: map[string]bool{}}
	for _, t := range Types() {
		o.types[t] = true
	}
	return o
}

// ObserveRegistry keeps m current with r: it publishes the current snapshot
// and every later one. Call it once, right after creating the registry.
func ObserveRegistry(r *Registry, m *metrics.Metrics) *MetricsObserver {
	o := NewMetricsObserver(m)
	r.Watch(o.Observe)
	o.Observe(r.Snapshot())
	return o
}

// Observe publishes s. Snapshots older than the last observed one are
// ignored, so concurrent callers cannot leave stale values behind.
func (o *MetricsObserver) Observe(s Snapshot) {
	if o == nil || o.m == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.observed && s.Generation < o.gen {
		return
	}
	o.observed, o.gen = true, s.Generation

	for src := range s.Synced {
		if !o.sources[src] {
			o.sources[src] = true
			o.m.InitInvalidTargets(src, ProblemReasons...)
		}
	}
	counts := map[string]map[string]int{}
	for _, t := range s.sorted {
		o.types[t.Type] = true
		state := StateEnabled
		if !t.IsEnabled() {
			state = StateDisabled
		}
		if counts[t.Type] == nil {
			counts[t.Type] = map[string]int{}
		}
		counts[t.Type][state]++
	}
	for typ := range o.types {
		for _, state := range []string{StateEnabled, StateDisabled} {
			o.m.Targets.WithLabelValues(typ, state).Set(float64(counts[typ][state]))
		}
	}

	current := map[problemKey]int{}
	for _, p := range s.Problems {
		current[problemKey{p.Origin, p.Reason}]++
	}
	for k, n := range current {
		o.m.DiscoveryProblem.WithLabelValues(k.origin, k.reason).Set(float64(n))
	}
	for k := range o.problems {
		if current[k] == 0 {
			o.m.DiscoveryProblem.DeleteLabelValues(k.origin, k.reason)
		}
	}
	o.problems = make(map[problemKey]bool, len(current))
	for k := range current {
		o.problems[k] = true
	}
}
