package discord_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/discord"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

const hookPath = "/api/webhooks/112233445566778899/Tok3n-aBcDeFgHiJkLmNoPqRsTuVwXyZ_0123456789"

func newTarget(base string) target.Target {
	return target.Target{Name: "ops-discord", Type: "discord", URL: base + hookPath}
}

func publishOne(t *testing.T, tg target.Target, n publish.Notification) publishtest.Request {
	t.Helper()
	srv := publishtest.NewServer(t, publishtest.Status(http.StatusNoContent, ""))
	tg.URL = srv.URL + hookPath
	res, err := (&discord.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, n)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if res.StatusCode != http.StatusNoContent {
		t.Errorf("status = %d, want 204", res.StatusCode)
	}
	return srv.Request(t, 0)
}

// The request as documented for Execute Webhook
// (https://discord.com/developers/docs/resources/webhook#execute-webhook),
// the embed object and allowed mentions
// (https://discord.com/developers/docs/resources/message#embed-object,
// https://discord.com/developers/docs/resources/message#allowed-mentions-object).
func TestMessageContract(t *testing.T) {
	info := publishtest.Firing()
	info.Alert.Labels["severity"] = "info"
	warning := publishtest.Firing()
	warning.Classification.Severity = "warning"
	tests := []struct {
		name   string
		n      publish.Notification
		tmpl   *target.TemplateSpec
		checks map[string]any
	}{
		{name: "firing critical", n: publishtest.Firing(), checks: map[string]any{
			"content":                "[FIRING] HighErrorRate",
			"allowed_mentions.parse": []any{},
			"embeds.1":               nil,
			"embeds.0.title":         "[FIRING] HighErrorRate",
			"embeds.0.url":           publishtest.Alert().GeneratorURL,
			"embeds.0.description":   "**Checkout error rate above 5%**\nThe checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
			"embeds.0.color":         float64(0xE01E5A),
			"embeds.0.timestamp":     "2024-05-06T06:58:09Z",
			"embeds.0.fields.0.name": "Severity", "embeds.0.fields.0.value": "critical", "embeds.0.fields.0.inline": true,
			"embeds.0.fields.1.name": "Status", "embeds.0.fields.1.value": "firing",
			"embeds.0.fields.2.name": "Started", "embeds.0.fields.2.value": "2024-05-06 06:58:09 UTC",
			"embeds.0.fields.3.name": "alertname", "embeds.0.fields.3.value": "HighErrorRate",
			"embeds.0.fields.10.name": "team", "embeds.0.fields.10.value": "payments",
			"embeds.0.fields.11.name":  "Links",
			"embeds.0.fields.11.value": "[Runbook](https://runbooks.example.com/checkout/high-error-rate) · [Source](http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29)",
			"embeds.0.fields.12":       nil,
			"embeds.0.footer.text":     "Herald · fingerprint c0ffee1234567890",
		}},
		{name: "resolved", n: publishtest.Resolved(nil), checks: map[string]any{
			"content": "[RESOLVED] HighErrorRate", "embeds.0.color": float64(0x2EB67D),
			"embeds.0.fields.1.value": "resolved", "embeds.0.fields.3.name": "Ended",
			"embeds.0.fields.3.value": "2024-05-06 07:08:09 UTC", "embeds.0.timestamp": "2024-05-06T07:08:09Z",
		}},
		{name: "update", n: publishtest.Update(nil), checks: map[string]any{"embeds.0.title": "[FIRING] HighErrorRate (updated)"}},
		{name: "warning", n: warning, checks: map[string]any{"embeds.0.color": float64(0xECB22E)}},
		{name: "info", n: info, checks: map[string]any{"embeds.0.color": float64(0x36C5F0)}},
		{name: "templates", n: publishtest.Firing(),
			tmpl: &target.TemplateSpec{Title: "{{ .Labels.team }}: {{ .Name }}", Body: "{{ .Summary }} ({{ .Labels.cluster }})"},
			checks: map[string]any{"content": "payments: HighErrorRate", "embeds.0.title": "payments: HighErrorRate",
				"embeds.0.description": "Checkout error rate above 5% (prod-eu1)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("")
			tg.Template = tc.tmpl
			req := publishOne(t, tg, tc.n)
			if req.Method != http.MethodPost || req.EscapedPath != hookPath || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request = %s %s (%s)", req.Method, req.EscapedPath, req.Header.Get("Content-Type"))
			}
			for path, want := range tc.checks {
				got := req.Get(path)
				if w, ok := want.([]any); ok {
					if g, ok := got.([]any); !ok || len(g) != len(w) {
						t.Errorf("%s = %#v, want %#v", path, got, want)
					}
					continue
				}
				if got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
}

// Alert text cannot ping anyone and reaches Discord as written.
func TestEscapingAndMentions(t *testing.T) {
	for _, v := range []string{"@everyone look", `quote " and \ backslash`, "line 1\nline 2", "<@&123456789> role", "Zürich ⚠ 東京"} {
		t.Run(v, func(t *testing.T) {
			n := publishtest.Firing()
			n.Alert.Annotations["summary"] = v
			n.Alert.Labels["team"] = v
			req := publishOne(t, newTarget(""), n)
			if p, ok := req.Get("allowed_mentions.parse").([]any); !ok || len(p) != 0 {
				t.Errorf("allowed_mentions.parse = %#v, want []", req.Get("allowed_mentions.parse"))
			}
			if got := req.String("embeds.0.fields.10.value"); got != v {
				t.Errorf("label = %q, want %q", got, v)
			}
			if got := req.String("embeds.0.description"); !strings.Contains(got, v) {
				t.Errorf("description = %q, want it to hold %q", got, v)
			}
		})
	}
}

func runes(v any) int { s, _ := v.(string); return utf8.RuneCountInString(s) }

// Every limit of https://discord.com/developers/docs/resources/message#embed-object-embed-limits
// and the 2,000-character content, enforced by cutting with "…".
func TestLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("ä", n) }
	many := publishtest.Firing()
	for i := 0; i < 60; i++ {
		many.Alert.Labels["extra_"+strconv.Itoa(100+i)] = long(900)
	}
	bigLabel := publishtest.Firing()
	bigLabel.Alert.Labels[long(300)] = long(2000)
	tests := []struct {
		name string
		n    publish.Notification
		tmpl *target.TemplateSpec
	}{
		{name: "long template title and body", n: publishtest.Firing(),
			tmpl: &target.TemplateSpec{Title: `{{ printf "%3000s" .Name }}`, Body: `{{ printf "%9000s" .Summary }}`}},
		{name: "long label name and value", n: bigLabel},
		{name: "many long labels", n: many},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("")
			tg.Template = tc.tmpl
			req := publishOne(t, tg, tc.n)
			if runes(req.Get("content")) > discord.MaxContent {
				t.Errorf("content has %d characters", runes(req.Get("content")))
			}
			e := "embeds.0."
			if runes(req.Get(e+"title")) > discord.MaxTitle || runes(req.Get(e+"description")) > discord.MaxDescription ||
				runes(req.Get(e+"footer.text")) > discord.MaxFooter {
				t.Errorf("title %d, description %d, footer %d characters", runes(req.Get(e+"title")),
					runes(req.Get(e+"description")), runes(req.Get(e+"footer.text")))
			}
			fields, _ := req.Get(e + "fields").([]any)
			if len(fields) > discord.MaxFields {
				t.Errorf("%d fields", len(fields))
			}
			total := runes(req.Get(e+"title")) + runes(req.Get(e+"description")) + runes(req.Get(e+"footer.text"))
			cut := strings.HasSuffix(req.String(e+"title"), publish.CutMark) || strings.HasSuffix(req.String(e+"description"), publish.CutMark)
			for i := range fields {
				name, value := req.Get(e+"fields."+strconv.Itoa(i)+".name"), req.Get(e+"fields."+strconv.Itoa(i)+".value")
				if runes(name) > discord.MaxFieldName || runes(value) > discord.MaxFieldValue || runes(name) == 0 || runes(value) == 0 {
					t.Errorf("field %d: name %d, value %d characters", i, runes(name), runes(value))
				}
				cut = cut || strings.HasSuffix(value.(string), publish.CutMark)
				total += runes(name) + runes(value)
			}
			if total > discord.MaxEmbedTotal {
				t.Errorf("embed total %d characters, over %d", total, discord.MaxEmbedTotal)
			}
			if !cut {
				t.Error("nothing visibly cut")
			}
		})
	}
}

// 429: the longest of the body's retry_after (float seconds), the
// X-RateLimit-Reset-After and Retry-After headers
// (https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit).
func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		resp      publishtest.Response
		closed    bool
		kind      string
		retryable bool
		after     time.Duration
	}{
		{name: "429 body retry_after", resp: publishtest.JSON(429, map[string]any{"message": "You are being rate limited.", "retry_after": 64.57, "global": false}),
			kind: publish.KindRateLimited, retryable: true, after: 64570 * time.Millisecond},
		{name: "429 body beats a shorter header", resp: publishtest.JSON(429, map[string]any{"retry_after": 2.5}).WithHeader("Retry-After", "1"),
			kind: publish.KindRateLimited, retryable: true, after: 2500 * time.Millisecond},
		{name: "429 Retry-After header only", resp: publishtest.Status(429, "").WithHeader("Retry-After", "3"),
			kind: publish.KindRateLimited, retryable: true, after: 3 * time.Second},
		{name: "429 X-RateLimit-Reset-After", resp: publishtest.Status(429, "{}").WithHeader("X-RateLimit-Reset-After", "1.234"),
			kind: publish.KindRateLimited, retryable: true, after: 1234 * time.Millisecond},
		{name: "429 absurd retry_after capped", resp: publishtest.JSON(429, map[string]any{"retry_after": 1e12}),
			kind: publish.KindRateLimited, retryable: true, after: publish.MaxRetryAfter},
		{name: "429 negative retry_after ignored", resp: publishtest.JSON(429, map[string]any{"retry_after": -5}),
			kind: publish.KindRateLimited, retryable: true, after: 0},
		{name: "400 invalid form body", resp: publishtest.JSON(400, map[string]any{"code": 50035, "message": "Invalid Form Body"}), kind: publish.KindHTTPClient},
		{name: "401 invalid token", resp: publishtest.JSON(401, map[string]any{"code": 50027, "message": "Invalid Webhook Token"}), kind: publish.KindHTTPClient},
		{name: "404 unknown webhook", resp: publishtest.JSON(404, map[string]any{"code": 10015, "message": "Unknown Webhook"}), kind: publish.KindConfig},
		{name: "404 elsewhere", resp: publishtest.Status(404, "not found"), kind: publish.KindHTTPClient},
		{name: "500", resp: publishtest.Status(500, ""), kind: publish.KindHTTPServer, retryable: true},
		{name: "502", resp: publishtest.Status(502, ""), kind: publish.KindHTTPServer, retryable: true},
		{name: "connection refused", closed: true, kind: publish.KindNetwork, retryable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, client := publishtest.ClosedURL(t, ""), http.DefaultClient
			if !tc.closed {
				srv := publishtest.NewServer(t, tc.resp)
				base, client = srv.URL, srv.Client()
			}
			_, err := (&discord.Publisher{Client: client}).Publish(context.Background(), newTarget(base), publishtest.Firing())
			publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
		})
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	publishtest.AssertLeaksNoSecret(t, &discord.Publisher{}, newTarget, []publishtest.LeakCase{
		{Name: "400 echoing the URL", Resp: publishtest.Status(400, `{"message":"bad `+hookPath+`"}`)},
		{Name: "404 unknown webhook echoing the token", Resp: publishtest.Status(404, `{"code":10015,"message":"Unknown Webhook Tok3n-aBcDeFgHiJkLmNoPqRsTuVwXyZ_0123456789"}`)},
		{Name: "429", Resp: publishtest.JSON(429, map[string]any{"retry_after": 1.5})},
		{Name: "500", Resp: publishtest.Status(500, "")},
		{Name: "slow", Resp: publishtest.Response{Status: 204, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

// The probe GETs the webhook (its object, nothing posted): a working
// webhook is never marked unusable, a deleted one is.
func TestProbe(t *testing.T) {
	tests := []struct {
		status int
		ok     bool
		class  string
	}{
		{http.StatusOK, true, ""}, {http.StatusTooManyRequests, true, ""},
		{http.StatusUnauthorized, false, health.ClassAuth}, {http.StatusNotFound, false, health.ClassConfig},
		{http.StatusInternalServerError, false, health.ClassHTTPStatus}, {http.StatusBadGateway, false, health.ClassHTTPStatus},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			var (
				mu   sync.Mutex
				seen []string
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Method+" "+r.URL.RequestURI())
				mu.Unlock()
				w.WriteHeader(tc.status)
			}))
			defer srv.Close()
			tg := newTarget(srv.URL)
			tg.URL += "?thread_id=42"
			o := (&health.Prober{Client: srv.Client(), Timeout: 5 * time.Second}).Probe(context.Background(), tg)
			if o.OK != tc.ok || o.Class != tc.class {
				t.Errorf("observation = %+v, want ok %v class %q", o, tc.ok, tc.class)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != "GET "+hookPath {
				t.Errorf("requests = %v, want only GET of the webhook", seen)
			}
			publishtest.AssertNoSecret(t, o.Message, tg.Secrets()...)
		})
	}
	t.Run("dead host", func(t *testing.T) {
		o := (&health.Prober{Timeout: 5 * time.Second}).Probe(context.Background(), newTarget(publishtest.ClosedURL(t, "")))
		if o.OK || o.Class != health.ClassRefused {
			t.Errorf("observation = %+v, want a refused failure", o)
		}
	})
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, js, field string
		parseErr        bool
	}{
		{name: "valid", js: `{"name":"t","type":"discord","url":"https://discord.com/api/webhooks/123/abcdef"}`},
		{name: "valid with version and thread", js: `{"name":"t","type":"discord","url":"https://discord.com/api/v10/webhooks/123/abcdef?thread_id=9"}`},
		{name: "missing url", js: `{"name":"t","type":"discord"}`, field: "url"},
		{name: "not a webhook url", js: `{"name":"t","type":"discord","url":"https://discord.com/channels/1/2"}`, field: "url"},
		{name: "slack-compatible endpoint", js: `{"name":"t","type":"discord","url":"https://discord.com/api/webhooks/123/abcdef/slack"}`, field: "url"},
		{name: "not http", js: `{"name":"t","type":"discord","url":"ftp://discord.com/api/webhooks/1/2"}`, field: "url"},
		{name: "unknown field", js: `{"name":"t","type":"discord","url":"https://discord.com/api/webhooks/1/abcd","username":"x"}`, parseErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := target.ParseOne([]byte(tc.js), "test")
			var fe *target.FieldError
			var pe *target.ParseError
			switch {
			case tc.parseErr:
				if !errors.As(err, &pe) {
					t.Errorf("err = %v, want a ParseError", err)
				}
			case tc.field == "":
				if err != nil {
					t.Errorf("err = %v", err)
				}
			case !errors.As(err, &fe) || fe.Field != tc.field:
				t.Errorf("err = %v, want a FieldError for %s", err, tc.field)
			}
		})
	}
}
