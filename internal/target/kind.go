package target

import (
	"fmt"
	"sort"
	"sync"
)

// Kind is what the target package knows of one target type. A provider
// package implements it (with its publisher and probe, see
// internal/provider), and internal/providers registers every provider once.
// The target package itself knows no type by name.
type Kind interface {
	// Type is the type's name in target objects ("slack").
	Type() string
	// DefaultURL is the endpoint used when a target has no url ("" when url
	// is required).
	DefaultURL() string
	// Validate checks what the type needs of t, after the common fields
	// were checked. Errors are *FieldError.
	Validate(t Target) error
	// DefaultLimit is the type's delivery rate when the target sets none
	// (a zero PerSecond: no limit).
	DefaultLimit() RateLimitSpec
	// LimiterKey is the key deliveries to t share a rate limit by ("" means
	// per target name).
	LimiterKey(t Target) string
}

// ConfigKind is a Kind whose targets carry fields of their own beside the
// common ones. Those fields are decoded from the same target object into
// NewConfig's value, which becomes Target.Config.
type ConfigKind interface {
	Kind
	NewConfig() Config
}

// Config is a type's own part of a target object.
type Config interface {
	// Secrets lists the config's credential values (Target.Secrets adds
	// them).
	Secrets() []string
}

var kinds = struct {
	sync.RWMutex
	byType map[string]Kind
}{byType: map[string]Kind{}}

// Register makes target types known. internal/providers calls it once with
// every provider; registering a type twice panics.
func Register(ks ...Kind) {
	kinds.Lock()
	defer kinds.Unlock()
	for _, k := range ks {
		if _, dup := kinds.byType[k.Type()]; dup {
			panic(fmt.Sprintf("target type %q registered twice", k.Type()))
		}
		kinds.byType[k.Type()] = k
	}
}

// KindOf returns the registered kind of a type.
func KindOf(typ string) (Kind, bool) {
	kinds.RLock()
	defer kinds.RUnlock()
	k, ok := kinds.byType[typ]
	return k, ok
}

// Types lists the registered target types, sorted.
func Types() []string {
	kinds.RLock()
	defer kinds.RUnlock()
	out := make([]string, 0, len(kinds.byType))
	for t := range kinds.byType {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Field returns a *FieldError for t's field: the form every Validate uses.
func (t Target) Field(field, format string, args ...any) error {
	return &FieldError{Target: t.Name, Field: field, Msg: fmt.Sprintf(format, args...)}
}
