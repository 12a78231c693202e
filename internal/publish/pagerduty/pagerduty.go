// Package pagerduty publishes alerts to the PagerDuty Events API v2
// (POST {endpoint}/v2/enqueue): a trigger event while an alert fires, a
// resolve event with the same dedup_key when it resolves.
package pagerduty

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limits and defaults of the Events API v2.
const (
	// MaxSummary is the longest payload.summary PagerDuty accepts (characters).
	MaxSummary = 1024
	// MaxDedupKey is the longest dedup_key PagerDuty accepts.
	MaxDedupKey = 255
	// MaxEventSize is the largest event PagerDuty accepts (512 KB). Herald
	// trims custom_details to stay below it.
	MaxEventSize = 512 * 1024
	// RateLimitedBackoff is the delay after a 429 without Retry-After.
	// PagerDuty drops a throttled event, so the retry waits tens of seconds.
	RateLimitedBackoff = 30 * time.Second
	// EnqueuePath is the path of the Events API v2 endpoint.
	EnqueuePath = "/v2/enqueue"
	// ClientName is sent as the event's client.
	ClientName = "Herald"
	// DefaultSource is payload.source when no label names a source.
	DefaultSource = "herald"
)

// StateDedupKey is the ProviderState key of the dedup_key PagerDuty
// returned: later events of the alert reuse it.
const StateDedupKey = "pagerduty_dedup_key"

// Event actions.
const (
	ActionTrigger = "trigger"
	ActionResolve = "resolve"
)

// Event is the body of POST /v2/enqueue.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is the alert content of a trigger event.
type Payload struct {
	Summary       string   `json:"summary"`
	Source        string   `json:"source"`
	Severity      string   `json:"severity"`
	Timestamp     string   `json:"timestamp,omitempty"`
	Component     string   `json:"component,omitempty"`
	Group         string   `json:"group,omitempty"`
	Class         string   `json:"class,omitempty"`
	CustomDetails *Details `json:"custom_details,omitempty"`
}

// Details are the custom_details of a trigger event.
type Details struct {
	Fingerprint string            `json:"fingerprint"`
	Severity    string            `json:"severity"`
	Text        string            `json:"text,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Truncated is set when Herald trimmed the details to fit MaxEventSize.
	Truncated bool `json:"truncated,omitempty"`
}

// Link is an entry of the event's links.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Response is PagerDuty's answer.
type Response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// Publisher sends events to {endpoint}/v2/enqueue.
type Publisher struct {
	Client *http.Client
}

// DedupKey is the dedup_key of n's alert: the one PagerDuty returned before,
// else "herald-" and the alert fingerprint (one PagerDuty alert per Herald
// alert, stable across restarts and replicas).
func DedupKey(n publish.Notification) string {
	if k := n.State[StateDedupKey]; k != "" {
		return k
	}
	fp := n.Alert.Fingerprint
	if fp == "" {
		fp = alert.Fingerprint(n.Alert.Labels)
	}
	k := "herald-" + fp
	if len(k) > MaxDedupKey {
		k = k[:MaxDedupKey]
	}
	return k
}

// Severity maps the notification's severity to PagerDuty's critical, error,
// warning or info. An alert labelled severity=error keeps "error".
func Severity(n publish.Notification) string {
	switch s := n.Severity(); s {
	case alert.SeverityCritical:
		if strings.EqualFold(n.Alert.Labels["severity"], "error") {
			return "error"
		}
		return "critical"
	case alert.SeverityInfo:
		return "info"
	default:
		return "warning"
	}
}

// Build returns the event for n. A resolved notification yields a resolve
// event (routing_key, dedup_key and event_action only).
func Build(t target.Target, n publish.Notification) (Event, error) {
	ev := Event{RoutingKey: t.RoutingKey, DedupKey: DedupKey(n)}
	if n.Event == publish.EventResolved {
		ev.EventAction = ActionResolve
		return ev, nil
	}
	ev.EventAction = ActionTrigger
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Event{}, err
	}
	a := n.Alert
	var opts target.PagerDutyOptions
	if t.PagerDuty != nil {
		opts = *t.PagerDuty
	}
	if title == "" {
		title = defaultSummary(a)
	}
	p := &Payload{
		Summary:   publish.Truncate(title, MaxSummary),
		Source:    firstLabel(a.Labels, opts.Source, "instance", "host", "hostname", "job"),
		Severity:  Severity(n),
		Component: firstLabel(a.Labels, opts.Component, "component", "service"),
		Group:     firstLabel(a.Labels, opts.Group, "group", "team", "namespace"),
		Class:     firstLabel(a.Labels, opts.Class, "class", "alertname"),
		CustomDetails: &Details{
			Fingerprint: a.Fingerprint, Severity: n.Severity(), Text: body,
			Labels: a.Labels, Annotations: a.Annotations,
		},
	}
	if p.Source == "" {
		p.Source = DefaultSource
	}
	if !a.StartsAt.IsZero() {
		p.Timestamp = a.StartsAt.UTC().Format(time.RFC3339)
	}
	ev.Payload = p
	ev.Client = ClientName
	ev.ClientURL = a.ExternalURL
	if a.GeneratorURL != "" {
		ev.Links = append(ev.Links, Link{Href: a.GeneratorURL, Text: "Source"})
	}
	if u := a.Annotations["runbook_url"]; u != "" {
		ev.Links = append(ev.Links, Link{Href: u, Text: "Runbook"})
	}
	if u := a.Annotations["dashboard_url"]; u != "" {
		ev.Links = append(ev.Links, Link{Href: u, Text: "Dashboard"})
	}
	return ev, nil
}

func defaultSummary(a alert.Alert) string {
	name, summary := a.Name(), a.Summary()
	if name == "" || summary == name {
		return summary
	}
	return name + ": " + summary
}

// firstLabel returns the first non-empty label of keys, else fallback.
func firstLabel(labels map[string]string, fallback string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return fallback
}

// Encode marshals ev, trimming custom_details (never failing) when the event
// would exceed MaxEventSize: first long values are shortened, then
// annotations, label values and finally links are dropped; Truncated marks
// any trimming. ev's maps are never modified.
func Encode(ev Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, publish.Permanent(publish.KindConfig, "encode pagerduty event: %v", err)
	}
	if len(b) <= MaxEventSize || ev.Payload == nil || ev.Payload.CustomDetails == nil {
		return b, nil
	}
	p := *ev.Payload
	d := *p.CustomDetails
	d.Truncated = true
	p.CustomDetails = &d
	ev.Payload = &p
	steps := []func(){
		func() { // shorten every long value
			d.Text = publish.Truncate(d.Text, 1024)
			d.Annotations = truncateValues(d.Annotations, 1024)
			d.Labels = truncateValues(d.Labels, 256)
		},
		func() { d.Text, d.Annotations = "", nil },
		func() { d.Labels = truncateValues(d.Labels, 32) },
		func() { d.Labels = nil },
		func() { ev.Links, ev.ClientURL = nil, "" },
	}
	for _, step := range steps {
		step()
		if b, err = json.Marshal(ev); err != nil {
			return nil, publish.Permanent(publish.KindConfig, "encode pagerduty event: %v", err)
		}
		if len(b) <= MaxEventSize {
			return b, nil
		}
	}
	return b, nil
}

func truncateValues(m map[string]string, max int) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = publish.Truncate(v, max)
	}
	return out
}

// Format builds and encodes the event for n.
func Format(t target.Target, n publish.Notification) ([]byte, error) {
	ev, err := Build(t, n)
	if err != nil {
		return nil, err
	}
	return Encode(ev)
}

// Publish implements publish.Publisher.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	body, err := Format(t, n)
	if err != nil {
		return publish.Result{}, err
	}
	url := strings.TrimRight(t.Endpoint(), "/") + EnqueuePath
	resp, err := publish.Send(ctx, p.Client, http.MethodPost, url, t.Headers, body)
	if err != nil {
		return publish.Result{}, classify(t, resp, err)
	}
	var pr Response
	_ = json.Unmarshal(resp.Body, &pr)
	key := pr.DedupKey
	if key == "" {
		key = DedupKey(n)
	}
	return publish.Result{StatusCode: resp.StatusCode, State: publish.ProviderState{StateDedupKey: key}}, nil
}

// classify refines the shared classification with PagerDuty's contract: a
// 429 means the event was dropped, so the retry waits at least
// RateLimitedBackoff unless PagerDuty said how long; a 400 names what is
// invalid. Secrets never reach the message.
func classify(t target.Target, resp publish.Response, err error) error {
	pe := publish.AsError(err)
	out := *pe
	switch {
	case pe.StatusCode == http.StatusTooManyRequests && pe.RetryAfter == 0:
		out.RetryAfter = RateLimitedBackoff
	case pe.StatusCode == http.StatusBadRequest:
		var pr Response
		if json.Unmarshal(resp.Body, &pr) == nil && (pr.Message != "" || len(pr.Errors) > 0) {
			msg := pr.Message
			if len(pr.Errors) > 0 {
				msg += ": " + strings.Join(pr.Errors, "; ")
			}
			out.Msg = publish.Excerpt([]byte(msg))
		}
	}
	out.Msg = publish.Redact(out.Msg, t.Secrets())
	return &out
}
