package target_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

// benchTargetsJSON is a targets file of n entries cycling through the five
// types, with filters, headers and retry policies.
func benchTargetsJSON(b *testing.B, n int) []byte {
	b.Helper()
	var list []map[string]any
	for i := range n {
		name := fmt.Sprintf("target-%02d", i)
		t := map[string]any{"name": name, "enabled": true,
			"filter": map[string][]string{"severity": {"critical", "warning"}, "team": {"payments"}},
			"retry":  map[string]any{"initial_interval": "1s", "backoff": 2.0, "max_interval": "5m", "max_attempts": 10}}
		switch i % 5 {
		case 0:
			t["type"], t["url"] = "slack", "https://hooks.slack.com/services/T0/B0/"+name
		case 1:
			t["type"], t["url"], t["routing_key"] = "pagerduty", "https://events.pagerduty.com", "R0UT1NGKEY01234567890123456789"+fmt.Sprintf("%02d", i)
		case 2:
			t["type"], t["url"], t["token"] = "rootly", "https://api.rootly.com", "rootly-token-"+name
		case 3:
			t["type"], t["url"], t["headers"] = "webhook", "https://example.com/hooks/"+name, map[string]string{"Authorization": "Bearer x-" + name}
		default:
			t["type"], t["url"] = "alertmanager", "http://alertmanager-"+name+":9093"
		}
		list = append(list, t)
	}
	body, err := json.Marshal(list)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// benchTargetsYAML is the same list as YAML, one key per line (values in
// JSON flow style, which is valid YAML).
func benchTargetsYAML(b *testing.B, n int) []byte {
	b.Helper()
	var list []map[string]any
	if err := json.Unmarshal(benchTargetsJSON(b, n), &list); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for _, t := range list {
		sb.WriteString("- ")
		first := true
		for k, v := range t {
			if !first {
				sb.WriteString("  ")
			}
			first = false
			js, _ := json.Marshal(v)
			fmt.Fprintf(&sb, "%s: %s\n", k, js)
		}
	}
	return []byte(sb.String())
}

func benchmarkParseList(b *testing.B, data []byte, n int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ts, problems, err := target.ParseList(data, "file:bench")
		if err != nil || len(problems) > 0 || len(ts) != n {
			b.Fatalf("parse: %d targets, problems %v, err %v", len(ts), problems, err)
		}
	}
}

// BenchmarkParseList_JSON_10 and _YAML_10: a targets file of ten targets
// (decode and validate every entry), as on every reload.
func BenchmarkParseList_JSON_10(b *testing.B) { benchmarkParseList(b, benchTargetsJSON(b, 10), 10) }
func BenchmarkParseList_YAML_10(b *testing.B) { benchmarkParseList(b, benchTargetsYAML(b, 10), 10) }

// BenchmarkParseOne_Secret: one target object, as in a Kubernetes Secret's
// config key.
func BenchmarkParseOne_Secret(b *testing.B) {
	data := []byte(`{"name":"team-a-slack","type":"slack","url":"https://hooks.slack.com/services/T0/B0/x",` +
		`"filter":{"severity":["critical","warning"]},"retry":{"initial_interval":"2s","max_attempts":5}}`)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := target.ParseOne(data, "secret:monitoring/team-a-slack"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFilterMatches(b *testing.B) {
	f := target.Filter{"severity": {"critical", "warning"}, "team": {"checkout", "payments"}, "cluster": {"prod-eu1"}}
	labels := map[string]string{"alertname": "HighErrorRate", "severity": "warning", "team": "payments",
		"cluster": "prod-eu1", "instance": "checkout-7f9c:8080"}
	b.ReportAllocs()
	for b.Loop() {
		if !f.Matches(labels) {
			b.Fatal("filter does not match")
		}
	}
}

// BenchmarkPublic: the redacted view GET /api/v1/targets returns per target.
func BenchmarkPublic(b *testing.B) {
	t := target.Target{Name: "ops-hook", Type: "webhook", URL: "https://user:pw@example.com/hooks/abc?token=t0k3n",
		Headers: map[string]string{"Authorization": "Bearer hook-secret", "X-Team": "ops"}}
	b.ReportAllocs()
	for b.Loop() {
		if p := t.Public(); strings.Contains(p.URL, "t0k3n") {
			b.Fatal("token in public URL")
		}
	}
}

func benchRegistry(n int) (*target.Registry, []string) {
	reg := target.NewRegistry()
	ts := make([]target.Target, n)
	names := make([]string, n)
	for i := range ts {
		names[i] = fmt.Sprintf("target-%d", i)
		ts[i] = target.Target{Name: names[i], Type: "webhook", URL: "https://example.com/" + names[i]}
	}
	reg.Update("bench", ts, nil)
	return reg, names
}

// BenchmarkRegistryGet: one lookup by name, as each delivery does.
func BenchmarkRegistryGet(b *testing.B) {
	reg, names := benchRegistry(100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := reg.Get(names[i%len(names)]); !ok {
			b.Fatal("missing target")
		}
		i++
	}
}

// BenchmarkRegistrySnapshot: the consistent view target resolution takes,
// then the enabled targets of it.
func BenchmarkRegistrySnapshot(b *testing.B) {
	reg, _ := benchRegistry(100)
	b.ReportAllocs()
	for b.Loop() {
		s := reg.Snapshot()
		if len(s.Enabled()) != 100 {
			b.Fatal("wrong count")
		}
	}
}
