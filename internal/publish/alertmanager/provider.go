package alertmanager

import (
	"context"
	"net/http"
	"time"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of other Alertmanagers.
const Type = "alertmanager"

// Provider is the alertmanager type: url (required), headers and the
// alertmanager block (forward_ttl).
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string { return Type }

func (kind) Validate(t target.Target) error {
	if o := configOf(t).Alertmanager; o != nil {
		if d := time.Duration(o.ForwardTTL); d != 0 && (d < MinForwardTTL || d > MaxForwardTTL) {
			return t.Field("alertmanager.forward_ttl", "must be between %s and %s", MinForwardTTL, MaxForwardTTL)
		}
	}
	return nil
}

// Probe sends GET {url}/-/healthy and expects 200.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	return health.Expect(ctx, env.Client, http.MethodGet, health.JoinURL(env.URL, "/-/healthy", nil), t.Headers, health.OnlyOK)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
