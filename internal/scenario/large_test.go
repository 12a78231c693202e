package scenario

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
)

// (i) A large alert is a page like any other: an alert with a 700,000-
// character description is accepted (Alertmanager never retries a 4xx),
// trimmed visibly to HERALD_MAX_ALERT_BYTES, delivered once to a webhook
// and a Slack target, and its state says what was trimmed. Only an alert
// whose labels alone are too large is refused, with a 400 naming it.
func TestScenarioILargeAlert(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	hook := NewReceiver(t, "large-hook", ReceiverConfig{})
	slack := NewReceiver(t, "large-slack", ReceiverConfig{Slack: true})
	h := StartHerald(t, HeraldOptions{Targets: []map[string]any{
		webhookTarget("large-hook", hook.URL),
		{"name": "large-slack", "type": "slack", "url": slack.URL + "/services/T0000/B0000/XXXXXXXX"},
	}})
	s := NewSender(h)

	big := genAlerts("large", 1, 1)[0]
	description := "Disk /var/lib/prometheus is full. " + strings.Repeat("lorem ipsum dolor sit amet ", 700_000/27)
	big.Annotations = map[string]string{"summary": "Disk full", "description": description}
	if err := s.Send(ctx, []WebhookAlert{big}); err != nil {
		t.Fatalf("a large alert must be accepted: %v", err)
	}

	huge := genAlerts("hugelabels", 1, 1)[0]
	huge.Labels["pod"] = strings.Repeat("p", 300_000)
	err := s.Send(ctx, []WebhookAlert{huge})
	if err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "labels alone") ||
		!strings.Contains(err.Error(), huge.Fingerprint) {
		t.Fatalf("an alert whose labels alone are too large must get a 400 naming it, got %v", err)
	}

	done, took := waitFor(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
		return hook.Count(big.Fingerprint, "firing") >= 1 && slack.Count(big.Fingerprint, "firing") >= 1
	})
	if !done {
		t.Fatalf("the large alert was not delivered to both targets within 60s: webhook %d, slack %d",
			hook.Count(big.Fingerprint, "firing"), slack.Count(big.Fingerprint, "firing"))
	}
	// Settle, then count exactly: one delivery each, no duplicates.
	time.Sleep(2 * time.Second)
	if n, m := hook.Count(big.Fingerprint, "firing"), slack.Count(big.Fingerprint, "firing"); n != 1 || m != 1 {
		t.Fatalf("want exactly 1 delivery per target, got webhook %d, slack %d", n, m)
	}
	if n := hook.Delivered("firing") + slack.Delivered("firing"); n != 2 {
		t.Fatalf("only the large alert is delivered (the refused one never), got %d fingerprints", n)
	}

	var env alert.Webhook
	if err := json.Unmarshal(hook.Body(big.Fingerprint), &env); err != nil || len(env.Alerts) != 1 {
		t.Fatalf("webhook body: %v (%d alerts)", err, len(env.Alerts))
	}
	got := env.Alerts[0].Annotations["description"]
	mark := regexp.MustCompile(`…\[trimmed by Herald: (\d+) of (\d+) bytes kept\]$`)
	if !strings.HasPrefix(got, "Disk /var/lib/prometheus is full. ") || !mark.MatchString(got) ||
		len(got) < 200_000 || len(got) > alert.DefaultMaxBytes {
		t.Fatalf("the receiver must get the start of the description, marked as trimmed (%d bytes): ...%q",
			len(got), got[max(0, len(got)-80):])
	}
	if env.Alerts[0].Annotations["summary"] != "Disk full" {
		t.Fatalf("short annotations stay whole, got summary %q", env.Alerts[0].Annotations["summary"])
	}

	code, body := h.Get("/api/v1/alerts/" + big.Fingerprint)
	if code != http.StatusOK {
		t.Fatalf("alert state: %d %s", code, body)
	}
	var view struct {
		Alert struct {
			Trimmed []alert.Trim `json:"trimmed"`
		} `json:"alert"`
	}
	if err := json.Unmarshal(body, &view); err != nil {
		t.Fatal(err)
	}
	if len(view.Alert.Trimmed) != 1 || view.Alert.Trimmed[0].Field != "annotations.description" ||
		view.Alert.Trimmed[0].Bytes != len(description) {
		t.Fatalf("the alert state must list the trimmed description, got %+v", view.Alert.Trimmed)
	}
	m := h.Scrape()
	if v := m.Sum("herald_alerts_trimmed_total", nil); v != 1 {
		t.Fatalf("herald_alerts_trimmed_total = %v, want 1", v)
	}
	if v := m.Sum("herald_webhook_rejected_alerts_total", map[string]string{"reason": "too_large"}); v != 1 {
		t.Fatalf("herald_webhook_rejected_alerts_total{reason=too_large} = %v, want 1", v)
	}
	if lines := h.LogLines("alert trimmed to fit"); len(lines) != 1 {
		t.Fatalf("want 1 WARN line for the trimmed alert, got %d", len(lines))
	}
	t.Logf("scenario (i) large alert: accepted, trimmed to %d bytes of description, delivered once to each target in %s",
		len(got), took.Round(time.Millisecond))
}
