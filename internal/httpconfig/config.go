// Package httpconfig is the http_config block of Herald's HTTP target
// types, with the field names of Alertmanager's (Prometheus' common
// HTTPClientConfig): TLS settings (custom CA, client certificate, server
// name, minimum version), one kind of authentication (basic_auth,
// authorization or oauth2 client credentials) and a proxy.
//
// Config.Validate checks a block when its target is loaded; Config.Wrap
// (or Cache.Client, which keeps one client per distinct block) turns
// Herald's delivery client into one that applies the block, keeping its
// redirect policy, its timeouts and its dial guard (internal/netguard).
//
// Redirects are never followed (there is no follow_redirects), and
// insecure_skip_verify is allowed but never silent: Warnings names it.
package httpconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/herald-alerts/herald/internal/publish"
)

// Config is an http_config block.
type Config struct {
	TLSConfig     *TLSConfig     `json:"tls_config,omitempty"`
	BasicAuth     *BasicAuth     `json:"basic_auth,omitempty"`
	Authorization *Authorization `json:"authorization,omitempty"`
	OAuth2        *OAuth2        `json:"oauth2,omitempty"`
	// ProxyURL is an http or https proxy; its user info (a credential) is
	// sent as Proxy-Authorization.
	ProxyURL string `json:"proxy_url,omitempty"`
}

// TLSConfig is the tls_config block: how the target's (or the token
// endpoint's) certificate is verified and which client certificate is
// presented.
type TLSConfig struct {
	// CAFile / CA (PEM) replace the system roots for verifying the server.
	CAFile string `json:"ca_file,omitempty"`
	CA     string `json:"ca,omitempty"`
	// CertFile / Cert and KeyFile / Key (PEM; the key is a credential) are
	// the client certificate presented for mutual TLS.
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	Cert     string `json:"cert,omitempty"`
	Key      string `json:"key,omitempty"`
	// ServerName is the name the server's certificate is verified
	// against (and sent as SNI) instead of the URL's host.
	ServerName string `json:"server_name,omitempty"`
	// MinVersion is "TLS12" or "TLS13" (default: Go's, TLS 1.2).
	MinVersion string `json:"min_version,omitempty"`
	// InsecureSkipVerify turns certificate verification off. Allowed,
	// never silent: Warnings reports it.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// BasicAuth is the basic_auth block.
type BasicAuth struct {
	Username     string `json:"username,omitempty"`
	Password     string `json:"password,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
}

// Authorization is the authorization block: an Authorization header of
// the form "<type> <credentials>".
type Authorization struct {
	// Type defaults to "Bearer"; "Basic" is refused (use basic_auth).
	Type            string `json:"type,omitempty"`
	Credentials     string `json:"credentials,omitempty"`
	CredentialsFile string `json:"credentials_file,omitempty"`
}

// OAuth2 is the oauth2 block: the client credentials grant (RFC 6749
// section 4.4), whose access token is sent as "Bearer <token>".
type OAuth2 struct {
	ClientID         string            `json:"client_id,omitempty"`
	ClientSecret     string            `json:"client_secret,omitempty"`
	ClientSecretFile string            `json:"client_secret_file,omitempty"`
	Scopes           []string          `json:"scopes,omitempty"`
	TokenURL         string            `json:"token_url,omitempty"`
	EndpointParams   map[string]string `json:"endpoint_params,omitempty"`
	// TLSConfig and ProxyURL apply to the token request only.
	TLSConfig *TLSConfig `json:"tls_config,omitempty"`
	ProxyURL  string     `json:"proxy_url,omitempty"`
}

// DefaultAuthorizationType is the authorization type when none is set.
const DefaultAuthorizationType = "Bearer"

// FieldError is a validation error naming the field ("http_config.
// basic_auth.password"). Its message never holds a credential.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// FieldMessage returns the field path and the message apart (the target
// package reports them as its own field error).
func (e *FieldError) FieldMessage() (field, msg string) { return e.Field, e.Msg }

const root = "http_config"

// reservedParams are the token request parameters Herald sets itself.
var reservedParams = map[string]bool{"grant_type": true, "client_id": true, "client_secret": true, "scope": true}

// Validate checks c with Prometheus' rules: at most one of basic_auth,
// authorization and oauth2; a value and its *_file are exclusive; the
// authorization type is not "Basic"; every file exists and parses (CA
// PEM, certificate and key pair) and every credential file is readable
// and not empty; proxy_url and token_url are absolute http(s) URLs. The
// first problem is returned as a *FieldError.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	err := c.validate()
	if err == nil {
		return nil
	}
	// Belt and braces: no message carries a credential, even one quoted
	// by a library's error.
	if fe, ok := err.(*FieldError); ok {
		fe.Msg = publish.Redact(fe.Msg, c.Secrets())
	}
	return err
}

func (c *Config) validate() error {
	fe := func(field, format string, args ...any) error {
		return &FieldError{Field: root + "." + field, Msg: fmt.Sprintf(format, args...)}
	}
	n := 0
	for _, set := range []bool{c.BasicAuth != nil, c.Authorization != nil, c.OAuth2 != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		field := "authorization"
		if c.OAuth2 != nil {
			field = "oauth2"
		}
		return fe(field, "at most one of basic_auth, authorization and oauth2 may be set")
	}
	if err := validateTLS(root+".tls_config", c.TLSConfig); err != nil {
		return err
	}
	if b := c.BasicAuth; b != nil {
		if b.Password != "" && b.PasswordFile != "" {
			return fe("basic_auth.password", "password and password_file are exclusive")
		}
		if b.Username == "" && b.Password == "" && b.PasswordFile == "" {
			return fe("basic_auth.username", "required (basic_auth needs a username, a password or both)")
		}
		if strings.Contains(b.Username, ":") {
			return fe("basic_auth.username", "must not contain ':' (basic auth separates the username from the password with it)")
		}
		if hasControl(b.Username) {
			return fe("basic_auth.username", "must not contain control characters")
		}
		if hasControl(b.Password) {
			return fe("basic_auth.password", "must not contain control characters")
		}
		if err := checkCredentialFile("basic_auth.password_file", b.PasswordFile); err != nil {
			return err
		}
	}
	if a := c.Authorization; a != nil {
		typ := strings.TrimSpace(a.Type)
		switch {
		case strings.EqualFold(typ, "basic"):
			return fe("authorization.type", `"Basic" is not allowed here: use basic_auth`)
		case typ != "" && !isToken(typ):
			return fe("authorization.type", "must be a single word of letters, digits and -._~+ (an HTTP auth scheme such as Bearer)")
		}
		if a.Credentials != "" && a.CredentialsFile != "" {
			return fe("authorization.credentials", "credentials and credentials_file are exclusive")
		}
		if a.Credentials == "" && a.CredentialsFile == "" {
			return fe("authorization.credentials", "required (or credentials_file)")
		}
		if hasControl(a.Credentials) {
			return fe("authorization.credentials", "must not contain control characters")
		}
		if err := checkCredentialFile("authorization.credentials_file", a.CredentialsFile); err != nil {
			return err
		}
	}
	if o := c.OAuth2; o != nil {
		if o.ClientID == "" {
			return fe("oauth2.client_id", "required")
		}
		if o.ClientSecret != "" && o.ClientSecretFile != "" {
			return fe("oauth2.client_secret", "client_secret and client_secret_file are exclusive")
		}
		if o.ClientSecret == "" && o.ClientSecretFile == "" {
			return fe("oauth2.client_secret", "required (or client_secret_file)")
		}
		if err := checkCredentialFile("oauth2.client_secret_file", o.ClientSecretFile); err != nil {
			return err
		}
		if o.TokenURL == "" {
			return fe("oauth2.token_url", "required")
		}
		if msg := checkHTTPURL(o.TokenURL, false); msg != "" {
			return fe("oauth2.token_url", "%s", msg)
		}
		for i, s := range o.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") || hasControl(s) {
				return fe(fmt.Sprintf("oauth2.scopes[%d]", i), "a scope is a non-empty word without spaces, quotes or backslashes")
			}
		}
		for _, k := range sortedKeys(o.EndpointParams) {
			if k == "" {
				return fe("oauth2.endpoint_params", "a parameter name must not be empty")
			}
			if reservedParams[k] {
				return fe("oauth2.endpoint_params."+k, "set by Herald (grant_type, client_id, client_secret and scope come from the other oauth2 fields)")
			}
		}
		if err := validateTLS(root+".oauth2.tls_config", o.TLSConfig); err != nil {
			return err
		}
		if o.ProxyURL != "" {
			if msg := checkHTTPURL(o.ProxyURL, true); msg != "" {
				return fe("oauth2.proxy_url", "%s", msg)
			}
		}
	}
	if c.ProxyURL != "" {
		if msg := checkHTTPURL(c.ProxyURL, true); msg != "" {
			return fe("proxy_url", "%s", msg)
		}
	}
	return nil
}

// checkHTTPURL returns what is wrong with raw as an absolute http(s) URL
// ("" when nothing). The message never quotes raw: it may hold a password.
func checkHTTPURL(raw string, proxy bool) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "must be an absolute http:// or https:// URL"
	}
	if u.Hostname() == "" {
		return "must name a host"
	}
	if proxy && (u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/")) {
		return "a proxy URL is scheme://[user:password@]host[:port] only"
	}
	if !proxy && u.User != nil {
		return "must not carry user info (the client credentials go in client_id and client_secret)"
	}
	return ""
}

func validateTLS(path string, t *TLSConfig) error {
	if t == nil {
		return nil
	}
	fe := func(field, format string, args ...any) error {
		return &FieldError{Field: path + "." + field, Msg: fmt.Sprintf(format, args...)}
	}
	switch t.MinVersion {
	case "", "TLS12", "TLS13":
	case "TLS10", "TLS11":
		return fe("min_version", "TLS 1.0 and 1.1 are not offered: use TLS12 or TLS13")
	default:
		return fe("min_version", `must be "TLS12" or "TLS13"`)
	}
	if t.ServerName != "" && (strings.ContainsAny(t.ServerName, " /:@") || hasControl(t.ServerName)) {
		return fe("server_name", "must be a host name")
	}
	if t.CA != "" && t.CAFile != "" {
		return fe("ca", "ca and ca_file are exclusive")
	}
	if t.Cert != "" && t.CertFile != "" {
		return fe("cert", "cert and cert_file are exclusive")
	}
	if t.Key != "" && t.KeyFile != "" {
		return fe("key", "key and key_file are exclusive")
	}
	hasCert, hasKey := t.Cert != "" || t.CertFile != "", t.Key != "" || t.KeyFile != ""
	switch {
	case hasCert && !hasKey:
		return fe("key", "required with a client certificate (key or key_file)")
	case hasKey && !hasCert:
		return fe("cert", "required with a client key (cert or cert_file)")
	}
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return fe("ca_file", "cannot read %s: %s", t.CAFile, fileErr(err))
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fe("ca_file", "%s holds no PEM certificate", t.CAFile)
		}
	}
	if t.CA != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(t.CA)) {
		return fe("ca", "holds no PEM certificate")
	}
	if !hasCert {
		return nil
	}
	field := "cert"
	if t.CertFile != "" {
		field = "cert_file"
		if _, err := os.ReadFile(t.CertFile); err != nil {
			return fe("cert_file", "cannot read %s: %s", t.CertFile, fileErr(err))
		}
	} else if !isPEM(t.Cert, "CERTIFICATE") {
		return fe("cert", "holds no PEM certificate")
	}
	if t.KeyFile != "" {
		if _, err := os.ReadFile(t.KeyFile); err != nil {
			return fe("key_file", "cannot read %s: %s", t.KeyFile, fileErr(err))
		}
	}
	if _, err := t.loadPair(); err != nil {
		return fe(field, "the client certificate and key do not form a usable pair: %s", pairErr(err))
	}
	return nil
}

// loadPair reads the client certificate and key (files or PEM).
func (t *TLSConfig) loadPair() (tls.Certificate, error) {
	cert, key := []byte(t.Cert), []byte(t.Key)
	var err error
	if t.CertFile != "" {
		if cert, err = os.ReadFile(t.CertFile); err != nil {
			return tls.Certificate{}, err
		}
	}
	if t.KeyFile != "" {
		if key, err = os.ReadFile(t.KeyFile); err != nil {
			return tls.Certificate{}, err
		}
	}
	return tls.X509KeyPair(cert, key)
}

// pairErr is tls.X509KeyPair's complaint, which names what is wrong
// (no PEM data, a key that does not match) without quoting the key.
func pairErr(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "tls: ") && len(msg) < 200 {
		return strings.TrimPrefix(msg, "tls: ")
	}
	return "unreadable certificate or key"
}

func isPEM(s, typ string) bool {
	b, _ := pem.Decode([]byte(s))
	return b != nil && b.Type == typ
}

// checkCredentialFile checks that a credential file is readable and not
// empty (its content is never quoted).
func checkCredentialFile(field, path string) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return &FieldError{Field: root + "." + field, Msg: fmt.Sprintf("cannot read %s: %s", path, fileErr(err))}
	}
	if strings.TrimSpace(string(b)) == "" {
		return &FieldError{Field: root + "." + field, Msg: fmt.Sprintf("%s is empty", path)}
	}
	return nil
}

// fileErr says why a file could not be read, without repeating its path.
func fileErr(err error) string {
	switch {
	case os.IsNotExist(err):
		return "no such file"
	case os.IsPermission(err):
		return "permission denied"
	}
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return "unreadable"
}

// FileFields lists the fields of c that name a file on Herald's own
// filesystem, by their path ("http_config.tls_config.ca_file"). A target
// the operator did not write must not set any (ValidateTenant).
func (c *Config) FileFields() []string {
	if c == nil {
		return nil
	}
	var out []string
	add := func(field, v string) {
		if v != "" {
			out = append(out, root+"."+field)
		}
	}
	tlsFiles := func(prefix string, t *TLSConfig) {
		if t != nil {
			add(prefix+".ca_file", t.CAFile)
			add(prefix+".cert_file", t.CertFile)
			add(prefix+".key_file", t.KeyFile)
		}
	}
	tlsFiles("tls_config", c.TLSConfig)
	if c.BasicAuth != nil {
		add("basic_auth.password_file", c.BasicAuth.PasswordFile)
	}
	if c.Authorization != nil {
		add("authorization.credentials_file", c.Authorization.CredentialsFile)
	}
	if c.OAuth2 != nil {
		add("oauth2.client_secret_file", c.OAuth2.ClientSecretFile)
		tlsFiles("oauth2.tls_config", c.OAuth2.TLSConfig)
	}
	return out
}

// ValidateTenant is Validate for a target a tenant defined: files are
// refused before anything is read (a tenant's password_file could name
// Herald's own service account token and send it to the tenant's server).
func (c *Config) ValidateTenant() error {
	if ff := c.FileFields(); len(ff) > 0 {
		return &FieldError{Field: ff[0], Msg: "files on Herald's filesystem are for the operator's targets only: put the value inline"}
	}
	return c.Validate()
}

// Secrets lists every credential value of c: passwords, authorization
// credentials, the OAuth2 client secret, inline private keys, the proxy
// URLs' user info and password, and the current contents of the
// credential files (password_file, credentials_file, client_secret_file,
// key_file), read now. The basic auth header's base64 form is listed too,
// since a receiver may echo the header.
func (c *Config) Secrets() []string {
	if c == nil {
		return nil
	}
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	addFile := func(path string) {
		if path == "" {
			return
		}
		if b, err := os.ReadFile(path); err == nil {
			add(strings.TrimSpace(string(b)))
		}
	}
	tlsSecrets := func(t *TLSConfig) {
		if t != nil {
			add(strings.TrimSpace(t.Key))
			addFile(t.KeyFile)
		}
	}
	tlsSecrets(c.TLSConfig)
	if b := c.BasicAuth; b != nil {
		pw := b.Password
		if b.PasswordFile != "" {
			if data, err := os.ReadFile(b.PasswordFile); err == nil {
				pw = strings.TrimSpace(string(data))
			}
		}
		add(pw)
		if pw != "" {
			add(base64.StdEncoding.EncodeToString([]byte(b.Username + ":" + pw)))
		}
	}
	if a := c.Authorization; a != nil {
		add(a.Credentials)
		addFile(a.CredentialsFile)
	}
	if o := c.OAuth2; o != nil {
		add(o.ClientSecret)
		addFile(o.ClientSecretFile)
		tlsSecrets(o.TLSConfig)
		add(proxySecrets(o.ProxyURL)...)
	}
	add(proxySecrets(c.ProxyURL)...)
	return out
}

// proxySecrets are the credentials in a proxy URL's user info: as written,
// decoded, the password, and the Proxy-Authorization value's base64.
func proxySecrets(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil {
		// An unparsable URL: keep all of it out of messages.
		if strings.Contains(raw, "@") {
			return []string{raw}
		}
		return nil
	}
	if u.User == nil {
		return nil
	}
	var out []string
	if i := strings.Index(raw, "://"); i >= 0 {
		rest := raw[i+3:]
		if j := strings.LastIndex(rest, "@"); j >= 0 {
			out = append(out, rest[:j])
		}
	}
	name := u.User.Username()
	pw, hasPW := u.User.Password()
	out = append(out, u.User.String())
	if hasPW {
		out = append(out, pw, name+":"+pw)
	}
	out = append(out, base64.StdEncoding.EncodeToString([]byte(name+":"+pw)))
	return out
}

// Warnings lists what c allows that weakens a delivery's protection, one
// sentence each, for the loader to log and show.
func (c *Config) Warnings() []string {
	if c == nil {
		return nil
	}
	var out []string
	skip := func(path string, t *TLSConfig, what string) {
		if t != nil && t.InsecureSkipVerify {
			out = append(out, fmt.Sprintf("%s.insecure_skip_verify is true: %s certificate is not verified, so anyone on the network path can read and alter the requests, credentials included.", path, what))
		}
	}
	skip(root+".tls_config", c.TLSConfig, "the target's")
	if c.OAuth2 != nil {
		skip(root+".oauth2.tls_config", c.OAuth2.TLSConfig, "the token endpoint's")
	}
	plainProxy := func(field, raw string) {
		if u, err := url.Parse(raw); err == nil && u.Scheme == "http" && u.User != nil {
			out = append(out, fmt.Sprintf("%s.%s is an http:// proxy with credentials: they cross the network unencrypted.", root, field))
		}
	}
	plainProxy("proxy_url", c.ProxyURL)
	if c.OAuth2 != nil {
		plainProxy("oauth2.proxy_url", c.OAuth2.ProxyURL)
	}
	return out
}

// authType is the authorization type with its default.
func (a *Authorization) authType() string {
	if t := strings.TrimSpace(a.Type); t != "" {
		return t
	}
	return DefaultAuthorizationType
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// isToken reports whether s is an HTTP auth scheme name.
func isToken(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-._~+!#$%&'*^`|", r):
		default:
			return false
		}
	}
	return s != ""
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
