package alertmanager

import (
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

// Bounds and default of alertmanager.forward_ttl.
const (
	DefaultForwardTTL = time.Hour
	// MinForwardTTL leaves room for the re-send every TTL/3 to arrive in
	// time: Temporal fires timers up to about a second late.
	MinForwardTTL = 5 * time.Second
	MaxForwardTTL = 24 * time.Hour
)

// Config is an alertmanager target's own part.
type Config struct {
	// Alertmanager holds optional settings.
	Alertmanager *Options `json:"alertmanager,omitempty"`
}

// Options are optional settings of an alertmanager target.
type Options struct {
	// ForwardTTL is how far ahead of now a forwarded firing alert's endsAt
	// lies (default 1h, between 5s and 24h). Herald re-sends firing alerts
	// every third of it, so the receiving Alertmanager keeps them active.
	ForwardTTL target.Duration `json:"forward_ttl,omitempty"`
}

// Secrets implements target.Config: the type has none of its own.
func (c *Config) Secrets() []string { return nil }

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// ForwardTTL is how long an alert forwarded to t stays active without being
// sent again: alertmanager.forward_ttl, default DefaultForwardTTL. It
// implements target.Forwarder.
func (kind) ForwardTTL(t target.Target) time.Duration { return ForwardTTL(t) }

// ForwardTTL is t's forward TTL (see kind.ForwardTTL).
func ForwardTTL(t target.Target) time.Duration {
	if c, ok := t.Config.(*Config); ok && c != nil && c.Alertmanager != nil && c.Alertmanager.ForwardTTL > 0 {
		return time.Duration(c.Alertmanager.ForwardTTL)
	}
	return DefaultForwardTTL
}

func configOf(t target.Target) Config {
	if c, ok := t.Config.(*Config); ok && c != nil {
		return *c
	}
	return Config{}
}
