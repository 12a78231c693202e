package httpconfig_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/httpconfig"
)

// A server that requires a client certificate is reached with the CA and
// the client pair (from files or inline), and refused without the pair or
// without the CA.
func TestMutualTLS(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	srv := tlsServer(t, p, true, &recorder{})
	tests := []struct {
		name   string
		tls    *httpconfig.TLSConfig
		wantOK bool
	}{
		{"files", &httpconfig.TLSConfig{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile}, true},
		{"inline", &httpconfig.TLSConfig{CA: p.caPEM, Cert: p.clientCert, Key: p.clientKey}, true},
		{"inline CA, key file", &httpconfig.TLSConfig{CA: p.caPEM, Cert: p.clientCert, KeyFile: p.keyFile}, true},
		{"no client certificate", &httpconfig.TLSConfig{CAFile: p.caFile}, false},
		{"no CA", &httpconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile}, false},
		{"no tls_config", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &httpconfig.Config{TLSConfig: tc.tls}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			c, err := cfg.Wrap(plainClient())
			if err != nil {
				t.Fatalf("Wrap: %v", err)
			}
			status, _, err := get(context.Background(), c, srv.URL)
			if tc.wantOK && (err != nil || status != http.StatusOK) {
				t.Fatalf("GET = %d, %v; want 200", status, err)
			}
			if !tc.wantOK && err == nil {
				t.Fatalf("GET = %d; want the handshake refused", status)
			}
		})
	}
}

// A client certificate file that is replaced is read again: the server
// sees the new certificate on the next connection.
func TestClientCertificateRotation(t *testing.T) {
	old := newPKI(t, "127.0.0.1")
	next := newPKI(t, "127.0.0.1")
	srv := tlsServer(t, next, true, &recorder{}) // trusts next's CA only
	cfg := &httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{
		CA: next.caPEM, CertFile: old.certFile, KeyFile: old.keyFile,
	}}
	c, err := cfg.Wrap(plainClient())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(context.Background(), c, srv.URL); err == nil {
		t.Fatal("the old client certificate was accepted by a server that does not trust it")
	}
	rewrite(t, old.certFile, next.clientCert, 1)
	rewrite(t, old.keyFile, next.clientKey, 1)
	c.CloseIdleConnections()
	if status, _, err := get(context.Background(), c, srv.URL); err != nil || status != http.StatusOK {
		t.Fatalf("after rotation: %d, %v; want 200", status, err)
	}
}

// server_name verifies the certificate against a name other than the
// URL's host: a certificate for herald.test only, reached at 127.0.0.1.
func TestServerName(t *testing.T) {
	p := newPKI(t, "herald.test")
	srv := tlsServer(t, p, false, &recorder{})
	for _, tc := range []struct {
		serverName string
		wantOK     bool
	}{
		{"herald.test", true},
		{"", false},
		{"other.test", false},
	} {
		cfg := &httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{CA: p.caPEM, ServerName: tc.serverName}}
		c, err := cfg.Wrap(plainClient())
		if err != nil {
			t.Fatal(err)
		}
		status, _, err := get(context.Background(), c, srv.URL)
		if tc.wantOK != (err == nil && status == http.StatusOK) {
			t.Errorf("server_name %q: %d, %v; want ok=%v", tc.serverName, status, err, tc.wantOK)
		}
	}
}

// insecure_skip_verify reaches a server whose CA is unknown, and says so
// in Warnings; min_version TLS13 still negotiates with a TLS 1.3 server.
func TestInsecureSkipVerify(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	srv := tlsServer(t, p, false, &recorder{})
	cfg := &httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{InsecureSkipVerify: true, MinVersion: "TLS13"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Wrap(plainClient())
	if err != nil {
		t.Fatal(err)
	}
	if status, _, err := get(context.Background(), c, srv.URL); err != nil || status != http.StatusOK {
		t.Fatalf("GET = %d, %v; want 200", status, err)
	}
	w := cfg.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "http_config.tls_config.insecure_skip_verify") || !strings.Contains(w[0], "not verified") {
		t.Errorf("Warnings() = %q; want one sentence naming insecure_skip_verify", w)
	}
	if w := (&httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{CA: p.caPEM}}).Warnings(); len(w) != 0 {
		t.Errorf("a verified config warns: %q", w)
	}
	oauth := &httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecret: "secret", TokenURL: "https://idp.example/token",
		TLSConfig: &httpconfig.TLSConfig{InsecureSkipVerify: true}}}
	if w := oauth.Warnings(); len(w) != 1 || !strings.Contains(w[0], "http_config.oauth2.tls_config.insecure_skip_verify") {
		t.Errorf("oauth2 Warnings() = %q", w)
	}
	// Without it, the unknown CA is refused.
	plain, _ := (&httpconfig.Config{}).Wrap(plainClient())
	if _, _, err := get(context.Background(), plain, srv.URL); err == nil {
		t.Error("a certificate of an unknown CA was accepted without insecure_skip_verify")
	}
}

// The wrapped client keeps base's redirect policy: a 302 comes back as
// the answer, never followed.
func TestKeepsRedirectPolicy(t *testing.T) {
	rec := &recorder{}
	final := tlsServer(t, newPKI(t, "127.0.0.1"), false, rec)
	p := newPKI(t, "127.0.0.1")
	srv := tlsServer(t, p, false, http.RedirectHandler(final.URL, http.StatusFound))
	cfg := &httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{CA: p.caPEM}, Authorization: &httpconfig.Authorization{Credentials: "tok-redirect"}}
	base := plainClient()
	c, err := cfg.Wrap(base)
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != base.Timeout || c.CheckRedirect == nil {
		t.Errorf("wrapped client lost base's timeout or redirect policy")
	}
	status, _, err := get(context.Background(), c, srv.URL)
	if err != nil || status != http.StatusFound {
		t.Fatalf("GET = %d, %v; want the 302 itself", status, err)
	}
	if len(rec.got()) != 0 {
		t.Error("the redirect was followed")
	}
}
