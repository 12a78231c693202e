package telegram

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of the Telegram Bot API.
const Type = "telegram"

// DefaultURL is the Bot API's base, used when a target has no url (set it
// for a local Bot API server or a proxy).
const DefaultURL = "https://api.telegram.org"

// Provider is the telegram type: bot_token and chat_id (required),
// message_thread_id, url (default DefaultURL).
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string       { return Type }
func (kind) DefaultURL() string { return DefaultURL }

// DefaultLimit is Telegram's published limit for a bot posting to one
// group, 20 messages per minute (private chats allow about one per second;
// https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this).
func (kind) DefaultLimit() target.RateLimitSpec {
	return target.RateLimitSpec{PerSecond: 20.0 / 60, Burst: 1}
}

// LimiterKey shares one limit among the targets that post with one bot to
// one chat, as Telegram counts (the token is hashed: it is a credential).
func (kind) LimiterKey(t target.Target) string {
	cfg := configOf(t)
	if cfg == nil || cfg.BotToken == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(cfg.BotToken + "\x00" + cfg.ChatID.String()))
	return "telegram/" + hex.EncodeToString(sum[:8])
}

// tokenRE is the shape of a bot token: it goes into the request path, so
// nothing else may (no "/", "?", "#", "%" or spaces).
var tokenRE = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{1,128}$`)

func (kind) Validate(t target.Target) error {
	cfg := configOf(t)
	if cfg == nil || cfg.BotToken == "" {
		return t.Field("bot_token", "is required for type telegram (the bot's token from @BotFather)")
	}
	if !tokenRE.MatchString(cfg.BotToken) {
		return t.Field("bot_token", "must look like <bot id>:<secret> (digits, a colon, then letters, digits, '_' or '-')")
	}
	if cfg.ChatID.IsZero() {
		return t.Field("chat_id", "is required for type telegram (an integer chat id or @channelusername)")
	}
	if !cfg.ChatID.Valid() {
		return t.Field("chat_id", "must be an integer chat id or @channelusername (5 to 32 letters, digits or '_')")
	}
	if id := cfg.MessageThreadID; id != nil && *id <= 0 {
		return t.Field("message_thread_id", "must be a positive integer")
	}
	return nil
}

// Probe calls getMe with the bot token: it creates nothing and proves the
// token works. ok:true is healthy; 401 and 404 (Telegram's answers to an
// unknown or malformed token) are auth failures; a 5xx is a failure; other
// answers (429: the bot is only throttled) count as healthy. The token is
// in the path: every message is redacted.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	cfg := configOf(t)
	if cfg == nil || cfg.BotToken == "" {
		return health.Failure(health.ClassConfig, 0, "telegram target has no bot_token")
	}
	o := getMe(ctx, env, t, cfg)
	o.Message = publish.Redact(o.Message, t.Secrets())
	return o
}

func getMe(ctx context.Context, env health.ProbeEnv, t target.Target, cfg *Config) health.Observation {
	rawURL := health.JoinURL(env.URL, "/bot"+cfg.BotToken+"/getMe", nil)
	label := "GET " + target.RedactURL(rawURL)
	status, body, err := health.Send(ctx, env.Client, http.MethodGet, rawURL, t.Headers)
	if err != nil {
		return health.Failure(health.ErrorClass(err), 0, label+": "+health.ErrorText(err))
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusNotFound:
		return health.Failure(health.ClassAuth, status,
			fmt.Sprintf("%s: HTTP %d (Telegram does not know the bot token)", label, status))
	case status >= 500:
		return health.Failure(health.ClassHTTPStatus, status, fmt.Sprintf("%s: HTTP %d", label, status))
	case status/100 != 2:
		return health.Observation{OK: true, StatusCode: status}
	}
	var r Response
	if json.Unmarshal(body, &r) != nil || !r.OK {
		return health.Failure(health.ClassHTTPStatus, status, label+": answer is not ok:true Bot API JSON")
	}
	return health.Observation{OK: true, StatusCode: status}
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
