package msteams

import (
	"context"
	"net/http"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of Microsoft Teams Workflows webhooks.
const Type = "msteams"

// Provider is the msteams type: url (required), the Workflows webhook URL.
// The whole URL is a credential (its path and its query's sig carry the
// signature); Target.Secrets lists its path, query and query values, so
// they are redacted everywhere. The type has no rate limit of its own:
// Microsoft documents none for Workflows webhooks, and the guard learns
// one from the receiver's 429s.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string { return Type }

// Validate has nothing to add: url is required (the common checks make
// sure it is an absolute http(s) URL).
func (kind) Validate(target.Target) error { return nil }

// Probe sends GET {scheme}://{host}/, never the webhook URL itself: a
// request to the URL could start the flow, and its path and query are the
// credential. Any HTTP answer but 502/503/504 counts (health.Reachable).
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	root := env.URL.Scheme + "://" + env.URL.Host + "/"
	return health.Expect(ctx, env.Client, http.MethodGet, root, nil, health.Reachable)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
