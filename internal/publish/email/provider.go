package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Type is the target type of e-mail through an SMTP smarthost.
const Type = "email"

// MaxAddress is the longest address Herald accepts in from and to (RFC
// 5321 section 4.5.3.1.3 limits a path to 256 octets with its brackets).
const MaxAddress = 254

// MaxRecipients bounds the to list (RFC 5321 section 4.5.3.1.8: a server
// must take at least 100 recipients per message).
const MaxRecipients = 100

// Provider is the email type: smarthost, from and to (required), the
// optional auth_* credentials, require_tls and the tls block. It has no
// url.
var Provider provider.Provider = kind{}

type kind struct{ provider.Base }

func (kind) Type() string { return Type }

// DefaultURL is empty: an email target names its smarthost instead of a
// url (see URLOptional).
func (kind) DefaultURL() string { return "" }

// URLOptional implements target.URLOptional: an email target has no url.
func (kind) URLOptional() bool { return true }

// NotHTTP implements target.NotHTTP: deliveries are SMTP sessions, so an
// email target has no http_config block.
func (kind) NotHTTP() {}

// NewConfig implements target.ConfigKind.
func (kind) NewConfig() target.Config { return &Config{} }

// LimiterKey shares one limit among the targets that log in to one
// smarthost as one user: mail providers limit per account (Gmail, Microsoft
// 365 and SES count messages per authenticated sender). Without
// credentials the limit is per target. The key is hashed.
func (kind) LimiterKey(t target.Target) string {
	cfg, ok := t.Config.(*Config)
	if !ok || cfg == nil || cfg.AuthUsername == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(strings.ToLower(cfg.Smarthost) + "\x00" + cfg.AuthUsername))
	return "email/" + hex.EncodeToString(sum[:8])
}

// Config is the email type's part of a target object.
type Config struct {
	// Smarthost is the SMTP server, host:port. Port 465 is implicit TLS
	// (SMTPS); every other port speaks plain SMTP and upgrades with
	// STARTTLS.
	Smarthost string `json:"smarthost"`
	// From is the sender address (header From and envelope MAIL FROM).
	From string `json:"from"`
	// To lists the recipients (header To and one RCPT TO each).
	To []string `json:"to"`
	// AuthUsername, AuthPassword and AuthIdentity log in with AUTH PLAIN
	// (or LOGIN when the server offers only that). AuthPassword is a
	// credential.
	AuthUsername string `json:"auth_username,omitempty"`
	AuthPassword string `json:"auth_password,omitempty"`
	AuthIdentity string `json:"auth_identity,omitempty"`
	// RequireTLS (default true) refuses to send without TLS. false sends
	// in plain text only when the server offers no STARTTLS, and never
	// sends credentials in plain text except to a loopback smarthost.
	RequireTLS *bool `json:"require_tls,omitempty"`
	// TLS verifies the server and presents a client certificate.
	TLS *TLSOptions `json:"tls,omitempty"`
}

// TLSOptions are the TLS settings of an email target. The server's
// certificate is always verified.
type TLSOptions struct {
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `json:"ca_file,omitempty"`
	// ServerName is the name the certificate must carry (default: the
	// smarthost's host).
	ServerName string `json:"server_name,omitempty"`
	// CertFile and KeyFile are a PEM client certificate and its key.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
}

// Secrets implements target.Config: the password.
func (c *Config) Secrets() []string {
	if c == nil || c.AuthPassword == "" {
		return nil
	}
	return []string{c.AuthPassword}
}

// TLSRequired reports whether the session must be encrypted (require_tls,
// default true).
func (c *Config) TLSRequired() bool { return c.RequireTLS == nil || *c.RequireTLS }

// ImplicitTLS reports whether the smarthost speaks TLS from the first byte
// (port 465, SMTPS).
func (c *Config) ImplicitTLS() bool {
	_, port, err := net.SplitHostPort(c.Smarthost)
	return err == nil && port == "465"
}

// Describe implements target.Describer: the public view shows the
// smarthost (it carries no credential) and warns of unencrypted delivery.
func (c *Config) Describe(p *target.Public) {
	scheme := "smtp://"
	if c.ImplicitTLS() {
		scheme = "smtps://"
	}
	p.URL = scheme + c.Smarthost
	if !c.TLSRequired() {
		p.Warnings = append(p.Warnings, "require_tls is false: mail goes unencrypted to a smarthost that offers no STARTTLS")
	}
}

func (kind) Validate(t target.Target) error {
	cfg, ok := t.Config.(*Config)
	if !ok || cfg == nil {
		return t.Field("smarthost", "is required for type email")
	}
	if t.URL != "" {
		return t.Field("url", "is not used by type email: set smarthost (host:port)")
	}
	if len(t.Headers) > 0 {
		return t.Field("headers", "are not used by type email")
	}
	if err := validateSmarthost(t, cfg.Smarthost); err != nil {
		return err
	}
	if cfg.From == "" {
		return t.Field("from", "is required for type email (the sender address)")
	}
	if err := validateAddress(cfg.From); err != nil {
		return t.Field("from", "%v", err)
	}
	if len(cfg.To) == 0 {
		return t.Field("to", "needs at least one recipient address")
	}
	if len(cfg.To) > MaxRecipients {
		return t.Field("to", "has %d addresses, at most %d are allowed", len(cfg.To), MaxRecipients)
	}
	for i, a := range cfg.To {
		if err := validateAddress(a); err != nil {
			return t.Field(fmt.Sprintf("to[%d]", i), "%v", err)
		}
	}
	switch {
	case cfg.AuthPassword != "" && cfg.AuthUsername == "":
		return t.Field("auth_username", "is required with auth_password")
	case cfg.AuthUsername != "" && cfg.AuthPassword == "":
		return t.Field("auth_password", "is required with auth_username")
	case cfg.AuthIdentity != "" && cfg.AuthUsername == "":
		return t.Field("auth_username", "is required with auth_identity")
	}
	for _, f := range [...]struct{ name, value string }{
		{"auth_username", cfg.AuthUsername}, {"auth_password", cfg.AuthPassword}, {"auth_identity", cfg.AuthIdentity},
	} {
		if strings.ContainsAny(f.value, "\x00\r\n") {
			return t.Field(f.name, "must not contain NUL, CR or LF")
		}
	}
	if o := cfg.TLS; o != nil {
		if (o.CertFile == "") != (o.KeyFile == "") {
			if o.CertFile == "" {
				return t.Field("tls.cert_file", "is required with tls.key_file")
			}
			return t.Field("tls.key_file", "is required with tls.cert_file")
		}
		if o.ServerName != "" && !validHostname(o.ServerName) {
			return t.Field("tls.server_name", "must be a host name")
		}
	}
	return nil
}

func validateSmarthost(t target.Target, hp string) error {
	if hp == "" {
		return t.Field("smarthost", "is required for type email (host:port of the SMTP server)")
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil || host == "" {
		return t.Field("smarthost", "must be host:port (\"smtp.example.com:587\")")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return t.Field("smarthost", "port must be a number from 1 to 65535")
	}
	if net.ParseIP(host) == nil && !validHostname(host) {
		return t.Field("smarthost", "host must be a host name or an IP address")
	}
	return nil
}

// validateAddress accepts one bare address or "Name <address>", ASCII
// local part and domain, at most MaxAddress bytes.
func validateAddress(s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return fmt.Errorf("must not contain a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return fmt.Errorf("%q is not an e-mail address", s)
	}
	if len(a.Address) > MaxAddress {
		return fmt.Errorf("address is longer than %d bytes", MaxAddress)
	}
	for i := 0; i < len(a.Address); i++ {
		if c := a.Address[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("address %q must be ASCII (Herald does not use SMTPUTF8)", a.Address)
		}
	}
	if at := strings.LastIndexByte(a.Address, '@'); at <= 0 || at == len(a.Address)-1 {
		return fmt.Errorf("%q has no domain", a.Address)
	}
	return nil
}

func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// Probe implements provider.Provider with the SMTP probe (see Probe): an
// email target has no http endpoint, env is not used.
func (kind) Probe(ctx context.Context, _ health.ProbeEnv, t target.Target) health.Observation {
	return Probe(ctx, t)
}

func (kind) NewPublisher(d provider.Deps) publish.Publisher {
	return &Publisher{ObserveFormat: d.ObserveFormat}
}
