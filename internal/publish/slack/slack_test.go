package slack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"github.com/herald-alerts/herald/internal/target"
)

const (
	hookPath = "/services/T0SECRET/B0SECRET/Xk3yW3bh00kT0k3n"
	botToken = "xoxb-1111-2222-BoTt0k3nS3cr3t"
)

func webhookTarget(base string) target.Target {
	return target.Target{Name: "team-a-slack", Type: "slack", URL: base + hookPath}
}

func botTarget(base string) target.Target {
	return target.Target{Name: "team-a-bot", Type: "slack", Config: &slack.Config{Token: botToken, Channel: "#alerts"}, URL: base}
}

func posted(channel, ts string) publishtest.Response {
	return publishtest.JSON(200, map[string]any{"ok": true, "channel": channel, "ts": ts})
}

func apiError(code string) publishtest.Response {
	return publishtest.JSON(200, map[string]any{"ok": false, "error": code})
}

func pub(srv *publishtest.Server) *slack.Publisher { return &slack.Publisher{Client: srv.Client()} }

func TestWebhookRequest(t *testing.T) {
	withTemplate := webhookTarget("")
	withTemplate.Template = &target.TemplateSpec{Title: "{{ .Labels.cluster }}: {{ .Name }}", Body: "*{{ .Summary }}* owned by {{ .Labels.team }}"}
	info := publishtest.Firing()
	info.Alert.Labels = map[string]string{"alertname": "DiskFilling", "severity": "info"}
	warning := publishtest.Firing()
	warning.Classification.Severity = "warning"

	for _, tc := range []struct {
		name     string
		n        publish.Notification
		template *target.TemplateSpec
		want     map[string]any
		contains map[string]string
	}{
		{name: "firing critical", n: publishtest.Firing(), want: map[string]any{
			"blocks.0.type":                        "header",
			"blocks.0.text.type":                   "plain_text",
			"blocks.0.text.text":                   "[FIRING] HighErrorRate",
			"blocks.1.type":                        "section",
			"blocks.1.text.type":                   "mrkdwn",
			"attachments.0.color":                  slack.ColorCritical,
			"attachments.0.blocks.0.type":          "section",
			"attachments.0.blocks.0.fields.0.text": "*Severity*\ncritical",
			"attachments.0.blocks.0.fields.1.text": "*Status*\nfiring",
			"attachments.0.blocks.0.fields.2.text": "*Started*\n2024-05-06 06:58:09 UTC",
			"attachments.0.blocks.0.fields.3.text": "*service*\ncheckout",
			"channel":                              nil,
			"thread_ts":                            nil,
		}, contains: map[string]string{
			"text":                                   "[FIRING] HighErrorRate: Checkout error rate above 5%",
			"blocks.1.text.text":                     "*Checkout error rate above 5%*\nThe checkout service returns 7.3%",
			"attachments.0.blocks.1.text.text":       "`team` payments",
			"attachments.0.blocks.2.elements.0.text": "|Runbook>",
			"attachments.0.blocks.2.elements.1.text": "c0ffee1234567890",
		}},
		{name: "warning color", n: warning, want: map[string]any{"attachments.0.color": slack.ColorWarning}},
		{name: "info color", n: info, want: map[string]any{"attachments.0.color": slack.ColorInfo, "blocks.0.text.text": "[FIRING] DiskFilling"}},
		{name: "resolved", n: publishtest.Resolved(nil), want: map[string]any{
			"blocks.0.text.text":                   "[RESOLVED] HighErrorRate",
			"attachments.0.color":                  slack.ColorResolved,
			"attachments.0.blocks.0.fields.1.text": "*Status*\nresolved",
			"attachments.0.blocks.0.fields.3.text": "*Ended*\n2024-05-06 07:08:09 UTC",
		}, contains: map[string]string{"text": ":white_check_mark:"}},
		{name: "update", n: publishtest.Update(nil), want: map[string]any{"blocks.0.text.text": "[FIRING] HighErrorRate (updated)"}},
		{name: "template title and body", n: publishtest.Firing(), template: withTemplate.Template, want: map[string]any{
			"blocks.0.text.text": "prod-eu1: HighErrorRate",
			"blocks.1.text.text": "*Checkout error rate above 5%* owned by payments",
		}, contains: map[string]string{"text": "prod-eu1: HighErrorRate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.OK("ok"))
			tg := webhookTarget(srv.URL)
			tg.Template = tc.template
			res, err := pub(srv).Publish(context.Background(), tg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || len(res.State) != 0 {
				t.Errorf("result = %+v (incoming webhooks return no message id)", res)
			}
			req := srv.Request(t, 0)
			if req.Method != http.MethodPost || req.Path != hookPath {
				t.Errorf("request = %s %s", req.Method, req.Path)
			}
			if ct := req.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			if req.Header.Get("Authorization") != "" {
				t.Error("incoming webhooks take no Authorization header")
			}
			for path, w := range tc.want {
				if got := req.Get(path); got != w {
					t.Errorf("%s = %#v, want %#v", path, got, w)
				}
			}
			for path, w := range tc.contains {
				if got := req.String(path); !strings.Contains(got, w) {
					t.Errorf("%s = %q, want it to contain %q", path, got, w)
				}
			}
		})
	}
}

// TestWebhookAnswerBody: an incoming webhook posted the message only when
// it answers "ok" (or JSON ok:true), as Alertmanager checks it.
func TestWebhookAnswerBody(t *testing.T) {
	jsonResp := func(v map[string]any) publishtest.Response { return publishtest.JSON(200, v) }
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		ok        bool
		kind      string
		retryable bool
		msg       string
	}{
		{name: "ok", resp: publishtest.OK("ok"), ok: true},
		{name: "ok with a newline", resp: publishtest.OK("ok\n"), ok: true},
		{name: "JSON ok:true", resp: jsonResp(map[string]any{"ok": true}), ok: true},
		{name: "empty 200", resp: publishtest.OK(""), kind: publish.KindProvider, msg: `answered "" instead of ok`},
		{name: "200 with an error text", resp: publishtest.OK("invalid_token"), kind: publish.KindProvider, msg: `answered "invalid_token" instead of ok`},
		{name: "200 HTML from a proxy", resp: publishtest.OK("<html>login</html>"), kind: publish.KindProvider, msg: "instead of ok"},
		{name: "204", resp: publishtest.Status(204, ""), kind: publish.KindProvider, msg: "instead of ok"},
		{name: "JSON ok:false", resp: jsonResp(map[string]any{"ok": false, "error": "invalid_blocks"}), kind: publish.KindProvider, msg: "invalid_blocks"},
		{name: "JSON ok:false ratelimited", resp: jsonResp(map[string]any{"ok": false, "error": "ratelimited"}), kind: publish.KindRateLimited, retryable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			res, err := pub(srv).Publish(context.Background(), webhookTarget(srv.URL), publishtest.Firing())
			if tc.ok {
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("Publish = %+v, %v; want success", res, err)
				}
				return
			}
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, -1)
			if !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("msg = %q, want it to contain %q", pe.Msg, tc.msg)
			}
			publishtest.AssertNoSecret(t, pe.Error(), hookPath)
		})
	}
}

// TestTextAndFallbackEscaped: the top-level text and the attachment
// fallback are mrkdwn, so alert text in them is escaped: <!channel> in a
// summary must not ping the channel.
func TestTextAndFallbackEscaped(t *testing.T) {
	ping := publishtest.Firing()
	ping.Alert.Annotations = map[string]string{"summary": "disk <!channel> & <@U123> full"}
	name := publishtest.Firing()
	name.Alert.Labels = map[string]string{"alertname": "Disk<!here>", "severity": "warning"}
	name.Alert.Annotations = nil
	tmpl := webhookTarget("")
	tmpl.Template = &target.TemplateSpec{Title: "{{ .Summary }}"}
	for _, tc := range []struct {
		name string
		tg   target.Target
		n    publish.Notification
		want string
	}{
		{"summary", webhookTarget(""), ping, "disk &lt;!channel&gt; &amp; &lt;@U123&gt; full"},
		{"alertname", webhookTarget(""), name, "[FIRING] Disk&lt;!here&gt;"},
		{"template title", tmpl, ping, "disk &lt;!channel&gt; &amp; &lt;@U123&gt; full"},
		{"resolved", webhookTarget(""), func() publish.Notification {
			n := publishtest.Resolved(nil)
			n.Alert.Annotations = ping.Alert.Annotations
			return n
		}(), "&lt;!channel&gt;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := slack.Format(tc.tg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			for field, got := range map[string]string{"text": m.Text, "attachments.0.fallback": m.Attachments[0].Fallback} {
				if !strings.Contains(got, tc.want) || strings.Contains(got, "<!") || strings.Contains(got, "<@") {
					t.Errorf("%s = %q, want it escaped (%q)", field, got, tc.want)
				}
			}
			if strings.Contains(m.Blocks[0].Text.Text, "&lt;") {
				t.Errorf("the plain_text header must not be escaped: %q", m.Blocks[0].Text.Text)
			}
			r, err := slack.FormatReply(tc.tg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(r.Text, "<!") || strings.Contains(r.Text, "<@") {
				t.Errorf("reply text = %q, want it escaped", r.Text)
			}
		})
	}
}

func TestEscaping(t *testing.T) {
	n := publishtest.Firing()
	n.Alert.Annotations = map[string]string{"summary": "<script> & <@U123>"}
	m, err := slack.Format(webhookTarget(""), n)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Blocks[1].Text.Text; got != "*&lt;script&gt; &amp; &lt;@U123&gt;*" {
		t.Errorf("section = %q, want mrkdwn-escaped text", got)
	}
}

func TestLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	for _, tc := range []struct {
		name  string
		tmpl  *target.TemplateSpec
		alter func(*publish.Notification)
		check func(t *testing.T, m slack.Message)
	}{
		{name: "header", tmpl: &target.TemplateSpec{Title: long(400)}, check: func(t *testing.T, m slack.Message) {
			assertCut(t, m.Blocks[0].Text.Text, slack.MaxHeaderText)
		}},
		{name: "section", tmpl: &target.TemplateSpec{Body: long(10000)}, check: func(t *testing.T, m slack.Message) {
			assertCut(t, m.Blocks[1].Text.Text, slack.MaxSectionText)
		}},
		{name: "text fallback", tmpl: &target.TemplateSpec{Title: long(50000)}, check: func(t *testing.T, m slack.Message) {
			assertCut(t, m.Text, slack.MaxText)
			assertCut(t, m.Attachments[0].Fallback, slack.MaxText)
		}},
		{name: "labels section", alter: func(n *publish.Notification) {
			for i := 0; i < 300; i++ {
				n.Alert.Labels["label_"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26))] = long(40)
			}
		}, check: func(t *testing.T, m slack.Message) {
			assertCut(t, m.Attachments[0].Blocks[1].Text.Text, slack.MaxSectionText)
		}},
		{name: "field values", alter: func(n *publish.Notification) { n.Alert.Labels["service"] = long(5000) },
			check: func(t *testing.T, m slack.Message) {
				for _, f := range m.Attachments[0].Blocks[0].Fields {
					if utf8.RuneCountInString(f.Text) > slack.MaxFieldText {
						t.Errorf("field of %d characters", utf8.RuneCountInString(f.Text))
					}
				}
				if len(m.Attachments[0].Blocks[0].Fields) > slack.MaxFields {
					t.Errorf("%d fields", len(m.Attachments[0].Blocks[0].Fields))
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := publishtest.Firing()
			if tc.alter != nil {
				tc.alter(&n)
			}
			tg := webhookTarget("")
			tg.Template = tc.tmpl
			m, err := slack.Format(tg, n)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func assertCut(t *testing.T, s string, max int) {
	t.Helper()
	if c := utf8.RuneCountInString(s); c > max || !strings.HasSuffix(s, "…") || !utf8.ValidString(s) {
		t.Errorf("text of %d characters (limit %d) must be cut with an ellipsis", c, max)
	}
}

func TestEnforceLimitsBlocks(t *testing.T) {
	m := slack.Message{Text: "x"}
	for i := 0; i < 40; i++ {
		m.Blocks = append(m.Blocks, slack.Block{Type: "section", Text: slack.Text{Type: "mrkdwn", Text: "b"}})
	}
	ctx := slack.Block{Type: "context"}
	for i := 0; i < 15; i++ {
		ctx.Elements = append(ctx.Elements, slack.Text{Type: "mrkdwn", Text: "e"})
	}
	att := slack.Attachment{Color: slack.ColorInfo}
	for i := 0; i < 20; i++ {
		att.Blocks = append(att.Blocks, ctx)
	}
	m.Attachments = []slack.Attachment{att}
	slack.EnforceLimits(&m)
	total := len(m.Blocks) + len(m.Attachments[0].Blocks)
	if total != slack.MaxBlocks || len(m.Blocks) != 40 {
		t.Errorf("blocks: %d top-level + %d in the attachment, want %d in all", len(m.Blocks), len(m.Attachments[0].Blocks), slack.MaxBlocks)
	}
	if n := len(m.Attachments[0].Blocks[0].Elements); n != slack.MaxContextElements {
		t.Errorf("context elements = %d", n)
	}
}

func TestWebhookClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
	}{
		{"400 invalid_payload", publishtest.Status(400, "invalid_payload"), publish.KindHTTPClient, false, 0},
		{"403 action_prohibited", publishtest.Status(403, "action_prohibited"), publish.KindHTTPClient, false, 0},
		{"404 channel_not_found", publishtest.Status(404, "channel_not_found"), publish.KindHTTPClient, false, 0},
		{"410 channel_is_archived", publishtest.Status(410, "channel_is_archived"), publish.KindHTTPClient, false, 0},
		{"429 Retry-After", publishtest.Status(429, "rate limited").WithHeader("Retry-After", "30"), publish.KindRateLimited, true, 30 * time.Second},
		{"500 rollup_error", publishtest.Status(500, "rollup_error"), publish.KindHTTPServer, true, 0},
		{"slow", publishtest.Response{Status: 200, Body: "ok", Delay: 2 * time.Second}, publish.KindTimeout, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := pub(srv).Publish(ctx, webhookTarget(srv.URL), publishtest.Firing())
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if tc.resp.Delay == 0 && tc.resp.Body != "" && pe.Msg != tc.resp.Body {
				t.Errorf("msg = %q, want the Slack error %q", pe.Msg, tc.resp.Body)
			}
		})
	}
}

func TestBotPostMessage(t *testing.T) {
	srv := publishtest.NewServer(t, posted("C0123ALERTS", "1700000000.000100"))
	tg := botTarget(srv.URL)
	tg.Config.(*slack.Config).Slack = &slack.Options{Username: "Herald", IconEmoji: ":rotating_light:"}
	res, err := pub(srv).Publish(context.Background(), tg, publishtest.Firing())
	if err != nil {
		t.Fatal(err)
	}
	req := srv.Request(t, 0)
	if req.Method != http.MethodPost || req.Path != "/chat.postMessage" {
		t.Errorf("request = %s %s", req.Method, req.Path)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+botToken {
		t.Errorf("Authorization = %q", got)
	}
	if got := req.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	for path, w := range map[string]any{
		"channel": "#alerts", "username": "Herald", "icon_emoji": ":rotating_light:",
		"blocks.0.text.text": "[FIRING] HighErrorRate", "ts": nil, "thread_ts": nil,
		"attachments.0.color": slack.ColorCritical,
	} {
		if got := req.Get(path); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	if req.String("text") == "" {
		t.Error("text fallback is required")
	}
	want := publish.ProviderState{slack.StateTS: "1700000000.000100", slack.StateChannel: "C0123ALERTS"}
	if res.State[slack.StateTS] != want[slack.StateTS] || res.State[slack.StateChannel] != want[slack.StateChannel] {
		t.Errorf("state = %v, want %v", res.State, want)
	}
}

func TestBotDefaultEndpoint(t *testing.T) {
	tg := target.Target{Name: "x", Type: "slack", Config: &slack.Config{Token: botToken, Channel: "C1"}}
	if tg.Endpoint() != "https://slack.com/api" {
		t.Errorf("endpoint = %q", tg.Endpoint())
	}
}

func TestBotFollowUps(t *testing.T) {
	known := publish.ProviderState{slack.StateTS: "1700000000.000100", slack.StateChannel: "C0123ALERTS"}
	type call struct {
		path     string
		checks   map[string]any
		contains map[string]string
	}
	for _, tc := range []struct {
		name      string
		n         publish.Notification
		script    []publishtest.Response
		calls     []call
		wantState publish.ProviderState
		wantErr   string
	}{
		{
			name:   "update edits the message",
			n:      publishtest.Update(known),
			script: []publishtest.Response{posted("C0123ALERTS", "1700000000.000100")},
			calls: []call{{path: "/chat.update", checks: map[string]any{
				"channel": "C0123ALERTS", "ts": "1700000000.000100", "blocks.0.text.text": "[FIRING] HighErrorRate (updated)",
				"username": nil, "icon_emoji": nil}}},
			wantState: known,
		},
		{
			name:   "update of a deleted message posts a new one",
			n:      publishtest.Update(known),
			script: []publishtest.Response{apiError("message_not_found"), posted("C0123ALERTS", "1700000099.000200")},
			calls: []call{
				{path: "/chat.update"},
				{path: "/chat.postMessage", checks: map[string]any{"channel": "#alerts", "ts": nil}},
			},
			wantState: publish.ProviderState{slack.StateTS: "1700000099.000200", slack.StateChannel: "C0123ALERTS"},
		},
		{
			name:      "update without a known message posts one",
			n:         publishtest.Update(nil),
			script:    []publishtest.Response{posted("C0123ALERTS", "1700000099.000200")},
			calls:     []call{{path: "/chat.postMessage"}},
			wantState: publish.ProviderState{slack.StateTS: "1700000099.000200", slack.StateChannel: "C0123ALERTS"},
		},
		{
			name:   "resolve edits the message and replies in its thread",
			n:      publishtest.Resolved(known),
			script: []publishtest.Response{posted("C0123ALERTS", "1700000000.000100"), posted("C0123ALERTS", "1700000500.000300")},
			calls: []call{
				{path: "/chat.update", checks: map[string]any{
					"channel": "C0123ALERTS", "ts": "1700000000.000100",
					"blocks.0.text.text": "[RESOLVED] HighErrorRate", "attachments.0.color": slack.ColorResolved}},
				{path: "/chat.postMessage", checks: map[string]any{
					"channel": "C0123ALERTS", "thread_ts": "1700000000.000100", "ts": nil},
					contains: map[string]string{"text": "Resolved: HighErrorRate", "blocks.1.elements.0.text": "Ended 2024-05-06 07:08:09 UTC"}},
			},
			wantState: publish.ProviderState{slack.StateTS: "1700000000.000100", slack.StateChannel: "C0123ALERTS", slack.StateResolveTS: "1700000500.000300"},
		},
		{
			name:      "resolve still replies when the message cannot be edited",
			n:         publishtest.Resolved(known),
			script:    []publishtest.Response{apiError("cant_update_message"), posted("C0123ALERTS", "1700000500.000300")},
			calls:     []call{{path: "/chat.update"}, {path: "/chat.postMessage", checks: map[string]any{"thread_ts": "1700000000.000100"}}},
			wantState: publish.ProviderState{slack.StateTS: "1700000000.000100", slack.StateChannel: "C0123ALERTS", slack.StateResolveTS: "1700000500.000300"},
		},
		{
			name: "resolve of a deleted parent posts the resolved message at the top level",
			n:    publishtest.Resolved(known),
			script: []publishtest.Response{apiError("message_not_found"), apiError("thread_not_found"),
				posted("C0123ALERTS", "1700000800.000600")},
			calls: []call{
				{path: "/chat.update"},
				{path: "/chat.postMessage", checks: map[string]any{"thread_ts": "1700000000.000100"}},
				{path: "/chat.postMessage", checks: map[string]any{
					"channel": "#alerts", "thread_ts": nil, "ts": nil, "blocks.0.text.text": "[RESOLVED] HighErrorRate",
					"attachments.0.color": slack.ColorResolved}},
			},
			wantState: publish.ProviderState{slack.StateTS: "1700000800.000600", slack.StateChannel: "C0123ALERTS"},
		},
		{
			name: "resolve reply answered message_not_found posts at the top level",
			n:    publishtest.Resolved(known),
			script: []publishtest.Response{posted("C0123ALERTS", "1700000000.000100"), apiError("message_not_found"),
				posted("C0123ALERTS", "1700000801.000700")},
			calls: []call{
				{path: "/chat.update"},
				{path: "/chat.postMessage", checks: map[string]any{"thread_ts": "1700000000.000100"}},
				{path: "/chat.postMessage", checks: map[string]any{"thread_ts": nil, "blocks.0.text.text": "[RESOLVED] HighErrorRate"}},
			},
			wantState: publish.ProviderState{slack.StateTS: "1700000801.000700", slack.StateChannel: "C0123ALERTS"},
		},
		{
			name:    "resolve reply failing otherwise is not re-posted",
			n:       publishtest.Resolved(known),
			script:  []publishtest.Response{posted("C0123ALERTS", "1700000000.000100"), apiError("internal_error")},
			calls:   []call{{path: "/chat.update"}, {path: "/chat.postMessage", checks: map[string]any{"thread_ts": "1700000000.000100"}}},
			wantErr: publish.KindProvider,
		},
		{
			name:    "resolve retries when the edit fails retryably, without replying",
			n:       publishtest.Resolved(known),
			script:  []publishtest.Response{publishtest.Status(500, "")},
			calls:   []call{{path: "/chat.update"}},
			wantErr: publish.KindHTTPServer,
		},
		{
			name:   "resolve without a known message posts the resolved message",
			n:      publishtest.Resolved(nil),
			script: []publishtest.Response{posted("C0123ALERTS", "1700000600.000400")},
			calls: []call{{path: "/chat.postMessage", checks: map[string]any{
				"channel": "#alerts", "thread_ts": nil, "blocks.0.text.text": "[RESOLVED] HighErrorRate"}}},
			wantState: publish.ProviderState{slack.StateTS: "1700000600.000400", slack.StateChannel: "C0123ALERTS"},
		},
		{
			name:      "re-fire posts a new message",
			n:         func() publish.Notification { n := publishtest.Firing(); n.State = known; return n }(),
			script:    []publishtest.Response{posted("C0123ALERTS", "1700000700.000500")},
			calls:     []call{{path: "/chat.postMessage", checks: map[string]any{"thread_ts": nil, "ts": nil}}},
			wantState: publish.ProviderState{slack.StateTS: "1700000700.000500", slack.StateChannel: "C0123ALERTS"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.script...)
			srv.Default = publishtest.Status(599, "unexpected request")
			tg := botTarget(srv.URL)
			tg.Config.(*slack.Config).Slack = &slack.Options{Username: "Herald", IconEmoji: ":bell:"}
			res, err := pub(srv).Publish(context.Background(), tg, tc.n)
			reqs := srv.Requests()
			if len(reqs) != len(tc.calls) {
				t.Fatalf("%d requests, want %d", len(reqs), len(tc.calls))
			}
			for i, c := range tc.calls {
				if reqs[i].Path != "/"+strings.TrimPrefix(c.path, "/") {
					t.Errorf("request %d: %s, want %s", i, reqs[i].Path, c.path)
				}
				if reqs[i].Header.Get("Authorization") != "Bearer "+botToken {
					t.Errorf("request %d without the bot token", i)
				}
				for path, w := range c.checks {
					if got := reqs[i].Get(path); got != w {
						t.Errorf("request %d: %s = %#v, want %#v", i, path, got, w)
					}
				}
				for path, w := range c.contains {
					if got := reqs[i].String(path); !strings.Contains(got, w) {
						t.Errorf("request %d: %s = %q, want it to contain %q", i, path, got, w)
					}
				}
			}
			if tc.wantErr != "" {
				publishtest.AssertError(t, err, tc.wantErr, true, -1)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.State) != len(tc.wantState) {
				t.Errorf("state = %v, want %v", res.State, tc.wantState)
			}
			for k, v := range tc.wantState {
				if res.State[k] != v {
					t.Errorf("state[%s] = %q, want %q", k, res.State[k], v)
				}
			}
		})
	}
}

func TestBotClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
	}{
		{"ok:false ratelimited", apiError("ratelimited").WithHeader("Retry-After", "7"), publish.KindRateLimited, true, 7 * time.Second},
		{"ok:false internal_error", apiError("internal_error"), publish.KindProvider, true, 0},
		{"ok:false fatal_error", apiError("fatal_error"), publish.KindProvider, true, 0},
		{"ok:false service_unavailable", apiError("service_unavailable"), publish.KindProvider, true, 0},
		{"ok:false request_timeout", apiError("request_timeout"), publish.KindProvider, true, 0},
		{"ok:false org_login_required", apiError("org_login_required"), publish.KindProvider, true, 0},
		{"ok:false invalid_auth", apiError("invalid_auth"), publish.KindProvider, false, 0},
		{"ok:false not_authed", apiError("not_authed"), publish.KindProvider, false, 0},
		{"ok:false token_revoked", apiError("token_revoked"), publish.KindProvider, false, 0},
		{"ok:false channel_not_found", apiError("channel_not_found"), publish.KindProvider, false, 0},
		{"ok:false not_in_channel", apiError("not_in_channel"), publish.KindProvider, false, 0},
		{"ok:false is_archived", apiError("is_archived"), publish.KindProvider, false, 0},
		{"ok:false msg_too_long", apiError("msg_too_long"), publish.KindProvider, false, 0},
		{"ok:false invalid_blocks", apiError("invalid_blocks"), publish.KindProvider, false, 0},
		{"ok:false unknown code", apiError("something_new"), publish.KindProvider, false, 0},
		{"ok:false without code", publishtest.JSON(200, map[string]any{"ok": false}), publish.KindProvider, false, 0},
		{"HTTP 429 Retry-After", publishtest.Status(429, "").WithHeader("Retry-After", "12"), publish.KindRateLimited, true, 12 * time.Second},
		{"HTTP 401", publishtest.Status(401, ""), publish.KindHTTPClient, false, 0},
		{"HTTP 404", publishtest.Status(404, ""), publish.KindHTTPClient, false, 0},
		{"HTTP 500", publishtest.Status(500, ""), publish.KindHTTPServer, true, 0},
		{"200 not JSON", publishtest.OK("<html>proxy</html>"), publish.KindProvider, true, 0},
		{"slow", publishtest.Response{Status: 200, Delay: 2 * time.Second}, publish.KindTimeout, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := pub(srv).Publish(ctx, botTarget(srv.URL), publishtest.Firing())
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if strings.HasPrefix(tc.name, "ok:false ") {
				code := strings.TrimPrefix(tc.name, "ok:false ")
				if !strings.Contains(code, " ") && !strings.HasSuffix(pe.Msg, "chat.postMessage: "+code) {
					t.Errorf("msg = %q, want the Slack error code %q", pe.Msg, code)
				}
			}
		})
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	publishtest.AssertLeaksNoSecret(t, &slack.Publisher{}, webhookTarget, []publishtest.LeakCase{
		{Name: "webhook 404 echoing the URL", Resp: publishtest.Status(404, "no_service "+hookPath)},
		{Name: "webhook 500", Resp: publishtest.Status(500, "rollup_error")},
		{Name: "webhook slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "webhook transport error", Closed: true},
	})
	publishtest.AssertLeaksNoSecret(t, &slack.Publisher{}, botTarget, []publishtest.LeakCase{
		{Name: "bot invalid_auth", Resp: apiError("invalid_auth")},
		{Name: "bot 401 echoing the token", Resp: publishtest.Status(401, "bad token "+botToken)},
		{Name: "bot non-JSON echoing the token", Resp: publishtest.OK("token=" + botToken)},
		{Name: "bot 429", Resp: publishtest.Status(429, "")},
		{Name: "bot slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "bot transport error", Closed: true},
	})
}

func TestConfigErrors(t *testing.T) {
	for _, tg := range []target.Target{
		{Name: "a", Type: "slack"},
		{Name: "b", Type: "slack", Config: &slack.Config{Token: botToken}},
	} {
		_, err := (&slack.Publisher{}).Publish(context.Background(), tg, publishtest.Firing())
		publishtest.AssertError(t, err, publish.KindConfig, false, 0)
	}
	bad := webhookTarget("http://127.0.0.1:1")
	bad.Template = &target.TemplateSpec{Title: "{{ index .Labels 3 }}"}
	_, err := (&slack.Publisher{}).Publish(context.Background(), bad, publishtest.Firing())
	publishtest.AssertError(t, err, publish.KindConfig, false, 0)
}

func BenchmarkFormat_Slack(b *testing.B) {
	tg := webhookTarget("https://hooks.slack.com")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := slack.Format(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode_Slack(b *testing.B) {
	tg := webhookTarget("https://hooks.slack.com")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		m, err := slack.Format(tg, n)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}
