package slack

import "github.com/herald-alerts/herald/internal/target"

// Config is a slack target's own part: an incoming webhook needs only the
// common url; the Web API needs token and channel.
type Config struct {
	// Token is a bot token (xoxb-...): with it Herald uses the Web API.
	Token string `json:"token,omitempty"`
	// Channel is the channel a bot-token target posts to.
	Channel string `json:"channel,omitempty"`
	// Slack holds optional settings.
	Slack *Options `json:"slack,omitempty"`
}

// Options are optional settings of a slack target.
type Options struct {
	// Username overrides the bot's display name (bot tokens need the
	// chat:write.customize scope; incoming webhooks may ignore it).
	Username string `json:"username,omitempty"`
	// IconEmoji overrides the bot's icon, e.g. ":rotating_light:".
	IconEmoji string `json:"icon_emoji,omitempty"`
}

// Secrets implements target.Config.
func (c *Config) Secrets() []string { return []string{c.Token} }

// Describe implements target.Describer.
func (c *Config) Describe(p *target.Public) {
	if c.Token != "" {
		p.Token = target.Redacted
	}
	p.Channel = c.Channel
}

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// ConfigOf returns t's slack config (empty when it has none).
func ConfigOf(t target.Target) Config {
	if c, ok := t.Config.(*Config); ok && c != nil {
		return *c
	}
	return Config{}
}
