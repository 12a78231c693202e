package discord

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of Discord webhooks.
const Type = "discord"

// Provider is the discord type: url (required), the webhook URL
// (https://discord.com/api/webhooks/<id>/<token>; the token in its path is
// the credential, redacted everywhere as part of the URL's path). The type
// has no rate limit of its own: Discord publishes none for webhooks and
// announces its limits per response (429 with retry_after), which the
// guard learns from.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string { return Type }

// webhookPath is the end of a webhook URL's path: .../webhooks/<id>/<token>.
var webhookPath = regexp.MustCompile(`/webhooks/[^/]+/[^/]+/?$`)

// Validate checks that url is a webhook URL: its path ends in
// /webhooks/<id>/<token> (Discord's own, or a proxy's path ending alike).
// The Slack- and GitHub-compatible endpoints (.../slack, .../github) take
// other bodies and are refused.
func (kind) Validate(t target.Target) error {
	u, err := url.Parse(t.URL)
	if err != nil || !webhookPath.MatchString(u.Path) {
		return t.Field("url", "must be a Discord webhook URL ending in /api/webhooks/<id>/<token>")
	}
	return nil
}

// Probe sends GET {url} without its query: Discord answers a valid webhook
// with the webhook object (200) and posts nothing. 401 and 403 (an
// invalid token) are auth failures and 404 (Unknown Webhook: deleted) a
// config failure, since such a webhook cannot take a message any more;
// 429 counts (Discord answered); other answers from 500 up and network
// errors are failures as usual.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	u := *env.URL
	u.RawQuery, u.ForceQuery = "", false
	rawURL := u.String()
	label := "GET " + target.RedactURL(rawURL)
	status, _, err := health.Send(ctx, env.Client, http.MethodGet, rawURL, t.Headers)
	if err != nil {
		return health.Failure(health.ErrorClass(err), 0, label+": "+health.ErrorText(err))
	}
	ok, class := probeVerdict(status)
	if ok {
		return health.Observation{OK: true, StatusCode: status}
	}
	msg := fmt.Sprintf("%s: HTTP %d", label, status)
	if status == http.StatusNotFound {
		msg += " (the webhook does not exist: deleted, or a wrong url)"
	}
	return health.Failure(class, status, msg)
}

func probeVerdict(status int) (bool, string) {
	switch {
	case status/100 == 2, status == http.StatusTooManyRequests:
		return true, ""
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return false, health.ClassAuth
	case status == http.StatusNotFound:
		return false, health.ClassConfig
	}
	return false, health.ClassHTTPStatus
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
