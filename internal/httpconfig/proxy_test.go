package httpconfig_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/herald-alerts/herald/internal/httpconfig"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
)

// proxy is a fake forward proxy: it records what it was asked and answers
// plain requests itself (CONNECT is refused after being recorded).
type proxy struct {
	mu   sync.Mutex
	seen []string // "<method> <target>"
	auth []string // Proxy-Authorization
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	target := r.URL.String()
	if r.Method == http.MethodConnect {
		target = r.Host
	}
	p.seen = append(p.seen, r.Method+" "+target)
	p.auth = append(p.auth, r.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	if r.Method == http.MethodConnect {
		http.Error(w, "no tunnels here", http.StatusForbidden)
		return
	}
	io.WriteString(w, "via proxy; Authorization="+r.Header.Get("Authorization"))
}

func (p *proxy) got() ([]string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.seen...), append([]string(nil), p.auth...)
}

// proxy_url: an http target's request goes to the proxy in absolute form
// with the proxy credentials and the target's auth; an https target's
// connection is a CONNECT to the target's host.
func TestProxyURL(t *testing.T) {
	px := &proxy{}
	srv := httptest.NewServer(px)
	defer srv.Close()
	proxyURL := strings.Replace(srv.URL, "http://", "http://pxuser:Kd8Jw3Nz5Lq@", 1)
	cfg := &httpconfig.Config{ProxyURL: proxyURL, Authorization: &httpconfig.Authorization{Credentials: "tok-through-proxy"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Wrap(plainClient())
	if err != nil {
		t.Fatal(err)
	}
	status, body, err := get(context.Background(), c, "http://alerts.example/hook?x=1")
	if err != nil || status != http.StatusOK || body != "via proxy; Authorization=Bearer tok-through-proxy" {
		t.Fatalf("http target through the proxy = %d %q, %v", status, body, err)
	}
	_, _, err = get(context.Background(), c, "https://secure.example/hook")
	if err == nil {
		t.Fatal("https through a proxy that refuses CONNECT succeeded")
	}
	publishtest.AssertNoSecretFragment(t, err.Error(), publishtest.MinFragment, cfg.Secrets()...)
	seen, auth := px.got()
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("pxuser:Kd8Jw3Nz5Lq"))
	if len(seen) != 2 || seen[0] != "GET http://alerts.example/hook?x=1" || seen[1] != "CONNECT secure.example:443" {
		t.Errorf("proxy saw %q", seen)
	}
	for i, a := range auth {
		if a != wantAuth {
			t.Errorf("request %d: Proxy-Authorization = %q, want %q", i, a, wantAuth)
		}
	}
}

// Through Wrap, a client on netguard keeps its guarantee: a request with a
// policy to a blocked address stays blocked (with TLS settings, auth and
// a proxy applied), the tenant's proxy_url is itself checked, the
// target's host is resolved and checked before it is handed to the
// proxy, and the OAuth2 token request is checked too.
func TestNetguardThroughWrap(t *testing.T) {
	rec := &recorder{}
	target := httptest.NewServer(rec) // on 127.0.0.1
	defer target.Close()
	px := &proxy{}
	proxySrv := httptest.NewServer(px) // on 127.0.0.1
	defer proxySrv.Close()
	ep := &tokenEndpoint{t: t, clientID: "id", secret: "client-secret-value", expiresIn: 60}
	idp := httptest.NewServer(ep)
	defer idp.Close()

	blocked := netguard.WithPolicy(context.Background(), &netguard.Policy{})
	allowed := netguard.WithPolicy(context.Background(), &netguard.Policy{Allowed: loopback})
	// The proxy (loopback) is allowed; names resolve to a public or to a
	// metadata address.
	viaProxy := netguard.WithPolicy(context.Background(), &netguard.Policy{Allowed: loopback, Resolver: resolver{
		"public.example": {netip.MustParseAddr("203.0.113.10")},
		"evil.example":   {netip.MustParseAddr("203.0.113.11"), netip.MustParseAddr("169.254.169.254")},
	}})

	configs := map[string]*httpconfig.Config{
		"auth only":             {Authorization: &httpconfig.Authorization{Credentials: "tok-guarded"}},
		"tls settings":          {TLSConfig: &httpconfig.TLSConfig{InsecureSkipVerify: true}, BasicAuth: &httpconfig.BasicAuth{Username: "u", Password: "pw-guarded"}},
		"oauth2":                {OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecret: "client-secret-value", TokenURL: idp.URL}},
		"oauth2 own tls_config": {OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecret: "client-secret-value", TokenURL: idp.URL, TLSConfig: &httpconfig.TLSConfig{MinVersion: "TLS12"}}},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			c, err := cfg.Wrap(guardedClient())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Transport.(*netguard.Transport); !ok && cfg.OAuth2 == nil && cfg.BasicAuth == nil && cfg.Authorization == nil {
				t.Errorf("transport %T is no longer guarded", c.Transport)
			}
			before, _ := ep.stats()
			if status, _, err := get(blocked, c, target.URL); !netguard.IsBlocked(err) {
				t.Errorf("loopback target with a policy = %d, %v; want blocked", status, err)
			}
			if cfg.OAuth2 != nil {
				if after, _ := ep.stats(); after != before {
					t.Errorf("the token endpoint on loopback was reached under a policy that blocks it")
				}
			}
			if status, _, err := get(allowed, c, target.URL); err != nil || status != http.StatusOK {
				t.Errorf("allowed loopback = %d, %v; want 200", status, err)
			}
			if status, _, err := get(context.Background(), c, target.URL); err != nil || status != http.StatusOK {
				t.Errorf("the operator's request (no policy) = %d, %v; want 200", status, err)
			}
		})
	}

	t.Run("proxy_url", func(t *testing.T) {
		cfg := &httpconfig.Config{ProxyURL: proxySrv.URL}
		c, err := cfg.Wrap(guardedClient())
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Transport.(*netguard.Transport); !ok {
			t.Fatalf("transport %T is no longer guarded", c.Transport)
		}
		// The tenant's proxy on loopback is refused like a target there.
		if _, _, err := get(netguard.WithPolicy(context.Background(), &netguard.Policy{Resolver: resolver{
			"public.example": {netip.MustParseAddr("203.0.113.10")},
		}}), c, "http://public.example/"); !netguard.IsBlocked(err) {
			t.Errorf("a proxy_url on loopback under a policy = %v; want blocked", err)
		}
		if _, _, err := get(viaProxy, c, "http://evil.example/"); !netguard.IsBlocked(err) {
			t.Errorf("a name with a metadata address through the proxy = %v; want blocked", err)
		}
		if _, _, err := get(viaProxy, c, "http://169.254.169.254/latest/meta-data/"); !netguard.IsBlocked(err) {
			t.Errorf("the metadata address through the proxy = %v; want blocked", err)
		}
		if status, body, err := get(viaProxy, c, "http://public.example/"); err != nil || status != http.StatusOK || !strings.HasPrefix(body, "via proxy") {
			t.Errorf("a public name through an allowed proxy = %d %q, %v", status, body, err)
		}
		seen, _ := px.got()
		if len(seen) != 1 || seen[0] != "GET http://public.example/" {
			t.Errorf("the proxy saw %q; want only the public request", seen)
		}
	})
}
