package integration

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/target"
)

// TestWebhookBatchWithHostileAlerts: on a real server, an alert over the
// label limit is refused with a 400 naming it, an alertname far over
// Temporal's 2 KiB search-attribute limit is accepted (the starter bounds
// the attribute), and the accepted alerts are delivered.
func TestWebhookBatchWithHostileAlerts(t *testing.T) {
	s := newSink(t)
	h := startHerald(t, []target.Target{webhookTargetFor("hook", s, quickRetry(3))})
	many := firingAlert("many1", "ManyLabels")
	for i := range 300 {
		many.Labels["l"+strconv.Itoa(i)] = "v"
	}
	long := firingAlert("long1", strings.Repeat("VeryLongAlertName", 300))
	code, body := h.post(webhookBody(firingAlert("ok1", "Fine"), many, long))
	if code != http.StatusBadRequest {
		t.Fatalf("POST /webhook = %d %s, want 400", code, body)
	}
	var resp ingest.WebhookResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Accepted != 2 || len(resp.Alerts) != 2 || resp.Alerts[0].Fingerprint != "ok1" || resp.Alerts[1].Fingerprint != "long1" {
		t.Errorf("accepted = %d %+v, want ok1 and long1", resp.Accepted, resp.Alerts)
	}
	if len(resp.Rejected) != 1 || resp.Rejected[0].Fingerprint != "many1" || resp.Rejected[0].Reason != "too_many_labels" ||
		resp.Rejected[0].AlertName != "ManyLabels" {
		t.Errorf("rejected = %+v, want many1 (too_many_labels)", resp.Rejected)
	}
	// Both accepted alerts, each once; the refused one never.
	eventually(t, 30*time.Second, "both accepted alerts are delivered", func() bool { return s.count("firing") >= 2 })
	got := map[string]int{}
	for _, r := range s.all() {
		got[bodyFingerprint(r.Body)]++
	}
	if got["ok1"] != 1 || got["long1"] != 1 || got["many1"] != 0 || len(got) != 2 {
		t.Errorf("deliveries by fingerprint = %v, want ok1 and long1 once each, many1 never", got)
	}
}
