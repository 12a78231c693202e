package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
)

// WebhookAlert is one alert of an Alertmanager v4 webhook.
type WebhookAlert = alert.WebhookAlert

// resolvedAt returns a copy of a, resolved at endsAt.
func resolvedAt(a WebhookAlert, endsAt time.Time) WebhookAlert {
	a.Status = alert.StatusResolved
	a.EndsAt = endsAt.UTC()
	return a
}

// genAlerts makes n firing alerts with unique fingerprints prefix000000...
func genAlerts(prefix string, from, n int) []WebhookAlert {
	starts := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	out := make([]WebhookAlert, 0, n)
	for i := from; i < from+n; i++ {
		fp := fmt.Sprintf("%s%06d", prefix, i)
		out = append(out, WebhookAlert{
			Status: "firing",
			Labels: map[string]string{
				"alertname": "Scenario" + strings.ToUpper(prefix), "severity": "critical",
				"instance": fp, "namespace": "herald",
			},
			Annotations:  map[string]string{"summary": "scenario alert " + fp},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus.example/graph?g0.expr=up",
			Fingerprint:  fp,
		})
	}
	return out
}

func fingerprints(alerts []WebhookAlert) []string {
	out := make([]string, len(alerts))
	for i, a := range alerts {
		out[i] = a.Fingerprint
	}
	return out
}

// batches splits alerts into webhooks of size n.
func batches(alerts []WebhookAlert, n int) [][]WebhookAlert {
	var out [][]WebhookAlert
	for len(alerts) > 0 {
		k := min(n, len(alerts))
		out = append(out, alerts[:k])
		alerts = alerts[k:]
	}
	return out
}

// Sender posts Alertmanager v4 webhooks to Herald and, like Alertmanager,
// retries a webhook on 5xx, 429 and connection errors. An alert counts as
// accepted only after its webhook got a 200.
type Sender struct {
	URL    string
	client *http.Client

	mu       sync.Mutex
	accepted []string
	retries  atomic.Int64
}

// NewSender sends to h's /webhook.
func NewSender(h *Herald) *Sender {
	return &Sender{URL: h.Base + "/webhook", client: &http.Client{Timeout: 30 * time.Second}}
}

// Send posts one webhook until it is accepted, ctx ends, or Herald rejects it
// for good (4xx other than 429).
func (s *Sender) Send(ctx context.Context, alerts []WebhookAlert) error {
	status := "firing"
	for _, a := range alerts {
		if a.Status == "resolved" {
			status = "resolved"
		}
	}
	body, err := json.Marshal(alert.Webhook{
		Version: alert.SupportedWebhookVersion, GroupKey: `{}:{scenario="` + alerts[0].Fingerprint + `"}`,
		Status: status, Receiver: "herald",
		GroupLabels:       map[string]string{},
		CommonLabels:      map[string]string{"namespace": "herald"},
		CommonAnnotations: map[string]string{},
		ExternalURL:       "http://alertmanager.example:9093",
		Alerts:            alerts,
	})
	if err != nil {
		return err
	}
	backoff := 100 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.client.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				s.mu.Lock()
				s.accepted = append(s.accepted, fingerprints(alerts)...)
				s.mu.Unlock()
				return nil
			case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
				// retried below
			default:
				return fmt.Errorf("webhook rejected: %d %s", resp.StatusCode, strings.TrimSpace(string(b)))
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("webhook not accepted before the deadline: %w", ctx.Err())
		}
		s.retries.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// SendAll posts webhooks with the given concurrency and returns the first
// error.
func (s *Sender) SendAll(ctx context.Context, hooks [][]WebhookAlert, concurrency int) error {
	work := make(chan []WebhookAlert)
	errs := make(chan error, len(hooks))
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for hook := range work {
				if err := s.Send(ctx, hook); err != nil {
					errs <- err
				}
			}
		})
	}
	for _, hook := range hooks {
		work <- hook
	}
	close(work)
	wg.Wait()
	close(errs)
	return <-errs
}

// Accepted returns the fingerprints accepted so far.
func (s *Sender) Accepted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.accepted...)
}

// Retries counts webhook posts that had to be repeated.
func (s *Sender) Retries() int64 { return s.retries.Load() }
