package classify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/publish"
)

const rulesYAML = `
rules:
  - match: {alertname: "Watchdog|InfoInhibitor"}
    severity: info
    reason: heartbeat alerts never page
  - match: {alertname: "KubePodCrashLooping", namespace: "kube-system|monitoring"}
    severity: critical
    reason: platform pods crash-looping
  - match: {alertname: "KubePodCrashLooping"}
    severity: warning
  - match: {team: "payments", severity: "warn.*"}
    severity: critical
    reason: payments warnings page
  - match: {env: ""}
    severity: info
    reason: alerts without env are from test clusters
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRulesClassify(t *testing.T) {
	r, err := LoadRules(writeFile(t, "rules.yaml", rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   publish.Classification
	}{
		{"first rule", map[string]string{"alertname": "Watchdog", "env": "prod", "severity": "none"},
			publish.Classification{Severity: "info", Confidence: 1, Reason: "heartbeat alerts never page", Source: SourceRules}},
		{"alternation", map[string]string{"alertname": "InfoInhibitor", "env": "prod"},
			publish.Classification{Severity: "info", Confidence: 1, Reason: "heartbeat alerts never page", Source: SourceRules}},
		{"anchored: no substring match", map[string]string{"alertname": "WatchdogX", "env": "prod", "severity": "critical"},
			publish.Classification{Severity: "critical", Confidence: 0.9, Reason: "severity label", Source: SourceLabels}},
		{"anchored: no prefix match", map[string]string{"alertname": "MyWatchdog", "env": "prod"},
			publish.Classification{Severity: "warning", Confidence: 0.5, Reason: "no severity label: default warning", Source: SourceLabels}},
		{"first match wins over later", map[string]string{"alertname": "KubePodCrashLooping", "namespace": "kube-system", "env": "prod"},
			publish.Classification{Severity: "critical", Confidence: 1, Reason: "platform pods crash-looping", Source: SourceRules}},
		{"all matchers must match", map[string]string{"alertname": "KubePodCrashLooping", "namespace": "default", "env": "prod"},
			publish.Classification{Severity: "warning", Confidence: 1, Reason: `matched alertname=~"KubePodCrashLooping"`, Source: SourceRules}},
		{"regex on severity label", map[string]string{"team": "payments", "severity": "warning", "env": "prod"},
			publish.Classification{Severity: "critical", Confidence: 1, Reason: "payments warnings page", Source: SourceRules}},
		{"missing label matches empty regex", map[string]string{"alertname": "X", "severity": "critical"},
			publish.Classification{Severity: "info", Confidence: 1, Reason: "alerts without env are from test clusters", Source: SourceRules}},
		{"labels: normalised", map[string]string{"alertname": "X", "severity": "page", "env": "prod"},
			publish.Classification{Severity: "critical", Confidence: 0.9, Reason: `severity label "page" normalised to critical`, Source: SourceLabels}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Classify(tc.labels, nil); got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestNilRulesUseLabels(t *testing.T) {
	var r *Rules
	if got := r.Classify(map[string]string{"severity": "critical"}, nil); got.Severity != "critical" || got.Source != SourceLabels || got.Confidence != 0.9 {
		t.Errorf("nil rules, severity label: %+v", got)
	}
	if got := r.Classify(nil, nil); got.Severity != "warning" || got.Confidence != 0.5 || got.Source != SourceLabels {
		t.Errorf("nil rules, no labels: %+v", got)
	}
	if got := (&Rules{}).Classify(map[string]string{"severity": "info"}, nil); got.Severity != "info" {
		t.Errorf("empty rules: %+v", got)
	}
}

func TestRulesBuiltInCodeWithoutCompile(t *testing.T) {
	r := &Rules{Rules: []Rule{
		{Matchers: map[string]string{"alertname": "("}, Severity: "critical"}, // invalid: skipped
		{Matchers: map[string]string{"alertname": "Disk.*"}, Severity: "critical", Reason: "disks"},
	}}
	got := r.Classify(map[string]string{"alertname": "DiskFull"}, nil)
	if got.Severity != "critical" || got.Reason != "disks" || got.Source != SourceRules {
		t.Fatalf("got %+v", got)
	}
	if err := r.Compile(); err == nil || !strings.Contains(err.Error(), "rule 0") {
		t.Fatalf("Compile of an invalid rule: %v", err)
	}
}

func TestLoadRulesJSON(t *testing.T) {
	p := writeFile(t, "rules.json", `{"rules":[{"match":{"alertname":"Watchdog"},"severity":"info","reason":"heartbeat"}]}`)
	r, err := LoadRules(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rules) != 1 {
		t.Fatalf("rules: %+v", r.Rules)
	}
	got := r.Classify(map[string]string{"alertname": "Watchdog", "severity": "critical"}, nil)
	if got.Severity != "info" || got.Reason != "heartbeat" || got.Source != SourceRules || got.Confidence != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestLoadRulesErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"invalid regex", "rules:\n  - match: {alertname: Good}\n    severity: info\n  - match: {alertname: \"Bad(\"}\n    severity: info\n",
			[]string{"rule 1", "alertname", "invalid regular expression", `"Bad("`}},
		{"invalid severity", "rules:\n  - match: {alertname: X}\n    severity: urgent\n",
			[]string{"rule 0", `severity "urgent"`, "critical, warning, info"}},
		{"severity case matters", "rules:\n  - match: {alertname: X}\n    severity: Critical\n",
			[]string{"rule 0", `"Critical"`}},
		{"missing severity", "rules:\n  - match: {alertname: X}\n",
			[]string{"rule 0", `severity ""`}},
		{"empty match", "rules:\n  - severity: info\n", []string{"rule 0", "match is empty"}},
		{"empty label name", "rules:\n  - match: {\"\": x}\n    severity: info\n", []string{"rule 0", "empty label name"}},
		{"unknown key", "rules:\n  - matchers: {alertname: X}\n    severity: info\n", []string{"matchers"}},
		{"not yaml", "rules: [", []string{"parse"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, "r.yaml", tc.content)
			_, err := LoadRules(p)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name the file: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := LoadRules(filepath.Join(t.TempDir(), "absent.yaml")); err == nil || !strings.Contains(err.Error(), "classifier rules") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEmptyRulesFile(t *testing.T) {
	r, err := LoadRules(writeFile(t, "empty.yaml", ""))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Classify(map[string]string{"severity": "info"}, nil); got.Severity != "info" || got.Source != SourceLabels {
		t.Fatalf("got %+v", got)
	}
}

func TestPriority(t *testing.T) {
	tests := map[string]int{
		"critical": 1, "warning": 3, "info": 5, "": 3, "bogus": 3, "page": 1, "CRITICAL": 1, "none": 5,
	}
	for sev, want := range tests {
		if got := Priority(sev); got != want {
			t.Errorf("Priority(%q) = %d, want %d", sev, got, want)
		}
	}
}
