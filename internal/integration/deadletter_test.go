package integration

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// call makes an API request and decodes the JSON answer.
func (h *herald) call(method, path, token string, into any) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.http.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// TestDeadLetterAndReplayThroughAPI: a target that fails every attempt ends
// in the dead letters after its retries; once fixed, a replay through the
// HTTP API delivers the alert exactly once and removes the entry.
func TestDeadLetterAndReplayThroughAPI(t *testing.T) {
	t.Parallel() // its own task queue and dead-letter workflow
	const admin = "admin-token-1"
	var healthy atomic.Bool
	s := newSink(t)
	failing := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		s.Config.Handler.ServeHTTP(w, r)
	}))
	const pathSecret, headerSecret = "DLQ-PATH-SECRET-4242", "DLQ-HEADER-SECRET-4343"
	h := startHerald(t, []target.Target{{Name: "down", Type: "webhook", URL: failing.URL + "/hook/" + pathSecret,
		Headers: map[string]string{"Authorization": "Bearer " + headerSecret}, Retry: quickRetry(3)}},
		func(c *config.Config) { c.AdminToken = admin })

	if code, body := h.post(webhookBody(firingAlert("dl1", "GoesToDLQ"))); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	var list workflows.ListResponse
	eventually(t, 60*time.Second, "delivery lands in the dead letters", func() bool {
		return h.call("GET", "/api/v1/dlq", "", &list) == 200 && list.Total == 1
	})
	e := list.Entries[0]
	if e.Target != "down" || e.Fingerprint != "dl1" || e.Attempts != 3 || e.ErrorKind != "http_5xx" || e.Event != "firing" {
		t.Errorf("entry = %+v", e)
	}
	_, v := h.alertState("dl1")
	if ts := v.Targets[0]; ts.Status != contract.DeliveryDeadLettered || ts.DeadLetterID != e.ID {
		t.Errorf("alert state = %s (dead letter %q), want dead_lettered (%s)", ts.Status, ts.DeadLetterID, e.ID)
	}

	// State-changing calls need the admin token.
	if code := h.call("POST", "/api/v1/dlq/"+e.ID+"/replay", "", nil); code != 401 {
		t.Errorf("replay without admin token = %d, want 401", code)
	}
	var errBody map[string]string
	if code := h.call("POST", "/api/v1/dlq/unknown-id/replay", admin, &errBody); code != 404 {
		t.Errorf("replay of unknown id = %d %v, want 404", code, errBody)
	}
	if code := h.call("DELETE", "/api/v1/dlq", admin, &errBody); code != 400 {
		t.Errorf("purge without older_than = %d, want 400", code)
	}

	// Still broken: the replay fails, the entry stays.
	var res workflows.ReplayResult
	if code := h.call("POST", "/api/v1/dlq/"+e.ID+"/replay", admin, &res); code != http.StatusBadGateway || res.Delivered {
		t.Errorf("replay while broken = %d %+v, want 502 not delivered", code, res)
	}
	h.call("GET", "/api/v1/dlq", "", &list)
	if list.Total != 1 || list.Entries[0].Replays != 1 {
		t.Errorf("after failed replay: %+v", list)
	}

	// The dead letter, its API view and the dead-letter workflow's history
	// hold no credential.
	dlqHist, err := history.Fetch(context.Background(), h.client, workflows.DeadLetterWorkflowIDFor(h.taskQueue), "")
	if err != nil {
		t.Fatal(err)
	}
	dlqJSON, _ := history.Marshal(dlqHist)
	for where, text := range map[string]string{"dead-letter history": string(dlqJSON),
		"dead-letter API": getText(t, h.http.URL+"/api/v1/dlq"), "logs": h.logs.String()} {
		for _, secret := range []string{pathSecret, headerSecret} {
			if strings.Contains(text, secret) {
				t.Errorf("credential %q leaked into %s", secret, where)
			}
		}
	}

	healthy.Store(true)
	if code := h.call("POST", "/api/v1/dlq/"+e.ID+"/replay", admin, &res); code != 200 || !res.Delivered {
		t.Fatalf("replay = %d %+v, want delivered", code, res)
	}
	if got := len(s.all()); got != 1 {
		t.Errorf("fixed target received %d deliveries, want exactly 1", got)
	}
	h.call("GET", "/api/v1/dlq", "", &list)
	if list.Total != 0 {
		t.Errorf("entry still listed after successful replay: %+v", list.Entries)
	}
	eventually(t, 10*time.Second, "alert state shows the replayed delivery", func() bool {
		_, v := h.alertState("dl1")
		return v.AlertState != nil && v.Targets[0].Status == contract.DeliveryDelivered
	})
	var stats workflows.Stats
	if code := h.call("GET", "/api/v1/dlq/stats", "", &stats); code != 200 || stats.Replayed != 1 || stats.Written != 1 {
		t.Errorf("stats = %d %+v", code, stats)
	}
	text := scrape(t, h.http.URL+"/metrics")
	for _, want := range []string{`herald_dlq_writes_total{kind="http_5xx",target="down"} 1`, `herald_dlq_replays_total{outcome="success"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
