package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

func TestWebhookReachesEveryTargetExactlyOnce(t *testing.T) {
	sinks := []*sink{newSink(t), newSink(t), newSink(t)}
	var targets []target.Target
	for i, s := range sinks {
		targets = append(targets, webhookTargetFor(fmt.Sprintf("t%d", i), s, quickRetry(5)))
	}
	h := startHerald(t, targets)

	var alerts []alert.WebhookAlert
	for i := 0; i < 10; i++ {
		alerts = append(alerts, firingAlert(fmt.Sprintf("a%02d", i), "HighLatency"))
	}
	code, body := h.post(webhookBody(alerts...))
	if code != http.StatusOK {
		t.Fatalf("POST /webhook = %d %s", code, body)
	}
	for i, s := range sinks {
		eventually(t, 30*time.Second, fmt.Sprintf("target t%d gets 10 firing alerts", i), func() bool {
			return s.count("firing") >= 10
		})
	}
	// Alertmanager repeats the same notification: nothing new is published.
	if code, body := h.post(webhookBody(alerts...)); code != http.StatusOK {
		t.Fatalf("repeat POST = %d %s", code, body)
	}
	eventually(t, 10*time.Second, "repeat is recorded as suppressed", func() bool {
		_, v := h.alertState("a09")
		return v.AlertState != nil && v.Suppressed == 1
	})
	for i, s := range sinks {
		seen := map[string]int{}
		for _, r := range s.all() {
			seen[bodyFingerprint(r.Body)]++
		}
		if len(seen) != 10 {
			t.Errorf("target t%d saw %d distinct alerts, want 10", i, len(seen))
		}
		for fp, n := range seen {
			if n != 1 {
				t.Errorf("target t%d got alert %s %d times, want exactly once", i, fp, n)
			}
		}
	}
	// The alert list searches Temporal's visibility like the Web UI does.
	var list struct {
		Alerts []ingest.AlertSummary `json:"alerts"`
	}
	eventually(t, 20*time.Second, "alert list shows the 10 firing alerts at t1", func() bool {
		return h.get("/api/v1/alerts?status=firing&target=t1&name=HighLatency", &list) == 200 && len(list.Alerts) == 10
	})
	if a := list.Alerts[0]; a.Severity != "critical" || len(a.Targets) != 3 || a.WorkflowStatus != "running" {
		t.Errorf("alert summary = %+v", a)
	}
	if code := h.get("/api/v1/alerts?status=fir'ing", nil); code != 400 {
		t.Errorf("quote in filter = %d, want 400", code)
	}
	// The list pages: 4, 4 and 2 alerts, each page's token asking for the
	// next one, every alert once; by 5, two full pages and no empty third.
	// A token not from an answer is a 400.
	seen := map[string]int{}
	var sizes []int
	for token, pages := "", 0; pages == 0 || token != ""; pages++ {
		var page ingest.AlertList
		path := "/api/v1/alerts?status=firing&target=t1&name=HighLatency&limit=4"
		if token != "" {
			path += "&page_token=" + url.QueryEscape(token)
		}
		if code := h.get(path, &page); code != 200 || pages > 5 {
			t.Fatalf("page %d: status %d after %d pages", pages+1, code, pages)
		}
		if page.Matched != 10 {
			t.Errorf("page %d says %d alerts match, want 10", pages+1, page.Matched)
		}
		sizes = append(sizes, len(page.Alerts))
		for _, a := range page.Alerts {
			seen[a.Fingerprint]++
		}
		token = page.NextPageToken
	}
	if len(seen) != 10 || !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Errorf("paging by 4 gave pages %v and %d distinct alerts, want 4, 4, 2 and 10", sizes, len(seen))
	}
	var full [2]ingest.AlertList
	if h.get("/api/v1/alerts?status=firing&target=t1&name=HighLatency&limit=5", &full[0]) != 200 || full[0].NextPageToken == "" ||
		h.get("/api/v1/alerts?status=firing&target=t1&name=HighLatency&limit=5&page_token="+url.QueryEscape(full[0].NextPageToken), &full[1]) != 200 ||
		len(full[1].Alerts) != 5 || full[1].NextPageToken != "" {
		t.Errorf("paging by 5: the last, full page has %d alerts and next token %q; want 5 and none", len(full[1].Alerts), full[1].NextPageToken)
	}
	for fp, n := range seen {
		if n != 1 {
			t.Errorf("alert %s listed on %d pages, want 1", fp, n)
		}
	}
	var first ingest.AlertList
	if code := h.get("/api/v1/alerts?status=firing&target=t1&name=HighLatency&limit=4", &first); code != 200 || first.NextPageToken == "" {
		t.Fatalf("first page: %d, next token %q", code, first.NextPageToken)
	}
	for path, why := range map[string]string{
		"page_token=not*base64":   "not base64",
		"page_token=AAAAAAAAAAAA": "made up",
		"page_token=" + url.QueryEscape(first.NextPageToken[:len(first.NextPageToken)-4]):                                 "cut short",
		"status=resolved&limit=4&page_token=" + url.QueryEscape(first.NextPageToken):                                      "other filters",
		"status=firing&target=t1&name=HighLatency&limit=4&page_token=" + url.QueryEscape(otherFirst(first.NextPageToken)): "changed",
	} {
		if code := h.get("/api/v1/alerts?"+path, nil); code != 400 {
			t.Errorf("a page token %s = %d, want 400", why, code)
		}
	}
	// Each alert is its own workflow whose state names every target.
	code, v := h.alertState("a03")
	if code != http.StatusOK || len(v.Targets) != 3 || v.Status != alert.StatusFiring {
		t.Fatalf("GET alert = %d %+v", code, v)
	}
	for _, ts := range v.Targets {
		if ts.Status != contract.DeliveryDelivered || ts.Attempts != 1 || ts.DeliveredAt.IsZero() {
			t.Errorf("target %s state = %+v", ts.Name, ts)
		}
	}
}

func TestFlakyTargetIsDeliveredAfterRetries(t *testing.T) {
	s := newSink(t, response{Status: 500, Body: "boom"}, response{Status: 502}, response{Status: 200})
	h := startHerald(t, []target.Target{webhookTargetFor("flaky", s, quickRetry(5))})
	a := firingAlert("f1", "Flaky")
	if code, body := h.post(webhookBody(a)); code != http.StatusOK {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 30*time.Second, "delivered after retries", func() bool {
		_, v := h.alertState("f1")
		return v.AlertState != nil && len(v.Targets) == 1 && v.Targets[0].Status == contract.DeliveryDelivered
	})
	_, v := h.alertState("f1")
	if got := v.Targets[0].Attempts; got != 3 {
		t.Errorf("attempts = %d, want 3", got)
	}
	if got := len(s.all()); got != 3 {
		t.Errorf("target saw %d requests, want 3", got)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	s := newSink(t, response{Status: 429, Header: map[string]string{"Retry-After": "2"}}, response{Status: 200})
	h := startHerald(t, []target.Target{webhookTargetFor("limited", s, quickRetry(5))})
	if code, body := h.post(webhookBody(firingAlert("r1", "Limited"))); code != http.StatusOK {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 30*time.Second, "second attempt", func() bool { return len(s.all()) >= 2 })
	reqs := s.all()
	gap := reqs[1].At.Sub(reqs[0].At)
	// The policy's own backoff is 100ms: only Retry-After explains >= 2s.
	if gap < 2*time.Second {
		t.Errorf("retry came %s after the 429, want >= 2s (Retry-After: 2)", gap)
	}
	if gap > 10*time.Second {
		t.Errorf("retry came %s after the 429, want about 2s", gap)
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	s := newSink(t, response{Status: 400, Body: `{"error":"bad payload"}`})
	h := startHerald(t, []target.Target{webhookTargetFor("strict", s, quickRetry(5))})
	if code, body := h.post(webhookBody(firingAlert("b1", "Bad"))); code != http.StatusOK {
		t.Fatalf("POST = %d %s", code, body)
	}
	eventually(t, 30*time.Second, "delivery failed and dead-lettered", func() bool {
		_, v := h.alertState("b1")
		return v.AlertState != nil && len(v.Targets) == 1 && v.Targets[0].Status == contract.DeliveryDeadLettered
	})
	time.Sleep(time.Second) // a retry would come after 100ms
	if got := len(s.all()); got != 1 {
		t.Errorf("target saw %d requests, want 1 (400 is not retried)", got)
	}
	_, v := h.alertState("b1")
	ts := v.Targets[0]
	if ts.LastErrorKind != "http_4xx" || ts.StatusCode != 400 || !strings.Contains(ts.LastError, "bad payload") {
		t.Errorf("state = kind %q status %d error %q", ts.LastErrorKind, ts.StatusCode, ts.LastError)
	}
}

func TestFiringThenResolvedAcrossWorkerRestart(t *testing.T) {
	s := newSink(t)
	h := startHerald(t, []target.Target{webhookTargetFor("hook", s, quickRetry(5))})
	a := firingAlert("w1", "Restart")
	if code, _ := h.post(webhookBody(a)); code != http.StatusOK {
		t.Fatal("firing not accepted")
	}
	eventually(t, 30*time.Second, "firing delivered", func() bool { return s.count("firing") == 1 })

	// The worker goes away; the resolve is accepted anyway (it is durable in
	// Temporal) and delivered once a new worker comes up.
	h.worker.Stop()
	if code, body := h.post(webhookBody(resolvedAlert(a))); code != http.StatusOK {
		t.Fatalf("resolve not accepted while worker down: %d %s", code, body)
	}
	time.Sleep(500 * time.Millisecond)
	if n := s.count("resolved"); n != 0 {
		t.Fatalf("resolve delivered with no worker running: %d", n)
	}
	h.startWorker()
	st := h.waitWorkflowDone("w1")
	if st.Completed != "resolved" {
		t.Errorf("completed = %q, want resolved", st.Completed)
	}
	if s.count("firing") != 1 || s.count("resolved") != 1 {
		t.Errorf("target got firing=%d resolved=%d, want 1/1", s.count("firing"), s.count("resolved"))
	}
}

func TestWebhookRejectsBadInput(t *testing.T) {
	h := startHerald(t, nil, func(c *config.Config) {
		c.WebhookToken = "s3cret-token"
		c.MaxBodyBytes = 2048
	})
	auth := []string{"Authorization", "Bearer s3cret-token"}
	big := webhookBody(firingAlert("x1", strings.Repeat("A", 4096)))
	cases := []struct {
		name   string
		body   []byte
		header []string
		want   int
		msg    string
	}{
		{"no token", webhookBody(firingAlert("x1", "A")), nil, 401, "bearer"},
		{"wrong token", webhookBody(firingAlert("x1", "A")), []string{"Authorization", "Bearer nope"}, 401, "bearer"},
		{"malformed JSON", []byte(`{"version":"4",`), auth, 400, "malformed JSON"},
		{"not a webhook", []byte(`{"hello":"world"}`), auth, 400, "version"},
		{"wrong version", []byte(`{"version":"3","alerts":[]}`), auth, 400, "unsupported webhook version"},
		{"no alerts", []byte(`{"version":"4","alerts":[]}`), auth, 400, "no alerts"},
		{"bad status", []byte(`{"version":"4","alerts":[{"status":"weird","labels":{"a":"b"}}]}`), auth, 400, "status"},
		{"too large", big, auth, 413, "exceeds"},
		{"not JSON content type", webhookBody(firingAlert("x1", "A")), append([]string{"Content-Type", "text/plain"}, auth...), 415, "application/json"},
		{"ok", webhookBody(firingAlert("x1", "A")), auth, 200, "accepted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.post(tc.body, tc.header...)
			if code != tc.want || !strings.Contains(body, tc.msg) {
				t.Errorf("got %d %s, want %d containing %q", code, body, tc.want, tc.msg)
			}
			if code != 200 && !strings.Contains(body, `"error"`) {
				t.Errorf("error body %s has no \"error\" field", body)
			}
		})
	}
}

func TestWebhookAnswers503WhenTemporalIsDown(t *testing.T) {
	cfg := config.Config{TemporalNamespace: "default", TaskQueue: "nowhere", MaxBodyBytes: 1 << 20}
	// A client for a port nobody listens on.
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := app.NewHTTP(cfg, c, target.NewRegistry(), metrics.New(), discardLogger(), nil)
	h := &herald{t: t}
	h.http = newTestServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.http.URL+"/webhook", bytes.NewReader(webhookBody(firingAlert("d1", "Down"))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", resp.StatusCode)
	}
	if code := h.get("/readyz", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d, want 503", code)
	}
}

func TestReadyzNeedsAPollingWorker(t *testing.T) {
	h := startHerald(t, nil)
	eventually(t, 20*time.Second, "/readyz 200 with a worker polling", func() bool { return h.get("/readyz", nil) == 200 })
	if code := h.get("/healthz", nil); code != 200 {
		t.Errorf("/healthz = %d", code)
	}

	cfg := config.Config{TemporalNamespace: server.GetDefaultNamespace(), TaskQueue: "queue-without-worker"}
	other := newTestServer(t, app.NewHTTP(cfg, h.client, target.NewRegistry(), metrics.New(), discardLogger(), nil))
	hh := &herald{t: t, http: other}
	if code := hh.get("/readyz", nil); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without a worker = %d, want 503", code)
	}
}

func TestAlertAPI(t *testing.T) {
	h := startHerald(t, []target.Target{webhookTargetFor("hook", newSink(t), nil)})
	var e map[string]string
	if code := h.get("/api/v1/alerts/doesnotexist", &e); code != 404 || e["error"] == "" {
		t.Errorf("unknown alert = %d %v, want 404 with error", code, e)
	}
	if code := h.get("/api/v1/alerts/bad-fp!", &e); code != 400 {
		t.Errorf("invalid fingerprint = %d, want 400", code)
	}
	var mode map[string]any
	if code := h.get("/api/v1/mode", &mode); code != 200 || mode["mode"] != "normal" {
		t.Errorf("mode = %d %v", code, mode)
	}
	h.registry.Update("test", nil, nil)
	if h.get("/api/v1/mode", &mode); mode["mode"] != "metrics-only" {
		t.Errorf("mode with no targets = %v", mode)
	}
}

func TestNoSecretInHistoryLogsOrAPI(t *testing.T) {
	s := newSink(t, response{Status: 500, Body: "upstream down"}, response{Status: 200})
	tgt := target.Target{
		Name: "secret-hook", Type: "webhook",
		URL:     s.URL + "/hooks/T0KEN-IN-PATH-123456",
		Headers: map[string]string{"Authorization": "Bearer HEADER-SECRET-987"},
		Retry:   quickRetry(3),
	}
	h := startHerald(t, []target.Target{tgt})
	a := firingAlert("s1", "Secretive")
	mustPost(t, h, webhookBody(a))
	eventually(t, 30*time.Second, "delivered", func() bool { return len(s.all()) == 2 })
	mustPost(t, h, webhookBody(resolvedAlert(a)))
	h.waitWorkflowDone("s1")

	if got := s.all()[0].Header.Get("Authorization"); got != "Bearer HEADER-SECRET-987" {
		t.Fatalf("target did not get its header: %q", got)
	}
	hist, err := history.Fetch(context.Background(), h.client, contract.AlertWorkflowID("s1"), "")
	if err != nil {
		t.Fatal(err)
	}
	histJSON, err := history.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	api, targets := getText(t, h.http.URL+"/api/v1/alerts/s1"), getText(t, h.http.URL+"/api/v1/targets")
	metricsText := scrape(t, h.http.URL+"/metrics")
	for _, secret := range []string{"T0KEN-IN-PATH-123456", "HEADER-SECRET-987"} {
		for where, text := range map[string]string{
			"history": string(histJSON), "logs": h.logs.String(), "alert API": api,
			"targets API": targets, "metrics": metricsText,
		} {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q leaked into %s", secret, where)
			}
		}
	}
	if !strings.Contains(targets, target.Redacted) {
		t.Errorf("targets API does not show redacted credentials: %s", targets)
	}
	if !strings.Contains(api, `"s1"`) {
		t.Errorf("alert API answer does not describe the alert: %s", api)
	}
}

func TestMetricsCountDeliveries(t *testing.T) {
	s := newSink(t)
	h := startHerald(t, []target.Target{webhookTargetFor("counted", s, nil)})
	mustPost(t, h, webhookBody(firingAlert("m1", "Counted")))
	eventually(t, 30*time.Second, "delivered", func() bool { return s.count("firing") == 1 })
	text := scrape(t, h.http.URL+"/metrics")
	for _, want := range []string{
		`herald_deliveries_total{event="firing",outcome="success",target="counted",type="webhook"} 1`,
		`herald_alerts_received_total{status="firing"} 1`,
		`herald_webhook_requests_total{code="200"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// mustPost posts a webhook and requires a 200.
func mustPost(t *testing.T, h *herald, body []byte) {
	t.Helper()
	if code, answer := h.post(body); code != http.StatusOK {
		t.Fatalf("POST /webhook = %d %s", code, answer)
	}
}

// getText GETs url and requires a 200; it returns the body.
func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d (%v): %s", url, resp.StatusCode, err, b)
	}
	return string(b)
}

// otherFirst changes the first character of a base64url token.
func otherFirst(token string) string {
	if token[0] == 'x' {
		return "y" + token[1:]
	}
	return "x" + token[1:]
}
