package opsgenie

import "github.com/herald-alerts/herald/internal/target"

// Config is an opsgenie target's own part.
type Config struct {
	// APIKey is the key of an Opsgenie (or Jira Service Management
	// Operations) API integration, sent as "Authorization: GenieKey <key>".
	APIKey string `json:"api_key,omitempty"`
	// Responders are notified of every alert the target creates (besides
	// the integration's own team).
	Responders []Responder `json:"responders,omitempty"`
	// Tags are added to every alert.
	Tags []string `json:"tags,omitempty"`
	// Priority maps a Herald severity (critical, warning, info) to an
	// Opsgenie priority (P1..P5); unset severities use DefaultPriority.
	Priority map[string]string `json:"priority,omitempty"`
}

// Responder is one entry of the alert's responders: a team, user,
// escalation or schedule, named by exactly one of id, name (team,
// escalation, schedule) or username (user).
type Responder struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// Secrets implements target.Config.
func (c *Config) Secrets() []string { return []string{c.APIKey} }

// Describe implements target.Describer.
func (c *Config) Describe(p *target.Public) {
	if c.APIKey != "" {
		p.Token = target.Redacted
	}
}

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// configOf returns t's opsgenie config, nil when it has none.
func configOf(t target.Target) *Config {
	if c, ok := t.Config.(*Config); ok && c != nil {
		return c
	}
	return nil
}
