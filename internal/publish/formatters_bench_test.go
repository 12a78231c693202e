package publish_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"github.com/herald-alerts/herald/internal/publish/webhook"
	"github.com/herald-alerts/herald/internal/target"
)

// The small alert is publishtest.Alert() (eight labels, three short
// annotations; the providers' own benchmarks use it). The large alert has
// 60 labels and a 20 KB description: beyond Slack's and PagerDuty's size
// limits, so truncation is part of the cost.
func largeFiring() publish.Notification {
	n := publishtest.Firing()
	labels := map[string]string{}
	for k, v := range n.Alert.Labels {
		labels[k] = v
	}
	for i := range 52 {
		labels[fmt.Sprintf("label_%02d", i)] = strings.Repeat("value-", 8) + fmt.Sprint(i)
	}
	n.Alert.Labels = labels
	n.Alert.Annotations = map[string]string{
		"summary":     strings.Repeat("Checkout error rate above 5% in every zone. ", 10),
		"description": strings.Repeat("The checkout service returns HTTP 5xx for *many* <requests> & retries. ", 300),
		"runbook_url": "https://runbooks.example.com/checkout/high-error-rate",
	}
	return n
}

var (
	slackTarget   = target.Target{Name: "team-a-slack", Type: "slack", URL: "https://hooks.slack.com/services/T0/B0/x"}
	pdTarget      = target.Target{Name: "payments-pd", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "R0UT1NGKEY0123456789012345678901"}, URL: "https://events.pagerduty.com"}
	rootlyTarget  = target.Target{Name: "rootly-prod", Type: "rootly", Config: &rootly.Config{Token: "rootly-token"}, URL: "https://api.rootly.com"}
	webhookTarget = target.Target{Name: "ops-hook", Type: "webhook", URL: "https://example.com/hook"}
)

// benchFormat runs format (a provider's formatter, then its JSON encoding,
// as its publisher sends it) on n: the full cost of producing the request
// body. It reports the body size.
func benchFormat(b *testing.B, format func(publish.Notification) ([]byte, error), n publish.Notification) {
	b.Helper()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		body, err := format(n)
		if err != nil {
			b.Fatal(err)
		}
		size = len(body)
	}
	if size == 0 {
		b.Fatal("empty body")
	}
	b.ReportMetric(float64(size), "bytes/body")
}

func formatSlack(n publish.Notification) ([]byte, error) {
	m, err := slack.Format(slackTarget, n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func formatPagerDuty(n publish.Notification) ([]byte, error) { return pagerduty.Format(pdTarget, n) }

func formatRootly(n publish.Notification) ([]byte, error) {
	r, err := rootly.Format(rootlyTarget, n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(r)
}

func formatWebhook(n publish.Notification) ([]byte, error) {
	p, err := webhook.Format(webhookTarget, n)
	if err != nil {
		return nil, err
	}
	return json.Marshal(p)
}

func formatAlertmanager(n publish.Notification) ([]byte, error) {
	return json.Marshal(alertmanager.Format(n, publishtest.Now, alertmanager.DefaultForwardTTL))
}

func BenchmarkFormatLarge_Slack(b *testing.B)     { benchFormat(b, formatSlack, largeFiring()) }
func BenchmarkFormatLarge_PagerDuty(b *testing.B) { benchFormat(b, formatPagerDuty, largeFiring()) }
func BenchmarkFormatLarge_Rootly(b *testing.B)    { benchFormat(b, formatRootly, largeFiring()) }
func BenchmarkFormatLarge_Webhook(b *testing.B)   { benchFormat(b, formatWebhook, largeFiring()) }
func BenchmarkFormatLarge_Alertmanager(b *testing.B) {
	benchFormat(b, formatAlertmanager, largeFiring())
}

// BenchmarkEncode_Webhook and _Alertmanager complete the small-alert
// format+encode set of the provider packages (Slack, PagerDuty, Rootly).
func BenchmarkEncode_Webhook(b *testing.B) { benchFormat(b, formatWebhook, publishtest.Firing()) }
func BenchmarkEncode_Alertmanager(b *testing.B) {
	benchFormat(b, formatAlertmanager, publishtest.Firing())
}

// BenchmarkFormatResolved_Slack: the resolve of a Slack bot message (a
// thread reply).
func BenchmarkFormatResolved_Slack(b *testing.B) {
	tg := target.Target{Name: "team-a-bot", Type: "slack", Config: &slack.Config{Token: "xoxb-bench", Channel: "#alerts"}, URL: "https://slack.com/api"}
	n := publishtest.Resolved(publish.ProviderState{"channel": "C0", "ts": "1700000000.000100"})
	benchFormat(b, func(n publish.Notification) ([]byte, error) {
		m, err := slack.FormatReply(tg, n)
		if err != nil {
			return nil, err
		}
		return json.Marshal(m)
	}, n)
}

// BenchmarkRenderTemplate: a target's title and body templates (parsed once,
// then cached).
func BenchmarkRenderTemplate(b *testing.B) {
	spec := &target.TemplateSpec{
		Title: `[{{ .Status | upper }}] {{ .Labels.alertname }} on {{ .Labels.instance }}`,
		Body:  `{{ .Annotations.summary }}{{ range $k, $v := .Labels }} {{ $k }}={{ $v }}{{ end }}`,
	}
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		title, body, err := publish.Render(spec, n)
		if err != nil {
			b.Fatal(err)
		}
		if title == "" || body == "" {
			b.Fatal("empty render")
		}
	}
}

func BenchmarkParseRetryAfter_Seconds(b *testing.B) {
	now := publishtest.Now
	b.ReportAllocs()
	for b.Loop() {
		if d := publish.ParseRetryAfter("120", now); d != 2*time.Minute {
			b.Fatalf("got %s", d)
		}
	}
}

func BenchmarkParseRetryAfter_HTTPDate(b *testing.B) {
	now := publishtest.Now
	v := now.Add(90 * time.Second).UTC().Format(http.TimeFormat)
	b.ReportAllocs()
	for b.Loop() {
		if d := publish.ParseRetryAfter(v, now); d != 90*time.Second {
			b.Fatalf("got %s", d)
		}
	}
}

// BenchmarkClassifyStatus_429: the outcome classification of a throttled
// answer, Retry-After included.
func BenchmarkClassifyStatus_429(b *testing.B) {
	h := http.Header{"Retry-After": []string{"7"}}
	body := []byte(`{"status":"throttle event","message":"Requests for this service are arriving too quickly."}`)
	b.ReportAllocs()
	for b.Loop() {
		err := publish.ClassifyStatus(http.StatusTooManyRequests, h, body, publishtest.Now)
		if pe := publish.AsError(err); pe == nil || !pe.Retryable || pe.RetryAfter != 7*time.Second {
			b.Fatalf("got %v", err)
		}
	}
}

// BenchmarkRedact: scrubbing an error message of a target's secrets.
func BenchmarkRedact(b *testing.B) {
	secrets := []string{"xoxb-0000-1111-secret", "R0UT1NGKEY0123456789012345678901", "Bearer hook-secret-0042"}
	msg := "POST https://events.pagerduty.com/v2/enqueue: 400 invalid routing key R0UT1NGKEY0123456789012345678901 (header Bearer hook-secret-0042)"
	b.ReportAllocs()
	for b.Loop() {
		if out := publish.Redact(msg, secrets); strings.Contains(out, "R0UT1NG") {
			b.Fatal("secret left")
		}
	}
}
