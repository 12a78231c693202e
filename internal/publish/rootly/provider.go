package rootly

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of Rootly's alerts API.
const Type = "rootly"

// DefaultURL is Rootly's API, used when a target has no url.
const DefaultURL = "https://api.rootly.com"

// Sources are the alert sources the Rootly alerts API accepts: the source
// enum of POST /v1/alerts in Rootly's API reference
// (https://docs.rootly.com/api-reference/alerts/creates-an-alert), sorted.
var Sources = []string{
	"alertmanager", "api", "app_dynamics", "app_optics", "asana", "azure", "bug_snag", "catchpoint",
	"checkly", "chronosphere", "clickup", "cloud_watch", "datadog", "email", "generic_webhook",
	"gitlab", "google_cloud", "grafana", "honeycomb", "jira", "linear", "live_call_routing", "manual",
	"monte_carlo", "nagios", "new_relic", "nobl9", "opsgenie", "pagerduty", "pagertree", "prtg",
	"rollbar", "rootly", "sentry", "service_now", "slack", "splunk", "victorops", "web", "workflow",
	"zendesk",
}

// NotificationTargetTypes are the accepted notification_target_type values.
var NotificationTargetTypes = []string{"EscalationPolicy", "Functionality", "Group", "Service", "User"}

// Provider is the rootly type: token (or an Authorization header), url
// (default DefaultURL) and the rootly block.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string       { return Type }
func (kind) DefaultURL() string { return DefaultURL }

// DefaultLimit is Rootly's published 3000 requests per minute.
func (kind) DefaultLimit() target.RateLimitSpec {
	return target.RateLimitSpec{PerSecond: 50, Burst: 50}
}

func (kind) Validate(t target.Target) error {
	if ConfigOf(t).Token == "" && t.Headers["Authorization"] == "" {
		return t.Field("token", "is required for type rootly (or an Authorization header)")
	}
	o := ConfigOf(t).Rootly
	if o == nil {
		return nil
	}
	if o.Source != "" && !slices.Contains(Sources, o.Source) {
		return t.Field("rootly.source", "%q is not a Rootly alert source (one of %s)", o.Source, strings.Join(Sources, ", "))
	}
	if o.NotificationTargetType != "" && !slices.Contains(NotificationTargetTypes, o.NotificationTargetType) {
		return t.Field("rootly.notification_target_type", "%q is not one of %s", o.NotificationTargetType, strings.Join(NotificationTargetTypes, ", "))
	}
	if (o.NotificationTargetType == "") != (o.NotificationTargetID == "") {
		return t.Field("rootly.notification_target_id", "notification_target_type and notification_target_id must be set together")
	}
	return nil
}

// Probe sends GET {endpoint}/v1/alerts?page[size]=1 with the token and
// expects 200 (401 and 403 are auth failures).
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	headers := health.WithHeaders(t.Headers)
	headers["Accept"] = "application/vnd.api+json"
	if ConfigOf(t).Token != "" {
		headers["Authorization"] = "Bearer " + ConfigOf(t).Token
	}
	q := url.Values{"page[size]": {"1"}}
	return health.Expect(ctx, env.Client, http.MethodGet, health.JoinURL(env.URL, "/v1/alerts", q), headers, health.AuthOrOK)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
