// Package email publishes alerts as e-mail through an SMTP smarthost: one
// message when an alert fires (and one per update), and a resolve message
// that replies to the firing one so mail clients thread them. Sessions are
// encrypted (implicit TLS on port 465, else STARTTLS, required unless
// require_tls is false), the server's certificate is always verified, and
// credentials never travel in clear text except to a loopback smarthost.
package email

import (
	"context"
	"errors"
	"net/textproto"
	"time"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// StatusAccepted is Result.StatusCode of a delivered message: the SMTP
// reply code of the accepted DATA.
const StatusAccepted = 250

// Publisher sends one message per notification.
type Publisher struct {
	// ObserveFormat, when set, is told how long each Build took.
	ObserveFormat publish.FormatObserver
	// Now is the clock of the Date header; nil means time.Now.
	Now func() time.Time
	// LocalName is the EHLO name; empty means the host name (else
	// "localhost").
	LocalName string
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Publisher) localName() string {
	if p.LocalName != "" {
		return p.LocalName
	}
	return localName()
}

// Publish implements publish.Publisher: MAIL FROM the from address, RCPT
// TO every address of to (the first refused recipient ends the session
// before DATA, so a retry never sends twice to the others), DATA. The
// result's state records the firing message's Message-ID.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	cfg, ok := t.Config.(*Config)
	if !ok || cfg == nil {
		return publish.Result{}, publish.Permanent(publish.KindConfig, "email target %q has no email settings (smarthost, from, to)", t.Name)
	}
	start := time.Now()
	m, err := Build(t, cfg, n, p.now())
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, err
	}
	ctx, cancel := sessionContext(ctx, t)
	defer cancel()
	if err := deliver(ctx, t, cfg, m, p.localName()); err != nil {
		return publish.Result{}, publish.RedactError(err, redactionSecrets(t, cfg))
	}
	return publish.Result{StatusCode: StatusAccepted, State: publish.ProviderState{StateMessageID: m.ThreadID}}, nil
}

// sessionContext carries the target's dial policy (when the caller did not
// set one) and a deadline (DefaultTimeout when the caller set none).
func sessionContext(ctx context.Context, t target.Target) (context.Context, context.CancelFunc) {
	if netguard.FromContext(ctx) == nil {
		ctx = netguard.WithPolicy(ctx, t.Scope.Dial)
	}
	if _, ok := ctx.Deadline(); !ok {
		return context.WithTimeout(ctx, DefaultTimeout)
	}
	return context.WithCancel(ctx)
}

func deliver(ctx context.Context, t target.Target, cfg *Config, m Message, localName string) error {
	s, err := open(ctx, t, cfg, localName)
	if err != nil {
		return err
	}
	if err := s.c.Mail(m.From); err != nil {
		return s.fail(stepMAIL, err)
	}
	for _, rcpt := range m.To {
		if err := s.c.Rcpt(rcpt); err != nil {
			return s.fail(stepRCPT+" <"+rcpt+">", err)
		}
	}
	w, err := s.c.Data()
	if err != nil {
		return s.fail(stepDATA, err)
	}
	if _, err := w.Write(m.Data); err != nil {
		return s.fail(stepDATA, err)
	}
	if err := w.Close(); err != nil {
		return s.fail(stepEndData, err)
	}
	// The message is accepted: what QUIT answers does not matter.
	s.quit()
	return nil
}

// Probe checks an email target without sending anything: it dials the
// smarthost (through the target's dial policy), reads the greeting, says
// EHLO, starts TLS as a delivery would (verifying the certificate), logs
// in when credentials are configured (proving them), and says QUIT. It
// never sends MAIL, RCPT or DATA.
//
// A failure to connect, a TLS failure, a refused greeting or EHLO, a
// missing STARTTLS with require_tls and rejected credentials fail the
// probe; a rate-limit reply does not (the server is there and working,
// it only asks Herald to slow down).
func Probe(ctx context.Context, t target.Target) health.Observation {
	cfg, ok := t.Config.(*Config)
	if !ok || cfg == nil {
		return health.Failure(health.ClassConfig, 0, "email target has no email settings (smarthost, from, to)")
	}
	ctx, cancel := sessionContext(ctx, t)
	defer cancel()
	s, err := open(ctx, t, cfg, localName())
	if err != nil {
		return probeFailure(t, publish.RedactError(err, redactionSecrets(t, cfg)))
	}
	s.quit()
	return health.Observation{OK: true}
}

func probeFailure(t target.Target, err error) health.Observation {
	var pe *publish.Error
	if !errors.As(err, &pe) {
		return health.Failure(health.ErrorClass(err), 0, health.ErrorText(err))
	}
	switch {
	case pe.Kind == publish.KindRateLimited:
		return health.Observation{OK: true}
	case pe.Kind == publish.KindConfig:
		return health.Failure(health.ClassConfig, 0, pe.Msg)
	case pe.Auth:
		return health.Failure(health.ClassAuth, 0, pe.Msg)
	case pe.Kind == publish.KindProvider:
		return health.Failure(health.ClassHTTPStatus, 0, pe.Msg)
	}
	// Timeouts and network errors: refused, dns and tls told apart as for
	// deliveries.
	o := health.ObserveDelivery(t.Name, time.Time{}, 0, pe)
	return health.Failure(o.Class, 0, pe.Msg)
}

// isReply reports whether err is an SMTP reply (the connection is still
// usable for QUIT).
func isReply(err error) bool {
	var te *textproto.Error
	return errors.As(err, &te)
}
