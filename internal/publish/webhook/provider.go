package webhook

import (
	"context"
	"net/http"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of generic webhooks.
const Type = "webhook"

// Provider is the webhook type: url (required) and headers, no rate limit
// of its own.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string { return Type }

func (kind) Validate(target.Target) error { return nil }

// Probe sends HEAD {url}: any answer but 502/503/504 counts, 501 Not
// Implemented included, since a receiver need implement only POST.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	return health.Expect(ctx, env.Client, http.MethodHead, env.Endpoint, t.Headers, health.Reachable)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
