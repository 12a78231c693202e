package webhook

import (
	"context"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of generic webhooks.
const Type = "webhook"

// Provider is the webhook type: url (required), headers, and the optional
// body_template and content_type; no rate limit of its own.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string { return Type }

// Config is the webhook type's own part of a target object. Both fields are
// optional; without body_template the body is the v4 payload.
type Config struct {
	// BodyTemplate renders the whole request body (Go text/template, the
	// same data and bounds as the title and body templates).
	BodyTemplate string `json:"body_template,omitempty"`
	// ContentType is the Content-Type of a body_template's body (default
	// DefaultContentType; only with body_template).
	ContentType string `json:"content_type,omitempty"`
}

// Secrets implements target.Config: neither field is a credential.
func (*Config) Secrets() []string { return nil }

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// DefaultContentType is the Content-Type of a body_template's body when
// content_type is not set.
const DefaultContentType = "application/json"

// Validate checks body_template and content_type: the template parses with
// the target template rules (bounded run time by construction); with a
// JSON content type, it is rendered once against a sample alert and must
// produce valid JSON there (a template that can never produce JSON is
// refused at load). content_type needs body_template, must be a media
// type, and cannot be set together with a Content-Type header; template
// (title and body) has no place in a body_template's body and is refused
// with it.
func (kind) Validate(t target.Target) error {
	cfg, _ := t.Config.(*Config)
	if cfg == nil {
		return nil
	}
	if cfg.BodyTemplate == "" {
		if cfg.ContentType != "" {
			return t.Field("content_type", "is only used with body_template")
		}
		return nil
	}
	if cfg.ContentType != "" {
		if _, _, err := mime.ParseMediaType(cfg.ContentType); err != nil {
			return t.Field("content_type", "is not a media type: %v", err)
		}
		for k := range t.Headers {
			if strings.EqualFold(k, "Content-Type") {
				return t.Field("content_type", "conflicts with the Content-Type header: set one of them")
			}
		}
	}
	if t.Template != nil && (t.Template.Title != "" || t.Template.Body != "") {
		return t.Field("template", "has no effect with body_template: the body_template's output is the whole body")
	}
	if _, err := target.ParseTemplate(bodyTemplateName, cfg.BodyTemplate); err != nil {
		return t.Field("body_template", "%s", target.TemplateProblem(err))
	}
	ct := ContentType(t)
	if !IsJSON(ct) {
		return nil
	}
	if _, err := RenderBody(cfg.BodyTemplate, ct, sampleNotification()); err != nil {
		msg := strings.TrimPrefix(publish.AsError(err).Msg, bodyTemplateName+": ")
		return t.Field("body_template", "with content_type %s, rendered for a sample alert: %s", ct, msg)
	}
	return nil
}

// sampleNotification is the alert a JSON body_template is rendered for at
// validation: plain values, so that only a template that cannot produce
// JSON fails.
func sampleNotification() publish.Notification {
	at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	return publish.Notification{Event: publish.EventFiring, Alert: alert.Alert{
		Fingerprint: "0123456789abcdef", Status: alert.StatusFiring,
		Labels: map[string]string{"alertname": "SampleAlert", "severity": "warning", "instance": "host-1:9100",
			"job": "node", "namespace": "default", "service": "sample"},
		Annotations: map[string]string{"summary": "Sample summary", "description": "Sample description",
			"runbook_url": "https://runbooks.example.com/sample"},
		StartsAt: at.Add(-10 * time.Minute), GeneratorURL: "https://prometheus.example.com/graph",
		ExternalURL: "https://alertmanager.example.com",
	}}
}

// Probe sends HEAD {url}: any answer but 502/503/504 counts, 501 Not
// Implemented included, since a receiver need implement only POST.
func (kind) Probe(ctx context.Context, env health.ProbeEnv, t target.Target) health.Observation {
	return health.Expect(ctx, env.Client, http.MethodHead, env.Endpoint, t.Headers, health.Reachable)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{Client: d.Client, ObserveFormat: d.ObserveFormat}
}
