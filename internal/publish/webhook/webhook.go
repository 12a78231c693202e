// Package webhook publishes alerts as JSON to a generic HTTP endpoint.
package webhook

import (
	"context"
	"net/http"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Payload is the JSON body a webhook target receives.
type Payload struct {
	// Version of this payload format.
	Version string `json:"version"`
	// Event is firing or resolved.
	Event       string            `json:"event"`
	Update      bool              `json:"update,omitempty"`
	Fingerprint string            `json:"fingerprint"`
	Name        string            `json:"alertname"`
	Severity    string            `json:"severity"`
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"`
	URL         string            `json:"generatorURL,omitempty"`
	Receiver    string            `json:"receiver,omitempty"`
	// Title and Text are set when the target has templates.
	Title string `json:"title,omitempty"`
	Text  string `json:"text,omitempty"`
	// Classification is Herald's severity decision (source rules, labels
	// or llm, with confidence and reason).
	Classification *publish.Classification `json:"classification,omitempty"`
}

// PayloadVersion is the current Payload.Version.
const PayloadVersion = "1"

// Publisher posts Payload to the target URL with the target's headers.
type Publisher struct {
	Client *http.Client
}

// Format builds the payload for n.
func Format(t target.Target, n publish.Notification) (Payload, error) {
	p := Payload{
		Version: PayloadVersion, Event: n.Event, Update: n.Update, Fingerprint: n.Alert.Fingerprint,
		Name: n.Alert.Name(), Severity: n.Severity(), Status: n.Alert.Status, Labels: n.Alert.Labels,
		Annotations: n.Alert.Annotations, StartsAt: n.Alert.StartsAt, URL: n.Alert.GeneratorURL,
		Receiver: n.Alert.Receiver,
	}
	if n.Classification.Source != "" {
		c := n.Classification
		p.Classification = &c
	}
	if n.Event == publish.EventResolved {
		p.Status = alert.StatusResolved
		if !n.Alert.EndsAt.IsZero() {
			e := n.Alert.EndsAt
			p.EndsAt = &e
		}
	}
	title, text, err := publish.Render(t.Template, n)
	if err != nil {
		return Payload{}, err
	}
	p.Title, p.Text = title, text
	return p, nil
}

// Publish implements publish.Publisher.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	payload, err := Format(t, n)
	if err != nil {
		return publish.Result{}, err
	}
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, t.URL, t.Headers, payload)
	if err != nil {
		return publish.Result{}, err
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}
