package telegram

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"

	"github.com/herald-alerts/herald/internal/target"
)

// Config is a telegram target's own part.
type Config struct {
	// BotToken is the bot's token from @BotFather ("123456:ABC-..."). It
	// is a credential and sits in the request path.
	BotToken string `json:"bot_token,omitempty"`
	// ChatID is the chat to post to: an integer id (-100... for
	// supergroups and channels) or @channelusername.
	ChatID ChatID `json:"chat_id,omitzero"`
	// MessageThreadID posts into one topic of a forum supergroup.
	MessageThreadID *int64 `json:"message_thread_id,omitempty"`
}

// ChatID is a chat_id as written in a target: a JSON number or string,
// holding an integer or @channelusername. A value of another form is kept
// as invalid and reported by Validate (naming the field).
type ChatID struct {
	value   string
	invalid bool
}

// NewChatID returns the chat id s (an integer or @channelusername).
func NewChatID(s string) ChatID { return ChatID{value: s} }

var (
	chatIntRE  = regexp.MustCompile(`^-?[0-9]{1,19}$`)
	chatNameRE = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{3,31}$`)
)

// String is the chat id as written.
func (c ChatID) String() string { return c.value }

// IsZero reports an absent chat_id.
func (c ChatID) IsZero() bool { return c.value == "" && !c.invalid }

// Valid reports an integer or @channelusername.
func (c ChatID) Valid() bool {
	if c.invalid {
		return false
	}
	if chatIntRE.MatchString(c.value) {
		_, err := strconv.ParseInt(c.value, 10, 64)
		return err == nil
	}
	return chatNameRE.MatchString(c.value)
}

// Int returns the numeric chat id.
func (c ChatID) Int() (int64, bool) {
	if c.invalid || !chatIntRE.MatchString(c.value) {
		return 0, false
	}
	n, err := strconv.ParseInt(c.value, 10, 64)
	return n, err == nil
}

// UnmarshalJSON accepts a JSON number or string.
func (c *ChatID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	*c = ChatID{}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			c.invalid = true
			return nil
		}
		c.value = s
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil || !chatIntRE.MatchString(n.String()) {
		c.invalid = true
		return nil
	}
	c.value = n.String()
	return nil
}

// MarshalJSON writes an integer chat id as a number, else a string.
func (c ChatID) MarshalJSON() ([]byte, error) {
	if n, ok := c.Int(); ok {
		return []byte(strconv.FormatInt(n, 10)), nil
	}
	return json.Marshal(c.value)
}

// Secrets implements target.Config.
func (c *Config) Secrets() []string { return []string{c.BotToken} }

// Describe implements target.Describer.
func (c *Config) Describe(p *target.Public) {
	if c.BotToken != "" {
		p.Token = target.Redacted
	}
	p.Channel = c.ChatID.String()
}

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// configOf returns t's telegram config, nil when it has none.
func configOf(t target.Target) *Config {
	if c, ok := t.Config.(*Config); ok && c != nil {
		return c
	}
	return nil
}
