package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/target"
)

// fakeProvider answers like the provider's API and records requests.
type fakeProvider struct {
	*sink
}

// TestProviderLifecyclesAcrossWorkerRestart runs firing → worker restart →
// resolved for Slack (bot token), PagerDuty and Rootly against fakes that
// answer like the real APIs, on a real Temporal server. It checks each
// provider's resolve semantics (same dedup_key; thread reply and update of
// the same Slack message; resolve of the same Rootly alert) — which need the
// provider IDs kept in workflow state across the restart — and that no
// credential appears in history, logs, API answers or metrics.
func TestProviderLifecyclesAcrossWorkerRestart(t *testing.T) {
	const (
		slackToken = "xoxb-SLACK-SECRET-111"
		pdKey      = "PDROUTINGKEYSECRET0000000000000A"
		rootlyKey  = "rootly-SECRET-333"
	)
	slackAPI := newScriptedProvider(t, func(r sinkRequest) response {
		switch {
		case strings.HasSuffix(r.Path, "/chat.postMessage") && r.Body["thread_ts"] != nil:
			return response{Status: 200, Body: `{"ok":true,"channel":"C123","ts":"1700000000.000200"}`}
		case strings.HasSuffix(r.Path, "/chat.postMessage"):
			return response{Status: 200, Body: `{"ok":true,"channel":"C123","ts":"1700000000.000100"}`}
		case strings.HasSuffix(r.Path, "/chat.update"):
			return response{Status: 200, Body: `{"ok":true,"channel":"C123","ts":"1700000000.000100"}`}
		}
		return response{Status: 404, Body: `{"ok":false,"error":"unknown_method"}`}
	})
	pd := newScriptedProvider(t, func(r sinkRequest) response {
		return response{Status: 202, Body: fmt.Sprintf(`{"status":"success","message":"Event processed","dedup_key":%q}`, r.Body["dedup_key"])}
	})
	rootly := newScriptedProvider(t, func(r sinkRequest) response {
		if strings.HasSuffix(r.Path, "/resolve") {
			return response{Status: 200, Body: `{"data":{"id":"rootly-alert-42","type":"alerts","attributes":{"status":"resolved"}}}`}
		}
		return response{Status: 201, Body: `{"data":{"id":"rootly-alert-42","type":"alerts","attributes":{"status":"triggered"}}}`}
	})
	targets := []target.Target{
		{Name: "slack-bot", Type: target.TypeSlack, URL: slackAPI.URL + "/api", Token: slackToken, Channel: "#alerts", Retry: quickRetry(5)},
		{Name: "pagerduty", Type: target.TypePagerDuty, URL: pd.URL, RoutingKey: pdKey, Retry: quickRetry(5)},
		{Name: "rootly", Type: target.TypeRootly, URL: rootly.URL, Token: rootlyKey, Retry: quickRetry(5)},
	}
	h := startHerald(t, targets)
	a := firingAlert("prov1", "ProviderLifecycle")
	if code, body := h.post(webhookBody(a)); code != 200 {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 30*time.Second, "firing delivered to every provider", func() bool {
		_, v := h.alertState("prov1")
		if v.AlertState == nil || len(v.Targets) != 3 {
			return false
		}
		for _, ts := range v.Targets {
			if ts.Status != contract.DeliveryDelivered {
				return false
			}
		}
		return true
	})

	h.worker.Stop()
	if code, _ := h.post(webhookBody(resolvedAlert(a))); code != 200 {
		t.Fatal("resolve not accepted while the worker is down")
	}
	h.startWorker()
	st := h.waitWorkflowDone("prov1")
	for _, ts := range st.Targets {
		if ts.Status != contract.DeliveryDelivered || ts.Event != "resolved" {
			t.Errorf("%s: %s/%s (%s), want delivered/resolved", ts.Name, ts.Status, ts.Event, ts.LastError)
		}
	}

	// PagerDuty: trigger then resolve with the same dedup_key and key.
	pdReqs := pd.all()
	if len(pdReqs) != 2 || pdReqs[0].Body["event_action"] != "trigger" || pdReqs[1].Body["event_action"] != "resolve" ||
		pdReqs[0].Body["dedup_key"] != pdReqs[1].Body["dedup_key"] || pdReqs[1].Body["routing_key"] != pdKey ||
		!strings.HasSuffix(pdReqs[0].Path, "/v2/enqueue") {
		t.Errorf("pagerduty requests = %+v", bodies(pdReqs))
	}
	// Slack: post, then a thread reply to that ts and an update of it.
	var threadTS, updateTS any
	for _, r := range slackAPI.all() {
		if got := r.Header.Get("Authorization"); got != "Bearer "+slackToken {
			t.Errorf("slack %s authorization = %q", r.Path, got)
		}
		if strings.HasSuffix(r.Path, "/chat.postMessage") && r.Body["thread_ts"] != nil {
			threadTS = r.Body["thread_ts"]
		}
		if strings.HasSuffix(r.Path, "/chat.update") {
			updateTS = r.Body["ts"]
		}
	}
	if threadTS != "1700000000.000100" || updateTS != "1700000000.000100" {
		t.Errorf("slack resolve: thread_ts=%v update ts=%v, want the firing message's ts; requests %+v", threadTS, updateTS, bodies(slackAPI.all()))
	}
	// Rootly: create, then resolve of the same alert id.
	rr := rootly.all()
	if len(rr) != 2 || !strings.HasSuffix(rr[0].Path, "/v1/alerts") || !strings.HasSuffix(rr[1].Path, "/v1/alerts/rootly-alert-42/resolve") ||
		rr[0].Header.Get("Authorization") != "Bearer "+rootlyKey {
		t.Errorf("rootly requests = %+v", bodies(rr))
	}

	// No credential anywhere Herald writes.
	hist, err := history.Fetch(context.Background(), h.client, contract.AlertWorkflowID("prov1"), "")
	if err != nil {
		t.Fatal(err)
	}
	histJSON, _ := history.Marshal(hist)
	apiAlert := getText(t, h.http.URL+"/api/v1/alerts/prov1")
	apiTargets := getText(t, h.http.URL+"/api/v1/targets")
	metricsText := scrape(t, h.http.URL+"/metrics")
	for _, secret := range []string{slackToken, pdKey, rootlyKey} {
		for where, text := range map[string]string{"history": string(histJSON), "logs": h.logs.String(),
			"alert API": apiAlert, "targets API": apiTargets, "metrics": metricsText} {
			if strings.Contains(text, secret) {
				t.Errorf("credential %q leaked into %s", secret, where)
			}
		}
	}
}

func newScriptedProvider(t *testing.T, answer func(sinkRequest) response) *fakeProvider {
	s := newSink(t)
	s.answerWith(answer)
	return &fakeProvider{sink: s}
}

func bodies(rs []sinkRequest) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Path+" "+r.Raw)
	}
	return out
}
