package pagerduty

import "github.com/herald-alerts/herald/internal/target"

// Config is a pagerduty target's own part.
type Config struct {
	// RoutingKey is the Events API v2 integration key.
	RoutingKey string `json:"routing_key,omitempty"`
	// PagerDuty holds optional settings.
	PagerDuty *Options `json:"pagerduty,omitempty"`
}

// Options are optional settings of a pagerduty target. Each value is used
// when the alert has no label for the field.
type Options struct {
	Source    string `json:"source,omitempty"`
	Component string `json:"component,omitempty"`
	Group     string `json:"group,omitempty"`
	Class     string `json:"class,omitempty"`
	// PreviousRoutingKeys are integration keys the target used before
	// routing_key: alerts triggered with one of them are resolved with it.
	// They are credentials, like routing_key.
	PreviousRoutingKeys []string `json:"previous_routing_keys,omitempty"`
}

// Secrets implements target.Config.
func (c *Config) Secrets() []string {
	s := []string{c.RoutingKey}
	if c.PagerDuty != nil {
		s = append(s, c.PagerDuty.PreviousRoutingKeys...)
	}
	return s
}

// Describe implements target.Describer.
func (c *Config) Describe(p *target.Public) {
	if c.RoutingKey != "" {
		p.RoutingKey = target.Redacted
	}
}

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// ConfigOf returns t's pagerduty config (empty when it has none).
func ConfigOf(t target.Target) Config {
	if c, ok := t.Config.(*Config); ok && c != nil {
		return *c
	}
	return Config{}
}
