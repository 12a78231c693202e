package rootly

import "github.com/herald-alerts/herald/internal/target"

// Config is a rootly target's own part.
type Config struct {
	// Token is the Rootly API key (or set an Authorization header).
	Token string `json:"token,omitempty"`
	// Rootly holds optional settings: where Rootly routes the alert.
	Rootly *Options `json:"rootly,omitempty"`
}

// Options are optional settings of a rootly target: where Rootly routes the
// alert.
type Options struct {
	// Source is the Rootly alert source (default "alertmanager"); one of
	// Sources.
	Source string `json:"source,omitempty"`
	// NotificationTargetType is one of Group, Service, EscalationPolicy,
	// Functionality, User (Rootly On-Call); it needs NotificationTargetID.
	NotificationTargetType string   `json:"notification_target_type,omitempty"`
	NotificationTargetID   string   `json:"notification_target_id,omitempty"`
	AlertUrgencyID         string   `json:"alert_urgency_id,omitempty"`
	ServiceIDs             []string `json:"service_ids,omitempty"`
	GroupIDs               []string `json:"group_ids,omitempty"`
	EnvironmentIDs         []string `json:"environment_ids,omitempty"`
}

// Secrets implements target.Config.
func (c *Config) Secrets() []string { return []string{c.Token} }

// Describe implements target.Describer.
func (c *Config) Describe(p *target.Public) {
	if c.Token != "" {
		p.Token = target.Redacted
	}
}

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// ConfigOf returns t's rootly config (empty when it has none).
func ConfigOf(t target.Target) Config {
	if c, ok := t.Config.(*Config); ok && c != nil {
		return *c
	}
	return Config{}
}
