package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of PagerDuty's Events API v2.
const Type = "pagerduty"

// DefaultURL is the Events API's endpoint, used when a target has no url.
const DefaultURL = "https://events.pagerduty.com"

// Provider is the pagerduty type: routing_key (required), url (default
// DefaultURL) and the pagerduty block.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string       { return Type }
func (kind) DefaultURL() string { return DefaultURL }

// DefaultLimit is PagerDuty's published 120 events per minute per
// integration key.
func (kind) DefaultLimit() target.RateLimitSpec { return target.RateLimitSpec{PerSecond: 2, Burst: 2} }

// LimiterKey shares one limit among every target of one routing key, since
// PagerDuty limits per integration key (hashed: the key is a credential).
func (kind) LimiterKey(t target.Target) string {
	if ConfigOf(t).RoutingKey == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(ConfigOf(t).RoutingKey))
	return "pagerduty/" + hex.EncodeToString(sum[:8])
}

func (kind) Validate(t target.Target) error {
	if ConfigOf(t).RoutingKey == "" {
		return t.Field("routing_key", "is required for type pagerduty (the Events API v2 integration key)")
	}
	o := ConfigOf(t).PagerDuty
	if o == nil {
		return nil
	}
	for _, f := range [...]struct{ name, value string }{
		{"source", o.Source}, {"component", o.Component}, {"group", o.Group}, {"class", o.Class},
	} {
		if len(f.value) > 255 {
			return t.Field("pagerduty."+f.name, "must be at most 255 characters")
		}
	}
	for i, k := range o.PreviousRoutingKeys {
		if strings.TrimSpace(k) == "" {
			return t.Field(fmt.Sprintf("pagerduty.previous_routing_keys[%d]", i), "must not be empty")
		}
	}
	return nil
}

// Probe sends GET {endpoint}/ (never /v2/enqueue): any answer below 500
// counts.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	return health.Expect(ctx, env.Client, http.MethodGet, health.JoinURL(env.URL, "/", nil), t.Headers, health.Below500)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
