package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// DefaultTimeout bounds one SMTP session when the context has no deadline.
const DefaultTimeout = time.Minute

// RateLimitedBackoff is the delay after a rate-limit reply (SMTP has no
// Retry-After): mail providers count their limits per minute or longer
// (Postfix's anvil rate limits per 60 s time unit, Gmail's 421 4.7.0 and
// 4.7.28 ask to try again later).
const RateLimitedBackoff = time.Minute

// Steps of a session, as error messages name them.
const (
	stepConnect  = "connect"
	stepGreeting = "greeting"
	stepEHLO     = "EHLO"
	stepSTARTTLS = "STARTTLS"
	stepAUTH     = "AUTH"
	stepMAIL     = "MAIL FROM"
	stepRCPT     = "RCPT TO"
	stepDATA     = "DATA"
	stepEndData  = "end of DATA"
)

// errPlainAuth is an AUTH that would send credentials in clear text.
var errPlainAuth = errors.New("refusing to send credentials over an unencrypted connection")

// session is an open, greeted, secured and authenticated SMTP connection.
type session struct {
	c       *smtp.Client
	conn    net.Conn
	stop    func() bool
	ctx     context.Context
	cfg     *Config
	secrets []string
	// TLS reports whether the session is encrypted.
	TLS bool
}

func (s *session) close() {
	s.stop()
	_ = s.c.Close()
}

// fail closes the session and classifies err, which happened at step.
func (s *session) fail(step string, err error) error {
	if isReply(err) {
		_ = s.c.Quit()
	}
	s.close()
	return sessionError(s.ctx, s.cfg, s.secrets, step, err)
}

// quit ends the session politely, then closes it.
func (s *session) quit() {
	_ = s.c.Quit()
	s.close()
}

// open dials the smarthost (through netguard, so a tenant's dial policy
// applies), reads the greeting, says EHLO, starts TLS (implicit on port
// 465, else STARTTLS when offered, which require_tls demands) and logs in
// when credentials are configured. The context's deadline bounds the
// whole session (the caller gives it one): it is set on the connection,
// and cancelling the context ends any read or write in progress.
func open(ctx context.Context, t target.Target, cfg *Config, localName string) (*session, error) {
	host, _, err := net.SplitHostPort(cfg.Smarthost)
	if err != nil {
		return nil, publish.Permanent(publish.KindConfig, "smarthost must be host:port")
	}
	tlsCfg, err := clientTLS(t, cfg, host)
	if err != nil {
		return nil, err
	}
	secrets := redactionSecrets(t, cfg)
	conn, err := netguard.DialContext(ctx, &net.Dialer{}, "tcp", cfg.Smarthost)
	if err != nil {
		return nil, transportError(ctx, cfg, stepConnect, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(step string, err error) (*session, error) {
		stop()
		_ = conn.Close()
		return nil, sessionError(ctx, cfg, secrets, step, err)
	}
	secure := false
	if cfg.ImplicitTLS() {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail(stepConnect, fmt.Errorf("tls handshake: %w", err))
		}
		conn, secure = tc, true
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fail(stepGreeting, err)
	}
	s := &session{c: c, conn: conn, stop: stop, ctx: ctx, cfg: cfg, secrets: secrets, TLS: secure}
	failSession := func(step string, err error) (*session, error) {
		s.close()
		return nil, sessionError(ctx, cfg, secrets, step, err)
	}
	if err := c.Hello(localName); err != nil {
		return failSession(stepEHLO, err)
	}
	if !secure {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsCfg); err != nil {
				return failSession(stepSTARTTLS, err)
			}
			s.TLS = true
		} else if cfg.TLSRequired() {
			_ = c.Quit()
			s.close()
			return nil, publish.Permanent(publish.KindConfig,
				"smtp %s: the server offers no STARTTLS and require_tls is true (Herald never sends mail or credentials unencrypted unless require_tls is false)",
				cfg.Smarthost)
		}
	}
	if cfg.AuthUsername != "" {
		if err := login(s, cfg, host); err != nil {
			var pe *publish.Error
			if errors.As(err, &pe) {
				_ = c.Quit()
				s.close()
				return nil, err
			}
			return failSession(stepAUTH, err)
		}
	}
	return s, nil
}

// login authenticates with PLAIN, else LOGIN, whichever the server offers.
func login(s *session, cfg *Config, host string) error {
	ok, mechs := s.c.Extension("AUTH")
	if !ok {
		return publish.Permanent(publish.KindConfig,
			"smtp %s: auth_username is set but the server offers no AUTH", cfg.Smarthost)
	}
	mech := ""
	for _, m := range strings.Fields(strings.ToUpper(mechs)) {
		if m == "PLAIN" {
			mech = m
			break
		}
		if m == "LOGIN" {
			mech = m
		}
	}
	if mech == "" {
		return publish.Permanent(publish.KindConfig,
			"smtp %s: the server offers AUTH %s; Herald speaks PLAIN and LOGIN", cfg.Smarthost, publish.Excerpt([]byte(mechs)))
	}
	if !s.TLS && !loopback(host) {
		return publish.Permanent(publish.KindConfig,
			"smtp %s: %v (the server offers no STARTTLS; credentials go in clear text only to a loopback smarthost)", cfg.Smarthost, errPlainAuth)
	}
	return s.c.Auth(&saslAuth{mech: mech, identity: cfg.AuthIdentity, username: cfg.AuthUsername,
		password: cfg.AuthPassword, host: host})
}

// saslAuth is AUTH PLAIN (RFC 4616) or LOGIN. It refuses, like net/smtp's
// PlainAuth, to send credentials over an unencrypted connection to any
// host but a loopback one.
type saslAuth struct {
	mech                         string
	identity, username, password string
	host                         string
	step                         int
}

func (a *saslAuth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS && !loopback(a.host) {
		return "", nil, errPlainAuth
	}
	if a.mech == "PLAIN" {
		return "PLAIN", []byte(a.identity + "\x00" + a.username + "\x00" + a.password), nil
	}
	return "LOGIN", nil, nil
}

func (a *saslAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	if a.mech != "LOGIN" {
		return nil, errors.New("unexpected server challenge")
	}
	a.step++
	prompt := strings.ToLower(string(fromServer))
	switch {
	case strings.Contains(prompt, "username"):
		return []byte(a.username), nil
	case strings.Contains(prompt, "password"):
		return []byte(a.password), nil
	case a.step == 1:
		return []byte(a.username), nil
	case a.step == 2:
		return []byte(a.password), nil
	}
	return nil, errors.New("unexpected server challenge")
}

// loopback reports whether host is this machine.
func loopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clientTLS is the TLS configuration of the session: the system's CAs or
// tls.ca_file, the server name (tls.server_name, else the smarthost's
// host) always verified, and the client certificate of tls.cert_file and
// tls.key_file. A target from a Kubernetes Secret may name no file: the
// files are the worker's, not the tenant's.
func clientTLS(t target.Target, cfg *Config, host string) (*tls.Config, error) {
	out := &tls.Config{ServerName: host}
	o := cfg.TLS
	if o == nil {
		return out, nil
	}
	if t.FromTenant() && (o.CAFile != "" || o.CertFile != "" || o.KeyFile != "") {
		return nil, publish.Permanent(publish.KindConfig,
			"tls.ca_file, tls.cert_file and tls.key_file name files on the worker: a target from a Kubernetes Secret may not use them")
	}
	if o.ServerName != "" {
		out.ServerName = o.ServerName
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, publish.Permanent(publish.KindConfig, "tls.ca_file: cannot read %s", o.CAFile)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, publish.Permanent(publish.KindConfig, "tls.ca_file: no PEM certificate in %s", o.CAFile)
		}
		out.RootCAs = pool
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, publish.Permanent(publish.KindConfig, "tls.cert_file/tls.key_file: cannot load the client certificate %s", o.CertFile)
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}

// redactionSecrets are the target's credentials and the forms an SMTP
// server may echo them in: the base64 of the AUTH PLAIN response and of
// the LOGIN password.
func redactionSecrets(t target.Target, cfg *Config) []string {
	s := t.Secrets()
	if cfg.AuthPassword != "" {
		enc := base64.StdEncoding
		s = append(s,
			enc.EncodeToString([]byte(cfg.AuthIdentity+"\x00"+cfg.AuthUsername+"\x00"+cfg.AuthPassword)),
			enc.EncodeToString([]byte(cfg.AuthPassword)))
	}
	return s
}

// sessionError classifies what went wrong at step. An SMTP reply is
// classified by its code (replyError); anything else is a transport error
// (transportError).
func sessionError(ctx context.Context, cfg *Config, secrets []string, step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return replyError(cfg, secrets, step, te.Code, te.Msg)
	}
	if errors.Is(err, errPlainAuth) {
		return publish.Permanent(publish.KindConfig, "smtp %s: %s: %v", cfg.Smarthost, step, errPlainAuth)
	}
	return transportError(ctx, cfg, step, err)
}

// transportError classifies a dial, TLS, read or write failure with
// publish.ClassifyTransport (timeouts and network errors are retryable,
// TLS failures included: see docs/targets.md), except a dial the tenant's
// dial policy refused, which no retry helps. When the context ended, the
// context's error is the cause.
func transportError(ctx context.Context, cfg *Config, step string, err error) error {
	if netguard.IsBlocked(err) {
		var be *netguard.BlockedError
		msg := "blocked address"
		if errors.As(err, &be) {
			msg = be.Error()
		}
		return publish.Permanent(publish.KindConfig, "smtp %s: %s", cfg.Smarthost, msg)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	pe := publish.ClassifyTransport(err)
	pe.Msg = fmt.Sprintf("smtp %s: %s: %s", cfg.Smarthost, step, pe.Msg)
	return pe
}

// Auth failures: 530 authentication required, 534 mechanism too weak, 535
// credentials invalid, 538 encryption required (RFC 4954 section 6).
var authCodes = map[int]bool{530: true, 534: true, 535: true, 538: true}

// rateWords are what rate-limit replies say.
var rateWords = regexp.MustCompile(`(?i)too many|\brate\b|rate-?limit|throttl|slow down|limit exceeded|sending limit`)

// enhancedCode reads the RFC 3463 enhanced status code a reply starts with.
var enhancedCode = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})\b`)

// replyError classifies an SMTP reply:
//   - 4xx is transient (RFC 5321 section 4.2.1): retryable, kind
//     provider_error, except rate limiting (421 4.7.0, and any 4xx that
//     says too many / rate / throttled), which is rate_limited with
//     RateLimitedBackoff;
//   - 5xx is permanent: provider_error, flagged as an auth failure for
//     530, 534, 535, 538 and any 5xx answer to AUTH;
//   - any other unexpected reply is retryable.
//
// The reply text is redacted of secrets, then cut (publish.RedactedExcerpt).
func replyError(cfg *Config, secrets []string, step string, code int, text string) *publish.Error {
	excerpt := publish.RedactedExcerpt([]byte(text), secrets)
	msg := fmt.Sprintf("smtp %s: %s: %d %s", cfg.Smarthost, step, code, excerpt)
	enh := enhancedCode.FindString(strings.TrimSpace(text))
	switch code / 100 {
	case 4:
		if (code == 421 && enh == "4.7.0") || (enh != "4.5.3" && rateWords.MatchString(text)) {
			return publish.Retryable(publish.KindRateLimited, RateLimitedBackoff, "%s", msg)
		}
		return publish.Retryable(publish.KindProvider, 0, "%s", msg)
	case 5:
		pe := publish.Permanent(publish.KindProvider, "%s", msg)
		pe.Auth = authCodes[code] || step == stepAUTH
		return pe
	}
	return publish.Retryable(publish.KindProvider, 0, "%s", msg)
}

// localName is the name Herald introduces itself with in EHLO: the host
// name when it is one, else "localhost".
func localName() string {
	h, err := os.Hostname()
	if err != nil || !validHostname(h) {
		return "localhost"
	}
	return h
}
