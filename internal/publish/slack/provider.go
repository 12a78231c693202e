package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of Slack.
const Type = "slack"

// DefaultAPIURL is Slack's Web API, used by bot-token targets without url.
const DefaultAPIURL = "https://slack.com/api"

// Provider is the slack type: an incoming webhook url, or token and
// channel for the Web API, and the slack block.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string       { return Type }
func (kind) DefaultURL() string { return DefaultAPIURL }

// DefaultLimit is Slack's about one message per second per channel.
func (kind) DefaultLimit() target.RateLimitSpec { return target.RateLimitSpec{PerSecond: 1, Burst: 1} }

var emojiRE = regexp.MustCompile(`^:[a-z0-9_+'-]+:$`)

func (kind) Validate(t target.Target) error {
	if t.URL == "" && ConfigOf(t).Token == "" {
		return t.Field("url", "is required for type slack (an incoming webhook URL), unless token and channel are set")
	}
	if ConfigOf(t).Token != "" && ConfigOf(t).Channel == "" {
		return t.Field("channel", "is required for a slack target with a bot token")
	}
	if o := ConfigOf(t).Slack; o != nil {
		if len(o.Username) > 80 {
			return t.Field("slack.username", "must be at most 80 characters")
		}
		if o.IconEmoji != "" && !emojiRE.MatchString(o.IconEmoji) {
			return t.Field("slack.icon_emoji", "must look like :emoji_name:")
		}
	}
	return nil
}

// Probe checks a bot token with POST {endpoint}/auth.test (ok:true
// expected; invalid_auth and the like are auth failures). An incoming
// webhook gets GET {scheme}://{host}/ only, never the webhook URL itself
// (a GET there is harmless too, but its path is the credential): any HTTP
// answer counts.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	if ConfigOf(t).Token != "" {
		return authTest(ctx, env, t)
	}
	root := env.URL.Scheme + "://" + env.URL.Host + "/"
	return health.Expect(ctx, env.Client, http.MethodGet, root, nil, health.AnyAnswer)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}

// authTest calls auth.test with the bot token.
func authTest(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	headers := health.WithHeaders(t.Headers)
	headers["Authorization"] = "Bearer " + ConfigOf(t).Token
	headers["Content-Type"] = "application/x-www-form-urlencoded"
	rawURL := health.JoinURL(env.URL, "/auth.test", nil)
	label := "POST " + target.RedactURL(rawURL)
	status, body, err := health.Send(ctx, env.Client, http.MethodPost, rawURL, headers)
	if err != nil {
		return health.Failure(health.ErrorClass(err), 0, label+": "+health.ErrorText(err))
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return health.Failure(health.ClassAuth, status, fmt.Sprintf("%s: HTTP %d", label, status))
	case status/100 != 2:
		return health.Failure(health.ClassHTTPStatus, status, fmt.Sprintf("%s: HTTP %d", label, status))
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return health.Failure(health.ClassHTTPStatus, status, label+": answer is not Slack API JSON")
	}
	if r.OK {
		return health.Observation{OK: true, StatusCode: status}
	}
	class := health.ClassHTTPStatus
	if authErrors[r.Error] {
		class = health.ClassAuth
	}
	return health.Failure(class, status, label+": "+health.SafeCode(r.Error))
}

// authErrors are Web API error codes that mean the token is no good.
var authErrors = map[string]bool{
	"invalid_auth":           true,
	"not_authed":             true,
	"account_inactive":       true,
	"token_revoked":          true,
	"token_expired":          true,
	"no_permission":          true,
	"missing_scope":          true,
	"not_allowed_token_type": true,
}
