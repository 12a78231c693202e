package alert

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// benchWebhook is an Alertmanager webhook of n firing alerts, each with
// eight labels, three annotations and Alertmanager's fingerprint.
func benchWebhook(b *testing.B, n int) []byte {
	b.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := Webhook{Version: SupportedWebhookVersion, GroupKey: `{}:{alertname="HighErrorRate"}`, Status: StatusFiring,
		Receiver: "herald", ExternalURL: "http://alertmanager.example.com",
		GroupLabels: map[string]string{"alertname": "HighErrorRate"}}
	for i := range n {
		w.Alerts = append(w.Alerts, WebhookAlert{
			Status: StatusFiring, StartsAt: start, Fingerprint: fmt.Sprintf("%016x", i+1),
			Labels: map[string]string{"alertname": "HighErrorRate", "severity": "critical", "service": "checkout",
				"namespace": "shop", "instance": fmt.Sprintf("checkout-%d:8080", i), "job": "checkout",
				"cluster": "prod-eu1", "team": "payments"},
			Annotations: map[string]string{"summary": "Checkout error rate above 5%",
				"description": "The checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
				"runbook_url": "https://runbooks.example.com/checkout/high-error-rate"},
			GeneratorURL: "http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29",
		})
	}
	body, err := json.Marshal(w)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchmarkParseWebhook decodes, validates and converts a webhook of n
// alerts: what POST /webhook does before it talks to Temporal.
func benchmarkParseWebhook(b *testing.B, n int) {
	body := benchWebhook(b, n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w, err := ParseWebhook(body)
		if err != nil {
			b.Fatal(err)
		}
		if got := w.AlertList(); len(got) != n {
			b.Fatalf("%d alerts, want %d", len(got), n)
		}
	}
}

func BenchmarkParseWebhook_1(b *testing.B)   { benchmarkParseWebhook(b, 1) }
func BenchmarkParseWebhook_10(b *testing.B)  { benchmarkParseWebhook(b, 10) }
func BenchmarkParseWebhook_100(b *testing.B) { benchmarkParseWebhook(b, 100) }

func benchAlert(b *testing.B) Alert {
	b.Helper()
	w, err := ParseWebhook(benchWebhook(b, 1))
	if err != nil {
		b.Fatal(err)
	}
	return w.AlertList()[0]
}

// BenchmarkContentHash: the alert workflow hashes every notification to
// tell a repeat from a change.
func BenchmarkContentHash(b *testing.B) {
	a := benchAlert(b)
	b.ReportAllocs()
	for b.Loop() {
		if h := a.ContentHash(); len(h) != 16 {
			b.Fatalf("hash %q", h)
		}
	}
}

// BenchmarkFingerprint: the identity of an alert that arrives without
// Alertmanager's fingerprint.
func BenchmarkFingerprint(b *testing.B) {
	labels := benchAlert(b).Labels
	b.ReportAllocs()
	for b.Loop() {
		if fp := Fingerprint(labels); len(fp) != 16 {
			b.Fatalf("fingerprint %q", fp)
		}
	}
}

func BenchmarkNormalizeSeverity(b *testing.B) {
	in := []string{"critical", " P1 ", "warning", "informational", "Major", "bogus"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if NormalizeSeverity(in[i%len(in)]) == "" {
			b.Fatal("empty severity")
		}
		i++
	}
}
