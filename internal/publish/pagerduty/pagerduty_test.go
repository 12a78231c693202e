package pagerduty_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

const routingKey = "R0UTINGKEY0123456789abcdefABCDEF"

func newTarget(url string) target.Target {
	return target.Target{Name: "payments-pd", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: routingKey}, URL: url}
}

var accepted = publishtest.JSON(http.StatusAccepted, map[string]string{
	"status": "success", "message": "Event processed", "dedup_key": "herald-c0ffee1234567890"})

func publishOne(t *testing.T, tg target.Target, srv *publishtest.Server, n publish.Notification) (publish.Result, publishtest.Request) {
	t.Helper()
	res, err := (&pagerduty.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, n)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res, srv.Request(t, len(srv.Requests())-1)
}

func TestTriggerRequest(t *testing.T) {
	srv := publishtest.NewServer(t, accepted)
	res, req := publishOne(t, newTarget(srv.URL), srv, publishtest.Firing())

	if req.Method != http.MethodPost || req.Path != "/v2/enqueue" {
		t.Errorf("request = %s %s, want POST /v2/enqueue", req.Method, req.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if req.Header.Get("Authorization") != "" {
		t.Error("the Events API authenticates by routing_key; no Authorization header expected")
	}
	a := publishtest.Alert()
	want := map[string]any{
		"routing_key":                                routingKey,
		"event_action":                               "trigger",
		"dedup_key":                                  "herald-c0ffee1234567890",
		"payload.summary":                            "HighErrorRate: Checkout error rate above 5%",
		"payload.source":                             "checkout-7f9c:8080",
		"payload.severity":                           "critical",
		"payload.timestamp":                          "2024-05-06T06:58:09Z",
		"payload.component":                          "checkout",
		"payload.group":                              "payments",
		"payload.class":                              "HighErrorRate",
		"payload.custom_details.fingerprint":         "c0ffee1234567890",
		"payload.custom_details.labels.cluster":      "prod-eu1",
		"payload.custom_details.annotations.summary": "Checkout error rate above 5%",
		"payload.custom_details.truncated":           nil,
		"links.0.href":                               a.GeneratorURL,
		"links.1.href":                               a.Annotations["runbook_url"],
		"links.1.text":                               "Runbook",
		"client":                                     "Herald",
		"client_url":                                 "http://alertmanager.example.com",
	}
	for path, w := range want {
		if got := req.Get(path); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	if res.StatusCode != http.StatusAccepted || res.State[pagerduty.StateDedupKey] != "herald-c0ffee1234567890" {
		t.Errorf("result = %+v", res)
	}
}

func TestResolveRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state publish.ProviderState
		want  string
	}{
		{name: "dedup key from state", state: publish.ProviderState{pagerduty.StateDedupKey: "pd-returned-key"}, want: "pd-returned-key"},
		{name: "dedup key from fingerprint", want: "herald-c0ffee1234567890"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.JSON(202, map[string]string{"status": "success", "dedup_key": tc.want}))
			res, req := publishOne(t, newTarget(srv.URL), srv, publishtest.Resolved(tc.state))
			body := req.JSON.(map[string]any)
			keys := make([]string, 0, len(body))
			for k := range body {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "dedup_key,event_action,routing_key" {
				t.Errorf("resolve body keys = %v, want routing_key, dedup_key, event_action only", keys)
			}
			if body["event_action"] != "resolve" || body["dedup_key"] != tc.want || body["routing_key"] != routingKey {
				t.Errorf("resolve body = %s", req.Body)
			}
			if res.State[pagerduty.StateDedupKey] != tc.want {
				t.Errorf("state = %v", res.State)
			}
		})
	}
}

func TestDedupKeyStable(t *testing.T) {
	a, b := publishtest.Firing(), publishtest.Update(nil)
	b.Alert.Annotations = map[string]string{"summary": "changed"}
	if pagerduty.DedupKey(a) != pagerduty.DedupKey(b) {
		t.Error("one alert must keep one dedup_key across updates")
	}
	c := publishtest.Firing()
	c.Alert.Fingerprint = ""
	if k := pagerduty.DedupKey(c); !strings.HasPrefix(k, "herald-") || len(k) < 10 {
		t.Errorf("dedup key without fingerprint = %q", k)
	}
	d := publishtest.Firing()
	d.Alert.Fingerprint = strings.Repeat("f", 400)
	if k := pagerduty.DedupKey(d); len(k) != pagerduty.MaxDedupKey {
		t.Errorf("dedup key length = %d, want %d", len(k), pagerduty.MaxDedupKey)
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct{ label, classified, want string }{
		{"critical", "", "critical"},
		{"page", "", "critical"},
		{"error", "", "error"},
		{"warning", "", "warning"},
		{"", "", "warning"},
		{"info", "", "info"},
		{"none", "", "info"},
		{"warning", "critical", "critical"},
		{"critical", "info", "info"},
	} {
		n := publishtest.Firing()
		n.Alert.Labels = map[string]string{"severity": tc.label}
		n.Classification.Severity = tc.classified
		if got := pagerduty.Severity(n); got != tc.want {
			t.Errorf("label %q classified %q: severity %q, want %q", tc.label, tc.classified, got, tc.want)
		}
	}
}

func TestPayloadFields(t *testing.T) {
	bare := publishtest.Firing()
	bare.Alert.Labels = map[string]string{"alertname": "Bare"}
	bare.Alert.Annotations = nil
	for _, tc := range []struct {
		name string
		tg   func(target.Target) target.Target
		n    publish.Notification
		want map[string]string
	}{
		{name: "no labels: defaults", n: bare, want: map[string]string{
			"source": "herald", "component": "", "group": "", "class": "Bare", "summary": "Bare"}},
		{name: "target options fill missing labels", n: bare,
			tg: func(t target.Target) target.Target {
				pdConfig(&t).PagerDuty = &pagerduty.Options{Source: "k8s-prod", Component: "api", Group: "platform", Class: "slo"}
				return t
			},
			want: map[string]string{"source": "k8s-prod", "component": "api", "group": "platform", "class": "slo"}},
		{name: "class label wins over the class option", n: func() publish.Notification {
			n := publishtest.Firing()
			n.Alert.Labels = map[string]string{"alertname": "Bare", "class": "latency"}
			return n
		}(),
			tg: func(t target.Target) target.Target {
				pdConfig(&t).PagerDuty = &pagerduty.Options{Class: "slo"}
				return t
			},
			want: map[string]string{"class": "latency"}},
		{name: "labels win over options", n: publishtest.Firing(),
			tg: func(t target.Target) target.Target {
				pdConfig(&t).PagerDuty = &pagerduty.Options{Source: "k8s-prod"}
				return t
			},
			want: map[string]string{"source": "checkout-7f9c:8080"}},
		{name: "template title and body", n: publishtest.Firing(),
			tg: func(t target.Target) target.Target {
				t.Template = &target.TemplateSpec{Title: "[{{ .Labels.cluster }}] {{ .Name }}", Body: "see {{ .Labels.team }}"}
				return t
			},
			want: map[string]string{"summary": "[prod-eu1] HighErrorRate", "custom_details.text": "see payments"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("")
			if tc.tg != nil {
				tg = tc.tg(tg)
			}
			body, err := pagerduty.Format(tg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			for k, w := range tc.want {
				got, _ := publishtest.Get(doc, "payload."+k).(string)
				if got != w {
					t.Errorf("payload.%s = %q, want %q", k, got, w)
				}
			}
		})
	}
}

func TestSummaryTruncated(t *testing.T) {
	for _, tc := range []struct {
		name, summary string
	}{
		{"ascii", strings.Repeat("a", 3000)},
		{"multibyte", strings.Repeat("ü", 1500)},
		{"exactly the limit", strings.Repeat("b", pagerduty.MaxSummary)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := publishtest.Firing()
			n.Alert.Labels = map[string]string{"alertname": tc.summary}
			n.Alert.Annotations = nil
			ev, err := pagerduty.Build(newTarget(""), n)
			if err != nil {
				t.Fatal(err)
			}
			s := ev.Payload.Summary
			if c := utf8.RuneCountInString(s); c > pagerduty.MaxSummary || !utf8.ValidString(s) {
				t.Fatalf("summary has %d characters (valid utf8: %v)", c, utf8.ValidString(s))
			}
			if utf8.RuneCountInString(tc.summary) > pagerduty.MaxSummary {
				if !strings.HasSuffix(s, "…") || utf8.RuneCountInString(s) != pagerduty.MaxSummary {
					t.Errorf("a cut summary must end with an ellipsis and use the full limit")
				}
			} else if s != tc.summary {
				t.Error("a summary within the limit must be kept")
			}
		})
	}
}

// TestEventSizeLimit: whatever the labels and annotations hold, the event
// PagerDuty receives is at most 512,000 bytes, valid, and keeps routing
// key, dedup key, action, summary, source, severity and fingerprint.
func TestEventSizeLimit(t *testing.T) {
	huge := strings.Repeat("x", 300*1024)
	big := func(n int) string { return strings.Repeat("<&>", n/3) } // escaped by JSON: 6 bytes each
	manyLabels := func() map[string]string {
		m := map[string]string{"alertname": "Big"}
		for i := 0; i < 3000; i++ {
			m["label_"+strings.Repeat("k", 10)+string(rune('a'+i%26))+strings.Repeat("z", i%50)+"_"+itoa(i)] = strings.Repeat("v", 300)
		}
		return m
	}
	for _, tc := range []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		externalURL string
		keepLabels  bool
		between     bool // the untrimmed event is over 512000 but within 512 KiB
	}{
		{name: "huge annotations", annotations: map[string]string{"description": huge, "detail": huge, "summary": "short"}, keepLabels: true},
		{name: "huge labels", labels: manyLabels()},
		{name: "between 512000 and 524288 bytes", annotations: map[string]string{"description": strings.Repeat("y", 511000), "summary": "s"},
			externalURL: "http://am.example.com/" + strings.Repeat("u", 2000), keepLabels: true, between: true},
		{name: "huge source, component, group and class labels", labels: map[string]string{
			"alertname": "Big", "instance": big(200000), "service": big(200000), "team": big(200000), "class": big(200000)}},
		{name: "huge alertname (summary and class)", labels: map[string]string{"alertname": big(600000)}},
		{name: "huge link annotations", annotations: map[string]string{
			"summary": "s", "runbook_url": "https://r.example.com/" + huge, "dashboard_url": "https://d.example.com/" + huge}},
		{name: "huge external URL", externalURL: "http://am.example.com/" + huge + huge},
		{name: "everything huge", labels: func() map[string]string {
			m := manyLabels()
			m["instance"], m["component"], m["group"], m["class"] = huge, huge, huge, huge
			return m
		}(), annotations: map[string]string{"summary": huge, "description": huge, "runbook_url": huge, "dashboard_url": huge},
			externalURL: huge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := publishtest.Firing()
			if tc.labels != nil {
				n.Alert.Labels = tc.labels
			}
			if tc.annotations != nil {
				n.Alert.Annotations = tc.annotations
			}
			if tc.externalURL != "" {
				n.Alert.ExternalURL = tc.externalURL
			}
			before := len(n.Alert.Annotations["description"])
			if tc.between {
				ev, err := pagerduty.Build(newTarget(""), n)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := json.Marshal(ev)
				if len(raw) <= 512000 || len(raw) > 512*1024 {
					t.Fatalf("untrimmed event is %d bytes; the case needs 512001..524288", len(raw))
				}
			}
			srv := publishtest.NewServer(t, accepted)
			_, req := publishOne(t, newTarget(srv.URL), srv, n)
			if len(req.Body) > pagerduty.MaxEventSize || pagerduty.MaxEventSize != 512000 {
				t.Fatalf("event is %d bytes, limit %d (want 512000)", len(req.Body), pagerduty.MaxEventSize)
			}
			if req.JSON == nil {
				t.Fatal("the event is not valid JSON")
			}
			if req.Get("payload.custom_details.truncated") != true {
				t.Error("trimmed details must be marked truncated")
			}
			for _, f := range []string{"routing_key", "dedup_key", "event_action", "payload.summary", "payload.source",
				"payload.severity", "payload.class"} {
				if req.String(f) == "" {
					t.Errorf("%s is missing after trimming", f)
				}
			}
			if req.String("payload.custom_details.fingerprint") != "c0ffee1234567890" {
				t.Error("the fingerprint must survive trimming")
			}
			for _, f := range []string{"payload.source", "payload.component", "payload.group", "payload.class"} {
				if c := utf8.RuneCountInString(req.String(f)); c > pagerduty.MaxField {
					t.Errorf("%s has %d characters, want at most %d", f, c, pagerduty.MaxField)
				}
			}
			if tc.keepLabels && req.String("payload.custom_details.labels.alertname") != "HighErrorRate" {
				t.Error("labels should survive when trimming annotations is enough")
			}
			if len(n.Alert.Annotations["description"]) != before {
				t.Error("trimming modified the alert")
			}
		})
	}
}

// TestEventTooLargeIsNeverSent: an event that cannot be trimmed under the
// limit (here: a huge routing key) fails permanently without a request.
func TestEventTooLargeIsNeverSent(t *testing.T) {
	srv := publishtest.NewServer(t, accepted)
	tg := newTarget(srv.URL)
	pdConfig(&tg).RoutingKey = strings.Repeat("k", pagerduty.MaxEventSize)
	_, err := (&pagerduty.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, publishtest.Firing())
	pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
	if !strings.Contains(pe.Msg, "over the limit of 512000 bytes") {
		t.Errorf("msg = %q", pe.Msg)
	}
	publishtest.AssertNoSecret(t, pe.Error(), pdConfig(&tg).RoutingKey)
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("PagerDuty received %d requests, want 0", n)
	}
}

// TestRoutingKeyRotation: every event of an alert uses the routing key its
// trigger used, recorded as a fingerprint (never the key) in the provider
// state, even after the target's routing_key was rotated.
func TestRoutingKeyRotation(t *testing.T) {
	const oldKey, newKey = "OLDKEY0123456789abcdefABCDEF0000", "NEWKEY0123456789abcdefABCDEF1111"
	srv := publishtest.NewServer(t)
	srv.Default = accepted
	pub := &pagerduty.Publisher{Client: srv.Client()}
	tgWith := func(key string, previous ...string) target.Target {
		tg := newTarget(srv.URL)
		pdConfig(&tg).RoutingKey = key
		if previous != nil {
			pdConfig(&tg).PagerDuty = &pagerduty.Options{PreviousRoutingKeys: previous}
		}
		if err := tg.Validate(); err != nil {
			t.Fatal(err)
		}
		return tg
	}
	res, err := pub.Publish(context.Background(), tgWith(oldKey), publishtest.Firing())
	if err != nil {
		t.Fatal(err)
	}
	fp := res.State[pagerduty.StateKeyFingerprint]
	if len(fp) != 16 || fp != pagerduty.KeyFingerprint(oldKey) || strings.Contains(oldKey, fp) {
		t.Fatalf("state fingerprint = %q, want 16 hex characters of sha256 (not part of the key)", fp)
	}
	publishtest.AssertNoSecret(t, fmt.Sprint(res.State), oldKey)
	state := res.State

	for _, tc := range []struct {
		name     string
		tg       target.Target
		n        publish.Notification
		wantKey  string
		wantFail bool
	}{
		{name: "resolve after rotation uses the trigger's key", tg: tgWith(newKey, oldKey), n: publishtest.Resolved(state), wantKey: oldKey},
		{name: "update after rotation uses the trigger's key", tg: tgWith(newKey, "SOMEOTHERKEY", oldKey), n: publishtest.Update(state), wantKey: oldKey},
		{name: "resolve without rotation", tg: tgWith(oldKey), n: publishtest.Resolved(state), wantKey: oldKey},
		{name: "resolve of a legacy alert without fingerprint uses routing_key", tg: tgWith(newKey, oldKey),
			n: publishtest.Resolved(publish.ProviderState{pagerduty.StateDedupKey: "herald-c0ffee1234567890"}), wantKey: newKey},
		{name: "resolve after rotation without the old key fails", tg: tgWith(newKey), n: publishtest.Resolved(state), wantFail: true},
		{name: "update after rotation without the old key triggers with routing_key", tg: tgWith(newKey), n: publishtest.Update(state), wantKey: newKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := len(srv.Requests())
			res, err := pub.Publish(context.Background(), tc.tg, tc.n)
			if tc.wantFail {
				pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
				if !strings.Contains(pe.Msg, "previous_routing_keys") || !strings.Contains(pe.Msg, fp) {
					t.Errorf("msg = %q, want it to name the fingerprint and previous_routing_keys", pe.Msg)
				}
				publishtest.AssertNoSecret(t, pe.Error(), oldKey, newKey)
				if len(srv.Requests()) != sent {
					t.Error("a resolve with an unknown key must not be sent")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			req := srv.Request(t, sent)
			if got := req.String("routing_key"); got != tc.wantKey {
				t.Errorf("routing_key = %q, want %q", got, tc.wantKey)
			}
			if got := res.State[pagerduty.StateKeyFingerprint]; got != pagerduty.KeyFingerprint(tc.wantKey) {
				t.Errorf("state fingerprint = %q, want that of the key used", got)
			}
		})
	}
}

func TestPreviousRoutingKeysAreSecrets(t *testing.T) {
	tg := newTarget("")
	pdConfig(&tg).PagerDuty = &pagerduty.Options{PreviousRoutingKeys: []string{"OLDKEY-abcdef-0123"}}
	if got := publish.Redact("bad key OLDKEY-abcdef-0123", tg.Secrets()); strings.Contains(got, "OLDKEY") {
		t.Errorf("previous routing key not redacted: %q", got)
	}
	pdConfig(&tg).PagerDuty.PreviousRoutingKeys = []string{" "}
	if err := tg.Validate(); err == nil || !strings.Contains(err.Error(), "previous_routing_keys[0]") {
		t.Errorf("empty previous key: Validate = %v", err)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestClassification(t *testing.T) {
	invalid := publishtest.JSON(400, map[string]any{"status": "invalid event", "message": "Event object is invalid",
		"errors": []string{"Length of 'routing_key' is incorrect (should be 32 characters)"}})
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
		msg       string
	}{
		{"400 invalid event", invalid, publish.KindHTTPClient, false, 0, "Event object is invalid: Length of 'routing_key' is incorrect"},
		{"401", publishtest.Status(401, ""), publish.KindHTTPClient, false, 0, ""},
		{"403", publishtest.Status(403, ""), publish.KindHTTPClient, false, 0, ""},
		{"404", publishtest.Status(404, ""), publish.KindHTTPClient, false, 0, ""},
		{"413", publishtest.Status(413, ""), publish.KindHTTPClient, false, 0, ""},
		{"429 without Retry-After backs off 30s", publishtest.Status(429, ""), publish.KindRateLimited, true, pagerduty.RateLimitedBackoff, ""},
		{"429 with Retry-After", publishtest.Status(429, "").WithHeader("Retry-After", "5"), publish.KindRateLimited, true, 5 * time.Second, ""},
		{"500", publishtest.Status(500, ""), publish.KindHTTPServer, true, 0, ""},
		{"502", publishtest.Status(502, ""), publish.KindHTTPServer, true, 0, ""},
		{"503 Retry-After", publishtest.Status(503, "").WithHeader("Retry-After", "20"), publish.KindHTTPServer, true, 20 * time.Second, ""},
		{"slow", publishtest.Response{Status: 202, Delay: 2 * time.Second}, publish.KindTimeout, true, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := (&pagerduty.Publisher{Client: srv.Client()}).Publish(ctx, newTarget(srv.URL), publishtest.Firing())
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if tc.msg != "" && !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("msg = %q, want it to contain %q", pe.Msg, tc.msg)
			}
		})
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	const pathSecret = "/proxy/PDTENANT-4b3c2d1e"
	publishtest.AssertLeaksNoSecret(t, &pagerduty.Publisher{}, func(base string) target.Target { return newTarget(base + pathSecret) }, []publishtest.LeakCase{
		{Name: "400 echoing the routing key", Resp: publishtest.Status(400, `{"message":"unknown routing_key `+routingKey+`"}`)},
		{Name: "401", Resp: publishtest.Status(401, "")},
		{Name: "429", Resp: publishtest.Status(429, "")},
		{Name: "500 echoing the path", Resp: publishtest.Status(500, "failed "+pathSecret)},
		{Name: "slow", Resp: publishtest.Response{Status: 202, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func TestDefaultEndpoint(t *testing.T) {
	tg := newTarget("")
	if tg.Endpoint() != "https://events.pagerduty.com" {
		t.Errorf("default endpoint = %q", tg.Endpoint())
	}
}

func BenchmarkFormat_PagerDuty(b *testing.B) {
	tg := newTarget("")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pagerduty.Build(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode_PagerDuty(b *testing.B) {
	tg := newTarget("")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pagerduty.Format(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}

// pdConfig is tg's pagerduty config, to change in place.
func pdConfig(tg *target.Target) *pagerduty.Config { return tg.Config.(*pagerduty.Config) }
