package rootly_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"github.com/herald-alerts/herald/internal/target"
)

const apiToken = "rootly_0f1e2d3c4b5a69788796a5b4c3d2e1f0"

func newTarget(url string) target.Target {
	return target.Target{Name: "rootly-prod", Type: "rootly", Config: &rootly.Config{Token: apiToken}, URL: url}
}

func created(id string) publishtest.Response {
	return publishtest.JSON(201, map[string]any{"data": map[string]any{"id": id, "type": "alerts",
		"attributes": map[string]any{"status": "open", "summary": "x"}}})
}

func resolvedResp(id string) publishtest.Response {
	return publishtest.JSON(200, map[string]any{"data": map[string]any{"id": id, "type": "alerts",
		"attributes": map[string]any{"status": "resolved"}}})
}

func checkHeaders(t *testing.T, req publishtest.Request) {
	t.Helper()
	for k, want := range map[string]string{
		"Authorization": "Bearer " + apiToken,
		"Content-Type":  rootly.ContentType,
		"Accept":        rootly.ContentType,
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("%s %s: header %s = %q, want %q", req.Method, req.Path, k, got, want)
		}
	}
}

func TestCreateRequest(t *testing.T) {
	srv := publishtest.NewServer(t, created("5b0dd3ba-8c64-4961-8d1d-d10f3a6028ee"))
	res, err := (&rootly.Publisher{Client: srv.Client()}).Publish(context.Background(), newTarget(srv.URL), publishtest.Firing())
	if err != nil {
		t.Fatal(err)
	}
	req := srv.Request(t, 0)
	if req.Method != http.MethodPost || req.Path != "/v1/alerts" {
		t.Errorf("request = %s %s, want POST /v1/alerts", req.Method, req.Path)
	}
	checkHeaders(t, req)
	a := publishtest.Alert()
	for path, want := range map[string]any{
		"data.type":                                    "alerts",
		"data.attributes.source":                       "alertmanager",
		"data.attributes.summary":                      "HighErrorRate: Checkout error rate above 5%",
		"data.attributes.description":                  a.Annotations["description"],
		"data.attributes.external_id":                  "c0ffee1234567890",
		"data.attributes.external_url":                 a.GeneratorURL,
		"data.attributes.deduplication_key":            "herald-c0ffee1234567890",
		"data.attributes.started_at":                   "2024-05-06T06:58:09Z",
		"data.attributes.ended_at":                     nil,
		"data.attributes.status":                       nil,
		"data.attributes.labels.0.key":                 "alertname",
		"data.attributes.labels.0.value":               "HighErrorRate",
		"data.attributes.labels.7.key":                 "team",
		"data.attributes.data.fingerprint":             "c0ffee1234567890",
		"data.attributes.data.severity":                "critical",
		"data.attributes.data.status":                  "firing",
		"data.attributes.data.sent_by":                 "herald",
		"data.attributes.data.annotations.runbook_url": a.Annotations["runbook_url"],
	} {
		if got := req.Get(path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if labels, _ := req.Get("data.attributes.labels").([]any); len(labels) != len(a.Labels) {
		t.Errorf("%d labels, want %d", len(labels), len(a.Labels))
	}
	if res.StatusCode != 201 || res.State[rootly.StateAlertID] != "5b0dd3ba-8c64-4961-8d1d-d10f3a6028ee" {
		t.Errorf("result = %+v", res)
	}
}

func TestTargetOptionsAndTemplate(t *testing.T) {
	srv := publishtest.NewServer(t, created("id-1"))
	tg := newTarget(srv.URL)
	tg.Config.(*rootly.Config).Rootly = &rootly.Options{Source: "generic_webhook", NotificationTargetType: "EscalationPolicy",
		NotificationTargetID: "ep-42", AlertUrgencyID: "urg-1", ServiceIDs: []string{"svc-1"}, GroupIDs: []string{"grp-1"},
		EnvironmentIDs: []string{"env-1"}}
	tg.Template = &target.TemplateSpec{Title: "{{ .Labels.cluster }} {{ .Name }}", Body: "Runbook: {{ .Annotations.runbook_url }}"}
	if _, err := (&rootly.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, publishtest.Firing()); err != nil {
		t.Fatal(err)
	}
	req := srv.Request(t, 0)
	for path, want := range map[string]any{
		"data.attributes.source":                   "generic_webhook",
		"data.attributes.notification_target_type": "EscalationPolicy",
		"data.attributes.notification_target_id":   "ep-42",
		"data.attributes.alert_urgency_id":         "urg-1",
		"data.attributes.service_ids.0":            "svc-1",
		"data.attributes.group_ids.0":              "grp-1",
		"data.attributes.environment_ids.0":        "env-1",
		"data.attributes.summary":                  "prod-eu1 HighErrorRate",
		"data.attributes.description":              "Runbook: https://runbooks.example.com/checkout/high-error-rate",
	} {
		if got := req.Get(path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
}

func TestFollowUps(t *testing.T) {
	known := publish.ProviderState{rootly.StateAlertID: "alert/42"}
	type call struct {
		method, path string
		checks       map[string]any
		contains     map[string]string
	}
	for _, tc := range []struct {
		name        string
		n           publish.Notification
		script      []publishtest.Response
		calls       []call
		wantID      string
		wantErr     string
		wantSkipped bool
	}{
		{
			name: "update patches the known alert", n: publishtest.Update(known),
			script: []publishtest.Response{resolvedResp("alert/42")},
			calls: []call{{method: http.MethodPatch, path: "/v1/alerts/alert%2F42", checks: map[string]any{
				"data.type": "alerts", "data.attributes.summary": "HighErrorRate: Checkout error rate above 5%"}}},
			wantID: "alert/42",
		},
		{
			name: "update without an id creates", n: publishtest.Update(nil),
			script: []publishtest.Response{created("new-1")},
			calls:  []call{{method: http.MethodPost, path: "/v1/alerts"}},
			wantID: "new-1",
		},
		{
			name: "re-fire creates again (deduplicated by key)", n: func() publish.Notification { n := publishtest.Firing(); n.State = known; return n }(),
			script: []publishtest.Response{created("alert/42")},
			calls: []call{{method: http.MethodPost, path: "/v1/alerts", checks: map[string]any{
				"data.attributes.deduplication_key": "herald-c0ffee1234567890"}}},
			wantID: "alert/42",
		},
		{
			name: "resolve resolves the known alert", n: publishtest.Resolved(known),
			script: []publishtest.Response{resolvedResp("alert/42")},
			calls: []call{{method: http.MethodPost, path: "/v1/alerts/alert%2F42/resolve",
				checks:   map[string]any{"data.type": "alerts"},
				contains: map[string]string{"data.attributes.resolution_message": "2024-05-06T07:08:09Z"}}},
			wantID: "alert/42",
		},
		{
			name: "first news is a resolve: nothing is created or sent", n: publishtest.Resolved(nil),
			calls: nil, wantID: "", wantSkipped: true,
		},
		{
			name: "first news is a resolve in a later episode: nothing is sent", n: func() publish.Notification {
				n := publishtest.Resolved(nil)
				n.Episode = 3
				return n
			}(),
			calls: nil, wantID: "", wantSkipped: true,
		},
		{
			name: "firing of episode 2 has its own deduplication key", n: func() publish.Notification {
				n := publishtest.Firing()
				n.Episode = 2
				return n
			}(),
			script: []publishtest.Response{created("ep-2")},
			calls: []call{{method: http.MethodPost, path: "/v1/alerts", checks: map[string]any{
				"data.attributes.deduplication_key": "herald-c0ffee1234567890-2"}}},
			wantID: "ep-2",
		},
		{
			name: "re-fire after a resolve (next episode) creates a new alert key", n: func() publish.Notification {
				n := publishtest.Firing()
				n.State, n.Episode = known, 4
				return n
			}(),
			script: []publishtest.Response{created("ep-4")},
			calls: []call{{method: http.MethodPost, path: "/v1/alerts", checks: map[string]any{
				"data.attributes.deduplication_key": "herald-c0ffee1234567890-4"}}},
			wantID: "ep-4",
		},
		{
			name: "update in an episode keeps its key", n: func() publish.Notification {
				n := publishtest.Update(known)
				n.Episode = 2
				return n
			}(),
			script: []publishtest.Response{resolvedResp("alert/42")},
			calls: []call{{method: http.MethodPatch, path: "/v1/alerts/alert%2F42", checks: map[string]any{
				"data.attributes.deduplication_key": "herald-c0ffee1234567890-2"}}},
			wantID: "alert/42",
		},
		{
			name: "resolve of a deleted alert is permanent", n: publishtest.Resolved(known),
			script:  []publishtest.Response{publishtest.JSON(404, map[string]any{"errors": []any{map[string]any{"title": "Not found"}}})},
			calls:   []call{{method: http.MethodPost, path: "/v1/alerts/alert%2F42/resolve"}},
			wantErr: publish.KindHTTPClient,
		},
		{
			name: "create answered without id is retried", n: publishtest.Firing(),
			script:  []publishtest.Response{publishtest.JSON(201, map[string]any{"data": map[string]any{}})},
			calls:   []call{{method: http.MethodPost, path: "/v1/alerts"}},
			wantErr: publish.KindProvider,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.script...)
			srv.Default = publishtest.Status(599, "unexpected request")
			res, err := (&rootly.Publisher{Client: srv.Client()}).Publish(context.Background(), newTarget(srv.URL), tc.n)
			reqs := srv.Requests()
			if len(reqs) != len(tc.calls) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tc.calls))
			}
			for i, c := range tc.calls {
				if got := reqs[i].Method + " " + reqs[i].EscapedPath; got != c.method+" "+c.path {
					t.Errorf("request %d = %s, want %s %s", i, got, c.method, c.path)
				}
				checkHeaders(t, reqs[i])
				for path, w := range c.checks {
					if g := reqs[i].Get(path); g != w {
						t.Errorf("request %d: %s = %#v, want %#v", i, path, g, w)
					}
				}
				for path, w := range c.contains {
					if g := reqs[i].String(path); !strings.Contains(g, w) {
						t.Errorf("request %d: %s = %q, want it to contain %q", i, path, g, w)
					}
				}
			}
			if tc.wantErr != "" {
				publishtest.AssertError(t, err, tc.wantErr, tc.wantErr == publish.KindProvider, -1)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.State[rootly.StateAlertID] != tc.wantID {
				t.Errorf("state = %v, want id %q", res.State, tc.wantID)
			}
			if (res.Skipped != "") != tc.wantSkipped || tc.wantSkipped && (res.Skipped != rootly.SkippedResolve || res.StatusCode != 0) {
				t.Errorf("result = %+v, want skipped %v", res, tc.wantSkipped)
			}
		})
	}
}

// TestSkippedResolveIsLogged: a resolve that is not sent says so in the log.
func TestSkippedResolveIsLogged(t *testing.T) {
	var buf bytes.Buffer
	srv := publishtest.NewServer(t)
	pub := &rootly.Publisher{Client: srv.Client(), Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	res, err := pub.Publish(context.Background(), newTarget(srv.URL), publishtest.Resolved(nil))
	if err != nil || res.Skipped == "" {
		t.Fatalf("Publish = %+v, %v", res, err)
	}
	if len(srv.Requests()) != 0 {
		t.Errorf("Rootly received %d requests, want none", len(srv.Requests()))
	}
	for _, want := range []string{"rootly resolve skipped", `"target":"rootly-prod"`, `"fingerprint":"c0ffee1234567890"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log %q does not contain %q", buf.String(), want)
		}
	}
	publishtest.AssertNoSecret(t, buf.String(), newTarget(srv.URL).Secrets()...)
}

func TestDeduplicationKey(t *testing.T) {
	a := publishtest.Alert()
	for _, tc := range []struct {
		episode int
		want    string
	}{{0, "herald-c0ffee1234567890"}, {-1, "herald-c0ffee1234567890"}, {1, "herald-c0ffee1234567890-1"}, {12, "herald-c0ffee1234567890-12"}} {
		if got := rootly.DeduplicationKey(a, tc.episode); got != tc.want {
			t.Errorf("episode %d: key %q, want %q", tc.episode, got, tc.want)
		}
	}
}

// TestSources: the accepted rootly.source values are exactly the source
// enum of Rootly's POST /v1/alerts.
func TestSources(t *testing.T) {
	documented := []string{"rootly", "manual", "api", "web", "slack", "email", "workflow", "live_call_routing",
		"pagerduty", "opsgenie", "victorops", "pagertree", "datadog", "nobl9", "zendesk", "asana", "clickup",
		"sentry", "rollbar", "jira", "honeycomb", "service_now", "linear", "grafana", "alertmanager",
		"google_cloud", "generic_webhook", "cloud_watch", "azure", "splunk", "chronosphere", "app_optics",
		"bug_snag", "monte_carlo", "nagios", "prtg", "catchpoint", "app_dynamics", "checkly", "new_relic", "gitlab"}
	got := append([]string(nil), rootly.Sources...)
	sort.Strings(got)
	sort.Strings(documented)
	if strings.Join(got, ",") != strings.Join(documented, ",") {
		t.Errorf("RootlySources =\n%v\nwant the documented enum\n%v", got, documented)
	}
	for _, src := range documented {
		tg := newTarget("")
		tg.Config.(*rootly.Config).Rootly = &rootly.Options{Source: src}
		if err := tg.Validate(); err != nil {
			t.Errorf("source %q: %v", src, err)
		}
	}
}

func TestClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
	}{
		{"401", publishtest.JSON(401, map[string]any{"errors": []any{map[string]any{"title": "Unauthorized"}}}), publish.KindHTTPClient, false, 0},
		{"403", publishtest.Status(403, ""), publish.KindHTTPClient, false, 0},
		{"422 invalid", publishtest.JSON(422, map[string]any{"errors": []any{map[string]any{"title": "source is not included in the list"}}}), publish.KindHTTPClient, false, 0},
		{"429 Retry-After", publishtest.Status(429, "").WithHeader("Retry-After", "60"), publish.KindRateLimited, true, time.Minute},
		{"500", publishtest.Status(500, ""), publish.KindHTTPServer, true, 0},
		{"503", publishtest.Status(503, ""), publish.KindHTTPServer, true, 0},
		{"slow", publishtest.Response{Status: 201, Delay: 2 * time.Second}, publish.KindTimeout, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := (&rootly.Publisher{Client: srv.Client()}).Publish(ctx, newTarget(srv.URL), publishtest.Firing())
			publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
		})
	}
}

func TestLimits(t *testing.T) {
	n := publishtest.Firing()
	n.Alert.Annotations = map[string]string{"summary": strings.Repeat("s", 5000), "description": strings.Repeat("d", 100000)}
	n.Alert.Labels["big"] = strings.Repeat("v", 5000)
	doc, err := rootly.Format(newTarget(""), n)
	if err != nil {
		t.Fatal(err)
	}
	a := doc.Data.Attributes
	if len([]rune(a.Summary)) != rootly.MaxSummary || !strings.HasSuffix(a.Summary, "…") {
		t.Errorf("summary of %d characters", len([]rune(a.Summary)))
	}
	if len([]rune(a.Description)) != rootly.MaxDescription {
		t.Errorf("description of %d characters", len([]rune(a.Description)))
	}
	for _, l := range a.Labels {
		if len([]rune(l.Value)) > rootly.MaxLabelValue {
			t.Errorf("label %s of %d characters", l.Key, len([]rune(l.Value)))
		}
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	const pathSecret = "/tenant/ROOTLYPATH-77aa88bb"
	publishtest.AssertLeaksNoSecret(t, &rootly.Publisher{}, func(base string) target.Target { return newTarget(base + pathSecret) }, []publishtest.LeakCase{
		{Name: "401 echoing the token", Resp: publishtest.Status(401, `{"errors":[{"title":"invalid token `+apiToken+`"}]}`)},
		{Name: "422", Resp: publishtest.Status(422, `{"errors":[]}`)},
		{Name: "500 echoing the path", Resp: publishtest.Status(500, "error at "+pathSecret)},
		{Name: "created without id echoing the token", Resp: publishtest.Status(201, "Bearer "+apiToken)},
		{Name: "slow", Resp: publishtest.Response{Status: 201, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func TestDefaultEndpoint(t *testing.T) {
	if got := newTarget("").Endpoint(); got != "https://api.rootly.com" {
		t.Errorf("endpoint = %q", got)
	}
}

func BenchmarkFormat_Rootly(b *testing.B) {
	tg := newTarget("")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rootly.Format(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode_Rootly(b *testing.B) {
	tg := newTarget("")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		doc, err := rootly.Format(tg, n)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(doc); err != nil {
			b.Fatal(err)
		}
	}
}
