package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/webhook"
	"github.com/herald-alerts/herald/internal/target"
)

// parseTarget builds a webhook target as the targets file would.
func parseTarget(t *testing.T, url string, extra map[string]any) target.Target {
	t.Helper()
	obj := map[string]any{"name": "chat-hook", "type": "webhook", "url": url}
	for k, v := range extra {
		obj[k] = v
	}
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := target.ParseOne(js, "test")
	if err != nil {
		t.Fatalf("ParseOne: %v", err)
	}
	return tg
}

// body_template replaces the v4 payload with the template's output: the
// forms of Google Chat (https://developers.google.com/workspace/chat/quickstart/webhooks:
// POST {"text": ...}) and Mattermost
// (https://developers.mattermost.com/integrate/webhooks/incoming/: POST
// {"text": ..., "username": ...}), a text body, and JSON escaping with
// printf "%q" (quotes and newlines) and toJson (any value).
func TestBodyTemplate(t *testing.T) {
	tricky := publishtest.Firing()
	tricky.Alert.Annotations["summary"] = "say \"hi\"\nnext line \\ tab\there"
	control := publishtest.Firing()
	control.Alert.Annotations["summary"] = "bell\x07 and \"quotes\" <b>"
	tests := []struct {
		name     string
		n        publish.Notification
		extra    map[string]any
		wantType string
		// wantBody is the exact body, or wantJSON paths of the decoded body.
		wantBody string
		wantJSON map[string]any
	}{
		{name: "google chat", n: publishtest.Firing(),
			extra:    map[string]any{"body_template": `{"text": {{ printf "%q" (printf "*%s* (%s): %s" .Name .Severity .Summary) }}}`},
			wantType: "application/json",
			wantJSON: map[string]any{"text": "*HighErrorRate* (critical): Checkout error rate above 5%"}},
		{name: "mattermost", n: publishtest.Resolved(nil),
			extra: map[string]any{"body_template": `{"username": "herald", "text": {{ printf "%q" (printf "%s: %s" (upper .Event) .Name) }},` +
				` "props": {"card": {{ printf "%q" .Labels.team }}}}`},
			wantType: "application/json",
			wantJSON: map[string]any{"username": "herald", "text": "RESOLVED: HighErrorRate", "props.card": "payments"}},
		{name: "quotes and newlines escaped", n: tricky,
			extra:    map[string]any{"body_template": `{"text": {{ printf "%q" .Summary }}}`},
			wantType: "application/json",
			wantJSON: map[string]any{"text": "say \"hi\"\nnext line \\ tab\there"}},
		{name: "toJson: control characters and a label map", n: control,
			extra:    map[string]any{"body_template": `{"text": {{ toJson .Summary }}, "labels": {{ toJson .Labels }}}`},
			wantType: "application/json",
			wantJSON: map[string]any{"text": "bell\x07 and \"quotes\" <b>", "labels.team": "payments"}},
		{name: "plain text", n: publishtest.Firing(),
			extra:    map[string]any{"body_template": `{{ .Name }} is {{ .Event }}: {{ .Summary }}`, "content_type": "text/plain; charset=utf-8"},
			wantType: "text/plain; charset=utf-8",
			wantBody: "HighErrorRate is firing: Checkout error rate above 5%"},
		{name: "+json content type", n: publishtest.Firing(),
			extra:    map[string]any{"body_template": `{"data": {"id": {{ printf "%q" .Fingerprint }}}}`, "content_type": "application/vnd.api+json"},
			wantType: "application/vnd.api+json",
			wantJSON: map[string]any{"data.id": "c0ffee1234567890"}},
		{name: "content type from the headers", n: publishtest.Firing(),
			extra:    map[string]any{"body_template": `alert={{ .Name }}`, "headers": map[string]string{"content-type": "application/x-www-form-urlencoded"}},
			wantType: "application/x-www-form-urlencoded",
			wantBody: "alert=HighErrorRate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.OK("ok"))
			tg := parseTarget(t, srv.URL+"/hooks/chat", tc.extra)
			if _, err := (&webhook.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, tc.n); err != nil {
				t.Fatal(err)
			}
			req := srv.Request(t, 0)
			if req.Method != http.MethodPost || req.Path != "/hooks/chat" {
				t.Errorf("request = %s %s", req.Method, req.Path)
			}
			if got := req.Header.Values("Content-Type"); len(got) != 1 || got[0] != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if tc.wantBody != "" && string(req.Body) != tc.wantBody {
				t.Errorf("body = %q, want %q", req.Body, tc.wantBody)
			}
			if tc.wantJSON != nil && req.JSON == nil {
				t.Fatalf("body is not JSON: %s", req.Body)
			}
			for path, want := range tc.wantJSON {
				if got := req.Get(path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			if strings.Contains(string(req.Body), `"version"`) {
				t.Error("the v4 payload was sent")
			}
		})
	}
}

// A JSON body_template whose output is not JSON for an alert fails
// permanently as config, naming the problem, and sends nothing.
func TestBodyTemplateInvalidJSONIsNeverSent(t *testing.T) {
	quoted := publishtest.Firing()
	quoted.Alert.Annotations["summary"] = `5% of "checkout" fails`
	apostrophe := publishtest.Firing()
	apostrophe.Alert.Annotations["summary"] = "it's down"
	tests := []struct {
		name, tmpl string
		n          publish.Notification
		want       string
	}{
		{name: "unescaped quote", tmpl: `{"text": "{{ .Summary }}"}`, n: quoted, want: "not valid JSON"},
		// js escapes ' as \' (not JSON): a JSON-escaping function is what it takes.
		{name: "js escaping is not JSON", tmpl: `{"text": "{{ js .Summary }}"}`, n: apostrophe, want: "not valid JSON"},
		{name: "empty output", tmpl: `{{ if eq .Event "firing" }}{"text": "ok"}{{ end }}`, n: publishtest.Resolved(nil), want: "not valid JSON"},
		{name: "output over the bound", tmpl: `{{ if eq .Event "resolved" }}{{ printf "%300000s" .Name }}{{ else }}{}{{ end }}`,
			n: publishtest.Resolved(nil), want: "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t)
			tg := parseTarget(t, srv.URL, map[string]any{"body_template": tc.tmpl})
			_, err := (&webhook.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, tc.n)
			pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
			if !strings.Contains(pe.Msg, "body_template") || !strings.Contains(pe.Msg, tc.want) {
				t.Errorf("msg = %q, want body_template and %q", pe.Msg, tc.want)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("%d requests sent", n)
			}
		})
	}
}

func TestBodyTemplateLeaksNoSecret(t *testing.T) {
	newTarget := func(base string) target.Target {
		tg := parseTarget(t, base+"/v1/spaces/AAAA1234/messages?key=chat-key-0099&token=chat-token-7788",
			map[string]any{"body_template": `{"text": {{ printf "%q" .Summary }}}`})
		return tg
	}
	publishtest.AssertLeaksNoSecret(t, &webhook.Publisher{}, newTarget, []publishtest.LeakCase{
		{Name: "400 echoing the token", Resp: publishtest.Status(400, `{"error":"bad token chat-token-7788"}`)},
		{Name: "500", Resp: publishtest.Status(500, "")},
		{Name: "transport error", Closed: true},
	})
}

func TestBodyTemplateValidation(t *testing.T) {
	tests := []struct {
		name     string
		extra    map[string]any
		field    string
		parseErr bool
	}{
		{name: "json template", extra: map[string]any{"body_template": `{"text": {{ printf "%q" .Summary }}}`}},
		{name: "text template", extra: map[string]any{"body_template": `{{ .Summary }}`, "content_type": "text/plain"}},
		{name: "does not parse", extra: map[string]any{"body_template": `{{ .Summary `}, field: "body_template"},
		{name: "unbounded range", extra: map[string]any{"body_template": `{{ range 1000000 }}x{{ end }}`, "content_type": "text/plain"}, field: "body_template"},
		{name: "never JSON", extra: map[string]any{"body_template": `alert {{ .Name }}`}, field: "body_template"},
		{name: "never JSON with +json", extra: map[string]any{"body_template": `{"a": }`, "content_type": "application/problem+json"}, field: "body_template"},
		{name: "content_type without body_template", extra: map[string]any{"content_type": "text/plain"}, field: "content_type"},
		{name: "content_type not a media type", extra: map[string]any{"body_template": "x", "content_type": "text plain"}, field: "content_type"},
		{name: "content_type and a Content-Type header", extra: map[string]any{"body_template": "x", "content_type": "text/plain",
			"headers": map[string]string{"Content-Type": "text/plain"}}, field: "content_type"},
		{name: "template with body_template", extra: map[string]any{"body_template": `{}`,
			"template": map[string]string{"title": "{{ .Name }}"}}, field: "template"},
		{name: "unknown field", extra: map[string]any{"body": "{}"}, parseErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := map[string]any{"name": "chat-hook", "type": "webhook", "url": "https://chat.example.com/hook"}
			for k, v := range tc.extra {
				obj[k] = v
			}
			js, _ := json.Marshal(obj)
			_, err := target.ParseOne(js, "test")
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
