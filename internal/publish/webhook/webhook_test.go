package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/webhook"
	"github.com/herald-alerts/herald/internal/target"
)

func newTarget(url string) target.Target {
	return target.Target{Name: "ops-hook", Type: "webhook", URL: url,
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
			"version": "4", "status": "firing", "receiver": "ops-hook", "truncatedAlerts": float64(0),
			"groupKey":                     `{}:{alertname="HighErrorRate", cluster="prod-eu1", instance="checkout-7f9c:8080", job="checkout", namespace="shop", service="checkout", severity="critical", team="payments"}`,
			"groupLabels.alertname":        "HighErrorRate",
			"commonLabels.service":         "checkout",
			"commonAnnotations.summary":    "Checkout error rate above 5%",
			"externalURL":                  "http://alertmanager.example.com",
			"alerts.0.status":              "firing",
			"alerts.0.fingerprint":         "c0ffee1234567890",
			"alerts.0.labels.service":      "checkout",
			"alerts.0.annotations.summary": "Checkout error rate above 5%",
			"alerts.0.startsAt":            "2024-05-06T06:58:09Z",
			"alerts.0.endsAt":              "0001-01-01T00:00:00Z",
			"alerts.0.generatorURL":        publishtest.Alert().GeneratorURL,
			"alerts.1":                     nil,
			"herald.event":                 "firing",
			"herald.severity":              "critical",
			"herald.sourceReceiver":        "herald",
			"herald.sourceGroupKey":        `{}:{alertname="HighErrorRate"}`,
			"herald.update":                nil, "herald.title": nil, "herald.classification": nil,
		}},
		{name: "update", n: publishtest.Update(nil), checks: map[string]any{"status": "firing", "herald.event": "firing", "herald.update": true}},
		{name: "resolved", n: publishtest.Resolved(nil), checks: map[string]any{
			"status": "resolved", "alerts.0.status": "resolved", "alerts.0.endsAt": "2024-05-06T07:08:09Z", "herald.event": "resolved"}},
		{name: "templates", n: publishtest.Firing(),
			tmpl:   &target.TemplateSpec{Title: "{{ .Name }}", Body: "{{ .Summary }} ({{ .Labels.team }})"},
			checks: map[string]any{"herald.title": "HighErrorRate", "herald.text": "Checkout error rate above 5% (payments)"}},
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

// v4Message mirrors Alertmanager's webhook message (notify/webhook.Message:
// template.Data plus version, groupKey and truncatedAlerts), with only
// Herald's extension added. Decoding with DisallowUnknownFields proves that
// a v4 receiver finds every field it knows and nothing else but "herald".
type v4Message struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Receiver          string            `json:"receiver"`
	Status            string            `json:"status"`
	Alerts            []v4Alert         `json:"alerts"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Herald            json.RawMessage   `json:"herald"`
}

type v4Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// TestV4Contract: what a webhook target receives is an Alertmanager webhook
// v4 message, field by field, and Herald's own POST /webhook parser accepts
// it with the same alert (Herald to Herald chaining).
func TestV4Contract(t *testing.T) {
	bare := publishtest.Firing()
	bare.Alert.Annotations, bare.Alert.Fingerprint, bare.Alert.ExternalURL, bare.Alert.GeneratorURL = nil, "", "", ""
	classified := publishtest.Firing()
	classified.Classification = publish.Classification{Severity: "info", Confidence: 0.8, Reason: "known noise", Source: "llm"}
	for _, tc := range []struct {
		name string
		n    publish.Notification
	}{
		{"firing", publishtest.Firing()},
		{"update", publishtest.Update(nil)},
		{"resolved", publishtest.Resolved(nil)},
		{"classified", classified},
		{"no annotations, fingerprint or URLs", bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.OK(""))
			tg := newTarget(srv.URL + "/webhook")
			if _, err := (&webhook.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, tc.n); err != nil {
				t.Fatal(err)
			}
			body := srv.Request(t, 0).Body

			// Every v4 field is present (not just decodable as zero).
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(body, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"version", "groupKey", "truncatedAlerts", "receiver", "status", "alerts",
				"groupLabels", "commonLabels", "commonAnnotations", "externalURL"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("v4 field %q missing", k)
				}
			}
			var rawAlerts []map[string]json.RawMessage
			if err := json.Unmarshal(raw["alerts"], &rawAlerts); err != nil || len(rawAlerts) != 1 {
				t.Fatalf("alerts = %s (%v)", raw["alerts"], err)
			}
			for _, k := range []string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"} {
				if _, ok := rawAlerts[0][k]; !ok {
					t.Errorf("v4 alert field %q missing", k)
				}
			}

			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			var m v4Message
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("strict v4 decode: %v\n%s", err, body)
			}
			a := tc.n.Alert
			wantStatus := "firing"
			if tc.n.Event == publish.EventResolved {
				wantStatus = "resolved"
			}
			wantFP := a.Fingerprint
			if wantFP == "" {
				wantFP = alert.Fingerprint(a.Labels)
			}
			if m.Version != "4" || m.Status != wantStatus || m.Receiver != tg.Name || m.TruncatedAlerts != 0 ||
				m.ExternalURL != a.ExternalURL || !strings.HasPrefix(m.GroupKey, "{}:{") {
				t.Errorf("envelope = %+v", m)
			}
			if !reflect.DeepEqual(m.GroupLabels, a.Labels) || !reflect.DeepEqual(m.CommonLabels, a.Labels) ||
				len(m.CommonAnnotations) != len(a.Annotations) || m.CommonAnnotations == nil {
				t.Errorf("group/common = %v / %v / %v", m.GroupLabels, m.CommonLabels, m.CommonAnnotations)
			}
			if len(m.Alerts) != 1 {
				t.Fatalf("alerts = %d, want 1", len(m.Alerts))
			}
			got := m.Alerts[0]
			if got.Status != wantStatus || got.Fingerprint != wantFP || !reflect.DeepEqual(got.Labels, a.Labels) ||
				!got.StartsAt.Equal(a.StartsAt) || got.GeneratorURL != a.GeneratorURL {
				t.Errorf("alert = %+v", got)
			}
			if wantStatus == "resolved" && !got.EndsAt.Equal(a.EndsAt) || wantStatus == "firing" && !got.EndsAt.IsZero() {
				t.Errorf("endsAt = %v for a %s alert", got.EndsAt, wantStatus)
			}
			var ext webhook.Extension
			if err := json.Unmarshal(m.Herald, &ext); err != nil || ext.Event != tc.n.Event || ext.Update != tc.n.Update ||
				ext.Severity != tc.n.Severity() || (tc.n.Classification.Source != "") != (ext.Classification != nil) {
				t.Errorf("herald extension = %s (%v)", m.Herald, err)
			}

			// Herald's own /webhook accepts it as the same alert.
			w, err := alert.ParseWebhook(body)
			if err != nil {
				t.Fatalf("Herald's webhook parser rejects the payload: %v", err)
			}
			list := w.AlertList()
			if len(list) != 1 {
				t.Fatalf("parsed %d alerts", len(list))
			}
			p := list[0]
			if p.Fingerprint != wantFP || p.Status != wantStatus || !reflect.DeepEqual(p.Labels, a.Labels) ||
				!p.StartsAt.Equal(a.StartsAt) || p.ExternalURL != a.ExternalURL || p.GeneratorURL != a.GeneratorURL ||
				p.Summary() != a.Summary() || (wantStatus == "resolved" && !p.EndsAt.Equal(a.EndsAt)) {
				t.Errorf("chained alert = %+v, want %+v", p, a)
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

// TestPublishLeaksNoSecret: whatever fails, and whatever the receiver
// echoes, the error names neither the URL's user info, path or query
// (tokens) nor a header value.
func TestPublishLeaksNoSecret(t *testing.T) {
	const (
		pathSecret  = "/hook/TOKEN-9f8e7d6c5b4a"
		querySecret = "QUERYTOKEN-31d2"
		password    = "PASSW0RD-77aa"
	)
	withSecrets := func(base string) target.Target {
		u := strings.Replace(base, "http://", "http://herald:"+password+"@", 1)
		return newTarget(u + pathSecret + "?sig=" + querySecret)
	}
	echo := "you sent Bearer hook-secret-0042 to " + pathSecret + "?sig=" + querySecret + " as herald:" + password
	publishtest.AssertLeaksNoSecret(t, &webhook.Publisher{}, withSecrets, []publishtest.LeakCase{
		{Name: "400", Resp: publishtest.Status(400, "invalid payload")},
		{Name: "400 echoing every credential", Resp: publishtest.Status(400, echo)},
		{Name: "401", Resp: publishtest.Status(401, "unauthorized")},
		{Name: "429", Resp: publishtest.Status(429, "").WithHeader("Retry-After", "1")},
		{Name: "500", Resp: publishtest.Status(500, "internal error")},
		{Name: "503 echoing every credential", Resp: publishtest.Status(503, echo)},
		{Name: "302 to a URL with a token", Resp: publishtest.Status(302, "").WithHeader("Location", "https://login.example.com"+pathSecret+"?sig="+querySecret)},
		{Name: "slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
	// Each credential alone, as a receiver might echo it, is redacted too.
	tg := withSecrets("http://127.0.0.1:1")
	for _, s := range []string{password, querySecret, pathSecret, "hook-secret-0042"} {
		if strings.Contains(publish.Redact("echo "+s, tg.Secrets()), s) {
			t.Errorf("target.Secrets() does not cover %q", s)
		}
	}
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
	p, err := webhook.Format(target.Target{Name: "w", Type: "webhook", URL: "http://x.example/h"}, n)
	if err != nil {
		t.Fatal(err)
	}
	if c := p.Herald.Classification; c == nil || c.Source != "llm" || c.Reason != "known noise" || p.Herald.Severity != "info" {
		t.Errorf("payload classification = %+v, severity %q", c, p.Herald.Severity)
	}
	n.Classification = publish.Classification{}
	if p, _ := webhook.Format(target.Target{Name: "w", Type: "webhook", URL: "http://x.example/h"}, n); p.Herald.Classification != nil {
		t.Errorf("unclassified notification has classification %+v", p.Herald.Classification)
	}
}
