// Package webhook publishes alerts to a generic HTTP endpoint as an
// Alertmanager webhook (version 4) carrying the one alert, so any existing
// Alertmanager webhook receiver, Herald's own POST /webhook included,
// accepts it. A target with body_template sends that template's output
// instead (Google Chat, Mattermost, any receiver with a body of its own).
package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Payload is the JSON body a webhook target receives: Alertmanager's
// webhook message (version 4, the same type Herald's own POST /webhook
// parses) and Herald's extension under "herald", which v4 receivers ignore.
type Payload struct {
	alert.Webhook
	// Herald is what Herald adds: not part of the v4 format.
	Herald Extension `json:"herald"`
}

// Extension is Herald's part of the payload.
type Extension struct {
	// Event is firing or resolved.
	Event string `json:"event"`
	// Update is true for a firing alert whose content changed.
	Update bool `json:"update,omitempty"`
	// Severity is Herald's severity of the alert (critical, warning, info).
	Severity string `json:"severity"`
	// Title and Text are set when the target has templates.
	Title string `json:"title,omitempty"`
	Text  string `json:"text,omitempty"`
	// Classification is Herald's severity decision (source rules, labels
	// or llm, with confidence and reason).
	Classification *publish.Classification `json:"classification,omitempty"`
	// SourceReceiver and SourceGroupKey are the receiver and group key of
	// the Alertmanager webhook that brought the alert to Herald.
	SourceReceiver string `json:"sourceReceiver,omitempty"`
	SourceGroupKey string `json:"sourceGroupKey,omitempty"`
}

// PayloadVersion is the Alertmanager webhook version Herald sends.
const PayloadVersion = alert.SupportedWebhookVersion

// Publisher posts Payload to the target URL with the target's headers.
type Publisher struct {
	Client *http.Client
	// ObserveFormat, when set, is told how long each Format took.
	ObserveFormat publish.FormatObserver
}

// Format builds the payload for n. Each message is a group of one alert,
// grouped by all its labels, so groupLabels and commonLabels are the
// alert's labels and commonAnnotations its annotations.
func Format(t target.Target, n publish.Notification) (Payload, error) {
	a := n.Alert
	title, text, err := publish.Render(t.Template, n)
	if err != nil {
		return Payload{}, err
	}
	status := alert.StatusFiring
	if n.Event == publish.EventResolved {
		status = alert.StatusResolved
	}
	fp := a.Fingerprint
	if fp == "" {
		fp = alert.Fingerprint(a.Labels)
	}
	labels := nonNil(a.Labels)
	annotations := nonNil(a.Annotations)
	out := alert.WebhookAlert{
		Status: status, Labels: labels, Annotations: annotations, StartsAt: a.StartsAt,
		GeneratorURL: a.GeneratorURL, Fingerprint: fp,
	}
	if status == alert.StatusResolved {
		out.EndsAt = a.EndsAt
	}
	p := Payload{
		Webhook: alert.Webhook{
			Version: PayloadVersion, GroupKey: GroupKey(labels), Status: status, Receiver: t.Name,
			GroupLabels: labels, CommonLabels: labels, CommonAnnotations: annotations,
			ExternalURL: a.ExternalURL, Alerts: []alert.WebhookAlert{out},
		},
		Herald: Extension{
			Event: n.Event, Update: n.Update, Severity: n.Severity(), Title: title, Text: text,
			SourceReceiver: a.Receiver, SourceGroupKey: a.GroupKey,
		},
	}
	if n.Classification.Source != "" {
		c := n.Classification
		p.Herald.Classification = &c
	}
	return p, nil
}

// GroupKey is the group key Alertmanager gives a group that groups by every
// label at the root route: {}:{name="value", ...}, sorted by name.
func GroupKey(labels map[string]string) string {
	names := alert.SortedKeys(labels)
	size := 5
	for _, k := range names {
		size += len(k) + len(labels[k]) + 5
	}
	b := make([]byte, 0, size)
	b = append(b, "{}:{"...)
	for i, k := range names {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, labels[k])
	}
	b = append(b, '}')
	return string(b)
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Publish implements publish.Publisher. Errors never carry the target's
// credentials (URL user info, path and query, header values), even when
// the receiver echoes them.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	if cfg, _ := t.Config.(*Config); cfg != nil && cfg.BodyTemplate != "" {
		return p.publishTemplate(ctx, t, cfg, n)
	}
	start := time.Now()
	payload, err := Format(t, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, err
	}
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, t.URL, t.Headers, payload)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}

// publishTemplate posts the body_template's output with its content type.
func (p *Publisher) publishTemplate(ctx context.Context, t target.Target, cfg *Config, n publish.Notification) (publish.Result, error) {
	start := time.Now()
	ct := ContentType(t)
	body, err := RenderBody(cfg.BodyTemplate, ct, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	headers := make(map[string]string, len(t.Headers)+1)
	for k, v := range t.Headers {
		if !strings.EqualFold(k, "Content-Type") {
			headers[k] = v
		}
	}
	headers["Content-Type"] = ct
	resp, err := publish.Send(ctx, p.Client, http.MethodPost, t.URL, headers, body)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}

// bodyTemplateName names the body_template in validation messages.
const bodyTemplateName = "body_template"

// ContentType is the Content-Type of t's body_template body: content_type,
// else the target's Content-Type header, else DefaultContentType.
func ContentType(t target.Target) string {
	if cfg, _ := t.Config.(*Config); cfg != nil && cfg.ContentType != "" {
		return cfg.ContentType
	}
	for k, v := range t.Headers {
		if strings.EqualFold(k, "Content-Type") && strings.TrimSpace(v) != "" {
			return v
		}
	}
	return DefaultContentType
}

// IsJSON reports whether the media type ct is JSON: application/json or
// a +json type (application/vnd.api+json).
func IsJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// RenderBody renders a body_template for n within the bounds of every
// target template (publish.Render: run time and publish.MaxTemplateOutput).
// When ct is JSON the output must be one valid JSON value: otherwise it is
// a permanent config error naming the problem, and nothing is sent.
func RenderBody(src, ct string, n publish.Notification) ([]byte, error) {
	_, out, err := publish.Render(&target.TemplateSpec{Body: src}, n)
	if err != nil {
		pe := publish.AsError(err)
		return nil, publish.Permanent(publish.KindConfig, "%s: %s", bodyTemplateName, strings.TrimPrefix(pe.Msg, "template.body: "))
	}
	body := []byte(out)
	if !IsJSON(ct) {
		return body, nil
	}
	var raw json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, publish.Permanent(publish.KindConfig,
				"%s: the output is not valid JSON (content_type %s): %v at byte %d", bodyTemplateName, ct, se, se.Offset)
		}
		return nil, publish.Permanent(publish.KindConfig,
			"%s: the output is not valid JSON (content_type %s): %v", bodyTemplateName, ct, err)
	}
	return body, nil
}
