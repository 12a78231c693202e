package target_test

import (
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

// checkParsedTarget asserts what holds for every target a parser accepts:
// it validates, its public view shows no credential, and its JSON encoding
// parses back to the same target.
func checkParsedTarget(t *testing.T, tg target.Target) {
	t.Helper()
	if err := tg.Validate(); err != nil {
		t.Fatalf("accepted target does not validate: %v", err)
	}
	p := tg.Public()
	for k, v := range p.Headers {
		if v != target.Redacted {
			t.Fatalf("public header %q = %q", k, v)
		}
	}
	if (p.RoutingKey != "" && p.RoutingKey != target.Redacted) || (p.Token != "" && p.Token != target.Redacted) {
		t.Fatalf("public routing key/token not redacted: %+v", p)
	}
	if p.URL != "" && p.URL != target.Redacted {
		u, err := url.Parse(p.URL)
		if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
			(u.Path != "" && u.Path != "/"+target.Redacted) {
			t.Fatalf("public url %q keeps more than scheme and host", p.URL)
		}
	}
	b, err := json.Marshal(tg)
	if err != nil {
		t.Fatalf("encode accepted target: %v", err)
	}
	again, err := target.ParseOne(b, tg.Origin)
	if err != nil {
		t.Fatalf("re-encoded target %s rejected: %v", b, err)
	}
	if again.Name != tg.Name || again.Type != tg.Type || again.URL != tg.URL || again.IsEnabled() != tg.IsEnabled() ||
		!reflect.DeepEqual(again.Config, tg.Config) || again.RetryPolicy() != tg.RetryPolicy() {
		t.Fatalf("target changed in a round trip:\n%+v\n%+v", tg, again)
	}
}

// credentialsIn returns the credential-looking values of a JSON target
// object: routing_key, token and header values of twelve or more letters
// and digits (shorter or punctuated values may occur in a message by chance).
func credentialsIn(config []byte) []string {
	var raw struct {
		RoutingKey any            `json:"routing_key"`
		Token      any            `json:"token"`
		Headers    map[string]any `json:"headers"`
	}
	if json.Unmarshal(config, &raw) != nil {
		return nil
	}
	vals := []any{raw.RoutingKey, raw.Token}
	for _, v := range raw.Headers {
		vals = append(vals, v)
	}
	var out []string
	for _, v := range vals {
		s, ok := v.(string)
		if !ok || len(s) < 12 || strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			continue
		}
		out = append(out, s)
	}
	return out
}

var problemReasons = map[string]bool{"invalid_json": true, "invalid_target": true, "duplicate_name": true}

// FuzzParseList: the targets file (JSON or YAML list).
func FuzzParseList(f *testing.F) {
	f.Add([]byte(parseJSONList))
	f.Add([]byte(parseYAMLList))
	f.Add([]byte(`[{"name":"a","type":"webhook","url":"http://u:p@h/x?t=1"},{"name":"a","type":"webhook","url":"http://h"}]`))
	f.Add([]byte("- name: x\n  type: slack\n---\n- name: y\n"))
	f.Add([]byte(`{"name":"not-a-list","type":"webhook","url":"http://h"}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, data []byte) {
		targets, problems, err := target.ParseList(data, "file:f.yaml")
		if err != nil {
			if targets != nil || problems != nil {
				t.Fatalf("error %v with results", err)
			}
			if !strings.HasPrefix(err.Error(), "file:f.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, tg := range targets {
			if seen[tg.Name] {
				t.Fatalf("duplicate name %q accepted", tg.Name)
			}
			seen[tg.Name] = true
			if !strings.HasPrefix(tg.Origin, "file:f.yaml#") {
				t.Fatalf("origin %q", tg.Origin)
			}
			checkParsedTarget(t, tg)
		}
		for _, p := range problems {
			if !problemReasons[p.Reason] || p.Message == "" || !strings.HasPrefix(p.Origin, "file:f.yaml#") {
				t.Fatalf("problem %+v", p)
			}
		}
	})
}

// FuzzParseOne: one target object, as a Kubernetes Secret's config key holds
// it (JSON or YAML).
func FuzzParseOne(f *testing.F) {
	f.Add([]byte(`{"name":"oncall","type":"pagerduty","routing_key":"R0UTING","retry":{"initial_interval":"2s","backoff":1.5}}`))
	f.Add([]byte("name: hook\ntype: webhook\nurl: https://example.com/h\nheaders:\n  Authorization: Bearer x\n"))
	f.Add([]byte(`{"name":"s","type":"slack","token":"xoxb-1","channel":"#c","template":{"title":"{{.Alert.Name}}"}}`))
	f.Add([]byte(`{"name":"r","type":"rootly","token":"t0k3n","rate_limit":{"per_second":0.5,"burst":2},"unknown":1}`))
	f.Add([]byte("a: b\n---\nc: d\n"))
	f.Add([]byte(`{"name":"Bad Name","type":"pagerduty","routing_key":"R0UTINGKEY0123456"}`))
	f.Add([]byte(`{"name":"h","type":"webhook","url":"ftp://x","headers":{"Authorization":"S3CRETVALUE00000"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tg, err := target.ParseOne(data, "secret:ns/x")
		if err != nil {
			// The message reaches GET /api/v1/targets (problems) and logs.
			msg := target.ProblemFor("secret:ns/x", tg.Name, err).Message
			for _, c := range credentialsIn(data) {
				if strings.Contains(msg, c) {
					t.Fatalf("problem message %q repeats the credential %q", msg, c)
				}
			}
			return
		}
		if tg.Origin != "secret:ns/x" {
			t.Fatalf("origin %q", tg.Origin)
		}
		checkParsedTarget(t, tg)
	})
}
