package target_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

const parseJSONList = `[
  {"name": "team-a-slack", "type": "slack", "url": "https://hooks.slack.com/services/T0/B0/X",
   "filter": {"severity": ["critical", "warning"]}},
  {"name": "oncall", "type": "pagerduty", "routing_key": "R0UTING", "enabled": false,
   "retry": {"initial_interval": "2s", "backoff": 1.5, "max_interval": "1m", "max_attempts": 4}},
  {"name": "hook", "type": "webhook", "url": "https://example.com/h", "headers": {"Authorization": "Bearer x"}}
]`

const parseYAMLList = `
# the same targets, in YAML
- name: team-a-slack
  type: slack
  url: https://hooks.slack.com/services/T0/B0/X
  filter:
    severity: [critical, warning]
- name: oncall
  type: pagerduty
  routing_key: R0UTING
  enabled: false
  retry: {initial_interval: 2s, backoff: 1.5, max_interval: 1m, max_attempts: 4}
- name: hook
  type: webhook
  url: https://example.com/h
  headers:
    Authorization: Bearer x
`

func TestParseListJSONAndYAML(t *testing.T) {
	fromJSON, pj, err := target.ParseList([]byte(parseJSONList), "file:t.json")
	if err != nil || len(pj) != 0 {
		t.Fatalf("JSON: %v %+v", err, pj)
	}
	fromYAML, py, err := target.ParseList([]byte(parseYAMLList), "file:t.json")
	if err != nil || len(py) != 0 {
		t.Fatalf("YAML: %v %+v", err, py)
	}
	if !reflect.DeepEqual(fromJSON, fromYAML) {
		t.Errorf("JSON and YAML differ:\n%+v\n%+v", fromJSON, fromYAML)
	}
	if len(fromJSON) != 3 {
		t.Fatalf("got %d targets", len(fromJSON))
	}
	for i, tg := range fromJSON {
		if want := fmt.Sprintf("file:t.json#%d", i); tg.Origin != want {
			t.Errorf("origin = %q, want %q", tg.Origin, want)
		}
	}
	pd := fromJSON[1]
	if pd.IsEnabled() {
		t.Errorf("oncall should be disabled")
	}
	wantRetry := target.RetryPolicy{InitialInterval: 2 * time.Second, Backoff: 1.5, MaxInterval: time.Minute, MaxAttempts: 4}
	if got := pd.RetryPolicy(); got != wantRetry {
		t.Errorf("retry = %+v, want %+v", got, wantRetry)
	}
	if got := fromJSON[0].Filter["severity"]; !reflect.DeepEqual(got, []string{"critical", "warning"}) {
		t.Errorf("filter = %v", got)
	}
}

func TestParseListProblems(t *testing.T) {
	data := `[
	  {"name": "a", "type": "webhook", "url": "https://example.com/a"},
	  {"name": "b", "type": "webhook"},
	  {"name": "c", "type": "webhook", "url": "https://example.com/c", "colour": "red"},
	  null,
	  {"name": "a", "type": "slack", "url": "https://hooks.slack.com/x"},
	  {"name": "d", "type": "webhook", "url": "https://example.com/d", "enabled": "no"},
	  {"name": "e", "type": "webhook", "url": "https://example.com/e"}
	]`
	targets, problems, err := target.ParseList([]byte(data), "file:x")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Name)
	}
	if fmt.Sprint(names) != "[a e]" {
		t.Errorf("targets = %v, want [a e]", names)
	}
	want := []struct{ origin, target, reason, msg string }{
		{"file:x#1", "b", "invalid_target", "field url: is required for type webhook"},
		{"file:x#2", "c", "invalid_json", `unknown field "colour"`},
		{"file:x#3", "", "invalid_json", "empty document"},
		{"file:x#4", "a", "duplicate_name", "already defined by file:x#0"},
		{"file:x#5", "d", "invalid_json", "cannot unmarshal string"},
	}
	if len(problems) != len(want) {
		t.Fatalf("problems = %+v", problems)
	}
	for i, w := range want {
		p := problems[i]
		if p.Origin != w.origin || p.Target != w.target || p.Reason != w.reason || !strings.Contains(p.Message, w.msg) {
			t.Errorf("problem %d = %+v, want %+v", i, p, w)
		}
	}
}

func TestParseListWholeFile(t *testing.T) {
	tests := []struct {
		name        string
		data        string
		wantErr     string
		wantTargets int
	}{
		{name: "empty", data: ""},
		{name: "blank", data: "  \n\n"},
		{name: "trailing empty document", data: "- {name: a, type: webhook, url: 'https://x.example'}\n---\n", wantTargets: 1},
		{name: "comments only", data: "# nothing yet\n"},
		{name: "null", data: "null"},
		{name: "empty list", data: "[]"},
		{name: "object instead of list", data: `{"name": "a", "type": "webhook", "url": "https://x.example"}`, wantErr: "want a list of target objects"},
		{name: "broken yaml", data: "- name: a\n  type: [webhook\n", wantErr: "not valid JSON or YAML"},
		{name: "broken json", data: `[{"name": "a",]`, wantErr: "not valid JSON or YAML"},
		{name: "two documents", data: "- {name: a, type: webhook, url: 'https://x.example'}\n---\n- {name: b, type: webhook, url: 'https://x.example'}\n",
			wantErr: "more than one document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			targets, problems, err := target.ParseList([]byte(tc.data), "file:f.yaml")
			if tc.wantErr == "" {
				if err != nil || len(targets) != tc.wantTargets || len(problems) != 0 {
					t.Errorf("got %v %v %v, want %d targets", targets, problems, err, tc.wantTargets)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "file:f.yaml: ") {
				t.Errorf("error = %v, want it to name the file and contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseOne(t *testing.T) {
	tests := []struct {
		name       string
		data       string
		wantErr    string
		wantReason string
		check      func(t *testing.T, tg target.Target)
	}{
		{name: "json", data: `{"name": "a", "type": "webhook", "url": "https://example.com"}`,
			check: func(t *testing.T, tg target.Target) {
				if tg.Name != "a" || tg.Origin != "secret:ns/a" {
					t.Errorf("target = %+v", tg)
				}
			}},
		{name: "yaml", data: "name: a\ntype: webhook\nurl: https://example.com\n"},
		{name: "durations as numbers", data: `{"name": "a", "type": "webhook", "url": "https://example.com", "retry": {"initial_interval": 2, "max_interval": "90s"}}`,
			check: func(t *testing.T, tg target.Target) {
				if p := tg.RetryPolicy(); p.InitialInterval != 2*time.Second || p.MaxInterval != 90*time.Second {
					t.Errorf("retry = %+v", p)
				}
			}},
		{name: "bad duration", data: `{"name": "a", "type": "webhook", "url": "https://example.com", "retry": {"initial_interval": "soon"}}`,
			wantErr: `invalid duration "soon"`, wantReason: "invalid_json"},
		{name: "empty", data: "", wantErr: "empty document", wantReason: "invalid_json"},
		{name: "list", data: `[{"name": "a"}]`, wantErr: "malformed target object", wantReason: "invalid_json"},
		{name: "scalar", data: `"a"`, wantErr: "malformed target object", wantReason: "invalid_json"},
		{name: "trailing garbage", data: `{"name": "a", "type": "webhook", "url": "https://example.com"} x`, wantErr: "malformed target object", wantReason: "invalid_json"},
		{name: "two objects", data: "{\"name\": \"a\", \"type\": \"webhook\", \"url\": \"https://example.com\"}\n{\"name\": \"b\"}",
			wantErr: "malformed target object", wantReason: "invalid_json"},
		{name: "two yaml documents", data: "name: a\ntype: webhook\nurl: https://example.com\n---\nname: b\n",
			wantErr: "more than one document", wantReason: "invalid_json"},
		{name: "invalid", data: `{"name": "a", "type": "webhook"}`, wantErr: "field url", wantReason: "invalid_target"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := target.ParseOne([]byte(tc.data), "secret:ns/a")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if p := target.ProblemFor("secret:ns/a", tg.Name, err); p.Reason != tc.wantReason {
					t.Errorf("reason = %q, want %q", p.Reason, tc.wantReason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, tg)
			}
		})
	}
}

func TestProblemForUnwraps(t *testing.T) {
	wrapped := fmt.Errorf("secret x: %w", &target.ParseError{Msg: "bad"})
	if p := target.ProblemFor("o", "", wrapped); p.Reason != "invalid_json" {
		t.Errorf("wrapped ParseError classified as %q", p.Reason)
	}
	if p := target.ProblemFor("o", "n", errors.New("other")); p.Reason != "invalid_target" || p.Target != "n" || p.Origin != "o" {
		t.Errorf("problem = %+v", p)
	}
}
