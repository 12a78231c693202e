// Package rootly publishes alerts to the Rootly alerts API (JSON:API):
// POST /v1/alerts creates the alert, PATCH /v1/alerts/{id} updates it and
// POST /v1/alerts/{id}/resolve resolves it.
package rootly

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// ContentType is the JSON:API media type Rootly expects.
const ContentType = "application/vnd.api+json"

// StateAlertID is the ProviderState key of the Rootly alert id.
const StateAlertID = "rootly_id"

// Defaults and Herald's own bounds on what it sends.
const (
	// DefaultSource is the Rootly alert source Herald reports (the alerts
	// come from Prometheus Alertmanager); rootly.source overrides it.
	DefaultSource = "alertmanager"
	// MaxSummary bounds the alert summary (characters).
	MaxSummary = 1024
	// MaxDescription bounds the alert description (characters).
	MaxDescription = 32 * 1024
	// MaxLabelValue bounds each label value (characters).
	MaxLabelValue = 1024
	// AlertsPath is the collection path of the alerts API.
	AlertsPath = "/v1/alerts"
)

// Request is a JSON:API request document.
type Request[A any] struct {
	Data Data[A] `json:"data"`
}

// Data is the primary data of a request.
type Data[A any] struct {
	Type       string `json:"type"`
	Attributes A      `json:"attributes"`
}

// Attributes are the alert attributes Herald sends on create and update.
type Attributes struct {
	Source                 string     `json:"source"`
	Summary                string     `json:"summary"`
	Description            string     `json:"description,omitempty"`
	ServiceIDs             []string   `json:"service_ids,omitempty"`
	GroupIDs               []string   `json:"group_ids,omitempty"`
	EnvironmentIDs         []string   `json:"environment_ids,omitempty"`
	StartedAt              string     `json:"started_at,omitempty"`
	EndedAt                string     `json:"ended_at,omitempty"`
	ExternalID             string     `json:"external_id,omitempty"`
	ExternalURL            string     `json:"external_url,omitempty"`
	AlertUrgencyID         string     `json:"alert_urgency_id,omitempty"`
	NotificationTargetType string     `json:"notification_target_type,omitempty"`
	NotificationTargetID   string     `json:"notification_target_id,omitempty"`
	Labels                 []Label    `json:"labels,omitempty"`
	Data                   *AlertData `json:"data,omitempty"`
	DeduplicationKey       string     `json:"deduplication_key,omitempty"`
}

// Label is a Rootly alert label.
type Label struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// AlertData is the free-form data Herald attaches.
type AlertData struct {
	Fingerprint  string            `json:"fingerprint"`
	Status       string            `json:"status"`
	Severity     string            `json:"severity"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Receiver     string            `json:"receiver,omitempty"`
	SentBy       string            `json:"sent_by"`
}

// ResolveAttributes are the attributes of POST /v1/alerts/{id}/resolve.
type ResolveAttributes struct {
	ResolutionMessage string `json:"resolution_message,omitempty"`
}

// Response is the part of Rootly's answer Herald reads.
type Response struct {
	Data struct {
		ID         string `json:"id"`
		Attributes struct {
			Status string `json:"status"`
		} `json:"attributes"`
	} `json:"data"`
}

// Publisher talks to {endpoint}/v1/alerts.
type Publisher struct {
	Client *http.Client
	// Logger receives a line for every skipped resolve; nil means
	// slog.Default().
	Logger *slog.Logger
	// ObserveFormat, when set, is told how long each Format took.
	ObserveFormat publish.FormatObserver
}

func (p *Publisher) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// DeduplicationKey is the key that makes every notification of one firing
// episode of an alert land on one Rootly alert: herald-<fingerprint>-<episode>.
// A new episode (a re-fire after a resolve) gets a new key, so Rootly opens
// (and pages for) a new alert instead of folding it into the resolved one.
// Episode 0 (unknown: alerts in flight from before episodes were counted)
// keeps the legacy key herald-<fingerprint>.
func DeduplicationKey(a alert.Alert, episode int) string {
	fp := a.Fingerprint
	if fp == "" {
		fp = alert.Fingerprint(a.Labels)
	}
	if episode <= 0 {
		return "herald-" + fp
	}
	return "herald-" + fp + "-" + strconv.Itoa(episode)
}

// SkippedResolve is the Result.Skipped of a resolve that Herald does not
// send because Rootly never received the alert.
const SkippedResolve = "rootly never received this alert (no rootly_id): nothing to resolve, and creating it would page"

// Format builds the create/update document for n: summary from the
// template title (else the alert's summary), description from the template
// body (else the description annotation), labels, external id and URL, and
// the deduplication key.
func Format(t target.Target, n publish.Notification) (Request[Attributes], error) {
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Request[Attributes]{}, err
	}
	a := n.Alert
	if title == "" {
		title = a.Summary()
		if name := a.Name(); name != "" && name != title {
			title = name + ": " + title
		}
	}
	if body == "" {
		body = a.Annotations["description"]
	}
	attrs := Attributes{
		Source:           DefaultSource,
		Summary:          publish.Truncate(title, MaxSummary),
		Description:      publish.Truncate(body, MaxDescription),
		ExternalID:       a.Fingerprint,
		ExternalURL:      a.GeneratorURL,
		Labels:           labels(a.Labels),
		DeduplicationKey: DeduplicationKey(a, n.Episode),
		Data: &AlertData{
			Fingerprint: a.Fingerprint, Status: a.Status, Severity: n.Severity(),
			Annotations: a.Annotations, GeneratorURL: a.GeneratorURL, Receiver: a.Receiver, SentBy: "herald",
		},
	}
	if !a.StartsAt.IsZero() {
		attrs.StartedAt = a.StartsAt.UTC().Format(time.RFC3339)
	}
	if n.Event == publish.EventResolved {
		attrs.Data.Status = alert.StatusResolved
		if !a.EndsAt.IsZero() {
			attrs.EndedAt = a.EndsAt.UTC().Format(time.RFC3339)
		}
	}
	if o := ConfigOf(t).Rootly; o != nil {
		if o.Source != "" {
			attrs.Source = o.Source
		}
		attrs.ServiceIDs, attrs.GroupIDs, attrs.EnvironmentIDs = o.ServiceIDs, o.GroupIDs, o.EnvironmentIDs
		attrs.AlertUrgencyID = o.AlertUrgencyID
		attrs.NotificationTargetType, attrs.NotificationTargetID = o.NotificationTargetType, o.NotificationTargetID
	}
	return Request[Attributes]{Data: Data[Attributes]{Type: "alerts", Attributes: attrs}}, nil
}

// labels lists the alert labels (plus severity as Herald classified it),
// sorted by key.
func labels(m map[string]string) []Label {
	keys := alert.SortedKeys(m)
	out := make([]Label, 0, len(keys))
	for _, k := range keys {
		out = append(out, Label{Key: k, Value: publish.Truncate(m[k], MaxLabelValue)})
	}
	return out
}

// FormatResolve builds the body of POST /v1/alerts/{id}/resolve.
func FormatResolve(n publish.Notification) Request[ResolveAttributes] {
	msg := "Resolved in Prometheus Alertmanager"
	if !n.Alert.EndsAt.IsZero() {
		msg += " at " + n.Alert.EndsAt.UTC().Format(time.RFC3339)
	}
	return Request[ResolveAttributes]{Data: Data[ResolveAttributes]{Type: "alerts", Attributes: ResolveAttributes{ResolutionMessage: msg}}}
}

// Publish implements publish.Publisher. A firing alert is created (its id
// kept as rootly_id; the deduplication key keeps repeats of one episode on
// one Rootly alert); a firing update patches the known alert; a resolve
// resolves it. A resolve without a known id sends nothing and succeeds
// with Result.Skipped: Rootly never received the alert, and creating it
// just to resolve it would page someone.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	res, err := p.publish(ctx, t, n)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	return res, nil
}

func (p *Publisher) publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	base := strings.TrimRight(t.Endpoint(), "/") + AlertsPath
	id := n.State[StateAlertID]

	start := time.Now()
	doc, err := Format(t, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, err
	}
	if n.Event != publish.EventResolved {
		if id != "" && n.Update {
			resp, err := p.send(ctx, t, http.MethodPatch, base+"/"+url.PathEscape(id), doc)
			if err != nil {
				return publish.Result{}, err
			}
			return publish.Result{StatusCode: resp.StatusCode, State: publish.ProviderState{StateAlertID: id}}, nil
		}
		return p.create(ctx, t, base, doc)
	}

	if id == "" {
		// The first news of this alert is its resolve (or the firing never
		// reached Rootly): creating the alert now would page for an alert
		// that is already over.
		p.logger().InfoContext(ctx, "rootly resolve skipped: Rootly never received the alert",
			"target", t.Name, "fingerprint", n.Alert.Fingerprint, "episode", n.Episode)
		return publish.Result{Skipped: SkippedResolve}, nil
	}
	resp, err := p.send(ctx, t, http.MethodPost, base+"/"+url.PathEscape(id)+"/resolve", FormatResolve(n))
	if err != nil {
		return publish.Result{}, err
	}
	return publish.Result{StatusCode: resp.StatusCode, State: publish.ProviderState{StateAlertID: id}}, nil
}

func (p *Publisher) create(ctx context.Context, t target.Target, url string, doc Request[Attributes]) (publish.Result, error) {
	resp, err := p.send(ctx, t, http.MethodPost, url, doc)
	if err != nil {
		return publish.Result{}, err
	}
	var r Response
	if err := json.Unmarshal(resp.Body, &r); err != nil || r.Data.ID == "" {
		// Created, but without an id Herald cannot resolve it later: retry
		// (the deduplication key keeps the retry on the same alert).
		return publish.Result{}, &publish.Error{Kind: publish.KindProvider, StatusCode: resp.StatusCode, Retryable: true,
			Msg: "rootly create alert: response has no data.id: " + publish.Excerpt(resp.Body)}
	}
	return publish.Result{StatusCode: resp.StatusCode, State: publish.ProviderState{StateAlertID: r.Data.ID}}, nil
}

func (p *Publisher) send(ctx context.Context, t target.Target, method, url string, payload any) (publish.Response, error) {
	headers := make(map[string]string, len(t.Headers)+3)
	for k, v := range t.Headers {
		headers[k] = v
	}
	if ConfigOf(t).Token != "" {
		headers["Authorization"] = "Bearer " + ConfigOf(t).Token
	}
	headers["Content-Type"] = ContentType
	headers["Accept"] = ContentType
	return publish.SendJSON(ctx, p.Client, method, url, headers, payload)
}
