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

// FiringTTL is how long a forwarded firing alert stays active in the
// receiving Alertmanager without a resolve. Herald sends the resolve
// explicitly; the TTL only bounds an alert whose resolve never comes.
const FiringTTL = 24 * time.Hour

// Publisher forwards to {url}/api/v2/alerts.
type Publisher struct {
	Client *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Format builds the API body for n: a firing alert is active until
// FiringTTL from now, a resolved one ends at its endsAt (or now).
func Format(n publish.Notification, now time.Time) []PostableAlert {
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
		a.EndsAt = now.Add(FiringTTL)
	}
	return []PostableAlert{a}
}

// Publish implements publish.Publisher.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	url := strings.TrimRight(t.URL, "/") + "/api/v2/alerts"
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, url, t.Headers, Format(n, now().UTC()))
	if err != nil {
		return publish.Result{}, err
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}
