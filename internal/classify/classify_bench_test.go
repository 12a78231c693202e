package classify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/herald-alerts/herald/internal/alert"
)

// BenchmarkClassify_Rules100: 100 rules, the last one matches (worst case).
func BenchmarkClassify_Rules100(b *testing.B) {
	c := &Classifier{Rules: benchRules(100)}
	a := alert.Alert{Labels: benchLabels}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if got := c.Classify(ctx, a); got.Source != SourceRules {
			b.Fatalf("got %+v", got)
		}
	}
}

// BenchmarkParseRules: reading and compiling a rules file of ten rules, as
// at start-up.
func BenchmarkParseRules(b *testing.B) {
	data := []byte(`rules:
- match: {alertname: "KubePod.*", namespace: "prod-.*"}
  severity: critical
- match: {alertname: "Disk.*|Filesystem.*"}
  severity: warning
- match: {team: "payments|checkout", env: prod}
  severity: critical
- match: {alertname: Watchdog}
  severity: info
- match: {job: "node-exporter", severity: "page"}
  severity: critical
- match: {alertname: "CPUThrottling.*"}
  severity: info
- match: {alertname: "Certificate.*", namespace: ".*"}
  severity: warning
- match: {service: "api-.*", cluster: "prod-eu.*"}
  severity: critical
- match: {alertname: "Backup.*"}
  severity: warning
- match: {alertname: "Target.*", team: "payments|checkout"}
  severity: info
`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRules(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Rules) != 10 {
			b.Fatalf("%d rules", len(r.Rules))
		}
	}
}

// BenchmarkClassify_LLM: no rule matches, so an OpenAI-compatible endpoint
// (a local fake answering at once) decides: prompt, request, answer parsing.
func BenchmarkClassify_LLM(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(content(`{"severity":"critical","confidence":0.9,"reason":"checkout errors hit users"}`)))
	b.Cleanup(srv.Close)
	c := &Classifier{LLM: &LLM{URL: srv.URL + "/v1", Model: "gpt-test", APIKey: testKey, Client: srv.Client()}}
	a := alert.Alert{Labels: benchLabels, Annotations: map[string]string{"summary": "5xx ratio above 20% for 10m"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if got := c.Classify(ctx, a); got.Source != SourceLLM {
			b.Fatalf("got %+v", got)
		}
	}
}
