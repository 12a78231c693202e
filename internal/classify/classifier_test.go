package classify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
)

func TestClassifierFallbacks(t *testing.T) {
	rules := &Rules{Rules: []Rule{{Matchers: map[string]string{"alertname": "Watchdog"}, Severity: "info", Reason: "heartbeat"}}}
	if err := rules.Compile(); err != nil {
		t.Fatal(err)
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}
	tests := []struct {
		name     string
		reply    func(http.ResponseWriter, *http.Request)
		labels   map[string]string
		min      float64
		severity string
		source   string
		reason   string // prefix
		calls    int32
	}{
		{"llm answer used", content(`{"severity":"critical","confidence":0.9,"reason":"users affected"}`),
			map[string]string{"alertname": "HighErrorRate", "severity": "warning"}, 0, "critical", SourceLLM, "users affected", 1},
		{"rule wins without asking the llm", content(`{"severity":"critical","confidence":1,"reason":"x"}`),
			map[string]string{"alertname": "Watchdog"}, 0, "info", SourceRules, "heartbeat", 0},
		{"timeout falls back", slow,
			map[string]string{"alertname": "HighErrorRate", "severity": "warning"}, 0, "warning", SourceLabels, "llm timeout; labels: severity label", 1},
		{"500 falls back", rawReply(500, `{}`),
			map[string]string{"alertname": "HighErrorRate", "severity": "critical"}, 0, "critical", SourceLabels, "llm http 500; labels: severity label", 1},
		{"garbage falls back", content("no idea"),
			map[string]string{"alertname": "HighErrorRate"}, 0, "warning", SourceLabels, "llm invalid answer: answer holds no JSON object", 1},
		{"invalid severity falls back", content(`{"severity":"sev1","confidence":0.9,"reason":"x"}`),
			map[string]string{"alertname": "HighErrorRate", "severity": "info"}, 0, "info", SourceLabels, `llm invalid answer: severity "sev1"`, 1},
		{"low confidence falls back (default 0.6)", content(`{"severity":"critical","confidence":0.55,"reason":"unsure"}`),
			map[string]string{"alertname": "HighErrorRate", "severity": "warning"}, 0, "warning", SourceLabels, "llm confidence 0.55 below 0.60 (said critical); labels: severity label", 1},
		{"custom min confidence", content(`{"severity":"critical","confidence":0.55,"reason":"unsure"}`),
			map[string]string{"alertname": "HighErrorRate", "severity": "warning"}, 0.5, "critical", SourceLLM, "unsure", 1},
		{"confidence at the minimum is accepted", content(`{"severity":"info","confidence":0.6,"reason":"fine"}`),
			map[string]string{"alertname": "HighErrorRate", "severity": "warning"}, 0, "info", SourceLLM, "fine", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			_, srv := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tc.reply(w, r)
			})
			// The fakes answer at once, except the one that never does: a
			// generous timeout keeps a loaded machine from turning an
			// answer into a timeout.
			timeout := 10 * time.Second
			if strings.HasPrefix(tc.reason, "llm timeout") {
				timeout = 200 * time.Millisecond
			}
			c := &Classifier{Rules: rules, MinConfidence: tc.min,
				LLM: &LLM{URL: srv.URL + "/v1", Model: "m", APIKey: testKey, Timeout: timeout}}
			got := c.Classify(context.Background(), alert.Alert{Status: "firing", Labels: tc.labels})
			if got.Severity != tc.severity || got.Source != tc.source || !strings.HasPrefix(got.Reason, tc.reason) {
				t.Fatalf("got %+v, want severity %s source %s reason %q...", got, tc.severity, tc.source, tc.reason)
			}
			if n := calls.Load(); n != tc.calls {
				t.Errorf("llm called %d times, want %d", n, tc.calls)
			}
		})
	}
}

func TestClassifierWithoutLLM(t *testing.T) {
	var nilC *Classifier
	if got := nilC.Classify(context.Background(), alert.Alert{Labels: map[string]string{"severity": "critical"}}); got.Severity != "critical" || got.Source != SourceLabels {
		t.Errorf("nil classifier: %+v", got)
	}
	if got := (&Classifier{}).Classify(context.Background(), alert.Alert{}); got.Severity != "warning" || got.Confidence != 0.5 {
		t.Errorf("zero classifier: %+v", got)
	}
}

func TestNew(t *testing.T) {
	rulesPath := writeFile(t, "rules.yaml", "rules:\n  - match: {alertname: Watchdog}\n    severity: info\n")
	c, err := New(Options{RulesFile: rulesPath, LLMURL: "https://llm.example/v1", LLMModel: "m1",
		LLMAPIKey: "k-123456", LLMTimeout: 750 * time.Millisecond, MinConfidence: 0.7})
	if err != nil {
		t.Fatal(err)
	}
	if c.Rules == nil || len(c.Rules.Rules) != 1 || c.LLM == nil || c.LLM.Timeout != 750*time.Millisecond ||
		c.LLM.Model != "m1" || c.LLM.APIKey != "k-123456" || c.MinConfidence != 0.7 {
		t.Fatalf("classifier %+v", c)
	}
	if got := c.Classify(context.Background(), alert.Alert{Labels: map[string]string{"alertname": "Watchdog"}}); got.Source != SourceRules {
		t.Errorf("rules file not used: %+v", got)
	}

	if _, err := New(Options{LLMURL: "https://llm.example/v1"}); err == nil || !strings.Contains(err.Error(), "model") {
		t.Errorf("url without model: %v", err)
	}
	if _, err := New(Options{LLMURL: "llm.example?key=" + testKey, LLMModel: "m"}); err == nil ||
		!strings.Contains(err.Error(), "absolute http(s) URL") || strings.Contains(err.Error(), testKey) {
		t.Errorf("bad url: %v", err)
	}
	if _, err := New(Options{RulesFile: writeFile(t, "bad.yaml", "rules:\n  - match: {a: b}\n    severity: p1\n")}); err == nil || !strings.Contains(err.Error(), "rule 0") {
		t.Errorf("bad rules: %v", err)
	}
	c, err = New(Options{})
	if err != nil || c.Rules != nil || c.LLM != nil {
		t.Errorf("empty options: %+v %v", c, err)
	}
}

func benchRules(n int) *Rules {
	r := &Rules{}
	for i := 0; i < n-1; i++ {
		r.Rules = append(r.Rules, Rule{
			Matchers: map[string]string{"alertname": fmt.Sprintf("Alert%d|Other%d.*", i, i), "namespace": "prod-.*"},
			Severity: "critical",
		})
	}
	r.Rules = append(r.Rules, Rule{Matchers: map[string]string{"alertname": "Target.*", "team": "payments|checkout"}, Severity: "info"})
	if err := r.Compile(); err != nil {
		panic(err)
	}
	return r
}

var benchLabels = map[string]string{
	"alertname": "TargetDown", "namespace": "prod-eu", "team": "checkout", "severity": "warning",
	"job": "node-exporter", "instance": "10.0.0.1:9100",
}

// BenchmarkClassify_Rules: 10 rules, the last one matches (worst case).
func BenchmarkClassify_Rules(b *testing.B) {
	c := &Classifier{Rules: benchRules(10)}
	a := alert.Alert{Labels: benchLabels}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if got := c.Classify(ctx, a); got.Source != SourceRules {
			b.Fatalf("got %+v", got)
		}
	}
}

// BenchmarkClassify_Labels: no rules, the severity label decides.
func BenchmarkClassify_Labels(b *testing.B) {
	c := &Classifier{}
	a := alert.Alert{Labels: benchLabels}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if got := c.Classify(ctx, a); got.Source != SourceLabels {
			b.Fatalf("got %+v", got)
		}
	}
}
