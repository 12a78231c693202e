package email_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/email"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// The message format follows RFC 5322 (Internet Message Format,
// https://www.rfc-editor.org/rfc/rfc5322), RFC 2045-2047 (MIME, encoded
// words) and RFC 2046 section 5.1.4 (multipart/alternative); the session
// follows RFC 5321 (SMTP, https://www.rfc-editor.org/rfc/rfc5321), RFC 3207
// (STARTTLS) and RFC 4954 / RFC 4616 (AUTH, PLAIN).

var sendTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

const (
	testUser = "herald@example.com"
	testPass = "Zq9-smtp-pass-W0rd-4l3rtz"
)

func newPublisher() *email.Publisher {
	return &email.Publisher{Now: func() time.Time { return sendTime }, LocalName: "herald.test"}
}

// fields is a target on s with STARTTLS verified against p's CA and AUTH.
func fields(s *server, p *pki) map[string]any {
	return map[string]any{
		"smarthost": s.Addr, "from": "Herald <alerts@example.com>",
		"to":            []string{"oncall@example.com", "Team Ops <ops@example.org>"},
		"auth_username": testUser, "auth_password": testPass,
		"tls": map[string]any{"ca_file": p.caFile},
	}
}

func with(base map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func starttlsServer(t *testing.T, p *pki) *server {
	return startServer(t, serverOpts{starttls: true, cert: p.server, auth: []string{"PLAIN", "LOGIN"}})
}

func publish1(t *testing.T, tg target.Target, n publish.Notification) (publish.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return newPublisher().Publish(ctx, tg, n)
}

// parsed is a received message taken apart.
type parsed struct {
	raw     []byte
	msg     *mail.Message
	subject string
	text    string
	html    string
	parts   []map[string]string // part headers
}

func parse(t *testing.T, raw []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("not an RFC 5322 message: %v\n%s", err, raw)
	}
	p := parsed{raw: raw, msg: msg}
	p.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject %q: %v", msg.Header.Get("Subject"), err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		h := map[string]string{"Content-Type": part.Header.Get("Content-Type"),
			"Content-Transfer-Encoding": part.Header.Get("Content-Transfer-Encoding")}
		p.parts = append(p.parts, h)
		if h["Content-Transfer-Encoding"] != "quoted-printable" {
			t.Errorf("part %s: Content-Transfer-Encoding %q, want quoted-printable", h["Content-Type"], h["Content-Transfer-Encoding"])
		}
		body, err := io.ReadAll(quotedprintable.NewReader(part))
		if err != nil {
			t.Fatalf("part %s is not quoted-printable: %v", h["Content-Type"], err)
		}
		// Line breaks are CRLF on the wire (checkLines); compare with LF.
		decoded := strings.ReplaceAll(string(body), "\r\n", "\n")
		switch h["Content-Type"] {
		case "text/plain; charset=utf-8":
			p.text = decoded
		case "text/html; charset=utf-8":
			p.html = decoded
		default:
			t.Errorf("unexpected part %q", h["Content-Type"])
		}
	}
	return p
}

// checkLines fails unless every line ends with CRLF and none is longer
// than 998 octets (RFC 5322 section 2.1.1), nor a header line longer than
// maxHeader.
func checkLines(t *testing.T, raw []byte, maxHeader int) {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Error("message does not end with CRLF")
	}
	inHeader := true
	for i, line := range bytes.Split(bytes.TrimSuffix(raw, []byte("\r\n")), []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") {
			t.Errorf("line %d holds a bare CR or LF: %q", i, line)
		}
		if len(line) > email.MaxLine {
			t.Errorf("line %d is %d octets long", i, len(line))
		}
		if len(line) == 0 {
			inHeader = false
		}
		if inHeader && len(line) > maxHeader {
			t.Errorf("header line %d is %d octets long: %q", i, len(line), line)
		}
	}
}

// TestMessageFieldByField sends a firing alert through a real SMTP server
// (STARTTLS, AUTH PLAIN) and checks the envelope and every field of the
// received message.
func TestMessageFieldByField(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, fields(s, p))
	n := publishtest.Firing()
	n.Episode = 3
	res, err := publish1(t, tg, n)
	if err != nil {
		t.Fatal(err)
	}
	wantID := "<herald.c0ffee1234567890.3.firing@example.com>"
	if res.StatusCode != email.StatusAccepted || res.State[email.StateMessageID] != wantID {
		t.Errorf("result = %+v, want status 250 and state %s", res, wantID)
	}
	msgs := s.messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	r := msgs[0]
	if r.From != "alerts@example.com" || strings.Join(r.To, ",") != "oncall@example.com,ops@example.org" {
		t.Errorf("envelope = %s -> %v", r.From, r.To)
	}
	if !r.TLS || r.User != testUser {
		t.Errorf("tls = %v, user = %q: want STARTTLS and AUTH as %s", r.TLS, r.User, testUser)
	}
	checkLines(t, r.Data, 78)
	m := parse(t, r.Data)
	h := m.msg.Header

	from, err := mail.ParseAddress(h.Get("From"))
	if err != nil || from.Name != "Herald" || from.Address != "alerts@example.com" {
		t.Errorf("From = %q", h.Get("From"))
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 2 || to[0].Address != "oncall@example.com" || to[1].Name != "Team Ops" || to[1].Address != "ops@example.org" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if got, want := m.subject, "[FIRING] HighErrorRate — Checkout error rate above 5%"; got != want {
		t.Errorf("Subject = %q, want %q", got, want)
	}
	if raw := h.Get("Subject"); !strings.HasPrefix(strings.ToLower(raw), "=?utf-8?q?") {
		t.Errorf("raw Subject %q: want a Q-encoded word (it holds an em dash)", raw)
	}
	if d, err := h.Date(); err != nil || !d.Equal(sendTime) {
		t.Errorf("Date = %q (%v)", h.Get("Date"), err)
	}
	for k, want := range map[string]string{
		"Message-Id": wantID, "In-Reply-To": "", "References": "", "Mime-Version": "1.0",
		"Auto-Submitted": "auto-generated", "Bcc": "", "Cc": "",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(m.parts) != 2 || m.parts[0]["Content-Type"] != "text/plain; charset=utf-8" || m.parts[1]["Content-Type"] != "text/html; charset=utf-8" {
		t.Errorf("parts = %v, want text/plain then text/html (multipart/alternative: preferred last)", m.parts)
	}
	for _, want := range []string{
		"[FIRING] HighErrorRate — Checkout error rate above 5%\n",
		"\nCheckout error rate above 5%\n",
		"The checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
		"Status: firing\n", "Severity: critical\n", "Started: 2024-05-06T06:58:09Z\n",
		"  alertname = HighErrorRate\n", "  team = payments\n",
		"Runbook: https://runbooks.example.com/checkout/high-error-rate\n",
		"Source: http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29\n",
		"Alertmanager: http://alertmanager.example.com\n",
		"Fingerprint: c0ffee1234567890\n",
	} {
		if !strings.Contains(m.text, want) {
			t.Errorf("text part lacks %q:\n%s", want, m.text)
		}
	}
	if strings.Contains(m.text, "Ended:") {
		t.Error("a firing alert's text names an end")
	}
	for _, want := range []string{
		"<title>[FIRING] HighErrorRate — Checkout error rate above 5%</title>",
		"<p>Checkout error rate above 5%</p>",
		`<tr><th align="left">alertname</th><td>HighErrorRate</td></tr>`,
		`<tr><th align="left">instance</th><td>checkout-7f9c:8080</td></tr>`,
		`<a href="https://runbooks.example.com/checkout/high-error-rate">Runbook</a>`,
		`<a href="http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29">Source</a>`,
	} {
		if !strings.Contains(m.html, want) {
			t.Errorf("html part lacks %q:\n%s", want, m.html)
		}
	}
}

// TestThreading: the resolve (and an update) reply to the firing message,
// so clients thread them; identifiers are stable per alert, episode and
// event.
func TestThreading(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, fields(s, p))
	firing := publishtest.Firing()
	firing.Episode = 2
	res, err := publish1(t, tg, firing)
	if err != nil {
		t.Fatal(err)
	}
	firingID := "<herald.c0ffee1234567890.2.firing@example.com>"

	update := publishtest.Update(res.State)
	update.Episode = 2
	update.Alert.Annotations["description"] = "now 9%"
	resolved := publishtest.Resolved(res.State)
	resolved.Episode = 2
	resolvedNoState := publishtest.Resolved(nil)
	resolvedNoState.Episode = 2
	resolvedOldState := publishtest.Resolved(publish.ProviderState{email.StateMessageID: "<older.id@mail.example.com>"})
	resolvedOldState.Episode = 2
	noEpisode := publishtest.Firing()

	cases := []struct {
		name      string
		n         publish.Notification
		wantID    string // prefix
		wantReply string
		wantTag   string
	}{
		{"update", update, "<herald.c0ffee1234567890.2.update." + update.Alert.ContentHash() + "@example.com>", firingID, "[FIRING] "},
		{"resolve", resolved, "<herald.c0ffee1234567890.2.resolved@example.com>", firingID, "[RESOLVED] "},
		{"resolve without state", resolvedNoState, "<herald.c0ffee1234567890.2.resolved@example.com>", firingID, "[RESOLVED] "},
		{"resolve with a recorded id", resolvedOldState, "<herald.c0ffee1234567890.2.resolved@example.com>", "<older.id@mail.example.com>", "[RESOLVED] "},
		{"episode unknown", noEpisode, "<herald.c0ffee1234567890.firing@example.com>", "", "[FIRING] "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(s.messages())
			res, err := publish1(t, tg, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			msgs := s.messages()
			if len(msgs) != before+1 {
				t.Fatalf("server has %d messages, want %d", len(msgs), before+1)
			}
			m := parse(t, msgs[len(msgs)-1].Data)
			h := m.msg.Header
			if got := h.Get("Message-Id"); got != tc.wantID {
				t.Errorf("Message-Id = %q, want %q", got, tc.wantID)
			}
			if h.Get("In-Reply-To") != tc.wantReply || h.Get("References") != tc.wantReply {
				t.Errorf("In-Reply-To = %q, References = %q, want %q", h.Get("In-Reply-To"), h.Get("References"), tc.wantReply)
			}
			if !strings.HasPrefix(m.subject, tc.wantTag) {
				t.Errorf("Subject = %q, want it to start with %q", m.subject, tc.wantTag)
			}
			want := tc.wantReply
			if want == "" {
				want = tc.wantID
			}
			if res.State[email.StateMessageID] != want {
				t.Errorf("state = %v, want the thread's id %s", res.State, want)
			}
		})
	}
	last := parse(t, s.messages()[2].Data) // the resolve
	if !strings.Contains(last.text, "Status: resolved\n") || !strings.Contains(last.text, "Ended: 2024-05-06T07:08:09Z\n") {
		t.Errorf("resolve text:\n%s", last.text)
	}
}

// TestHostileValues: labels and annotations are data: no header injection,
// HTML escaped, unsafe link schemes neutralised.
func TestHostileValues(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, fields(s, p))
	n := publishtest.Firing()
	n.Alert.Labels["alertname"] = "Evil\r\nBcc: victim@example.net"
	n.Alert.Labels["team"] = `<script>alert("x")</script>`
	n.Alert.Labels[`"><b>`] = "&amp;"
	n.Alert.Annotations["summary"] = "<b>bold</b>\nX-Injected: 1"
	n.Alert.Annotations["description"] = `<img src=x onerror=alert(1)>`
	n.Alert.Annotations["runbook_url"] = "javascript:alert(1)"
	n.Alert.GeneratorURL = `http://prometheus.example.com/" onmouseover="alert(1)`
	if _, err := publish1(t, tg, n); err != nil {
		t.Fatal(err)
	}
	raw := s.messages()[0].Data
	checkLines(t, raw, 78)
	m := parse(t, raw)
	for _, k := range []string{"Bcc", "X-Injected"} {
		if v := m.msg.Header.Get(k); v != "" {
			t.Errorf("injected header %s: %q", k, v)
		}
	}
	if strings.ContainsAny(m.subject, "\r\n") || !strings.Contains(m.subject, "Evil Bcc: victim@example.net") {
		t.Errorf("Subject = %q, want one line", m.subject)
	}
	for _, bad := range []string{"<script>", "<img", "<b>", `href="javascript:`, `" onmouseover="`} {
		if strings.Contains(m.html, bad) {
			t.Errorf("html part holds %q unescaped:\n%s", bad, m.html)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;img src=x onerror=alert(1)&gt;",
		`<th align="left">&#34;&gt;&lt;b&gt;</th><td>&amp;amp;</td>`, `<a href="#ZgotmplZ">Runbook</a>`,
		"&lt;b&gt;bold&lt;/b&gt;",
	} {
		if !strings.Contains(m.html, want) {
			t.Errorf("html part lacks %q:\n%s", want, m.html)
		}
	}
}

// TestSizes: long values never make a line longer than 998 octets; the
// subject is cut to MaxSubject characters; non-ASCII text survives.
func TestSizes(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, fields(s, p))
	n := publishtest.Firing()
	n.Alert.Annotations["summary"] = strings.Repeat("Fehlerquote über Schwelle ", 40)
	n.Alert.Annotations["description"] = strings.Repeat("x", 10000)
	n.Alert.Labels["long"] = strings.Repeat("é", 3000)
	if _, err := publish1(t, tg, n); err != nil {
		t.Fatal(err)
	}
	raw := s.messages()[0].Data
	checkLines(t, raw, 78)
	m := parse(t, raw)
	text := strings.TrimPrefix(m.subject, "[FIRING] ")
	if got := len([]rune(text)); got != email.MaxSubject || !strings.HasSuffix(text, publish.CutMark) {
		t.Errorf("subject text has %d characters (%q), want %d ending with %s", got, text, email.MaxSubject, publish.CutMark)
	}
	if !strings.Contains(m.text, strings.Repeat("x", 10000)) || !strings.Contains(m.text, strings.Repeat("é", 3000)) {
		t.Error("long values were not carried whole through quoted-printable")
	}
}

// TestTemplates: the title template is the subject's text, the body
// template replaces summary and description in both parts.
func TestTemplates(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, with(fields(s, p), "template", map[string]any{
		"title": `{{ .Name }} on {{ index .Labels "cluster" }}`,
		"body":  `Custom body for {{ .Labels.service }} <b>`,
	}))
	if _, err := publish1(t, tg, publishtest.Firing()); err != nil {
		t.Fatal(err)
	}
	m := parse(t, s.messages()[0].Data)
	if m.subject != "[FIRING] HighErrorRate on prod-eu1" {
		t.Errorf("Subject = %q", m.subject)
	}
	if !strings.Contains(m.text, "Custom body for checkout <b>\n") || strings.Contains(m.text, "7.3% HTTP 5xx") {
		t.Errorf("text part:\n%s", m.text)
	}
	if !strings.Contains(m.html, "Custom body for checkout &lt;b&gt;") {
		t.Errorf("html part:\n%s", m.html)
	}
}

func smtpErr(code int, enh smtpd.EnhancedCode, msg string) error {
	return &smtpd.SMTPError{Code: code, EnhancedCode: enh, Message: msg}
}

// TestReplies classifies the server's replies: 4xx retryable, rate limits
// rate_limited with RateLimitedBackoff, 5xx permanent, auth failures
// flagged; a refused recipient stops the session before DATA.
func TestReplies(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, fields(s, p))
	cases := []struct {
		name      string
		set       func(s *server)
		kind      string
		retryable bool
		after     time.Duration
		auth      bool
		inMsg     string
	}{
		{"MAIL 553", func(s *server) { s.mailErr = smtpErr(553, smtpd.EnhancedCode{5, 1, 8}, "Sender address rejected") },
			publish.KindProvider, false, 0, false, "MAIL FROM: 553 5.1.8 Sender address rejected"},
		{"RCPT 550", func(s *server) { s.rcptErr = smtpErr(550, smtpd.EnhancedCode{5, 1, 1}, "No such user") },
			publish.KindProvider, false, 0, false, "RCPT TO <oncall@example.com>: 550 5.1.1 No such user"},
		{"RCPT 450 busy", func(s *server) { s.rcptErr = smtpErr(450, smtpd.EnhancedCode{4, 2, 1}, "Mailbox busy") },
			publish.KindProvider, true, 0, false, "450 4.2.1"},
		{"RCPT 452 too many recipients", func(s *server) {
			s.rcptErr = smtpErr(452, smtpd.EnhancedCode{4, 5, 3}, "Too many recipients")
		}, publish.KindProvider, true, 0, false, "452 4.5.3"},
		{"RCPT 421 4.7.0", func(s *server) {
			s.rcptErr = smtpErr(421, smtpd.EnhancedCode{4, 7, 0}, "Try again later, closing connection")
		}, publish.KindRateLimited, true, email.RateLimitedBackoff, false, "421 4.7.0"},
		{"RCPT 450 4.7.1 too many", func(s *server) {
			s.rcptErr = smtpErr(450, smtpd.EnhancedCode{4, 7, 1}, "Too many messages, slow down")
		}, publish.KindRateLimited, true, email.RateLimitedBackoff, false, "450 4.7.1"},
		{"second recipient refused", func(s *server) {
			s.rcptErr, s.rcptErrFor = smtpErr(550, smtpd.EnhancedCode{5, 1, 1}, "No such user"), "ops@example.org"
		}, publish.KindProvider, false, 0, false, "RCPT TO <ops@example.org>"},
		{"DATA 451", func(s *server) { s.dataErr = smtpErr(451, smtpd.EnhancedCode{4, 3, 0}, "Local error") },
			publish.KindProvider, true, 0, false, "end of DATA: 451 4.3.0"},
		{"DATA 554", func(s *server) { s.dataErr = smtpErr(554, smtpd.EnhancedCode{5, 7, 1}, "Message rejected as spam") },
			publish.KindProvider, false, 0, false, "554 5.7.1"},
		{"AUTH 535 wrong password", func(s *server) { s.pass = "Wr0ng-another-pass-6" },
			publish.KindProvider, false, 0, true, "AUTH: 535 5.7.8"},
		{"AUTH 454 temporary", func(s *server) {
			s.authErr = smtpErr(454, smtpd.EnhancedCode{4, 7, 0}, "Temporary authentication failure")
		}, publish.KindProvider, true, 0, false, "AUTH: 454 4.7.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.set(func(s *server) {
				s.mailErr, s.rcptErr, s.dataErr, s.authErr, s.rcptErrFor, s.pass = nil, nil, nil, nil, "", testPass
				tc.set(s)
			})
			_, err := publish1(t, tg, publishtest.Firing())
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if pe.Auth != tc.auth {
				t.Errorf("auth = %v, want %v", pe.Auth, tc.auth)
			}
			if !strings.Contains(pe.Msg, tc.inMsg) {
				t.Errorf("message %q lacks %q", pe.Msg, tc.inMsg)
			}
		})
	}
	if got := len(s.messages()); got != 0 {
		t.Errorf("server accepted %d messages, want none (a refused recipient stops before DATA)", got)
	}
}

// TestTransport covers connections and TLS: every way a session can be
// set up, and every way it fails.
func TestTransport(t *testing.T) {
	p := newPKI(t)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}()
	// silent accepts connections and never greets.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()

	starttls := starttlsServer(t, p)
	plain := startServer(t, serverOpts{auth: []string{"PLAIN"}})
	plainNoAuth := startServer(t, serverOpts{})
	expired := startServer(t, serverOpts{starttls: true, cert: p.expiredServer, auth: []string{"PLAIN"}})
	elsewhere := startServer(t, serverOpts{starttls: true, cert: p.serverForNowhere, auth: []string{"PLAIN"}})
	mtls := startServer(t, serverOpts{starttls: true, cert: p.server, clientCAs: p.caPool})
	loginOnly := startServer(t, serverOpts{starttls: true, cert: p.server, auth: []string{"LOGIN"}})
	noAuthOffered := startServer(t, serverOpts{starttls: true, cert: p.server})

	type want struct {
		ok        bool
		kind      string
		retryable bool
		inMsg     string
	}
	cases := []struct {
		name    string
		srv     *server
		fields  map[string]any
		timeout time.Duration
		want    want
		// check inspects the received message of a delivery.
		check func(t *testing.T, r received)
	}{
		{name: "STARTTLS and AUTH", srv: starttls, fields: fields(starttls, p), want: want{ok: true},
			check: func(t *testing.T, r received) {
				if !r.TLS || r.User != testUser {
					t.Errorf("tls %v user %q", r.TLS, r.User)
				}
			}},
		{name: "AUTH LOGIN when PLAIN is not offered", srv: loginOnly, fields: fields(loginOnly, p), want: want{ok: true},
			check: func(t *testing.T, r received) {
				if r.User != testUser {
					t.Errorf("user %q", r.User)
				}
			}},
		{name: "client certificate", srv: mtls, want: want{ok: true},
			fields: with(fields(mtls, p), "auth_username", nil, "auth_password", nil,
				"tls", map[string]any{"ca_file": p.caFile, "cert_file": p.clientCertFile, "key_file": p.clientKeyFile}),
			check: func(t *testing.T, r received) {
				if r.ClientCert != "herald client" {
					t.Errorf("client certificate %q", r.ClientCert)
				}
			}},
		{name: "server demands a client certificate Herald lacks", srv: mtls,
			fields: with(fields(mtls, p), "auth_username", nil, "auth_password", nil),
			want:   want{kind: publish.KindNetwork, retryable: true, inMsg: "STARTTLS"}},
		{name: "certificate of an unknown CA", srv: starttls,
			fields: with(fields(starttls, p), "tls", map[string]any{"ca_file": p.otherCAFile}),
			want:   want{kind: publish.KindNetwork, retryable: true, inMsg: "x509"}},
		{name: "system CAs do not know the test CA", srv: starttls,
			fields: with(fields(starttls, p), "tls", nil),
			want:   want{kind: publish.KindNetwork, retryable: true, inMsg: "x509"}},
		{name: "expired certificate", srv: expired, fields: fields(expired, p),
			want: want{kind: publish.KindNetwork, retryable: true, inMsg: "expired"}},
		{name: "certificate for another name", srv: elsewhere, fields: fields(elsewhere, p),
			want: want{kind: publish.KindNetwork, retryable: true, inMsg: "x509"}},
		{name: "tls.server_name names the certificate's name", srv: elsewhere, want: want{ok: true},
			fields: with(fields(elsewhere, p), "tls", map[string]any{"ca_file": p.caFile, "server_name": "mail.elsewhere.example"})},
		{name: "no STARTTLS and require_tls (default)", srv: plain, fields: fields(plain, p),
			want: want{kind: publish.KindConfig, inMsg: "no STARTTLS"}},
		{name: "no STARTTLS, require_tls false, no credentials", srv: plainNoAuth, want: want{ok: true},
			fields: with(fields(plainNoAuth, p), "require_tls", false, "auth_username", nil, "auth_password", nil),
			check: func(t *testing.T, r received) {
				if r.TLS {
					t.Error("want a plain session")
				}
			}},
		{name: "no STARTTLS, require_tls false, credentials to loopback", srv: plain, want: want{ok: true},
			fields: with(fields(plain, p), "require_tls", false),
			check: func(t *testing.T, r received) {
				if r.TLS || r.User != testUser {
					t.Errorf("tls %v user %q", r.TLS, r.User)
				}
			}},
		{name: "credentials but the server offers no AUTH", srv: noAuthOffered, fields: fields(noAuthOffered, p),
			want: want{kind: publish.KindConfig, inMsg: "offers no AUTH"}},
		{name: "nothing listens", fields: with(fields(starttls, p), "smarthost", closed),
			want: want{kind: publish.KindNetwork, retryable: true, inMsg: "connection refused"}},
		{name: "no greeting before the deadline", fields: with(fields(starttls, p), "smarthost", silent.Addr().String()),
			timeout: 300 * time.Millisecond, want: want{kind: publish.KindTimeout, retryable: true, inMsg: "greeting"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := emailTarget(t, tc.fields)
			before := 0
			if tc.srv != nil {
				before = len(tc.srv.messages())
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := newPublisher().Publish(ctx, tg, publishtest.Firing())
			if tc.want.ok {
				if err != nil {
					t.Fatalf("want delivery, got %v", err)
				}
				msgs := tc.srv.messages()
				if len(msgs) != before+1 {
					t.Fatalf("server has %d messages, want %d", len(msgs), before+1)
				}
				if tc.check != nil {
					tc.check(t, msgs[len(msgs)-1])
				}
				return
			}
			pe := publishtest.AssertError(t, err, tc.want.kind, tc.want.retryable, 0)
			if !strings.Contains(pe.Msg, tc.want.inMsg) {
				t.Errorf("message %q lacks %q", pe.Msg, tc.want.inMsg)
			}
			if tc.srv != nil && len(tc.srv.messages()) != before {
				t.Error("the server received a message")
			}
		})
	}
	if _, _, _, auths := plain.counts(); len(auths) != 1 {
		t.Errorf("the plain server saw %d logins, want 1 (loopback with require_tls false only)", len(auths))
	}
}

// TestNoCredentialsInClearText: with require_tls false and a smarthost
// without STARTTLS that is not loopback, Herald refuses to log in and the
// server never sees the credentials.
func TestNoCredentialsInClearText(t *testing.T) {
	ip := nonLoopbackIP(t)
	s := startServer(t, serverOpts{auth: []string{"PLAIN", "LOGIN"}, listen: net.JoinHostPort(ip, "0")})
	tg := emailTarget(t, map[string]any{"smarthost": s.Addr, "from": "alerts@example.com", "to": []string{"a@example.com"},
		"auth_username": testUser, "auth_password": testPass, "require_tls": false})
	_, err := publish1(t, tg, publishtest.Firing())
	pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
	if !strings.Contains(pe.Msg, "unencrypted") {
		t.Errorf("message %q", pe.Msg)
	}
	if _, mails, _, auths := s.counts(); len(auths) != 0 || mails != 0 {
		t.Errorf("server saw %d logins and %d MAIL commands, want none", len(auths), mails)
	}
}

func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to listen on")
	return ""
}

// TestImplicitTLS: port 465 speaks TLS from the first byte (SMTPS).
func TestImplicitTLS(t *testing.T) {
	p := newPKI(t)
	s := startServer(t, serverOpts{implicit: true, cert: p.server, auth: []string{"PLAIN"}, listen: "127.0.0.1:465"})
	tg := emailTarget(t, fields(s, p))
	if _, err := publish1(t, tg, publishtest.Firing()); err != nil {
		t.Fatal(err)
	}
	msgs := s.messages()
	if len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != testUser {
		t.Fatalf("messages = %+v", msgs)
	}
}

// TestDialPolicy: a tenant's target goes through the dial policy (no
// connection to a blocked address), and may not name files on the worker.
func TestDialPolicy(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	cases := []struct {
		name   string
		fields map[string]any
		inMsg  string
	}{
		{"loopback is blocked", with(fields(s, p), "tls", nil), "loopback"},
		{"tls files are the worker's", fields(s, p), "tls.ca_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := emailTarget(t, tc.fields)
			tg.Scope = target.Scope{Tenant: true, Dial: &netguard.Policy{}}
			_, err := publish1(t, tg, publishtest.Firing())
			pe := publishtest.AssertError(t, err, publish.KindConfig, false, 0)
			if !strings.Contains(pe.Msg, tc.inMsg) {
				t.Errorf("message %q lacks %q", pe.Msg, tc.inMsg)
			}
			if sessions, _, _, _ := s.counts(); sessions != 0 {
				t.Errorf("server saw %d sessions, want none", sessions)
			}
			o := email.Probe(context.Background(), tg)
			if o.OK || o.Class != health.ClassConfig {
				t.Errorf("probe = %+v, want a config failure", o)
			}
		})
	}
}

// TestSecretsNeverLeak: a server that echoes the credentials (as written,
// as the base64 AUTH PLAIN response, as the base64 LOGIN password) in its
// replies, whole or cut at the excerpt's end at every position, leaks no
// piece of them into the error.
func TestSecretsNeverLeak(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	tg := emailTarget(t, fields(s, p))
	plainResp := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPass))
	passB64 := base64.StdEncoding.EncodeToString([]byte(testPass))
	echoes := []string{testPass, plainResp, passB64}
	if got := tg.Secrets(); len(got) != 1 || got[0] != testPass {
		t.Fatalf("Secrets() = %v, want the password", got)
	}
	check := func(t *testing.T, err error, echoed string) {
		t.Helper()
		if err == nil {
			t.Fatal("want an error")
		}
		publishtest.AssertNoSecret(t, err.Error(), echoes...)
		publishtest.AssertNoSecretFragment(t, err.Error(), publishtest.MinFragment, echoed)
		if o := email.Probe(context.Background(), tg); o.Message != "" {
			publishtest.AssertNoSecretFragment(t, o.Message, publishtest.MinFragment, echoed)
		}
	}
	whole := "rejected " + testUser + ":" + testPass + " AUTH PLAIN " + plainResp + " LOGIN " + passB64
	t.Run("AUTH echo", func(t *testing.T) {
		s.set(func(s *server) { s.authErr = smtpErr(535, smtpd.EnhancedCode{5, 7, 8}, whole) })
		_, err := publish1(t, tg, publishtest.Firing())
		for _, e := range echoes {
			check(t, err, e)
		}
	})
	t.Run("RCPT echo", func(t *testing.T) {
		s.set(func(s *server) { s.authErr, s.rcptErr = nil, smtpErr(550, smtpd.EnhancedCode{5, 1, 1}, whole) })
		_, err := publish1(t, tg, publishtest.Firing())
		for _, e := range echoes {
			check(t, err, e)
		}
	})
	t.Run("echo cut at the excerpt boundary", func(t *testing.T) {
		// The reply text is "5.1.1 <filler> <echo>"; the excerpt keeps
		// publish.MaxExcerpt bytes of it: keep 1, 2, ... bytes of the echo.
		const prefix = len("5.1.1 ")
		for _, e := range echoes {
			for keep := 1; keep <= len(e); keep++ {
				filler := publish.MaxExcerpt - prefix - 1 - keep
				reply := strings.Repeat("~", filler) + " " + e
				s.set(func(s *server) { s.authErr, s.rcptErr = nil, smtpErr(550, smtpd.EnhancedCode{5, 1, 1}, reply) })
				_, err := publish1(t, tg, publishtest.Firing())
				before := t.Failed()
				if err == nil {
					t.Fatal("want an error")
				}
				publishtest.AssertNoSecret(t, err.Error(), echoes...)
				publishtest.AssertNoSecretFragment(t, err.Error(), publishtest.MinFragment, e)
				if !before && t.Failed() {
					t.Fatalf("echo of %d bytes keeping %d leaked (see above)", len(e), keep)
				}
			}
		}
	})
}

// TestProbe: a working smarthost is healthy and receives no MAIL; wrong
// credentials, a missing STARTTLS with require_tls, a bad certificate and
// a dead smarthost are failures of their class.
func TestProbe(t *testing.T) {
	p := newPKI(t)
	s := starttlsServer(t, p)
	wrong := starttlsServer(t, p)
	wrong.set(func(s *server) { s.pass = "Wr0ng-another-pass-6" })
	rateLimited := starttlsServer(t, p)
	rateLimited.set(func(s *server) {
		s.authErr = smtpErr(421, smtpd.EnhancedCode{4, 7, 0}, "Try again later, closing connection")
	})
	plain := startServer(t, serverOpts{auth: []string{"PLAIN"}})
	closedAddr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	cases := []struct {
		name   string
		srv    *server
		fields map[string]any
		ok     bool
		class  string
	}{
		{"working smarthost", s, fields(s, p), true, ""},
		{"working smarthost without credentials", s, with(fields(s, p), "auth_username", nil, "auth_password", nil), true, ""},
		{"rate-limited smarthost is working", rateLimited, fields(rateLimited, p), true, ""},
		{"wrong password", wrong, fields(wrong, p), false, health.ClassAuth},
		{"no STARTTLS with require_tls", plain, fields(plain, p), false, health.ClassConfig},
		{"unknown CA", s, with(fields(s, p), "tls", map[string]any{"ca_file": p.otherCAFile}), false, health.ClassTLS},
		{"nothing listens", nil, with(fields(s, p), "smarthost", closedAddr), false, health.ClassRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg := emailTarget(t, tc.fields)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for name, probe := range map[string]func() health.Observation{
				"Probe":          func() health.Observation { return email.Probe(ctx, tg) },
				"Provider.Probe": func() health.Observation { return email.Provider.Probe(ctx, health.ProbeEnv{}, tg) },
				// The prober the worker's health checks run: no HTTP endpoint
				// to connect to first, the type's probe alone.
				"health.Prober": func() health.Observation {
					return (&health.Prober{Timeout: 10 * time.Second}).Probe(ctx, tg)
				},
			} {
				o := probe()
				if o.OK != tc.ok || o.Class != tc.class {
					t.Errorf("%s = %+v, want ok %v class %q", name, o, tc.ok, tc.class)
				}
				if !o.OK && o.Message == "" {
					t.Errorf("%s: a failure without a message", name)
				}
				publishtest.AssertNoSecret(t, o.Message, testPass)
			}
			if tc.srv != nil {
				if _, mails, rcpts, _ := tc.srv.counts(); mails != 0 || rcpts != 0 || len(tc.srv.messages()) != 0 {
					t.Errorf("the probe sent MAIL %d / RCPT %d times", mails, rcpts)
				}
			}
		})
	}
	if _, _, _, auths := s.counts(); len(auths) != 3 {
		t.Errorf("the working smarthost saw %d logins, want 3 (each probe proves the credentials)", len(auths))
	}
}
