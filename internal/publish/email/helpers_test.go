package email_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtpd "github.com/emersion/go-smtp"

	"github.com/herald-alerts/herald/internal/target"
)

// pki is a test CA with a server certificate for 127.0.0.1/localhost and a
// client certificate, written as PEM files to a temporary directory.
type pki struct {
	dir              string
	caFile           string
	caPool           *x509.CertPool
	server           tls.Certificate
	clientCertFile   string
	clientKeyFile    string
	ca               *x509.Certificate
	caKey            *ecdsa.PrivateKey
	otherCAFile      string // a CA that signed nothing of this server
	expiredServer    tls.Certificate
	serverForNowhere tls.Certificate // valid, but for another name
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.ca, p.caKey = selfSigned(t, "Herald test CA")
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.ca)
	p.caFile = writePEM(t, p.dir, "ca.crt", "CERTIFICATE", p.ca.Raw)
	now := time.Now()
	p.server = p.leaf(t, "smtp server", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	p.expiredServer = p.leaf(t, "expired", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, now.Add(-48*time.Hour), now.Add(-24*time.Hour), x509.ExtKeyUsageServerAuth)
	p.serverForNowhere = p.leaf(t, "elsewhere", []string{"mail.elsewhere.example"}, nil, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageServerAuth)
	client := p.leaf(t, "herald client", nil, nil, now.Add(-time.Hour), now.Add(time.Hour), x509.ExtKeyUsageClientAuth)
	p.clientCertFile = writePEM(t, p.dir, "client.crt", "CERTIFICATE", client.Certificate[0])
	keyDER, err := x509.MarshalECPrivateKey(client.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	p.clientKeyFile = writePEM(t, p.dir, "client.key", "EC PRIVATE KEY", keyDER)
	other, _ := selfSigned(t, "Other CA")
	p.otherCAFile = writePEM(t, p.dir, "other-ca.crt", "CERTIFICATE", other.Raw)
	return p
}

func selfSigned(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (p *pki) leaf(t *testing.T, cn string, names []string, ips []net.IP, from, until time.Time, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: names, IPAddresses: ips,
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// received is one message the test server accepted.
type received struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	// ClientCert is the common name of the client certificate, if any.
	ClientCert string
	User       string
}

// server is a real SMTP server (github.com/emersion/go-smtp) in the test
// process: STARTTLS (or implicit TLS), AUTH PLAIN or LOGIN, and scripted
// replies.
type server struct {
	Addr string
	srv  *smtpd.Server

	mu       sync.Mutex
	msgs     []received
	mails    int
	rcpts    int
	sessions int
	authSeen []string // usernames that tried to log in
	// Credentials accepted by AUTH.
	user, pass string
	// Scripted replies (nil: accept).
	mailErr, rcptErr, dataErr, authErr error
	// rcptErrFor refuses one recipient only.
	rcptErrFor string
}

type serverOpts struct {
	// starttls offers STARTTLS with cert.
	starttls bool
	// implicit speaks TLS from the first byte.
	implicit bool
	cert     tls.Certificate
	// auth offers AUTH with these mechanisms ("PLAIN", "LOGIN").
	auth []string
	// clientCAs demands a client certificate signed by them.
	clientCAs *x509.CertPool
	// listen is the address to listen on (default 127.0.0.1:0).
	listen string
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	s := &server{user: "herald@example.com", pass: "Zq9-smtp-pass-W0rd-4l3rtz"}
	be := smtpd.BackendFunc(func(c *smtpd.Conn) (smtpd.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		base := &session{srv: s, conn: c}
		if len(o.auth) > 0 {
			return &authSession{session: base, mechs: o.auth}, nil
		}
		return base, nil
	})
	srv := smtpd.NewServer(be)
	srv.Domain = "mx.test.example"
	srv.ErrorLog = nopLogger{}
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if o.starttls || o.implicit {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{o.cert}}
		if o.clientCAs != nil {
			srv.TLSConfig.ClientCAs = o.clientCAs
			srv.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	// Loopback clients may log in without TLS (a server's choice); Herald
	// decides for itself whether it sends credentials.
	srv.AllowInsecureAuth = true
	addr := o.listen
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	if o.implicit {
		l = tls.NewListener(l, srv.TLSConfig)
	} else if !o.starttls {
		srv.TLSConfig = nil
	}
	s.Addr, s.srv = l.Addr().String(), srv
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

func (s *server) set(f func(s *server)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

func (s *server) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

func (s *server) counts() (sessions, mails, rcpts int, auths []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions, s.mails, s.rcpts, append([]string(nil), s.authSeen...)
}

type session struct {
	srv  *server
	conn *smtpd.Conn
	from string
	to   []string
	user string
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtpd.MailOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.mails++
	if s.srv.mailErr != nil {
		return s.srv.mailErr
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtpd.RcptOptions) error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.rcpts++
	if s.srv.rcptErr != nil && (s.srv.rcptErrFor == "" || s.srv.rcptErrFor == to) {
		return s.srv.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if s.srv.dataErr != nil {
		return s.srv.dataErr
	}
	m := received{From: s.from, To: s.to, Data: data, User: s.user}
	if st, ok := s.conn.TLSConnectionState(); ok {
		m.TLS = true
		if len(st.PeerCertificates) > 0 {
			m.ClientCert = st.PeerCertificates[0].Subject.CommonName
		}
	}
	s.srv.msgs = append(s.srv.msgs, m)
	return nil
}

type authSession struct {
	*session
	mechs []string
}

func (s *authSession) AuthMechanisms() []string { return s.mechs }

func (s *authSession) Auth(mech string) (sasl.Server, error) {
	check := func(identity, username, password string) error {
		s.srv.mu.Lock()
		defer s.srv.mu.Unlock()
		s.srv.authSeen = append(s.srv.authSeen, username)
		if s.srv.authErr != nil {
			return s.srv.authErr
		}
		if username != s.srv.user || password != s.srv.pass {
			return smtpd.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(check), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtpd.ErrAuthUnknownMechanism
}

// loginServer is the server side of AUTH LOGIN.
type loginServer struct {
	check      func(identity, username, password string) error
	step       int
	user, pass string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if len(response) > 0 {
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	case 3:
		l.pass = string(response)
		return nil, true, l.check("", l.user, l.pass)
	}
	return nil, false, errors.New("unexpected response")
}

// emailTarget parses an email target object with fields added to the
// given ones.
func emailTarget(t *testing.T, fields map[string]any) target.Target {
	t.Helper()
	obj := map[string]any{"name": "ops-mail", "type": "email"}
	for k, v := range fields {
		obj[k] = v
	}
	js, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := target.ParseOne(js, "test")
	if err != nil {
		t.Fatalf("parse %s: %v", js, err)
	}
	return tg
}
