// Package provider declares what one target type is made of. A provider
// package (internal/publish/<type>) implements Provider: its type name and
// config, validation and defaults (target.Kind), its health probe, its
// default rate limit and limiter key, and its publisher. internal/providers
// lists every provider once; nothing else names a type.
package provider

import (
	"context"
	"net/http"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Provider is one target type.
type Provider interface {
	target.Kind
	// Probe checks a target of the type with a request that never creates
	// an alert, after the prober connected to its endpoint (see
	// health.Prober). It must never mark a working receiver unusable.
	Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation
	// NewPublisher builds the type's publisher.
	NewPublisher(deps Deps) publish.Publisher
}

// Deps are what a publisher is built with.
type Deps struct {
	// Client sends deliveries: it never follows redirects and dials only
	// where a target's scope allows (app.HTTPClient).
	Client *http.Client
	// ObserveFormat, when set, is told how long each format step took.
	ObserveFormat publish.FormatObserver
}

// Base carries the parts of a Kind most types share: embed it and override
// what differs.
type Base struct{}

// DefaultURL implements target.Kind: url is required.
func (Base) DefaultURL() string { return "" }

// DefaultLimit implements target.Kind: no limit of the type's own; the
// guard learns one from the receiver's 429s.
func (Base) DefaultLimit() target.RateLimitSpec { return target.RateLimitSpec{} }

// LimiterKey implements target.Kind: one limiter per target.
func (Base) LimiterKey(target.Target) string { return "" }
