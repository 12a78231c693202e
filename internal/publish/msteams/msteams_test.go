package msteams_test

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

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/msteams"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// workflowPath is the path and query of a Workflows webhook URL: all of it
// is the credential.
const workflowPath = "/workflows/0c1f7e21a4b34d6c/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=SiGn4tur3-Qx7v0aLmN2pR5tW8yZ"

func newTarget(base string) target.Target {
	return target.Target{Name: "ops-teams", Type: "msteams", URL: base + workflowPath}
}

var accepted = publishtest.Status(http.StatusAccepted, "")

func publishOne(t *testing.T, tg target.Target, n publish.Notification) (publish.Result, publishtest.Request) {
	t.Helper()
	srv := publishtest.NewServer(t, accepted)
	tg.URL = srv.URL + workflowPath
	res, err := (&msteams.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, n)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res, srv.Request(t, 0)
}

// The request as documented: a message with one Adaptive Card attachment
// (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook),
// card elements as in https://adaptivecards.io/explorer/ (Container and
// TextBlock styles and colors, FactSet, Action.OpenUrl).
func TestCardContract(t *testing.T) {
	info := publishtest.Firing()
	info.Alert.Labels["severity"] = "info"
	warning := publishtest.Firing()
	warning.Classification.Severity = "warning"
	noLinks := publishtest.Firing()
	noLinks.Alert.GeneratorURL = "not a url"
	delete(noLinks.Alert.Annotations, "runbook_url")
	tests := []struct {
		name   string
		n      publish.Notification
		tmpl   *target.TemplateSpec
		checks map[string]any
	}{
		{name: "firing critical", n: publishtest.Firing(), checks: map[string]any{
			"type":                                       "message",
			"attachments.0.contentType":                  "application/vnd.microsoft.card.adaptive",
			"attachments.1":                              nil,
			"attachments.0.content.type":                 "AdaptiveCard",
			"attachments.0.content.$schema":              "http://adaptivecards.io/schemas/adaptive-card.json",
			"attachments.0.content.version":              "1.4",
			"attachments.0.content.body.0.type":          "Container",
			"attachments.0.content.body.0.style":         "attention",
			"attachments.0.content.body.0.items.0.type":  "TextBlock",
			"attachments.0.content.body.0.items.0.text":  "[FIRING] HighErrorRate",
			"attachments.0.content.body.0.items.0.color": "attention",
			"attachments.0.content.body.0.items.0.wrap":  true,
			"attachments.0.content.body.0.items.1.text":  "Severity critical · firing · started 2024-05-06 06:58:09 UTC",
			"attachments.0.content.body.1.text":          "Checkout error rate above 5%",
			"attachments.0.content.body.2.text":          "The checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
			"attachments.0.content.body.3.type":          "FactSet",
			"attachments.0.content.body.3.facts.0.title": "alertname",
			"attachments.0.content.body.3.facts.0.value": "HighErrorRate",
			"attachments.0.content.body.3.facts.7.title": "team",
			"attachments.0.content.body.3.facts.7.value": "payments",
			"attachments.0.content.body.4.text":          "Fingerprint c0ffee1234567890 · Herald",
			"attachments.0.content.actions.0.type":       "Action.OpenUrl",
			"attachments.0.content.actions.0.title":      "Runbook",
			"attachments.0.content.actions.0.url":        "https://runbooks.example.com/checkout/high-error-rate",
			"attachments.0.content.actions.1.title":      "Source",
			"attachments.0.content.actions.1.url":        publishtest.Alert().GeneratorURL,
		}},
		{name: "resolved", n: publishtest.Resolved(nil), checks: map[string]any{
			"attachments.0.content.body.0.style":         "good",
			"attachments.0.content.body.0.items.0.text":  "[RESOLVED] HighErrorRate",
			"attachments.0.content.body.0.items.0.color": "good",
			"attachments.0.content.body.0.items.1.text":  "Severity critical · resolved · started 2024-05-06 06:58:09 UTC · ended 2024-05-06 07:08:09 UTC",
		}},
		{name: "update", n: publishtest.Update(nil), checks: map[string]any{
			"attachments.0.content.body.0.items.0.text": "[FIRING] HighErrorRate (updated)"}},
		{name: "warning by classification", n: warning, checks: map[string]any{
			"attachments.0.content.body.0.style": "warning", "attachments.0.content.body.0.items.0.color": "warning"}},
		{name: "info", n: info, checks: map[string]any{
			"attachments.0.content.body.0.style": "accent", "attachments.0.content.body.0.items.0.color": "accent"}},
		{name: "only valid links", n: noLinks, checks: map[string]any{"attachments.0.content.actions": nil}},
		{name: "templates", n: publishtest.Firing(),
			tmpl: &target.TemplateSpec{Title: "{{ .Labels.team }}: {{ .Name }}", Body: "{{ .Summary }} on {{ .Labels.cluster }}"},
			checks: map[string]any{
				"attachments.0.content.body.0.items.0.text": "payments: HighErrorRate",
				"attachments.0.content.body.1.text":         "Checkout error rate above 5% on prod-eu1",
				"attachments.0.content.body.2.type":         "FactSet",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("")
			tg.Template = tc.tmpl
			res, req := publishOne(t, tg, tc.n)
			if res.StatusCode != http.StatusAccepted {
				t.Errorf("status = %d, want 202", res.StatusCode)
			}
			if req.Method != http.MethodPost || req.Path != "/workflows/0c1f7e21a4b34d6c/triggers/manual/paths/invoke" ||
				!strings.Contains(req.RawQuery, "sig=SiGn4tur3") {
				t.Errorf("request = %s %s?%s", req.Method, req.Path, req.RawQuery)
			}
			if ct := req.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			for path, want := range tc.checks {
				if got := req.Get(path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
}

// Alert text reaches Teams as written: JSON-escaped, never interpreted.
func TestEscaping(t *testing.T) {
	tests := []struct{ name, value string }{
		{"quotes and backslash", `say "hi" \ o/`},
		{"newlines and tab", "line 1\nline 2\tend"},
		{"html and mention markup", `<at>everyone</at> <script>x</script> & more`},
		{"unicode", "Zürich ⚠ 東京"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := publishtest.Firing()
			n.Alert.Annotations["summary"] = tc.value
			n.Alert.Labels["team"] = tc.value
			_, req := publishOne(t, newTarget(""), n)
			if req.JSON == nil {
				t.Fatalf("body is not JSON: %s", req.Body)
			}
			if got := req.String("attachments.0.content.body.1.text"); got != tc.value {
				t.Errorf("summary = %q, want %q", got, tc.value)
			}
			if got := req.String("attachments.0.content.body.3.facts.7.value"); got != tc.value {
				t.Errorf("label = %q, want %q", got, tc.value)
			}
		})
	}
}

// The whole body stays within Teams' 28 KB; what was cut says so.
func TestMessageSizeLimit(t *testing.T) {
	manyLabels := publishtest.Firing()
	for i := 0; i < 3000; i++ {
		manyLabels.Alert.Labels["label_"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("y", i%5)+strconv.Itoa(i)] = "value-" + strconv.Itoa(i)
	}
	longDesc := publishtest.Firing()
	longDesc.Alert.Annotations["description"] = strings.Repeat("a long description ", 10000)
	escaped := publishtest.Firing()
	escaped.Alert.Annotations["description"] = strings.Repeat("\"\x01", 20000)
	longLabel := publishtest.Firing()
	longLabel.Alert.Labels["stack"] = strings.Repeat("frame ", 20000)
	longLink := publishtest.Firing()
	longLink.Alert.Annotations["runbook_url"] = "https://runbooks.example.com/" + strings.Repeat("p", 5000)
	tests := []struct {
		name string
		n    publish.Notification
		tmpl *target.TemplateSpec
		// cut is a body path whose text must end with "…".
		cut        string
		wantFacts  bool
		wantAction bool
	}{
		{name: "long description", n: longDesc, cut: "attachments.0.content.body.2.text", wantFacts: true, wantAction: true},
		{name: "description that grows when escaped", n: escaped, cut: "attachments.0.content.body.2.text", wantFacts: true, wantAction: true},
		{name: "long label value", n: longLabel, cut: "attachments.0.content.body.3.facts.7.value", wantFacts: true, wantAction: true},
		{name: "long template title and body", n: publishtest.Firing(),
			tmpl: &target.TemplateSpec{Title: `{{ printf "%40000s" .Name }}`, Body: `{{ printf "%40000s" .Summary }}`},
			cut:  "attachments.0.content.body.1.text", wantFacts: true, wantAction: true},
		{name: "thousands of labels", n: manyLabels, cut: "", wantFacts: true, wantAction: true},
		{name: "long link left out", n: longLink, wantFacts: true, wantAction: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := newTarget("")
			tg.Template = tc.tmpl
			_, req := publishOne(t, tg, tc.n)
			if len(req.Body) > msteams.MaxMessageSize {
				t.Fatalf("body is %d bytes, over %d", len(req.Body), msteams.MaxMessageSize)
			}
			if req.JSON == nil {
				t.Fatal("body is not JSON")
			}
			body := string(req.Body)
			trimmed := strings.Contains(body, msteams.TrimmedNote)
			if tc.name == "long link left out" {
				if trimmed || strings.Contains(body, "ppppp") {
					t.Errorf("a card that fits was trimmed, or kept an overlong link")
				}
				if got := req.String("attachments.0.content.actions.0.title"); got != "Source" {
					t.Errorf("first action = %q, want Source (the runbook link is too long)", got)
				}
				return
			}
			if !trimmed {
				t.Error("trimmed card does not say so")
			}
			if tc.cut != "" && !strings.HasSuffix(req.String(tc.cut), publish.CutMark) {
				t.Errorf("%s = %.80q…, want it cut with %q", tc.cut, req.String(tc.cut), publish.CutMark)
			}
			if got := req.String("attachments.0.content.body.0.items.1.text"); !strings.HasPrefix(got, "Severity critical") {
				t.Errorf("status line = %q, want it kept", got)
			}
			if tc.wantFacts && !strings.Contains(body, `"facts":[{"title":"alertname","value":"HighErrorRate"}`) &&
				!strings.Contains(body, "labels left out") {
				t.Error("labels vanished without a word")
			}
			if tc.wantAction && req.String("attachments.0.content.actions.0.url") == "" {
				t.Error("links dropped although texts could be cut")
			}
		})
	}
}

// Workflows answers 202; everything else goes through the shared
// classifier (https://learn.microsoft.com/en-us/power-automate/limits-and-config
// for its 429 with Retry-After).
func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		resp      publishtest.Response
		closed    bool
		kind      string
		retryable bool
		after     time.Duration
	}{
		{name: "429 with Retry-After", resp: publishtest.Status(429, `{"error":{"code":"WorkflowTriggerIsThrottled"}}`).WithHeader("Retry-After", "7"),
			kind: publish.KindRateLimited, retryable: true, after: 7 * time.Second},
		{name: "413 too large", resp: publishtest.Status(413, "Request Entity Too Large"), kind: publish.KindHTTPClient},
		{name: "400 bad card", resp: publishtest.Status(400, `{"error":{"code":"InvalidRequestContent"}}`), kind: publish.KindHTTPClient},
		{name: "401 bad signature", resp: publishtest.Status(401, `{"error":{"code":"DirectApiAuthorizationRequired"}}`), kind: publish.KindHTTPClient},
		{name: "404 deleted flow", resp: publishtest.Status(404, `{"error":{"code":"WorkflowNotFound"}}`), kind: publish.KindHTTPClient},
		{name: "500", resp: publishtest.Status(500, ""), kind: publish.KindHTTPServer, retryable: true},
		{name: "503 with Retry-After", resp: publishtest.Status(503, "").WithHeader("Retry-After", "30"),
			kind: publish.KindHTTPServer, retryable: true, after: 30 * time.Second},
		{name: "302 never followed", resp: publishtest.Status(302, "").WithHeader("Location", "https://login.example.com/x"), kind: publish.KindConfig},
		{name: "connection refused", closed: true, kind: publish.KindNetwork, retryable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := publishtest.ClosedURL(t, "")
			client := http.DefaultClient
			if !tc.closed {
				srv := publishtest.NewServer(t, tc.resp)
				base, client = srv.URL, srv.Client()
			}
			_, err := (&msteams.Publisher{Client: client}).Publish(context.Background(), newTarget(base), publishtest.Firing())
			publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
		})
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	publishtest.AssertLeaksNoSecret(t, &msteams.Publisher{}, newTarget, []publishtest.LeakCase{
		{Name: "400 echoing the URL", Resp: publishtest.Status(400, `{"error":{"message":"bad request to `+workflowPath+`"}}`)},
		{Name: "401 echoing the signature", Resp: publishtest.Status(401, `sig=SiGn4tur3-Qx7v0aLmN2pR5tW8yZ is invalid`)},
		{Name: "429", Resp: publishtest.Status(429, "")},
		{Name: "500 echoing the escaped path", Resp: publishtest.Status(500, `"\/workflows\/0c1f7e21a4b34d6c\/triggers\/manual\/paths\/invoke"`)},
		{Name: "slow", Resp: publishtest.Response{Status: 202, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

// The probe asks the host's root and never the webhook URL: no card is
// ever posted, and any answer but 502/503/504 counts.
func TestProbe(t *testing.T) {
	tests := []struct {
		status int
		ok     bool
	}{
		{http.StatusOK, true}, {http.StatusNotFound, true}, {http.StatusMethodNotAllowed, true},
		{http.StatusUnauthorized, true}, {http.StatusBadGateway, false}, {http.StatusServiceUnavailable, false},
		{http.StatusGatewayTimeout, false},
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
			o := (&health.Prober{Client: srv.Client(), Timeout: 5 * time.Second}).Probe(context.Background(), newTarget(srv.URL))
			if o.OK != tc.ok {
				t.Errorf("OK = %v, want %v (%+v)", o.OK, tc.ok, o)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 1 || seen[0] != "GET /" {
				t.Errorf("requests = %v, want only GET /", seen)
			}
			publishtest.AssertNoSecret(t, o.Message, newTarget(srv.URL).Secrets()...)
		})
	}
	t.Run("dead host", func(t *testing.T) {
		o := (&health.Prober{Timeout: 5 * time.Second}).Probe(context.Background(), newTarget(publishtest.ClosedURL(t, "")))
		if o.OK || o.Class != health.ClassRefused {
			t.Errorf("observation = %+v, want a refused failure", o)
		}
	})
}

func TestSecretsCoverTheURL(t *testing.T) {
	tg := newTarget("https://prod-00.westeurope.logic.azure.com:443")
	secrets := strings.Join(tg.Secrets(), "\n")
	for _, part := range []string{"/workflows/0c1f7e21a4b34d6c/triggers/manual/paths/invoke", "SiGn4tur3-Qx7v0aLmN2pR5tW8yZ"} {
		if !strings.Contains(secrets, part) {
			t.Errorf("Secrets() lacks %q", part)
		}
	}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name, js, field string
		parseErr        bool
	}{
		{name: "valid", js: `{"name":"t","type":"msteams","url":"https://prod-00.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=abcd"}`},
		{name: "missing url", js: `{"name":"t","type":"msteams"}`, field: "url"},
		{name: "not http", js: `{"name":"t","type":"msteams","url":"ftp://example.com/x"}`, field: "url"},
		{name: "relative url", js: `{"name":"t","type":"msteams","url":"/workflows/x"}`, field: "url"},
		{name: "unknown field", js: `{"name":"t","type":"msteams","url":"https://example.com/x","webhook_url":"https://example.com/y"}`, parseErr: true},
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
