package opsgenie_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/opsgenie"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"

	// The target types these tests parse are those of the one list.
	_ "github.com/herald-alerts/herald/internal/providers"
)

// The contract is Opsgenie's Alert API: https://docs.opsgenie.com/docs/alert-api
// (Create Alert, Close Alert, Add Note; 202 with a requestId).

const apiKey = "eb243592-faa2-4ba2-a551-1afdf565c889"

func newTarget(base string) target.Target {
	return target.Target{Name: "payments-opsgenie", Type: opsgenie.Type, URL: base, Config: &opsgenie.Config{APIKey: apiKey}}
}

var accepted = publishtest.JSON(http.StatusAccepted, map[string]any{
	"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"})

func publishOne(t *testing.T, tg target.Target, srv *publishtest.Server, n publish.Notification) (publish.Result, publishtest.Request) {
	t.Helper()
	res, err := (&opsgenie.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, n)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res, srv.Request(t, len(srv.Requests())-1)
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func TestCreateAlertContract(t *testing.T) {
	srv := publishtest.NewServer(t, accepted)
	tg := newTarget(srv.URL)
	cfg := tg.Config.(*opsgenie.Config)
	cfg.Responders = []opsgenie.Responder{{Type: "team", Name: "payments"}, {Type: "user", Username: "jane@example.com"},
		{Type: "escalation", ID: "aee8a0de-c80f-4515-a232-501c0bc9d715"}, {Type: "schedule", Name: "payments-oncall"}}
	cfg.Tags = []string{"k8s", "prod"}
	n := publishtest.Firing()
	n.Episode = 2
	res, req := publishOne(t, tg, srv, n)

	if req.Method != http.MethodPost || req.Path != "/v2/alerts" || req.RawQuery != "" {
		t.Errorf("request = %s %s?%s, want POST /v2/alerts", req.Method, req.Path, req.RawQuery)
	}
	if got := req.Header.Get("Authorization"); got != "GenieKey "+apiKey {
		t.Errorf("Authorization = %q, want GenieKey <api_key>", got)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	want := map[string]any{
		"message":                  "HighErrorRate: Checkout error rate above 5%",
		"alias":                    "herald-c0ffee1234567890-2",
		"source":                   "Herald",
		"priority":                 "P1",
		"entity":                   "checkout",
		"details.alertname":        "HighErrorRate",
		"details.cluster":          "prod-eu1",
		"details.herald_truncated": nil,
		"tags.0":                   "k8s",
		"tags.1":                   "prod",
		"responders.0.type":        "team",
		"responders.0.name":        "payments",
		"responders.0.id":          nil,
		"responders.1.type":        "user",
		"responders.1.username":    "jane@example.com",
		"responders.2.type":        "escalation",
		"responders.2.id":          "aee8a0de-c80f-4515-a232-501c0bc9d715",
		"responders.3.type":        "schedule",
		"responders.3.name":        "payments-oncall",
	}
	for path, w := range want {
		if got := req.Get(path); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	desc := req.String("description")
	for _, part := range []string{
		"The checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
		"Severity: critical", "Started: 2024-05-06T06:58:09Z",
		"Runbook: https://runbooks.example.com/checkout/high-error-rate",
		"Source: http://prometheus.example.com/graph", "Alertmanager: http://alertmanager.example.com",
	} {
		if !strings.Contains(desc, part) {
			t.Errorf("description %q lacks %q", desc, part)
		}
	}
	if d, _ := req.Get("details").(map[string]any); len(d) != len(publishtest.Alert().Labels) {
		t.Errorf("details = %v, want the %d labels", d, len(publishtest.Alert().Labels))
	}
	wantState := publish.ProviderState{opsgenie.StateAlias: "herald-c0ffee1234567890-2",
		opsgenie.StateRequestID: "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}
	if res.StatusCode != http.StatusAccepted || len(res.State) != 2 ||
		res.State[opsgenie.StateAlias] != wantState[opsgenie.StateAlias] || res.State[opsgenie.StateRequestID] != wantState[opsgenie.StateRequestID] {
		t.Errorf("result = %+v, want 202 and state %v", res, wantState)
	}
	publishtest.AssertNoSecret(t, strings.Join([]string{res.State[opsgenie.StateAlias], res.State[opsgenie.StateRequestID]}, " "), apiKey)
}

func TestAlias(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       func() publish.Notification
		want    string
		wantLen int
	}{
		{name: "episode", n: func() publish.Notification { n := publishtest.Firing(); n.Episode = 3; return n }, want: "herald-c0ffee1234567890-3"},
		{name: "no episode", n: publishtest.Firing, want: "herald-c0ffee1234567890"},
		{name: "no episode keeps the recorded alias", n: func() publish.Notification {
			return publishtest.Resolved(publish.ProviderState{opsgenie.StateAlias: "older-alias"})
		}, want: "older-alias"},
		{name: "the episode wins over an older episode's alias", n: func() publish.Notification {
			n := publishtest.Resolved(publish.ProviderState{opsgenie.StateAlias: "herald-c0ffee1234567890-1"})
			n.Episode = 2
			return n
		}, want: "herald-c0ffee1234567890-2"},
		{name: "at most 512 bytes", n: func() publish.Notification {
			n := publishtest.Firing()
			n.Alert.Fingerprint = strings.Repeat("f", 600)
			return n
		}, wantLen: opsgenie.MaxAlias},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := opsgenie.Alias(tc.n())
			if tc.want != "" && got != tc.want {
				t.Errorf("alias = %q, want %q", got, tc.want)
			}
			if tc.wantLen != 0 && len(got) != tc.wantLen {
				t.Errorf("alias has %d bytes, want %d", len(got), tc.wantLen)
			}
		})
	}
	a, b := publishtest.Firing(), publishtest.Update(nil)
	a.Episode, b.Episode = 1, 1
	b.Alert.Annotations = map[string]string{"summary": "changed"}
	if opsgenie.Alias(a) != opsgenie.Alias(b) {
		t.Error("one alert and episode must keep one alias across updates")
	}
}

func TestResolveClosesByAlias(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        publish.Notification
		wantPath string // as sent (escaped)
	}{
		{name: "alias of the episode", n: func() publish.Notification {
			n := publishtest.Resolved(publish.ProviderState{opsgenie.StateAlias: "herald-c0ffee1234567890-4"})
			n.Episode = 4
			return n
		}(), wantPath: "/v2/alerts/herald-c0ffee1234567890-4/close"},
		{name: "without state: the computed alias", n: publishtest.Resolved(nil), wantPath: "/v2/alerts/herald-c0ffee1234567890/close"},
		{name: "a recorded alias is path-escaped", n: publishtest.Resolved(publish.ProviderState{opsgenie.StateAlias: "a b/c?d"}),
			wantPath: "/v2/alerts/a%20b%2Fc%3Fd/close"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, accepted)
			_, req := publishOne(t, newTarget(srv.URL), srv, tc.n)
			if req.Method != http.MethodPost || req.EscapedPath != tc.wantPath || req.RawQuery != "identifierType=alias" {
				t.Errorf("request = %s %s?%s, want POST %s?identifierType=alias", req.Method, req.EscapedPath, req.RawQuery, tc.wantPath)
			}
			body, _ := req.JSON.(map[string]any)
			keys := make([]string, 0, len(body))
			for k := range body {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if strings.Join(keys, ",") != "note,source" || body["source"] != "Herald" ||
				body["note"] != "Resolved in Alertmanager at 2024-05-06T07:08:09Z" {
				t.Errorf("close body = %s, want source and note only", req.Body)
			}
			if req.Header.Get("Authorization") != "GenieKey "+apiKey {
				t.Error("the close request needs the GenieKey")
			}
		})
	}
}

// TestUpdate: an update of an alert Opsgenie accepted adds a note (Opsgenie
// keeps an open alert's message; a repeated create only counts up); an
// update Herald has no accepted create for creates the alert.
func TestUpdate(t *testing.T) {
	for _, tc := range []struct {
		name      string
		state     publish.ProviderState
		wantPath  string
		wantQuery string
	}{
		{name: "accepted alert: a note", state: publish.ProviderState{opsgenie.StateAlias: "herald-c0ffee1234567890-1"},
			wantPath: "/v2/alerts/herald-c0ffee1234567890-1/notes", wantQuery: "identifierType=alias"},
		{name: "no accepted alert: a create", wantPath: "/v2/alerts"},
		{name: "an older episode's alert: a create", state: publish.ProviderState{opsgenie.StateAlias: "herald-c0ffee1234567890-0"},
			wantPath: "/v2/alerts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, accepted)
			n := publishtest.Update(tc.state)
			n.Episode = 1
			n.Alert.Annotations["description"] = "now 9.1%"
			res, req := publishOne(t, newTarget(srv.URL), srv, n)
			if req.EscapedPath != tc.wantPath || req.RawQuery != tc.wantQuery {
				t.Fatalf("request = %s?%s, want %s?%s", req.EscapedPath, req.RawQuery, tc.wantPath, tc.wantQuery)
			}
			if tc.wantQuery != "" {
				note := req.String("note")
				if !strings.HasPrefix(note, "Updated: HighErrorRate: Checkout error rate above 5%") || !strings.Contains(note, "now 9.1%") ||
					req.String("source") != "Herald" {
					t.Errorf("note body = %s", req.Body)
				}
			} else if req.String("alias") != "herald-c0ffee1234567890-1" || req.String("message") == "" {
				t.Errorf("create body = %s", req.Body)
			}
			if res.State[opsgenie.StateAlias] != "herald-c0ffee1234567890-1" {
				t.Errorf("state = %v", res.State)
			}
		})
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		label, classified string
		mapping           map[string]string
		want              string
	}{
		{label: "critical", want: "P1"},
		{label: "warning", want: "P3"},
		{label: "info", want: "P5"},
		{label: "", want: "P3"},
		{label: "warning", classified: "critical", want: "P1"},
		{label: "critical", mapping: map[string]string{"critical": "P2"}, want: "P2"},
		{label: "info", mapping: map[string]string{"critical": "P2"}, want: "P5"},
		{label: "warning", mapping: map[string]string{"warning": "P4"}, want: "P4"},
	} {
		n := publishtest.Firing()
		n.Alert.Labels = map[string]string{"severity": tc.label}
		n.Classification.Severity = tc.classified
		if got := opsgenie.Priority(&opsgenie.Config{Priority: tc.mapping}, n); got != tc.want {
			t.Errorf("severity %q (classified %q), mapping %v: priority %q, want %q", tc.label, tc.classified, tc.mapping, got, tc.want)
		}
	}
}

// TestLimits: message ≤ 130, description ≤ 15,000, details ≤ 8000
// characters (counted in UTF-16 code units, as many as or more than
// Unicode characters), cut visibly.
func TestLimits(t *testing.T) {
	manyLabels := map[string]string{"alertname": "Big"}
	for i := 0; i < 100; i++ {
		manyLabels["label_"+strings.Repeat("k", i%10)+string(rune('a'+i%26))+itoa(i)] = strings.Repeat("v", 200)
	}
	for _, tc := range []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		title       string
		wantCutMsg  bool
		wantCutDesc bool
		wantCutDet  bool
	}{
		{name: "long ascii message", labels: map[string]string{"alertname": strings.Repeat("a", 300)}, wantCutMsg: true},
		{name: "astral characters count twice", labels: map[string]string{"alertname": strings.Repeat("🔥", 100)}, wantCutMsg: true},
		{name: "exactly 130", title: strings.Repeat("m", 130)},
		{name: "template title is cut too", title: strings.Repeat("t", 200), wantCutMsg: true},
		{name: "huge description", annotations: map[string]string{"summary": "s", "description": strings.Repeat("d", 40000)}, wantCutDesc: true},
		{name: "huge label value", labels: map[string]string{"alertname": "A", "blob": strings.Repeat("b", 20000)}, wantCutDet: true},
		{name: "many labels", labels: manyLabels, wantCutDet: true},
		{name: "one value just over 1024 near the limit", labels: func() map[string]string {
			m := map[string]string{"alertname": "A", "long": strings.Repeat("l", opsgenie.MaxDetailValue+1)}
			for i := 0; len(m) < 7; i++ {
				m["f"+itoa(i)] = strings.Repeat("f", 1100-len("f"+itoa(i)))
			}
			return m
		}(), wantCutDet: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := publishtest.Firing()
			if tc.labels != nil {
				n.Alert.Labels = tc.labels
			}
			if tc.annotations != nil {
				n.Alert.Annotations = tc.annotations
			} else {
				n.Alert.Annotations = nil
			}
			tg := newTarget("")
			if tc.title != "" {
				tg.Template = &target.TemplateSpec{Title: tc.title}
			}
			req, err := opsgenie.Build(tg, n)
			if err != nil {
				t.Fatal(err)
			}
			ca, ok := req.Body.(opsgenie.CreateAlert)
			if !ok {
				t.Fatalf("body is %T, want a CreateAlert", req.Body)
			}
			if l := utf16Len(ca.Message); l > opsgenie.MaxMessage || !utf8.ValidString(ca.Message) {
				t.Errorf("message has %d UTF-16 units, limit %d", l, opsgenie.MaxMessage)
			}
			if got := strings.HasSuffix(ca.Message, "…"); got != tc.wantCutMsg {
				t.Errorf("message cut visibly = %v, want %v (%q)", got, tc.wantCutMsg, ca.Message)
			}
			if tc.title == strings.Repeat("m", 130) && ca.Message != tc.title {
				t.Error("a message of exactly 130 characters must be kept")
			}
			if l := utf16Len(ca.Description); l > opsgenie.MaxDescription {
				t.Errorf("description has %d UTF-16 units, limit %d", l, opsgenie.MaxDescription)
			}
			if got := strings.HasSuffix(ca.Description, "…"); got != tc.wantCutDesc {
				t.Errorf("description cut visibly = %v, want %v", got, tc.wantCutDesc)
			}
			size := 0
			for k, v := range ca.Details {
				size += utf16Len(k) + utf16Len(v)
			}
			if size > opsgenie.MaxDetails {
				t.Errorf("details hold %d characters, limit %d", size, opsgenie.MaxDetails)
			}
			if got := ca.Details[opsgenie.TruncatedDetail] != ""; got != tc.wantCutDet {
				t.Errorf("details marked truncated = %v, want %v", got, tc.wantCutDet)
			}
			if ca.Details["alertname"] == "" {
				t.Error("alertname must stay in the details")
			}
		})
	}
}

func TestClassification(t *testing.T) {
	unprocessable := publishtest.JSON(422, map[string]any{"message": "Request body is not processable. Please check the errors.",
		"errors": map[string]string{"message": "Message can not be empty."}, "took": 0.001, "requestId": "r1"})
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
		msg       string
	}{
		{"400", publishtest.JSON(400, map[string]any{"message": "Invalid request"}), publish.KindHTTPClient, false, 0, "opsgenie: Invalid request"},
		{"401 unknown key", publishtest.JSON(401, map[string]any{"message": "Could not authenticate"}), publish.KindHTTPClient, false, 0, "Could not authenticate"},
		{"403 no create right", publishtest.Status(403, ""), publish.KindHTTPClient, false, 0, ""},
		{"422 names the field", unprocessable, publish.KindHTTPClient, false, 0, "not processable. Please check the errors.: message: Message can not be empty."},
		{"429 with Retry-After", publishtest.Status(429, "").WithHeader("Retry-After", "7"), publish.KindRateLimited, true, 7 * time.Second, ""},
		{"429 without Retry-After", publishtest.JSON(429, map[string]any{"message": "You are making too many requests!"}),
			publish.KindRateLimited, true, 0, "too many requests"},
		{"500", publishtest.Status(500, ""), publish.KindHTTPServer, true, 0, ""},
		{"503 Retry-After", publishtest.Status(503, "").WithHeader("Retry-After", "20"), publish.KindHTTPServer, true, 20 * time.Second, ""},
		{"redirect", publishtest.Status(302, "").WithHeader("Location", "https://elsewhere.example.com/x"), publish.KindConfig, false, 0, "elsewhere.example.com"},
		{"slow", publishtest.Response{Status: 202, Delay: 2 * time.Second}, publish.KindTimeout, true, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := (&opsgenie.Publisher{Client: srv.Client()}).Publish(ctx, newTarget(srv.URL), publishtest.Firing())
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if tc.msg != "" && !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("msg = %q, want it to contain %q", pe.Msg, tc.msg)
			}
		})
	}
}

func TestMissingConfigIsPermanent(t *testing.T) {
	srv := publishtest.NewServer(t, accepted)
	tg := target.Target{Name: "x", Type: opsgenie.Type, URL: srv.URL}
	_, err := (&opsgenie.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, publishtest.Firing())
	publishtest.AssertError(t, err, publish.KindConfig, false, 0)
	if len(srv.Requests()) != 0 {
		t.Error("nothing may be sent without an api_key")
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	const pathSecret = "/proxy/OGTENANT-4b3c2d1e"
	publishtest.AssertLeaksNoSecret(t, &opsgenie.Publisher{}, func(base string) target.Target { return newTarget(base + pathSecret) }, []publishtest.LeakCase{
		{Name: "401 echoing the key", Resp: publishtest.Status(401, `{"message":"Key `+apiKey+` could not authenticate"}`)},
		{Name: "422 echoing the header", Resp: publishtest.JSON(422, map[string]any{"message": "bad header GenieKey " + apiKey})},
		{Name: "400 echoing the key escaped", Resp: publishtest.Status(400, "key="+url.QueryEscape(apiKey))},
		{Name: "429", Resp: publishtest.Status(429, "")},
		{Name: "500 echoing the path", Resp: publishtest.Status(500, "failed "+pathSecret+"/v2/alerts")},
		{Name: "slow", Resp: publishtest.Response{Status: 202, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func probeEnv(t *testing.T, srv *publishtest.Server) health.ProbeEnv {
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return health.ProbeEnv{Client: srv.Client(), Endpoint: srv.URL, URL: u}
}

// TestProbe: the probe lists at most one alert (never creates one) and
// only a 401 or a 5xx marks the target unusable: a key without read access
// (403), the JSM integration API without a list endpoint (404, 405) and a
// throttled account (429) still deliver.
func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resp   publishtest.Response
		ok     bool
		class  string
		status int
	}{
		{"200 list", publishtest.JSON(200, map[string]any{"data": []any{}, "took": 0.01, "requestId": "r"}), true, "", 200},
		{"401 unknown key", publishtest.JSON(401, map[string]any{"message": "Could not authenticate"}), false, health.ClassAuth, 401},
		{"403 create-only key", publishtest.Status(403, ""), true, "", 403},
		{"404 no list endpoint", publishtest.Status(404, ""), true, "", 404},
		{"405", publishtest.Status(405, ""), true, "", 405},
		{"429 throttled", publishtest.Status(429, ""), true, "", 429},
		{"500", publishtest.Status(500, ""), false, health.ClassHTTPStatus, 500},
		{"503", publishtest.Status(503, ""), false, health.ClassHTTPStatus, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			o := opsgenie.Provider.Probe(context.Background(), probeEnv(t, srv), newTarget(srv.URL))
			if o.OK != tc.ok || o.Class != tc.class || o.StatusCode != tc.status {
				t.Errorf("observation = %+v, want ok=%v class=%q status=%d", o, tc.ok, tc.class, tc.status)
			}
			req := srv.Request(t, 0)
			if req.Method != http.MethodGet || req.Path != "/v2/alerts" || req.RawQuery != "limit=1" {
				t.Errorf("probe = %s %s?%s, want GET /v2/alerts?limit=1", req.Method, req.Path, req.RawQuery)
			}
			if req.Header.Get("Authorization") != "GenieKey "+apiKey {
				t.Error("the probe must prove the key")
			}
			publishtest.AssertNoSecret(t, o.Message, apiKey)
			if len(srv.Requests()) != 1 {
				t.Errorf("probe sent %d requests, want 1", len(srv.Requests()))
			}
		})
	}
	t.Run("dead receiver", func(t *testing.T) {
		closed := publishtest.ClosedURL(t, "")
		u, _ := url.Parse(closed)
		o := opsgenie.Provider.Probe(context.Background(), health.ProbeEnv{Client: http.DefaultClient, Endpoint: closed, URL: u}, newTarget(closed))
		if o.OK || o.Class == "" {
			t.Errorf("observation = %+v, want a failure", o)
		}
		publishtest.AssertNoSecret(t, o.Message, apiKey)
	})
	t.Run("no config", func(t *testing.T) {
		srv := publishtest.NewServer(t)
		o := opsgenie.Provider.Probe(context.Background(), probeEnv(t, srv), target.Target{Name: "x", Type: opsgenie.Type})
		if o.OK || o.Class != health.ClassConfig || len(srv.Requests()) != 0 {
			t.Errorf("observation = %+v, want a config failure without a request", o)
		}
	})
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name, json, field string
	}{
		{"minimal", `{"name":"og","type":"opsgenie","api_key":"` + apiKey + `"}`, ""},
		{"everything", `{"name":"og","type":"opsgenie","url":"https://api.eu.opsgenie.com","api_key":"` + apiKey + `",
			"responders":[{"type":"team","name":"payments"},{"type":"user","username":"a@example.com"},{"type":"user","id":"u1"},
			{"type":"escalation","id":"e1"},{"type":"schedule","name":"s"}],
			"tags":["prod"],"priority":{"critical":"P2","warning":"P4","info":"P5"}}`, ""},
		{"missing api_key", `{"name":"og","type":"opsgenie"}`, "api_key"},
		{"api_key with a space", `{"name":"og","type":"opsgenie","api_key":"abc def"}`, "api_key"},
		{"unknown responder type", `{"name":"og","type":"opsgenie","api_key":"k123","responders":[{"type":"group","name":"x"}]}`, "responders[0].type"},
		{"responder without a name", `{"name":"og","type":"opsgenie","api_key":"k123","responders":[{"type":"team"}]}`, "responders[0]"},
		{"responder with two names", `{"name":"og","type":"opsgenie","api_key":"k123","responders":[{"type":"team","id":"a","name":"b"}]}`, "responders[0]"},
		{"team with a username", `{"name":"og","type":"opsgenie","api_key":"k123","responders":[{"type":"team","name":"a"},{"type":"team","username":"b"}]}`, "responders[1].username"},
		{"user with a name", `{"name":"og","type":"opsgenie","api_key":"k123","responders":[{"type":"user","name":"b"}]}`, "responders[0].name"},
		{"empty tag", `{"name":"og","type":"opsgenie","api_key":"k123","tags":["a"," "]}`, "tags[1]"},
		{"long tag", `{"name":"og","type":"opsgenie","api_key":"k123","tags":["` + strings.Repeat("t", 51) + `"]}`, "tags[0]"},
		{"too many tags", `{"name":"og","type":"opsgenie","api_key":"k123","tags":[` + strings.TrimSuffix(strings.Repeat(`"t",`, 21), ",") + `]}`, "tags"},
		{"unknown severity", `{"name":"og","type":"opsgenie","api_key":"k123","priority":{"page":"P1"}}`, "priority.page"},
		{"invalid priority", `{"name":"og","type":"opsgenie","api_key":"k123","priority":{"critical":"P0"}}`, "priority.critical"},
		{"lower-case priority", `{"name":"og","type":"opsgenie","api_key":"k123","priority":{"info":"p5"}}`, "priority.info"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := target.ParseOne([]byte(tc.json), "test")
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ParseOne: %v", err)
				}
				if tg.Config.(*opsgenie.Config).APIKey != apiKey {
					t.Error("api_key not decoded")
				}
				return
			}
			var fe *target.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError for %s", err, tc.field)
			}
			publishtest.AssertNoSecret(t, err.Error(), "k123", "abc def")
		})
	}
}

func TestDefaultsAndPublicView(t *testing.T) {
	tg, err := target.ParseOne([]byte(`{"name":"og","type":"opsgenie","api_key":"`+apiKey+`"}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Endpoint() != "https://api.opsgenie.com" || opsgenie.DefaultURL != tg.Endpoint() {
		t.Errorf("default endpoint = %q", tg.Endpoint())
	}
	if l := opsgenie.Provider.DefaultLimit(); l.PerSecond <= 0 || l.Burst < 1 {
		t.Errorf("default limit = %+v, want a limit", l)
	}
	key := opsgenie.Provider.LimiterKey(tg)
	other := newTarget("")
	other.Name = "other"
	if key == "" || key != opsgenie.Provider.LimiterKey(other) || strings.Contains(key, apiKey[:8]) {
		t.Errorf("limiter key = %q: want one per api_key, hashed", key)
	}
	other.Config = &opsgenie.Config{APIKey: "another-key-123456"}
	if opsgenie.Provider.LimiterKey(other) == key {
		t.Error("another api_key must have another limiter")
	}
	pub, _ := json.Marshal(tg.Public())
	publishtest.AssertNoSecret(t, string(pub), apiKey)
	if !strings.Contains(string(pub), `"token":"\u003credacted\u003e"`) {
		t.Errorf("public view %s should show the key as redacted", pub)
	}
	if got := publish.Redact("GenieKey "+apiKey, tg.Secrets()); strings.Contains(got, apiKey) {
		t.Errorf("api_key not among the secrets: %q", got)
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func BenchmarkFormat_Opsgenie(b *testing.B) {
	tg := newTarget("")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := opsgenie.Build(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}
