package httpconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
)

// Wrap returns a client that behaves as base (same CheckRedirect, Jar and
// Timeout) with c applied: c's TLS settings and proxy on a clone of base's
// transport, and c's authentication added to every request.
//
// base's transport must be an *http.Transport or a *netguard.Transport
// (nil: http.DefaultTransport). A netguard.Transport stays one: requests
// whose context carries a dial policy still go over checked connections of
// their own; the proxy_url's own address is checked like a target's (a
// tenant's proxy is the tenant's choice, not the operator's), and so is
// the target's host before it is handed to the proxy. The OAuth2 token
// request goes through the same kind of transport, with the context of
// the request it is made for.
func (c *Config) Wrap(base *http.Client) (*http.Client, error) {
	rt, err := c.transport(base, time.Now)
	if err != nil {
		return nil, err
	}
	return clientLike(base, rt), nil
}

// clientLike is base with rt as its transport.
func clientLike(base *http.Client, rt http.RoundTripper) *http.Client {
	out := &http.Client{Transport: rt}
	if base != nil {
		out.CheckRedirect, out.Jar, out.Timeout = base.CheckRedirect, base.Jar, base.Timeout
	}
	return out
}

// transport builds the round tripper of c over base's transport.
func (c *Config) transport(base *http.Client, now func() time.Time) (http.RoundTripper, error) {
	if c == nil {
		c = &Config{}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var baseRT http.RoundTripper
	if base != nil {
		baseRT = base.Transport
	}
	rt, err := withTLSAndProxy(baseRT, c.TLSConfig, c.ProxyURL)
	if err != nil {
		return nil, err
	}
	switch {
	case c.BasicAuth != nil:
		b := c.BasicAuth
		pw := &secretValue{value: b.Password, path: b.PasswordFile}
		return &authTransport{next: rt, header: func(*http.Request) (string, error) {
			p, err := pw.get()
			if err != nil {
				return "", fmt.Errorf("%s.basic_auth.password_file: %w", root, err)
			}
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(b.Username+":"+p)), nil
		}}, nil
	case c.Authorization != nil:
		a := c.Authorization
		typ := a.authType()
		cred := &secretValue{value: a.Credentials, path: a.CredentialsFile}
		return &authTransport{next: rt, header: func(*http.Request) (string, error) {
			v, err := cred.get()
			if err != nil {
				return "", fmt.Errorf("%s.authorization.credentials_file: %w", root, err)
			}
			return typ + " " + v, nil
		}}, nil
	case c.OAuth2 != nil:
		o := c.OAuth2
		tokenRT := baseRT
		if o.TLSConfig != nil || o.ProxyURL != "" {
			if tokenRT, err = withTLSAndProxy(baseRT, o.TLSConfig, o.ProxyURL); err != nil {
				return nil, err
			}
		}
		if tokenRT == nil {
			tokenRT = http.DefaultTransport
		}
		timeout := time.Duration(0)
		if base != nil {
			timeout = base.Timeout
		}
		ts := newTokenSource(o, &http.Client{Transport: tokenRT, Timeout: timeout, CheckRedirect: noRedirect}, now)
		return &authTransport{next: rt, header: ts.header, unauthorized: ts.invalidate}, nil
	}
	return rt, nil
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// withTLSAndProxy clones base (an *http.Transport or *netguard.Transport)
// with t's TLS settings and the proxy applied. Without either, base is
// returned as it is, keeping its connection pool.
func withTLSAndProxy(base http.RoundTripper, t *TLSConfig, proxyRaw string) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	if t == nil && proxyRaw == "" {
		switch base.(type) {
		case *http.Transport, *netguard.Transport:
			return base, nil
		}
	}
	var proxy *url.URL
	if proxyRaw != "" {
		u, err := url.Parse(proxyRaw)
		if err != nil {
			return nil, errors.New("proxy_url: not a valid URL")
		}
		proxy = u
	}
	switch b := base.(type) {
	case *http.Transport:
		tr := b.Clone()
		if err := applyTLS(tr, t); err != nil {
			return nil, err
		}
		if proxy != nil {
			tr.Proxy = http.ProxyURL(proxy)
		}
		return tr, nil
	case *netguard.Transport:
		// Both pools are cloned: Guarded keeps its checked dialer (and the
		// dial timeouts of the dialer it was built with).
		open, guarded := b.Open.Clone(), b.Guarded.Clone()
		for _, tr := range []*http.Transport{open, guarded} {
			if err := applyTLS(tr, t); err != nil {
				return nil, err
			}
		}
		if proxy != nil {
			open.Proxy = http.ProxyURL(proxy)
			guarded.Proxy = guardedProxy(proxy)
		}
		return &netguard.Transport{Open: open, Guarded: guarded}, nil
	}
	return nil, fmt.Errorf("http_config needs an *http.Transport or a *netguard.Transport under the client, not %T", base)
}

// guardedProxy sends requests to proxy once the target's host passed the
// request's dial policy: the proxy resolves the name itself, so Herald
// resolves and checks it first. The proxy's own address is dialled through
// the guarded dialer, checked like any address.
func guardedProxy(proxy *url.URL) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		if err := checkResolved(req.Context(), netguard.FromContext(req.Context()), req.URL.Hostname()); err != nil {
			return nil, err
		}
		return proxy, nil
	}
}

// checkResolved checks host, and every address it resolves to, against p.
func checkResolved(ctx context.Context, p *netguard.Policy, host string) error {
	if err := p.CheckHost(host); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return nil
	}
	var r netguard.Resolver = net.DefaultResolver
	if p != nil && p.Resolver != nil {
		r = p.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			var be *netguard.BlockedError
			if errors.As(err, &be) {
				be.Host = host
			}
			return err
		}
	}
	return nil
}

// applyTLS puts t's settings on a clone of tr's TLS configuration.
func applyTLS(tr *http.Transport, t *TLSConfig) error {
	if t == nil {
		return nil
	}
	cfg := &tls.Config{}
	if tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	if t.CA != "" || t.CAFile != "" {
		pem := []byte(t.CA)
		if t.CAFile != "" {
			b, err := os.ReadFile(t.CAFile)
			if err != nil {
				return fmt.Errorf("tls_config.ca_file: cannot read %s: %s", t.CAFile, fileErr(err))
			}
			pem = b
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("tls_config: the CA holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" || t.CertFile != "" {
		kp := &keyPair{t: t}
		if _, err := kp.get(); err != nil {
			return fmt.Errorf("tls_config: the client certificate and key do not form a usable pair: %s", pairErr(err))
		}
		cfg.Certificates = nil
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	if t.ServerName != "" {
		cfg.ServerName = t.ServerName
	}
	switch t.MinVersion {
	case "TLS12":
		cfg.MinVersion = tls.VersionTLS12
	case "TLS13":
		cfg.MinVersion = tls.VersionTLS13
	}
	if t.InsecureSkipVerify {
		cfg.InsecureSkipVerify = true
	}
	tr.TLSClientConfig = cfg
	return nil
}

// fileStamp is what tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// keyPair is a client certificate, read again from its files when either
// changes (a rotated Secret).
type keyPair struct {
	t *TLSConfig

	mu     sync.Mutex
	stamps [2]fileStamp
	cert   *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var stamps [2]fileStamp
	for i, p := range []string{k.t.CertFile, k.t.KeyFile} {
		if p != "" {
			s, err := stampOf(p)
			if err != nil {
				if k.cert != nil {
					return k.cert, nil // keep the last good pair while a Secret is being replaced
				}
				return nil, err
			}
			stamps[i] = s
		}
	}
	if k.cert != nil && stamps == k.stamps {
		return k.cert, nil
	}
	c, err := k.t.loadPair()
	if err != nil {
		if k.cert != nil {
			return k.cert, nil
		}
		return nil, err
	}
	k.cert, k.stamps = &c, stamps
	return k.cert, nil
}

// secretValue is a credential given inline or as a file; the file is read
// again when its modification time or size changes.
type secretValue struct {
	value string
	path  string

	mu    sync.Mutex
	stamp fileStamp
	read  bool
}

// get returns the current value and whether it changed since the last
// call that read the file.
func (s *secretValue) get() (string, error) {
	v, _, err := s.getChanged()
	return v, err
}

func (s *secretValue) getChanged() (string, bool, error) {
	if s.path == "" {
		return s.value, false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := stampOf(s.path)
	if err != nil {
		if s.read {
			return s.value, false, nil
		}
		return "", false, errors.New("cannot read the file: " + fileErr(err))
	}
	if s.read && st == s.stamp {
		return s.value, false, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		if s.read {
			return s.value, false, nil
		}
		return "", false, errors.New("cannot read the file: " + fileErr(err))
	}
	v := strings.TrimSpace(string(b))
	if v == "" && s.read {
		return s.value, false, nil // a file being rewritten: keep the last value
	}
	changed := s.read && v != s.value
	s.value, s.stamp, s.read = v, st, true
	return v, changed, nil
}

// authTransport adds an Authorization header to every request.
type authTransport struct {
	next   http.RoundTripper
	header func(*http.Request) (string, error)
	// unauthorized is told about a 401 answer sent with header value v.
	unauthorized func(v string)
}

func (a *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	v, err := a.header(req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", v)
	resp, err := a.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && a.unauthorized != nil {
		a.unauthorized(v)
	}
	return resp, err
}

// CloseIdleConnections closes the idle connections of the transport below.
func (a *authTransport) CloseIdleConnections() {
	if c, ok := a.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
