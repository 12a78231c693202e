// Package alertmanager forwards alerts to another Prometheus Alertmanager
// through its API (POST /api/v2/alerts).
package alertmanager

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// PostableAlert is one element of the body of POST /api/v2/alerts.
type PostableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitempty"`
	EndsAt       time.Time         `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Publisher forwards to {url}/api/v2/alerts.
type Publisher struct {
	Client *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// ObserveFormat, when set, is told how long each Format took.
	ObserveFormat publish.FormatObserver
}

// Format builds the API body for n. A firing alert is active until ttl
// from now (Herald re-sends it every ttl/3, as Alertmanager's clients
// re-send active alerts). A resolved one ends at its endsAt, or now when it
// has none or one in the future. endsAt is never before startsAt: the
// receiving Alertmanager rejects such an alert with a permanent 400.
func Format(n publish.Notification, now time.Time, ttl time.Duration) []PostableAlert {
	a := PostableAlert{
		Labels: n.Alert.Labels, Annotations: n.Alert.Annotations, StartsAt: n.Alert.StartsAt,
		GeneratorURL: n.Alert.GeneratorURL,
	}
	if n.Event == publish.EventResolved {
		a.EndsAt = n.Alert.EndsAt
		if a.EndsAt.IsZero() || a.EndsAt.After(now) {
			a.EndsAt = now
		}
	} else {
		if ttl <= 0 {
			ttl = DefaultForwardTTL
		}
		a.EndsAt = now.Add(ttl)
		if a.StartsAt.After(now) {
			// The source's clock is ahead: stay active for ttl after the start.
			a.EndsAt = a.StartsAt.Add(ttl)
		}
	}
	if !a.StartsAt.IsZero() && a.EndsAt.Before(a.StartsAt) {
		a.EndsAt = a.StartsAt
	}
	return []PostableAlert{a}
}

// Publish implements publish.Publisher. Errors never carry the target's
// credentials (URL user info, path and query, header values).
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	url := strings.TrimRight(t.URL, "/") + "/api/v2/alerts"
	start := time.Now()
	body := Format(n, now().UTC(), ForwardTTL(t))
	p.ObserveFormat.Since(Type, start)
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, url, t.Headers, body)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}
