package integration

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	smtpd "github.com/emersion/go-smtp"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// The receivers Alertmanager users route to, through the worker's real
// composition on a real Temporal server: one alert fires and resolves,
// and Microsoft Teams, Discord, Opsgenie, Telegram and email each get
// exactly one firing and one resolve. What a provider returned for the
// firing (Opsgenie's alias, Telegram's message_id, the email's
// Message-Id) comes back to the resolve through the alert workflow's
// state, and no credential reaches history, logs or the API.
func TestReceiversFireAndResolveExactlyOnce(t *testing.T) {
	const (
		genieKey    = "genie-0a1b2c3d-4e5f-6a7b-8c9d"
		botToken    = "123456789:AAH-bot-token-SECRET_abcdefgh"
		discordTok  = "discord-webhook-token-SECRET-1234"
		teamsSig    = "teams-signature-SECRET-5678"
		fingerprint = "rcv1"
	)
	teams := newSink(t, publishtest.Status(http.StatusAccepted, "1"))
	discord := newSink(t, publishtest.Status(http.StatusNoContent, ""))
	genie := newSink(t, publishtest.JSON(http.StatusAccepted, map[string]any{"result": "Request will be processed", "requestId": "req-1"}))
	var (
		tgMu     sync.Mutex
		tgNextID = 41
	)
	telegram := newSink(t)
	telegram.Handle(func(publishtest.Request) (publishtest.Response, bool) {
		tgMu.Lock()
		defer tgMu.Unlock()
		tgNextID++
		return publishtest.JSON(http.StatusOK, map[string]any{"ok": true, "result": map[string]any{"message_id": tgNextID}}), true
	})
	smtp := startSMTP(t)

	defs := []string{
		fmt.Sprintf(`{"name":"teams","type":"msteams","url":%q,"retry":{"max_attempts":5}}`,
			teams.URL+"/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig="+teamsSig),
		fmt.Sprintf(`{"name":"discord","type":"discord","url":%q,"retry":{"max_attempts":5}}`, discord.URL+"/api/webhooks/123/"+discordTok),
		fmt.Sprintf(`{"name":"genie","type":"opsgenie","url":%q,"api_key":%q,"retry":{"max_attempts":5}}`, genie.URL, genieKey),
		fmt.Sprintf(`{"name":"tg","type":"telegram","url":%q,"bot_token":%q,"chat_id":-100123,"retry":{"max_attempts":5}}`, telegram.URL, botToken),
		fmt.Sprintf(`{"name":"mail","type":"email","smarthost":%q,"from":"herald@example.com","to":["oncall@example.com"],"require_tls":false,"retry":{"max_attempts":5}}`, smtp.addr),
	}
	var targets []target.Target
	for i, d := range defs {
		tg, err := target.ParseOne([]byte(d), fmt.Sprintf("file:targets.json#%d", i))
		if err != nil {
			t.Fatalf("target %d: %v", i, err)
		}
		targets = append(targets, tg)
	}
	h := startHerald(t, targets)

	a := firingAlert(fingerprint, "DiskFull")
	mustPost(t, h, webhookBody(a))
	for _, s := range []*sink{teams, discord, genie, telegram} {
		s := s
		eventually(t, 30*time.Second, "firing delivered to "+s.URL, func() bool { return len(s.all()) >= 1 })
	}
	eventually(t, 30*time.Second, "firing mailed", func() bool { return smtp.count() >= 1 })
	mustPost(t, h, webhookBody(resolvedAlert(a)))
	h.waitWorkflowDone(fingerprint)

	for name, s := range map[string]*sink{"teams": teams, "discord": discord, "genie": genie, "telegram": telegram} {
		if n := len(s.all()); n != 2 {
			t.Errorf("%s got %d requests, want exactly a firing and a resolve", name, n)
		}
	}
	if n := smtp.count(); n != 2 {
		t.Errorf("the smarthost got %d messages, want exactly a firing and a resolve", n)
	}

	// Teams: two Adaptive Cards, the second one resolved.
	if reqs := teams.all(); len(reqs) == 2 {
		for i, want := range []string{"[FIRING] DiskFull", "[RESOLVED] DiskFull"} {
			if reqs[i].Body["type"] != "message" || !strings.Contains(reqs[i].Raw, want) || !strings.Contains(reqs[i].Raw, "application/vnd.microsoft.card.adaptive") {
				t.Errorf("teams card %d = %s, want an adaptive card with %q", i, reqs[i].Raw, want)
			}
		}
	}
	// Discord: content is the title; nobody is pinged.
	if reqs := discord.all(); len(reqs) == 2 {
		if reqs[0].Body["content"] != "[FIRING] DiskFull" || reqs[1].Body["content"] != "[RESOLVED] DiskFull" {
			t.Errorf("discord contents = %v, %v", reqs[0].Body["content"], reqs[1].Body["content"])
		}
	}
	// Opsgenie: create with the GenieKey, then close by the same alias.
	if reqs := genie.all(); len(reqs) == 2 {
		alias, _ := reqs[0].Body["alias"].(string)
		if reqs[0].Path != "/v2/alerts" || reqs[0].Header.Get("Authorization") != "GenieKey "+genieKey || alias == "" {
			t.Errorf("opsgenie create = %s %s (auth %q)", reqs[0].Path, reqs[0].Raw, reqs[0].Header.Get("Authorization"))
		}
		if want := "/v2/alerts/" + alias + "/close"; reqs[1].Path != want {
			t.Errorf("opsgenie resolve path = %q, want %q (the firing's alias)", reqs[1].Path, want)
		}
	}
	// Telegram: the resolve replies to the firing's message.
	if reqs := telegram.all(); len(reqs) == 2 {
		if reqs[0].Path != "/bot"+botToken+"/sendMessage" || reqs[0].Body["parse_mode"] != "HTML" {
			t.Errorf("telegram firing = %s %s", reqs[0].Path, reqs[0].Raw)
		}
		reply, _ := reqs[1].Body["reply_parameters"].(map[string]any)
		if reply == nil || reply["message_id"] != float64(42) {
			t.Errorf("telegram resolve = %s, want a reply to message 42", reqs[1].Raw)
		}
	}
	// Email: the resolve threads under the firing.
	if msgs := smtp.messages(); len(msgs) == 2 {
		first, second := msgs[0], msgs[1]
		subject := func(m *mail.Message) string {
			s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if err != nil {
				t.Errorf("subject %q: %v", m.Header.Get("Subject"), err)
			}
			return s
		}
		if !strings.HasPrefix(subject(first), "[FIRING] DiskFull") || !strings.HasPrefix(subject(second), "[RESOLVED] DiskFull") {
			t.Errorf("subjects = %q, %q", subject(first), subject(second))
		}
		if id := first.Header.Get("Message-Id"); id == "" || second.Header.Get("In-Reply-To") != id {
			t.Errorf("resolve In-Reply-To = %q, want the firing's Message-Id %q", second.Header.Get("In-Reply-To"), id)
		}
	}

	// Every target's state says delivered, once each way.
	state := h.waitWorkflowDone(fingerprint)
	for _, ts := range state.Targets {
		if ts.Status != contract.DeliveryDelivered {
			t.Errorf("target %s state = %+v", ts.Name, ts)
		}
	}
	hist, err := history.Fetch(context.Background(), h.client, contract.AlertWorkflowID(fingerprint), "")
	if err != nil {
		t.Fatal(err)
	}
	histJSON, err := history.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	api, targetsAPI := getText(t, h.http.URL+"/api/v1/alerts/"+fingerprint), getText(t, h.http.URL+"/api/v1/targets")
	for where, text := range map[string]string{"history": string(histJSON), "logs": h.logs.String(), "alert API": api, "targets API": targetsAPI} {
		t.Run("no credential in "+where, func(t *testing.T) {
			publishtest.AssertNoSecretFragment(t, text, 12, genieKey, botToken, discordTok, teamsSig)
		})
	}
}

// smtpSink is a real SMTP server (github.com/emersion/go-smtp) on loopback
// that keeps every message it accepts.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	msgs []*mail.Message
}

func startSMTP(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{}
	srv := smtpd.NewServer(smtpd.BackendFunc(func(*smtpd.Conn) (smtpd.Session, error) { return &smtpSession{sink: s}, nil }))
	srv.Domain = "mx.test.example"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *smtpSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *smtpSink) messages() []*mail.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*mail.Message(nil), s.msgs...)
}

type smtpSession struct{ sink *smtpSink }

func (*smtpSession) Reset()                                {}
func (*smtpSession) Logout() error                         { return nil }
func (*smtpSession) Mail(string, *smtpd.MailOptions) error { return nil }
func (*smtpSession) Rcpt(string, *smtpd.RcptOptions) error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, m.Body); err != nil {
		return err
	}
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, m)
	s.sink.mu.Unlock()
	return nil
}
