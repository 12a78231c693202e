package httpconfig_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/httpconfig"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
)

// Every rule of Validate, each naming the field at fault; no message
// quotes a credential.
func TestValidate(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	other := newPKI(t, "127.0.0.1")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	empty := writeFile(t, dir, "empty", " \n")
	notPEM := writeFile(t, dir, "not-pem", "Hx7Kq2Mv9Pz")
	secretFile := writeFile(t, dir, "cred", "Jf7Hk2Lm4Nq9")
	const pw = "Zq8xW2vLk9Tr"
	tests := []struct {
		name  string
		json  string
		field string // "" = valid
	}{
		{"empty", `{}`, ""},
		{"basic", `{"basic_auth":{"username":"u","password":"` + pw + `"}}`, ""},
		{"basic password_file", `{"basic_auth":{"username":"u","password_file":"` + secretFile + `"}}`, ""},
		{"authorization", `{"authorization":{"credentials":"` + pw + `"}}`, ""},
		{"oauth2", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"https://idp.example/token","scopes":["a","b"],"endpoint_params":{"audience":"x"}}}`, ""},
		{"tls files", `{"tls_config":{"ca_file":"` + p.caFile + `","cert_file":"` + p.certFile + `","key_file":"` + p.keyFile + `","server_name":"herald.test","min_version":"TLS13"}}`, ""},
		{"proxy", `{"proxy_url":"https://user:` + pw + `@proxy.example:3128"}`, ""},

		{"two auth kinds", `{"basic_auth":{"username":"u"},"authorization":{"credentials":"` + pw + `"}}`, "http_config.authorization"},
		{"basic and oauth2", `{"basic_auth":{"username":"u"},"oauth2":{"client_id":"c","client_secret":"s","token_url":"https://idp.example/"}}`, "http_config.oauth2"},
		{"password and password_file", `{"basic_auth":{"username":"u","password":"` + pw + `","password_file":"` + secretFile + `"}}`, "http_config.basic_auth.password"},
		{"empty basic_auth", `{"basic_auth":{}}`, "http_config.basic_auth.username"},
		{"colon in username", `{"basic_auth":{"username":"a:b","password":"` + pw + `"}}`, "http_config.basic_auth.username"},
		{"missing password_file", `{"basic_auth":{"username":"u","password_file":"` + missing + `"}}`, "http_config.basic_auth.password_file"},
		{"empty password_file", `{"basic_auth":{"username":"u","password_file":"` + empty + `"}}`, "http_config.basic_auth.password_file"},
		{"authorization Basic", `{"authorization":{"type":"basic","credentials":"` + pw + `"}}`, "http_config.authorization.type"},
		{"authorization type with space", `{"authorization":{"type":"Bearer x","credentials":"` + pw + `"}}`, "http_config.authorization.type"},
		{"credentials and file", `{"authorization":{"credentials":"` + pw + `","credentials_file":"` + secretFile + `"}}`, "http_config.authorization.credentials"},
		{"no credentials", `{"authorization":{"type":"Bearer"}}`, "http_config.authorization.credentials"},
		{"credentials newline", `{"authorization":{"credentials":"a\nb-` + pw + `"}}`, "http_config.authorization.credentials"},
		{"missing credentials_file", `{"authorization":{"credentials_file":"` + missing + `"}}`, "http_config.authorization.credentials_file"},
		{"oauth2 no client_id", `{"oauth2":{"client_secret":"` + pw + `","token_url":"https://idp.example/"}}`, "http_config.oauth2.client_id"},
		{"oauth2 secret and file", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","client_secret_file":"` + secretFile + `","token_url":"https://idp.example/"}}`, "http_config.oauth2.client_secret"},
		{"oauth2 no secret", `{"oauth2":{"client_id":"c","token_url":"https://idp.example/"}}`, "http_config.oauth2.client_secret"},
		{"oauth2 missing secret file", `{"oauth2":{"client_id":"c","client_secret_file":"` + missing + `","token_url":"https://idp.example/"}}`, "http_config.oauth2.client_secret_file"},
		{"oauth2 no token_url", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `"}}`, "http_config.oauth2.token_url"},
		{"oauth2 relative token_url", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"/token"}}`, "http_config.oauth2.token_url"},
		{"oauth2 ftp token_url", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"ftp://idp.example/"}}`, "http_config.oauth2.token_url"},
		{"oauth2 user info in token_url", `{"oauth2":{"client_id":"c","client_secret":"s","token_url":"https://c:` + pw + `@idp.example/"}}`, "http_config.oauth2.token_url"},
		{"oauth2 scope with space", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"https://idp.example/","scopes":["a b"]}}`, "http_config.oauth2.scopes[0]"},
		{"oauth2 reserved param", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"https://idp.example/","endpoint_params":{"grant_type":"password"}}}`, "http_config.oauth2.endpoint_params.grant_type"},
		{"oauth2 bad proxy", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"https://idp.example/","proxy_url":"socks5://p.example"}}`, "http_config.oauth2.proxy_url"},
		{"oauth2 tls", `{"oauth2":{"client_id":"c","client_secret":"` + pw + `","token_url":"https://idp.example/","tls_config":{"ca_file":"` + missing + `"}}}`, "http_config.oauth2.tls_config.ca_file"},
		{"proxy relative", `{"proxy_url":"proxy.example:3128"}`, "http_config.proxy_url"},
		{"proxy socks", `{"proxy_url":"socks5://user:` + pw + `@proxy.example"}`, "http_config.proxy_url"},
		{"proxy with path", `{"proxy_url":"http://user:` + pw + `@proxy.example/x?y"}`, "http_config.proxy_url"},
		{"proxy unparsable", `{"proxy_url":"http://user:` + pw + `@proxy example:%zz"}`, "http_config.proxy_url"},
		{"min_version TLS11", `{"tls_config":{"min_version":"TLS11"}}`, "http_config.tls_config.min_version"},
		{"min_version other", `{"tls_config":{"min_version":"1.3"}}`, "http_config.tls_config.min_version"},
		{"server_name url", `{"tls_config":{"server_name":"https://x"}}`, "http_config.tls_config.server_name"},
		{"ca and ca_file", `{"tls_config":{"ca":` + jsonString(p.caPEM) + `,"ca_file":"` + p.caFile + `"}}`, "http_config.tls_config.ca"},
		{"missing ca_file", `{"tls_config":{"ca_file":"` + missing + `"}}`, "http_config.tls_config.ca_file"},
		{"ca_file not PEM", `{"tls_config":{"ca_file":"` + notPEM + `"}}`, "http_config.tls_config.ca_file"},
		{"ca not PEM", `{"tls_config":{"ca":"not a pem"}}`, "http_config.tls_config.ca"},
		{"cert without key", `{"tls_config":{"cert_file":"` + p.certFile + `"}}`, "http_config.tls_config.key"},
		{"key without cert", `{"tls_config":{"key":` + jsonString(p.clientKey) + `}}`, "http_config.tls_config.cert"},
		{"cert and cert_file", `{"tls_config":{"cert":` + jsonString(p.clientCert) + `,"cert_file":"` + p.certFile + `","key_file":"` + p.keyFile + `"}}`, "http_config.tls_config.cert"},
		{"key and key_file", `{"tls_config":{"cert_file":"` + p.certFile + `","key":` + jsonString(p.clientKey) + `,"key_file":"` + p.keyFile + `"}}`, "http_config.tls_config.key"},
		{"missing cert_file", `{"tls_config":{"cert_file":"` + missing + `","key_file":"` + p.keyFile + `"}}`, "http_config.tls_config.cert_file"},
		{"missing key_file", `{"tls_config":{"cert_file":"` + p.certFile + `","key_file":"` + missing + `"}}`, "http_config.tls_config.key_file"},
		{"mismatched pair", `{"tls_config":{"cert_file":"` + p.certFile + `","key":` + jsonString(other.clientKey) + `}}`, "http_config.tls_config.cert_file"},
		{"key not PEM", `{"tls_config":{"cert":` + jsonString(p.clientCert) + `,"key":"` + pw + `"}}`, "http_config.tls_config.cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg httpconfig.Config
			dec := json.NewDecoder(strings.NewReader(tc.json))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&cfg); err != nil {
				t.Fatalf("decode: %v", err)
			}
			err := cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *httpconfig.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError for %s", err, tc.field)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tc.field, err)
			}
			if !strings.HasPrefix(err.Error(), tc.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
			publishtest.AssertNoSecretFragment(t, err.Error(), publishtest.MinFragment,
				append(cfg.Secrets(), pw, "Jf7Hk2Lm4Nq9", "Hx7Kq2Mv9Pz", p.clientKey, other.clientKey)...)
			if _, werr := cfg.Wrap(plainClient()); werr == nil {
				t.Error("Wrap accepted a config Validate refuses")
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// follow_redirects and enable_http2 are not fields: a config setting them
// is refused by a strict decoder (Herald never follows redirects).
func TestNoRedirectField(t *testing.T) {
	for _, f := range []string{`{"follow_redirects":true}`, `{"enable_http2":true}`} {
		dec := json.NewDecoder(strings.NewReader(f))
		dec.DisallowUnknownFields()
		var cfg httpconfig.Config
		if err := dec.Decode(&cfg); err == nil {
			t.Errorf("%s decoded", f)
		}
	}
}

// A tenant's config may not name files on Herald's filesystem.
func TestValidateTenant(t *testing.T) {
	secretFile := writeFile(t, t.TempDir(), "token", "x-token-value")
	cfg := &httpconfig.Config{Authorization: &httpconfig.Authorization{CredentialsFile: secretFile}}
	var fe *httpconfig.FieldError
	if err := cfg.ValidateTenant(); !errors.As(err, &fe) || fe.Field != "http_config.authorization.credentials_file" {
		t.Errorf("ValidateTenant() = %v; want the credentials_file refused", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate() = %v; the operator may use files", err)
	}
	inline := &httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "x-token-value"}}
	if err := inline.ValidateTenant(); err != nil {
		t.Errorf("inline credentials: %v", err)
	}
	oauth := &httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "c", ClientSecret: "s", TokenURL: "https://idp.example/", TLSConfig: &httpconfig.TLSConfig{CAFile: "/etc/ssl/ca.pem"}}}
	if got := oauth.FileFields(); !slices.Equal(got, []string{"http_config.oauth2.tls_config.ca_file"}) {
		t.Errorf("FileFields() = %q", got)
	}
}

// Secrets lists every credential: inline values, the contents of the
// credential files and the key file, the proxy's user info, and the
// basic auth header's base64.
func TestSecrets(t *testing.T) {
	p := newPKI(t, "127.0.0.1")
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", "password-from-file\n")
	credFile := writeFile(t, dir, "cred", "credentials-from-file")
	secretFile := writeFile(t, dir, "secret", "client-secret-from-file")
	tests := []struct {
		name string
		cfg  httpconfig.Config
		want []string
	}{
		{"basic inline", httpconfig.Config{BasicAuth: &httpconfig.BasicAuth{Username: "u", Password: "inline-pw"}},
			[]string{"inline-pw", base64.StdEncoding.EncodeToString([]byte("u:inline-pw"))}},
		{"basic file", httpconfig.Config{BasicAuth: &httpconfig.BasicAuth{Username: "u", PasswordFile: pwFile}},
			[]string{"password-from-file", base64.StdEncoding.EncodeToString([]byte("u:password-from-file"))}},
		{"authorization", httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "inline-cred"}}, []string{"inline-cred"}},
		{"authorization file", httpconfig.Config{Authorization: &httpconfig.Authorization{CredentialsFile: credFile}}, []string{"credentials-from-file"}},
		{"oauth2", httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecret: "inline-client-secret", ProxyURL: "http://pu:oauth-proxy-pw@p.example"}},
			[]string{"inline-client-secret", "oauth-proxy-pw", "pu:oauth-proxy-pw"}},
		{"oauth2 file", httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecretFile: secretFile}}, []string{"client-secret-from-file"}},
		{"inline key", httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{Cert: p.clientCert, Key: p.clientKey}}, []string{strings.TrimSpace(p.clientKey)}},
		{"key file", httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{CertFile: p.certFile, KeyFile: p.keyFile}}, []string{strings.TrimSpace(p.clientKey)}},
		{"proxy", httpconfig.Config{ProxyURL: "http://proxy%20user:proxy-pw-123@proxy.example:3128"},
			[]string{"proxy%20user:proxy-pw-123", "proxy-pw-123", "proxy user:proxy-pw-123", base64.StdEncoding.EncodeToString([]byte("proxy user:proxy-pw-123"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.Secrets()
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("Secrets() = %q; missing %q", got, w)
				}
			}
		})
	}
	if s := (&httpconfig.Config{TLSConfig: &httpconfig.TLSConfig{CAFile: p.caFile}, ProxyURL: "http://proxy.example"}).Secrets(); len(s) != 0 {
		t.Errorf("a config without credentials lists %q", s)
	}
}
