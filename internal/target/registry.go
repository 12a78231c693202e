package target

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Problem is a target definition that was skipped, and why.
type Problem struct {
	// Origin names the definition: "file:targets.yaml#3", "secret:ns/name".
	Origin string `json:"origin"`
	// Target is the target name when it could be read.
	Target string `json:"target,omitempty"`
	// Reason is a short, stable category for metrics: invalid_json,
	// missing_config, invalid_target, duplicate_name, blocked_address.
	Reason string `json:"reason"`
	// Message explains the problem; it never contains credentials.
	Message string `json:"message"`
}

// Reasons of the problems every source may report (sources add their own,
// such as Kubernetes discovery's missing_config).
const (
	ReasonInvalidJSON   = "invalid_json"
	ReasonInvalidTarget = "invalid_target"
	ReasonDuplicateName = "duplicate_name"
)

// ProblemReasons are the reasons of ParseList and of the registry.
var ProblemReasons = []string{ReasonInvalidJSON, ReasonInvalidTarget, ReasonDuplicateName}

// Source is a provider of target definitions (a file, Kubernetes Secrets).
// Run keeps sink current until ctx ends, calling Update with the source's
// complete current set each time it changes.
type Source interface {
	Name() string
	Run(ctx context.Context, sink Sink) error
}

// Sink receives the complete set of targets of one source.
type Sink interface {
	Update(source string, targets []Target, problems []Problem)
}

// Registry merges the targets of all sources. It is safe for concurrent use;
// lookups are lock-free reads of an immutable snapshot.
type Registry struct {
	mu       sync.Mutex
	sources  map[string]sourceState
	snap     atomic.Pointer[Snapshot]
	watchers []func(Snapshot)
	// notifyMu serializes watcher calls so that watchers see snapshots in
	// generation order even when sources update concurrently.
	notifyMu sync.Mutex
	// retired keeps targets removed from every source for RetiredFor, so
	// an alert fired to a target that is deleted meanwhile still gets its
	// resolve delivered.
	retired map[string]retiredTarget
}

type retiredTarget struct {
	t  Target
	at time.Time
}

// RetiredFor is how long a removed target is still used for resolves of
// alerts that were sent to it (the alert inactivity limit).
var RetiredFor = 24 * time.Hour

type sourceState struct {
	targets  []Target
	problems []Problem
	synced   time.Time
}

// Snapshot is an immutable view of the registry at one moment.
type Snapshot struct {
	byName   map[string]Target
	sorted   []Target
	Problems []Problem
	// Synced is the last successful update time per source.
	Synced map[string]time.Time
	// Generation increases with every change.
	Generation uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{sources: map[string]sourceState{}}
	r.snap.Store(&Snapshot{byName: map[string]Target{}, Synced: map[string]time.Time{}})
	return r
}

// Update replaces the targets of one source (Sink). Watchers are called
// before Update returns, one snapshot at a time and in generation order.
func (r *Registry) Update(source string, targets []Target, problems []Problem) {
	r.mu.Lock()
	cp := make([]Target, len(targets))
	copy(cp, targets)
	r.sources[source] = sourceState{targets: cp, problems: append([]Problem(nil), problems...), synced: time.Now()}
	s := r.rebuildLocked()
	watchers := append([]func(Snapshot){}, r.watchers...)
	// Take the notification lock before releasing the registry lock: a
	// concurrent Update then notifies after this one, never before.
	r.notifyMu.Lock()
	r.mu.Unlock()
	defer r.notifyMu.Unlock()
	for _, w := range watchers {
		w(*s)
	}
}

// Expect declares a source that is configured but may not have synced yet
// (Kubernetes discovery before its first list). Until its first Update the
// snapshot lists it in Unsynced, and no delivery should be decided: the
// targets it will bring are unknown.
//
// Watchers see the new snapshot, so that whatever they publish per source
// (metrics) covers the expected source from the start.
func (r *Registry) Expect(source string) {
	r.mu.Lock()
	if _, ok := r.sources[source]; ok {
		r.mu.Unlock()
		return
	}
	r.sources[source] = sourceState{}
	s := r.rebuildLocked()
	watchers := append([]func(Snapshot){}, r.watchers...)
	r.notifyMu.Lock()
	r.mu.Unlock()
	defer r.notifyMu.Unlock()
	for _, w := range watchers {
		w(*s)
	}
}

// Unsynced lists the expected sources that have never synced, sorted.
func (s Snapshot) Unsynced() []string {
	var out []string
	for src, at := range s.Synced {
		if at.IsZero() {
			out = append(out, src)
		}
	}
	sort.Strings(out)
	return out
}

// Watch registers fn to be called with every new snapshot (after Update).
// fn must not call Update.
func (r *Registry) Watch(fn func(Snapshot)) {
	r.mu.Lock()
	r.watchers = append(r.watchers, fn)
	r.mu.Unlock()
}

// rebuildLocked merges all sources. When two sources define the same name,
// the source whose name sorts first wins and the other is reported.
func (r *Registry) rebuildLocked() *Snapshot {
	old := r.snap.Load()
	names := make([]string, 0, len(r.sources))
	for n := range r.sources {
		names = append(names, n)
	}
	sort.Strings(names)
	total := 0
	for _, st := range r.sources {
		total += len(st.targets)
	}
	s := &Snapshot{byName: make(map[string]Target, total), Synced: make(map[string]time.Time, len(names)), Generation: old.Generation + 1}
	for _, src := range names {
		st := r.sources[src]
		s.Synced[src] = st.synced
		s.Problems = append(s.Problems, st.problems...)
	}
	// The operator's own targets first: a tenant's target never takes a
	// name the operator defined, whatever the sources are called.
	for _, tenants := range []bool{false, true} {
		for _, src := range names {
			for _, t := range r.sources[src].targets {
				if t.FromTenant() != tenants {
					continue
				}
				if prev, dup := s.byName[t.Name]; dup {
					s.Problems = append(s.Problems, Problem{
						Origin: t.Origin, Target: t.Name, Reason: ReasonDuplicateName,
						Message: fmt.Sprintf("target name %q is already defined by %s; this definition is ignored", t.Name, prev.Origin),
					})
					continue
				}
				s.byName[t.Name] = t
			}
		}
	}
	// Sort the names, not the targets: swapping large structs is slow.
	targetNames := make([]string, 0, len(s.byName))
	for n := range s.byName {
		targetNames = append(targetNames, n)
	}
	sort.Strings(targetNames)
	s.sorted = make([]Target, 0, len(targetNames))
	for _, n := range targetNames {
		s.sorted = append(s.sorted, s.byName[n])
	}
	now := time.Now()
	if r.retired == nil {
		r.retired = map[string]retiredTarget{}
	}
	for name, t := range old.byName {
		if _, still := s.byName[name]; !still {
			r.retired[name] = retiredTarget{t: t, at: now}
		}
	}
	for name, rt := range r.retired {
		if _, back := s.byName[name]; back || now.Sub(rt.at) > RetiredFor {
			delete(r.retired, name)
		}
	}
	r.snap.Store(s)
	return s
}

// Retired returns a target that was removed within RetiredFor, with its
// last configuration. Only resolves of alerts already sent to it use it.
func (r *Registry) Retired(name string) (Target, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rt, ok := r.retired[name]
	if !ok || time.Since(rt.at) > RetiredFor {
		return Target{}, false
	}
	return rt.t, true
}

// Snapshot returns the current view.
func (r *Registry) Snapshot() Snapshot { return *r.snap.Load() }

// Get returns the target with the given name.
func (r *Registry) Get(name string) (Target, bool) {
	t, ok := r.snap.Load().byName[name]
	return t, ok
}

// List returns every target, sorted by name.
func (r *Registry) List() []Target { return r.snap.Load().List() }

// List returns every target of the snapshot, sorted by name.
func (s Snapshot) List() []Target { return append([]Target(nil), s.sorted...) }

// Get returns the named target of the snapshot.
func (s Snapshot) Get(name string) (Target, bool) {
	t, ok := s.byName[name]
	return t, ok
}

// Enabled returns the enabled targets, sorted by name.
func (s Snapshot) Enabled() []Target {
	out := make([]Target, 0, len(s.sorted))
	for _, t := range s.sorted {
		if t.IsEnabled() {
			out = append(out, t)
		}
	}
	return out
}

// Enabled returns the enabled targets, sorted by name.
func (r *Registry) Enabled() []Target { return r.snap.Load().Enabled() }
