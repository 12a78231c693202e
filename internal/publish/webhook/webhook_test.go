package webhook_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/webhook"
	"github.com/herald-alerts/herald/internal/target"
)

func newTarget(url string) target.Target {
	return target.Target{Name: "ops-hook", Type: target.TypeWebhook, URL: url,
		Headers: map[string]string{"Authorization": "Bearer hook-secret-0042"}}
}

func TestPublishRequest(t *testing.T) {
	tests := []struct {
		name   string
		n      publish.Notification
		tmpl   *target.TemplateSpec
		checks map[string]any
	}{
		{name: "firing", n: publishtest.Firing(), checks: map[string]any{
			"version": "1", "event": "firing", "status": "firing", "fingerprint": "c0ffee1234567890",
			"alertname": "HighErrorRate", "severity": "critical", "labels.service": "checkout",
			"annotations.summary": "Checkout error rate above 5%", "startsAt": "2024-05-06T06:58:09Z",
			"generatorURL": publishtest.Alert().GeneratorURL, "receiver": "herald", "endsAt": nil, "update": nil, "title": nil,
		}},
		{name: "update", n: publishtest.Update(nil), checks: map[string]any{"event": "firing", "update": true}},
		{name: "resolved", n: publishtest.Resolved(nil), checks: map[string]any{
			"event": "resolved", "status": "resolved", "endsAt": "2024-05-06T07:08:09Z"}},
		{name: "templates", n: publishtest.Firing(),
			tmpl:   &target.TemplateSpec{Title: "{{ .Name }}", Body: "{{ .Summary }} ({{ .Labels.team }})"},
			checks: map[string]any{"title": "HighErrorRate", "text": "Checkout error rate above 5% (payments)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.Status(http.StatusNoContent, ""))
			tg := newTarget(srv.URL + "/hooks/alerts")
			tg.Template = tc.tmpl
			res, err := (&webhook.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusNoContent {
				t.Errorf("status = %d", res.StatusCode)
			}
			req := srv.Request(t, 0)
			if req.Method != http.MethodPost || req.Path != "/hooks/alerts" {
				t.Errorf("request = %s %s", req.Method, req.Path)
			}
			if got := req.Header.Get("Authorization"); got != "Bearer hook-secret-0042" {
				t.Errorf("Authorization = %q", got)
			}
			if got := req.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q", got)
			}
			for path, want := range tc.checks {
				if got := req.Get(path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
}

func TestPublishClassification(t *testing.T) {
	tests := []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
	}{
		{"400", publishtest.Status(400, "bad"), publish.KindHTTPClient, false, 0},
		{"401", publishtest.Status(401, "who"), publish.KindHTTPClient, false, 0},
		{"404", publishtest.Status(404, ""), publish.KindHTTPClient, false, 0},
		{"410", publishtest.Status(410, ""), publish.KindHTTPClient, false, 0},
		{"429 Retry-After", publishtest.Status(429, "").WithHeader("Retry-After", "9"), publish.KindRateLimited, true, 9 * time.Second},
		{"500", publishtest.Status(500, "oops"), publish.KindHTTPServer, true, 0},
		{"503 Retry-After", publishtest.Status(503, "").WithHeader("Retry-After", "4"), publish.KindHTTPServer, true, 4 * time.Second},
		{"slow", publishtest.Response{Status: 200, Delay: 2 * time.Second}, publish.KindTimeout, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := (&webhook.Publisher{Client: srv.Client()}).Publish(ctx, newTarget(srv.URL), publishtest.Firing())
			publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
		})
	}
}

// TestPublishLeaksNoSecret: whatever fails, the error names neither the URL
// path (a token) nor a header value.
func TestPublishLeaksNoSecret(t *testing.T) {
	const pathSecret = "/hook/TOKEN-9f8e7d6c5b4a"
	publishtest.AssertLeaksNoSecret(t, &webhook.Publisher{}, func(base string) target.Target { return newTarget(base + pathSecret) }, []publishtest.LeakCase{
		{Name: "400", Resp: publishtest.Status(400, "invalid payload")},
		{Name: "401", Resp: publishtest.Status(401, "unauthorized")},
		{Name: "429", Resp: publishtest.Status(429, "").WithHeader("Retry-After", "1")},
		{Name: "500", Resp: publishtest.Status(500, "internal error")},
		{Name: "slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func BenchmarkFormat_Webhook(b *testing.B) {
	tg := newTarget("https://example.com/hook")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := webhook.Format(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFormatCarriesClassification(t *testing.T) {
	n := publishtest.Firing()
	n.Classification = publish.Classification{Severity: "info", Confidence: 0.8, Reason: "known noise", Source: "llm"}
	p, err := webhook.Format(target.Target{Name: "w", Type: target.TypeWebhook, URL: "http://x.example/h"}, n)
	if err != nil {
		t.Fatal(err)
	}
	if p.Classification == nil || p.Classification.Source != "llm" || p.Classification.Reason != "known noise" || p.Severity != "info" {
		t.Errorf("payload classification = %+v, severity %q", p.Classification, p.Severity)
	}
	n.Classification = publish.Classification{}
	if p, _ := webhook.Format(target.Target{Name: "w", Type: target.TypeWebhook, URL: "http://x.example/h"}, n); p.Classification != nil {
		t.Errorf("unclassified notification has classification %+v", p.Classification)
	}
}
