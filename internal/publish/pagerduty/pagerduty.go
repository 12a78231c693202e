// Package pagerduty publishes alerts to the PagerDuty Events API v2
// (POST {endpoint}/v2/enqueue): a trigger event while an alert fires, a
// resolve event with the same dedup_key when it resolves.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// MaxEventSize is the largest event PagerDuty accepts: "512 KB", read
	// as 512,000 bytes (as Alertmanager does). Herald trims every
	// label-derived field to stay within it and never sends a larger event.
	MaxEventSize = 512000
	// MaxField bounds source, component, group and class when an event has
	// to be trimmed (characters).
	MaxField = 255
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

// ProviderState keys.
const (
	// StateDedupKey is the dedup_key PagerDuty returned: later events of
	// the alert reuse it.
	StateDedupKey = "pagerduty_dedup_key"
	// StateKeyFingerprint is KeyFingerprint of the routing key the alert
	// was triggered with (not the key: it is a credential), so its resolve
	// uses the same key after the target's routing_key was rotated.
	StateKeyFingerprint = "pagerduty_key_fp"
)

// KeyFingerprint identifies a routing key without revealing it: the first
// 8 bytes of its SHA-256, in hex.
func KeyFingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// RoutingKey chooses the routing key for n: the key the alert was triggered
// with when the state records one (routing_key or one of
// pagerduty.previous_routing_keys), else routing_key. ok is false when the
// recorded key is none of them: a resolve then cannot reach the alert.
func RoutingKey(t target.Target, n publish.Notification) (key string, ok bool) {
	fp := n.State[StateKeyFingerprint]
	if fp == "" || KeyFingerprint(ConfigOf(t).RoutingKey) == fp {
		return ConfigOf(t).RoutingKey, true
	}
	if ConfigOf(t).PagerDuty != nil {
		for _, k := range ConfigOf(t).PagerDuty.PreviousRoutingKeys {
			if KeyFingerprint(k) == fp {
				return k, true
			}
		}
	}
	return ConfigOf(t).RoutingKey, false
}

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
	// ObserveFormat, when set, is told how long each Format took.
	ObserveFormat publish.FormatObserver
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
// event (routing_key, dedup_key and event_action only). Every event of an
// alert uses the routing key its trigger used (see RoutingKey); a resolve
// whose key is no longer configured fails permanently.
func Build(t target.Target, n publish.Notification) (Event, error) {
	key, known := RoutingKey(t, n)
	if !known && n.Event == publish.EventResolved {
		return Event{}, publish.Permanent(publish.KindConfig,
			"the alert was triggered with a routing key (fingerprint %s) that is neither routing_key nor in pagerduty.previous_routing_keys: add the old key there to resolve it",
			n.State[StateKeyFingerprint])
	}
	ev := Event{RoutingKey: key, DedupKey: DedupKey(n)}
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
	var opts Options
	if ConfigOf(t).PagerDuty != nil {
		opts = *ConfigOf(t).PagerDuty
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
		Class:     firstLabel(a.Labels, opts.Class, "class"),
		CustomDetails: &Details{
			Fingerprint: a.Fingerprint, Severity: n.Severity(), Text: body,
			Labels: a.Labels, Annotations: a.Annotations,
		},
	}
	if p.Source == "" {
		p.Source = DefaultSource
	}
	if p.Class == "" {
		p.Class = a.Name()
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

// Encode marshals ev within MaxEventSize. An event too large is trimmed
// step by step until it fits: long values are shortened (custom_details
// text and annotations to 1024 characters, labels to 256; source,
// component, group and class to MaxField; links and client_url to 2048),
// then annotations and text are dropped, label values cut to 32
// characters, labels dropped, and finally the links and client_url.
// custom_details.truncated marks any trimming. An event that still does
// not fit (a huge routing key) is a permanent config error: it is never
// sent. ev's maps are never modified.
func Encode(ev Event) ([]byte, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, publish.Permanent(publish.KindConfig, "encode pagerduty event: %v", err)
	}
	if len(b) <= MaxEventSize {
		return b, nil
	}
	if ev.Payload != nil {
		p := *ev.Payload
		ev.Payload = &p
		d := Details{}
		if p.CustomDetails != nil {
			d = *p.CustomDetails
		}
		d.Truncated = true
		p.CustomDetails = &d
		steps := []func(){
			func() { // shorten every long value
				d.Text = publish.Truncate(d.Text, 1024)
				d.Annotations = truncateValues(d.Annotations, 1024)
				d.Labels = truncateValues(d.Labels, 256)
				d.Fingerprint = publish.Truncate(d.Fingerprint, MaxDedupKey)
				p.Summary = publish.Truncate(p.Summary, MaxSummary)
				p.Source = publish.Truncate(p.Source, MaxField)
				p.Component = publish.Truncate(p.Component, MaxField)
				p.Group = publish.Truncate(p.Group, MaxField)
				p.Class = publish.Truncate(p.Class, MaxField)
				ev.Links = truncateLinks(ev.Links, 2048)
				ev.ClientURL = publish.Truncate(ev.ClientURL, 2048)
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
	}
	return nil, publish.Permanent(publish.KindConfig, "pagerduty event is %d bytes after trimming, over the limit of %d bytes", len(b), MaxEventSize)
}

func truncateLinks(links []Link, max int) []Link {
	if len(links) == 0 {
		return links
	}
	out := make([]Link, len(links))
	for i, l := range links {
		out[i] = Link{Href: publish.Truncate(l.Href, max), Text: publish.Truncate(l.Text, MaxField)}
	}
	return out
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
	start := time.Now()
	body, err := Format(t, n)
	p.ObserveFormat.Since(Type, start)
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
	routingKey, _ := RoutingKey(t, n)
	return publish.Result{StatusCode: resp.StatusCode, State: publish.ProviderState{
		StateDedupKey: key, StateKeyFingerprint: KeyFingerprint(routingKey)}}, nil
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
			out.Msg = publish.RedactedExcerpt([]byte(msg), t.Secrets())
		}
	}
	out.Msg = publish.Redact(out.Msg, t.Secrets())
	return &out
}
