// Package providers is the one list of target types. Adding a type is a
// provider package (see internal/provider) and one line in All.
package providers

import (
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/httpconfig"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"github.com/herald-alerts/herald/internal/publish/discord"
	"github.com/herald-alerts/herald/internal/publish/email"
	"github.com/herald-alerts/herald/internal/publish/msteams"
	"github.com/herald-alerts/herald/internal/publish/opsgenie"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"github.com/herald-alerts/herald/internal/publish/telegram"
	"github.com/herald-alerts/herald/internal/publish/webhook"
	"github.com/herald-alerts/herald/internal/target"
)

// All lists every target type Herald delivers to.
var All = []provider.Provider{
	alertmanager.Provider,
	discord.Provider,
	email.Provider,
	msteams.Provider,
	opsgenie.Provider,
	pagerduty.Provider,
	rootly.Provider,
	slack.Provider,
	telegram.Provider,
	webhook.Provider,
}

// Importing the package registers every type with the target package
// (names, configs, validation, defaults, limits) and with health (probes).
func init() {
	target.RegisterHTTPConfig(func() target.HTTPConfig { return &httpconfig.Config{} })
	for _, p := range All {
		target.Register(p)
		health.RegisterProbe(p.Type(), p.Probe)
	}
}

// Publishers builds every type's publisher.
func Publishers(d provider.Deps) map[string]publish.Publisher {
	out := make(map[string]publish.Publisher, len(All))
	for _, p := range All {
		out[p.Type()] = p.NewPublisher(d)
	}
	return out
}
