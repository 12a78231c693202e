package opsgenie

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of the Opsgenie Alert API.
const Type = "opsgenie"

// DefaultURL is Opsgenie's API base, used when a target has no url. EU
// accounts use https://api.eu.opsgenie.com; Jira Service Management
// Operations integrations use https://api.atlassian.com/jsm/ops/integration.
const DefaultURL = "https://api.opsgenie.com"

// Provider is the opsgenie type: api_key (required), url (default
// DefaultURL), responders, tags and priority.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string       { return Type }
func (kind) DefaultURL() string { return DefaultURL }

// DefaultLimit: Opsgenie rate-limits per account and per request domain
// (create, close and note requests are all in the Alert domain) with token
// buckets checked per minute and per second, sized by the account's plan
// (https://docs.opsgenie.com/docs/api-rate-limiting). Herald cannot know
// the plan, so it starts at a conservative 1 request per second with a
// burst of 5; the guard learns a lower rate from Opsgenie's 429s, and
// rate_limit raises it for larger plans.
func (kind) DefaultLimit() target.RateLimitSpec { return target.RateLimitSpec{PerSecond: 1, Burst: 5} }

// LimiterKey shares one limit among every target of one API key: Opsgenie
// counts per account, and targets sharing a key are in one account (the
// key is hashed: it is a credential).
func (kind) LimiterKey(t target.Target) string {
	cfg := configOf(t)
	if cfg == nil || cfg.APIKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(cfg.APIKey))
	return "opsgenie/" + hex.EncodeToString(sum[:8])
}

// Limits of the Create Alert request checked by Validate
// (https://docs.opsgenie.com/docs/alert-api#create-alert).
const (
	MaxResponders = 50
	MaxTags       = 20
	MaxTag        = 50
)

// DefaultPriority maps Herald's severities to Opsgenie priorities.
var DefaultPriority = map[string]string{"critical": "P1", "warning": "P3", "info": "P5"}

func (kind) Validate(t target.Target) error {
	cfg := configOf(t)
	if cfg == nil || cfg.APIKey == "" {
		return t.Field("api_key", "is required for type opsgenie (the API key of an Opsgenie API integration)")
	}
	if len(cfg.APIKey) < 4 || strings.IndexFunc(cfg.APIKey, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return t.Field("api_key", "must be at least 4 characters, without spaces or control characters")
	}
	if len(cfg.Responders) > MaxResponders {
		return t.Field("responders", "must list at most %d responders", MaxResponders)
	}
	for i, r := range cfg.Responders {
		f := fmt.Sprintf("responders[%d]", i)
		switch r.Type {
		case "team", "escalation", "schedule":
			if r.Username != "" {
				return t.Field(f+".username", "is for user responders only; name a %s by id or name", r.Type)
			}
		case "user":
			if r.Name != "" {
				return t.Field(f+".name", "a user responder is named by id or username")
			}
		default:
			return t.Field(f+".type", "must be team, user, escalation or schedule")
		}
		set := 0
		for _, v := range []string{r.ID, r.Name, r.Username} {
			if strings.TrimSpace(v) != "" {
				set++
			}
		}
		if set != 1 {
			return t.Field(f, "needs exactly one of id, name (team, escalation, schedule) or username (user)")
		}
	}
	if len(cfg.Tags) > MaxTags {
		return t.Field("tags", "must list at most %d tags", MaxTags)
	}
	for i, tag := range cfg.Tags {
		if strings.TrimSpace(tag) == "" {
			return t.Field(fmt.Sprintf("tags[%d]", i), "must not be empty")
		}
		if publish.UTF16Len(tag) > MaxTag {
			return t.Field(fmt.Sprintf("tags[%d]", i), "must be at most %d characters", MaxTag)
		}
	}
	sevs := make([]string, 0, len(cfg.Priority))
	for s := range cfg.Priority {
		sevs = append(sevs, s)
	}
	sort.Strings(sevs)
	for _, s := range sevs {
		if _, known := DefaultPriority[s]; !known {
			return t.Field("priority."+s, "is not a Herald severity (critical, warning or info)")
		}
		switch cfg.Priority[s] {
		case "P1", "P2", "P3", "P4", "P5":
		default:
			return t.Field("priority."+s, "must be one of P1, P2, P3, P4, P5")
		}
	}
	return nil
}

// Probe sends GET {url}/v2/alerts?limit=1 with the key: it reads at most
// one alert and never creates one. 401 means the key is unknown (an auth
// failure); a 5xx is a failure. Any other answer counts as healthy: a 403
// is what an integration key without read access gets although it creates
// and closes alerts fine, and the Jira Service Management integration API
// has no list endpoint (404/405).
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	cfg := configOf(t)
	if cfg == nil || cfg.APIKey == "" {
		return health.Failure(health.ClassConfig, 0, "opsgenie target has no api_key")
	}
	headers := health.WithHeaders(t.Headers)
	headers["Authorization"] = "GenieKey " + cfg.APIKey
	o := health.Expect(ctx, env.Client, http.MethodGet,
		health.JoinURL(env.URL, AlertsPath, url.Values{"limit": {"1"}}), headers, probeVerdict)
	o.Message = publish.Redact(o.Message, t.Secrets())
	return o
}

func probeVerdict(status int) (bool, string) {
	switch {
	case status == http.StatusUnauthorized:
		return false, health.ClassAuth
	case status >= 500:
		return false, health.ClassHTTPStatus
	}
	return true, ""
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
