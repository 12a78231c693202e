package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/publish/telegram"
	"github.com/herald-alerts/herald/internal/target"

	// The target types these tests parse are those of the one list.
	_ "github.com/herald-alerts/herald/internal/providers"
)

// The contract is the Bot API: https://core.telegram.org/bots/api
// (sendMessage, getMe, formatting options, ResponseParameters).

const token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

func newTarget(base string) target.Target {
	return target.Target{Name: "oncall-telegram", Type: telegram.Type, URL: base,
		Config: &telegram.Config{BotToken: token, ChatID: telegram.NewChatID("-1001234567890")}}
}

func sent(id int64) publishtest.Response {
	return publishtest.JSON(200, map[string]any{"ok": true, "result": map[string]any{
		"message_id": id, "date": 1715000000, "chat": map[string]any{"id": -1001234567890, "type": "supergroup"}}})
}

func publishOne(t *testing.T, tg target.Target, srv *publishtest.Server, n publish.Notification) (publish.Result, publishtest.Request) {
	t.Helper()
	res, err := (&telegram.Publisher{Client: srv.Client()}).Publish(context.Background(), tg, n)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return res, srv.Request(t, len(srv.Requests())-1)
}

// entityRE is every markup Telegram's HTML parse mode reads in Herald's
// messages: the tags Herald uses and the entities it writes.
var (
	tagRE    = regexp.MustCompile(`^(<b>|</b>|<code>|</code>|<a href="[^"<>]*">|</a>)`)
	entityRE = regexp.MustCompile(`^&(amp|lt|gt|quot);`)
)

// parse checks text as Telegram's HTML parser would read Herald's messages
// (only supported tags, balanced, every <, > and & escaped) and returns the
// text after entity parsing.
func parse(t *testing.T, text string) string {
	t.Helper()
	var out strings.Builder
	var open []string
	for i := 0; i < len(text); {
		switch text[i] {
		case '<':
			m := tagRE.FindString(text[i:])
			if m == "" {
				t.Fatalf("unsupported or unescaped markup at %q", text[i:min(len(text), i+30)])
			}
			if strings.HasPrefix(m, "</") {
				if len(open) == 0 || open[len(open)-1] != m[2:len(m)-1] {
					t.Fatalf("unbalanced %s in %q", m, text)
				}
				open = open[:len(open)-1]
			} else {
				name := strings.TrimPrefix(strings.Fields(m)[0], "<")
				open = append(open, strings.TrimSuffix(name, ">"))
			}
			i += len(m)
		case '&':
			m := entityRE.FindString(text[i:])
			if m == "" {
				t.Fatalf("unescaped & at %q", text[i:min(len(text), i+30)])
			}
			out.WriteString(html.UnescapeString(m))
			i += len(m)
		case '>':
			t.Fatalf("unescaped > at %q", text[i:min(len(text), i+30)])
		default:
			out.WriteByte(text[i])
			i++
		}
	}
	if len(open) != 0 {
		t.Fatalf("unclosed tags %v", open)
	}
	return out.String()
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

func TestSendMessageContract(t *testing.T) {
	srv := publishtest.NewServer(t, sent(42))
	tg := newTarget(srv.URL)
	thread := int64(7)
	tg.Config.(*telegram.Config).MessageThreadID = &thread
	res, req := publishOne(t, tg, srv, publishtest.Firing())

	if req.Method != http.MethodPost || req.Path != "/bot"+token+"/sendMessage" {
		t.Errorf("request = %s %s, want POST /bot<token>/sendMessage", req.Method, req.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.Contains(string(req.Body), `"chat_id":-1001234567890`) {
		t.Errorf("chat_id must be sent as a number: %s", req.Body)
	}
	want := map[string]any{
		"parse_mode":                       "HTML",
		"link_preview_options.is_disabled": true,
		"message_thread_id":                float64(7),
		"reply_parameters":                 nil,
	}
	for path, w := range want {
		if got := req.Get(path); got != w {
			t.Errorf("%s = %#v, want %#v", path, got, w)
		}
	}
	text := req.String("text")
	plain := parse(t, text)
	for _, part := range []string{
		"🔴 [FIRING] HighErrorRate\nCheckout error rate above 5%\n\nThe checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
		"Severity: critical", "Started: 2024-05-06 06:58:09 UTC", "Source · Runbook · Alertmanager",
		"Labels:\nalertname=HighErrorRate\ncluster=prod-eu1\ninstance=checkout-7f9c:8080",
	} {
		if !strings.Contains(plain, part) {
			t.Errorf("message %q lacks %q", plain, part)
		}
	}
	for _, part := range []string{"<b>[FIRING] HighErrorRate</b>", `<a href="https://runbooks.example.com/checkout/high-error-rate">Runbook</a>`,
		"<code>service=checkout</code>", `<a href="http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29">Source</a>`} {
		if !strings.Contains(text, part) {
			t.Errorf("message %q lacks markup %q", text, part)
		}
	}
	if res.StatusCode != 200 || res.State[telegram.StateMessageID] != "42" || res.State[telegram.StateChatID] != "-1001234567890" ||
		res.State[telegram.StateChat] != "-1001234567890" {
		t.Errorf("result = %+v", res)
	}
	publishtest.AssertNoSecret(t, strings.Join([]string{res.State[telegram.StateMessageID], res.State[telegram.StateChatID], res.State[telegram.StateChat]}, " "), token)
}

func TestChannelUsername(t *testing.T) {
	srv := publishtest.NewServer(t, sent(5))
	tg := newTarget(srv.URL)
	tg.Config.(*telegram.Config).ChatID = telegram.NewChatID("@herald_alerts")
	res, req := publishOne(t, tg, srv, publishtest.Firing())
	if req.Get("chat_id") != "@herald_alerts" || req.Get("message_thread_id") != nil {
		t.Errorf("body = %s", req.Body)
	}
	if res.State[telegram.StateChat] != "@herald_alerts" {
		t.Errorf("state = %v", res.State)
	}
}

// TestEscaping: every alert value is escaped (<, >, & as entities; " too in
// links), so no value becomes markup, and only http(s) links are links.
func TestEscaping(t *testing.T) {
	srv := publishtest.NewServer(t, sent(1))
	n := publishtest.Firing()
	n.Alert.Labels = map[string]string{"alertname": "<b>Boom</b> & co", "team": `a"b<i>`, "x<y": "1>0"}
	n.Alert.Annotations = map[string]string{"summary": "5 < 6 && 7 > 3", "description": "<a href=\"http://evil\">click</a> &amp;",
		"runbook_url": `https://r.example.com/a?b=1&c="2"`, "dashboard_url": "javascript:alert(1)"}
	n.Alert.GeneratorURL = ""
	_, req := publishOne(t, newTarget(srv.URL), srv, n)
	text := req.String("text")
	plain := parse(t, text)
	for _, part := range []string{"[FIRING] <b>Boom</b> & co", "5 < 6 && 7 > 3", `<a href="http://evil">click</a> &amp;`,
		`team=a"b<i>`, "x<y=1>0"} {
		if !strings.Contains(plain, part) {
			t.Errorf("visible text %q lacks %q", plain, part)
		}
	}
	if !strings.Contains(text, `<a href="https://r.example.com/a?b=1&amp;c=&quot;2&quot;">Runbook</a>`) {
		t.Errorf("runbook link not escaped as an attribute: %q", text)
	}
	if strings.Contains(text, "javascript") && !strings.Contains(plain, "javascript") || strings.Contains(text, `href="javascript`) {
		t.Errorf("a non-http link must not become a link: %q", text)
	}
	if strings.Contains(text, "Dashboard") {
		t.Error("a non-http dashboard URL must be left out")
	}
}

func TestTemplateIsEscaped(t *testing.T) {
	srv := publishtest.NewServer(t, sent(1))
	tg := newTarget(srv.URL)
	tg.Template = &target.TemplateSpec{Title: "<u>{{ .Name }}</u>", Body: "see <{{ .Labels.team }}>"}
	_, req := publishOne(t, tg, srv, publishtest.Firing())
	plain := parse(t, req.String("text"))
	if !strings.Contains(plain, "[FIRING] <u>HighErrorRate</u>") || !strings.Contains(plain, "see <payments>") {
		t.Errorf("template output must be shown as written: %q", plain)
	}
}

// TestLength: at most 4096 characters after entity parsing, counted in
// UTF-16 code units; a longer message is cut visibly with its tags
// balanced.
func TestLength(t *testing.T) {
	manyLabels := map[string]string{"alertname": "Many"}
	for i := 0; i < 200; i++ {
		manyLabels["label_"+strings.Repeat("k", i%7)+string(rune('a'+i%26))+strings.Repeat("z", i%5)+itoaS(i)] = strings.Repeat("&", 100)
	}
	for _, tc := range []struct {
		name   string
		alter  func(*publish.Notification)
		wantCu bool
	}{
		{name: "typical", alter: func(*publish.Notification) {}},
		{name: "huge description of entities", alter: func(n *publish.Notification) {
			n.Alert.Annotations["description"] = strings.Repeat("<&>", 5000)
		}, wantCu: false},
		{name: "many labels of entities", alter: func(n *publish.Notification) { n.Alert.Labels = manyLabels }, wantCu: true},
		{name: "astral characters count twice", alter: func(n *publish.Notification) {
			n.Alert.Labels = map[string]string{"alertname": "E"}
			for i := 0; i < 40; i++ {
				n.Alert.Labels["l"+itoaS(i)] = strings.Repeat("😀", 200)
			}
		}, wantCu: true},
		{name: "huge alertname", alter: func(n *publish.Notification) {
			n.Alert.Labels["alertname"] = strings.Repeat("A", 10000)
		}, wantCu: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := publishtest.Firing()
			tc.alter(&n)
			msg, err := telegram.Build(newTarget(""), n)
			if err != nil {
				t.Fatal(err)
			}
			plain := parse(t, msg.Text)
			if l := utf16Len(plain); l > telegram.MaxText {
				t.Errorf("text is %d UTF-16 units after entity parsing, limit %d", l, telegram.MaxText)
			}
			if got := strings.HasSuffix(plain, telegram.TruncatedMark); got != tc.wantCu {
				t.Errorf("cut visibly = %v, want %v", got, tc.wantCu)
			}
			if _, head, _ := strings.Cut(plain, " "); !strings.HasPrefix(head, "[FIRING] ") {
				t.Errorf("the header must survive: %q", plain[:min(40, len(plain))])
			}
		})
	}
}

func TestRepliesToTheFiringMessage(t *testing.T) {
	state := publish.ProviderState{telegram.StateMessageID: "42", telegram.StateChat: "-1001234567890", telegram.StateChatID: "-1001234567890"}
	for _, tc := range []struct {
		name      string
		n         publish.Notification
		chat      string
		wantReply float64
		wantHead  string
		wantState string
	}{
		{name: "resolve replies", n: publishtest.Resolved(state), wantReply: 42, wantHead: "✅ [RESOLVED] HighErrorRate", wantState: telegram.StateReplyMessageID},
		{name: "resolve without a message: a plain message", n: publishtest.Resolved(nil), wantHead: "✅ [RESOLVED] HighErrorRate", wantState: telegram.StateReplyMessageID},
		{name: "resolve after chat_id changed: a plain message", n: publishtest.Resolved(state), chat: "@other_chat", wantHead: "✅ [RESOLVED]", wantState: telegram.StateReplyMessageID},
		{name: "update replies", n: publishtest.Update(state), wantReply: 42, wantHead: "🔴 [FIRING, updated] HighErrorRate", wantState: telegram.StateReplyMessageID},
		{name: "update without a message becomes the message", n: publishtest.Update(nil), wantHead: "🔴 [FIRING, updated]", wantState: telegram.StateMessageID},
		{name: "a new firing episode posts anew", n: func() publish.Notification { n := publishtest.Firing(); n.State = state; return n }(),
			wantHead: "🔴 [FIRING] HighErrorRate", wantState: telegram.StateMessageID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, sent(43))
			tg := newTarget(srv.URL)
			if tc.chat != "" {
				tg.Config.(*telegram.Config).ChatID = telegram.NewChatID(tc.chat)
			}
			res, req := publishOne(t, tg, srv, tc.n)
			if tc.wantReply != 0 {
				if req.Get("reply_parameters.message_id") != tc.wantReply || req.Get("reply_parameters.allow_sending_without_reply") != true {
					t.Errorf("reply_parameters = %v, want message_id %v and allow_sending_without_reply", req.Get("reply_parameters"), tc.wantReply)
				}
			} else if req.Get("reply_parameters") != nil {
				t.Errorf("reply_parameters = %v, want none", req.Get("reply_parameters"))
			}
			if plain := parse(t, req.String("text")); !strings.HasPrefix(plain, tc.wantHead) {
				t.Errorf("text = %q, want it to start with %q", plain, tc.wantHead)
			}
			if res.State[tc.wantState] != "43" || len(res.State) == 0 {
				t.Errorf("state = %v, want %s=43", res.State, tc.wantState)
			}
			if tc.wantState == telegram.StateReplyMessageID && res.State[telegram.StateMessageID] != "" {
				t.Error("a reply must not replace the firing message in the state")
			}
		})
	}
}

func TestClassification(t *testing.T) {
	fail := func(code int, desc string, params map[string]any) publishtest.Response {
		body := map[string]any{"ok": false, "error_code": code, "description": desc}
		if params != nil {
			body["parameters"] = params
		}
		return publishtest.JSON(code, body)
	}
	for _, tc := range []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
		msg       string
		auth      bool
	}{
		{"429 retry_after", fail(429, "Too Many Requests: retry after 17", map[string]any{"retry_after": 17}), publish.KindRateLimited, true, 17 * time.Second, "retry after 17", false},
		{"429 retry_after over the cap", fail(429, "Too Many Requests", map[string]any{"retry_after": 99999}), publish.KindRateLimited, true, publish.MaxRetryAfter, "", false},
		{"429 Retry-After header only", publishtest.Status(429, "").WithHeader("Retry-After", "3"), publish.KindRateLimited, true, 3 * time.Second, "", false},
		{"400 chat not found", fail(400, "Bad Request: chat not found", nil), publish.KindHTTPClient, false, 0, "telegram: Bad Request: chat not found", false},
		{"400 can't parse entities", fail(400, "Bad Request: can't parse entities: Unsupported start tag", nil), publish.KindHTTPClient, false, 0, "can't parse entities", false},
		{"403 blocked", fail(403, "Forbidden: bot was blocked by the user", nil), publish.KindHTTPClient, false, 0, "bot was blocked", false},
		{"401", fail(401, "Unauthorized", nil), publish.KindHTTPClient, false, 0, "Unauthorized", false},
		{"404 unknown token", fail(404, "Not Found", nil), publish.KindProvider, false, 0, "does not know the bot token", true},
		{"migrated to a supergroup", fail(400, "Bad Request: group chat was upgraded to a supergroup chat", map[string]any{"migrate_to_chat_id": -1009876543210}),
			publish.KindConfig, false, 0, "set the target's chat_id to -1009876543210", false},
		{"500", fail(500, "Internal Server Error", nil), publish.KindHTTPServer, true, 0, "Internal Server Error", false},
		{"502 html", publishtest.Status(502, "<html>bad gateway</html>"), publish.KindHTTPServer, true, 0, "", false},
		{"200 ok:false", publishtest.JSON(200, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: odd"}), publish.KindProvider, false, 0, "odd", false},
		{"200 not the Bot API", publishtest.OK("<html>portal</html>"), publish.KindProvider, false, 0, "without ok:true", false},
		{"slow", publishtest.Response{Status: 200, Delay: 2 * time.Second}, publish.KindTimeout, true, 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := (&telegram.Publisher{Client: srv.Client()}).Publish(ctx, newTarget(srv.URL), publishtest.Firing())
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if tc.msg != "" && !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("msg = %q, want it to contain %q", pe.Msg, tc.msg)
			}
			if pe.Auth != tc.auth {
				t.Errorf("auth = %v, want %v", pe.Auth, tc.auth)
			}
			publishtest.AssertNoSecret(t, pe.Error(), token)
		})
	}
}

// TestPublishLeaksNoSecret: the token is in the request path; no error
// names it, even when Telegram (or a proxy) echoes the path or the token.
func TestPublishLeaksNoSecret(t *testing.T) {
	path := "/bot" + token + "/sendMessage"
	publishtest.AssertLeaksNoSecret(t, &telegram.Publisher{}, newTarget, []publishtest.LeakCase{
		{Name: "404 echoing the path", Resp: publishtest.Status(404, "Cannot POST "+path)},
		{Name: "404 echoing the path in JSON", Resp: publishtest.JSON(404, map[string]any{"ok": false, "error_code": 404, "description": "Not Found: " + path})},
		{Name: "400 echoing the token escaped", Resp: publishtest.JSON(400, map[string]any{"ok": false, "error_code": 400,
			"description": "bad " + url.QueryEscape(token)})},
		{Name: "429 echoing the token", Resp: publishtest.JSON(429, map[string]any{"ok": false, "error_code": 429, "description": "slow down " + token,
			"parameters": map[string]any{"retry_after": 1}})},
		{Name: "migrate echoing the path", Resp: publishtest.JSON(400, map[string]any{"ok": false, "error_code": 400, "description": path,
			"parameters": map[string]any{"migrate_to_chat_id": -100123}})},
		{Name: "500 echoing the url", Resp: publishtest.Status(500, "upstream https://api.telegram.org"+path+" failed")},
		{Name: "200 not ok echoing the path", Resp: publishtest.OK("proxy error at " + path)},
		{Name: "slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func probeEnv(t *testing.T, base string, client *http.Client) health.ProbeEnv {
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	return health.ProbeEnv{Client: client, Endpoint: base, URL: u}
}

// TestProbe: getMe creates nothing; a working bot is healthy, a dead
// receiver or an unknown token is not, and no message names the token.
func TestProbe(t *testing.T) {
	for _, tc := range []struct {
		name  string
		resp  publishtest.Response
		ok    bool
		class string
	}{
		{"ok", publishtest.JSON(200, map[string]any{"ok": true, "result": map[string]any{"id": 123456789, "is_bot": true, "first_name": "Herald"}}), true, ""},
		{"401 echoing the path", publishtest.JSON(401, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized /bot" + token + "/getMe"}), false, health.ClassAuth},
		{"404 unknown token", publishtest.JSON(404, map[string]any{"ok": false, "error_code": 404, "description": "Not Found"}), false, health.ClassAuth},
		{"429 throttled bot", publishtest.JSON(429, map[string]any{"ok": false, "error_code": 429, "parameters": map[string]any{"retry_after": 5}}), true, ""},
		{"500", publishtest.Status(500, token), false, health.ClassHTTPStatus},
		{"200 not the Bot API", publishtest.OK("<html>portal " + token + "</html>"), false, health.ClassHTTPStatus},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			o := telegram.Provider.Probe(context.Background(), probeEnv(t, srv.URL, srv.Client()), newTarget(srv.URL))
			if o.OK != tc.ok || o.Class != tc.class {
				t.Errorf("observation = %+v, want ok=%v class=%q", o, tc.ok, tc.class)
			}
			req := srv.Request(t, 0)
			if req.Method != http.MethodGet || req.Path != "/bot"+token+"/getMe" || len(srv.Requests()) != 1 {
				t.Errorf("probe = %s %s (%d requests), want one GET /bot<token>/getMe", req.Method, req.Path, len(srv.Requests()))
			}
			publishtest.AssertNoSecret(t, o.Message, token)
			publishtest.AssertNoSecretFragment(t, o.Message, publishtest.MinFragment, token)
		})
	}
	t.Run("dead receiver", func(t *testing.T) {
		closed := publishtest.ClosedURL(t, "")
		o := telegram.Provider.Probe(context.Background(), probeEnv(t, closed, http.DefaultClient), newTarget(closed))
		if o.OK || o.Class == "" {
			t.Errorf("observation = %+v, want a failure", o)
		}
		publishtest.AssertNoSecret(t, o.Message, token)
		publishtest.AssertNoSecretFragment(t, o.Message, publishtest.MinFragment, token)
	})
	t.Run("through the prober", func(t *testing.T) {
		srv := publishtest.NewServer(t, publishtest.Status(503, "down "+token))
		p := &health.Prober{Client: srv.Client(), Timeout: 5 * time.Second}
		o := p.Probe(context.Background(), newTarget(srv.URL))
		if o.OK || o.Class != health.ClassHTTPStatus {
			t.Errorf("observation = %+v, want an http_status failure", o)
		}
		publishtest.AssertNoSecret(t, o.Message, token)
		publishtest.AssertNoSecretFragment(t, o.Message, publishtest.MinFragment, token)
	})
	t.Run("no config", func(t *testing.T) {
		srv := publishtest.NewServer(t)
		o := telegram.Provider.Probe(context.Background(), probeEnv(t, srv.URL, srv.Client()), target.Target{Name: "x", Type: telegram.Type})
		if o.OK || o.Class != health.ClassConfig || len(srv.Requests()) != 0 {
			t.Errorf("observation = %+v, want a config failure without a request", o)
		}
	})
}

func TestValidation(t *testing.T) {
	base := `"name":"tg","type":"telegram","bot_token":"` + token + `"`
	for _, tc := range []struct {
		name, json, field, chat string
	}{
		{"numeric chat_id", `{` + base + `,"chat_id":-1001234567890}`, "", "-1001234567890"},
		{"chat_id as a string", `{` + base + `,"chat_id":"-1001234567890"}`, "", "-1001234567890"},
		{"channel username", `{` + base + `,"chat_id":"@herald_alerts","message_thread_id":12}`, "", "@herald_alerts"},
		{"missing bot_token", `{"name":"tg","type":"telegram","chat_id":1}`, "bot_token", ""},
		{"bot_token with a slash", `{"name":"tg","type":"telegram","bot_token":"123:abc/../x","chat_id":1}`, "bot_token", ""},
		{"bot_token without a colon", `{"name":"tg","type":"telegram","bot_token":"123abcdef","chat_id":1}`, "bot_token", ""},
		{"missing chat_id", `{` + base + `}`, "chat_id", ""},
		{"chat_id bool", `{` + base + `,"chat_id":true}`, "chat_id", ""},
		{"chat_id fraction", `{` + base + `,"chat_id":1.5}`, "chat_id", ""},
		{"chat_id name without @", `{` + base + `,"chat_id":"herald_alerts"}`, "chat_id", ""},
		{"chat_id name too short", `{` + base + `,"chat_id":"@abc"}`, "chat_id", ""},
		{"chat_id empty string", `{` + base + `,"chat_id":""}`, "chat_id", ""},
		{"message_thread_id zero", `{` + base + `,"chat_id":1,"message_thread_id":0}`, "message_thread_id", ""},
		{"message_thread_id negative", `{` + base + `,"chat_id":1,"message_thread_id":-3}`, "message_thread_id", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := target.ParseOne([]byte(tc.json), "test")
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ParseOne: %v", err)
				}
				if got := tg.Config.(*telegram.Config).ChatID.String(); got != tc.chat {
					t.Errorf("chat_id = %q, want %q", got, tc.chat)
				}
				return
			}
			var fe *target.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a FieldError for %s", err, tc.field)
			}
			publishtest.AssertNoSecret(t, err.Error(), token, "123:abc/../x", "123abcdef")
		})
	}
}

func TestDefaultsAndPublicView(t *testing.T) {
	tg, err := target.ParseOne([]byte(`{"name":"tg","type":"telegram","bot_token":"`+token+`","chat_id":-100123}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Endpoint() != "https://api.telegram.org" {
		t.Errorf("default endpoint = %q", tg.Endpoint())
	}
	if l := telegram.Provider.DefaultLimit(); l.PerSecond <= 0 || l.PerSecond > 1 || l.Burst < 1 {
		t.Errorf("default limit = %+v", l)
	}
	key := telegram.Provider.LimiterKey(tg)
	if key == "" || strings.Contains(key, "123456789") || strings.Contains(key, token[10:20]) {
		t.Errorf("limiter key = %q: want one per bot and chat, hashed", key)
	}
	pub, _ := json.Marshal(tg.Public())
	publishtest.AssertNoSecret(t, string(pub), token)
	if !strings.Contains(string(pub), `"channel":"-100123"`) {
		t.Errorf("public view %s should show the chat", pub)
	}
	// The token sits in the request path: every form of it is redacted.
	for _, s := range []string{"POST https://api.telegram.org/bot" + token + "/sendMessage", url.PathEscape(token), url.QueryEscape(token)} {
		if got := publish.Redact(s, tg.Secrets()); strings.Contains(got, token[11:]) || strings.Contains(got, url.QueryEscape(token)[11:]) {
			t.Errorf("Redact(%q) = %q", s, got)
		}
	}
}

func itoaS(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func BenchmarkFormat_Telegram(b *testing.B) {
	tg := newTarget("")
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := telegram.Build(tg, n); err != nil {
			b.Fatal(err)
		}
	}
}
