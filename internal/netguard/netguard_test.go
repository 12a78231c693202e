package netguard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
)

func TestCheckAddrAndHost(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		host    string
		allowed []netip.Prefix
		why     string // "" allowed
	}{
		{"127.0.0.1", nil, netguard.WhyLoopback},
		{"127.10.20.30", nil, netguard.WhyLoopback},
		{"::1", nil, netguard.WhyLoopback},
		{"[::1]", nil, netguard.WhyLoopback},
		{"::ffff:127.0.0.1", nil, netguard.WhyLoopback},
		{"169.254.169.254", nil, netguard.WhyMetadata},
		{"::ffff:169.254.169.254", nil, netguard.WhyMetadata},
		{"64:ff9b::a9fe:a9fe", nil, netguard.WhyMetadata}, // 169.254.169.254 through NAT64
		{"fd00:ec2::254", nil, netguard.WhyMetadata},
		{"100.100.100.200", nil, netguard.WhyMetadata},
		{"metadata.google.internal", nil, netguard.WhyMetadata},
		{"Metadata.Google.Internal.", nil, netguard.WhyMetadata},
		{"169.254.1.2", nil, netguard.WhyLinkLocal},
		{"fe80::1", nil, netguard.WhyLinkLocal},
		{"0.0.0.0", nil, netguard.WhyUnspecified},
		{"::", nil, netguard.WhyUnspecified},
		{"224.0.0.1", nil, netguard.WhyMulticast},
		{"255.255.255.255", nil, netguard.WhyBroadcast},
		// Allowed by the operator.
		{"127.0.0.1", loopback, ""},
		{"::ffff:127.0.0.1", loopback, ""},
		{"::1", loopback, netguard.WhyLoopback}, // IPv6 loopback is not in 127.0.0.0/8
		{"169.254.169.254", loopback, netguard.WhyMetadata},
		{"metadata.google.internal", []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}, ""},
		// Never blocked: public, private (in-cluster receivers), names
		// that only a lookup can judge.
		{"203.0.113.7", nil, ""},
		{"10.96.0.12", nil, ""},
		{"192.168.1.1", nil, ""},
		{"fd12:3456::1", nil, ""},
		{"hooks.slack.com", nil, ""},
		{"alertmanager.monitoring.svc", nil, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s allowed %v", tc.host, tc.allowed), func(t *testing.T) {
			p := &netguard.Policy{Allowed: tc.allowed}
			err := p.CheckHost(tc.host)
			if tc.why == "" {
				if err != nil {
					t.Fatalf("CheckHost(%q) = %v, want allowed", tc.host, err)
				}
				return
			}
			var be *netguard.BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("CheckHost(%q) = %v, want a BlockedError", tc.host, err)
			}
			if be.Why != tc.why {
				t.Errorf("why = %q, want %q (%v)", be.Why, tc.why, err)
			}
			if !strings.Contains(err.Error(), "may not reach") {
				t.Errorf("message %q does not say what is refused", err)
			}
		})
	}
}

// fakeResolver answers from a map.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func listen(t *testing.T, addr string, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "secret answer") }

func newTransport() *netguard.Transport {
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = nil
	return netguard.NewTransport(base, &net.Dialer{Timeout: 2 * time.Second})
}

func get(ctx context.Context, c *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), nil
}

// The dial check sees the address connected to: a loopback literal, a name
// that resolves to loopback (localhost), and the loopback connection an
// unchecked request left in the pool are all refused; without a policy, or
// with the network allowed, the same server answers.
func TestTransportChecksEveryDial(t *testing.T) {
	srv := listen(t, "127.0.0.1:0", http.HandlerFunc(ok))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	client := &http.Client{Transport: newTransport()}
	guarded := netguard.WithPolicy(context.Background(), &netguard.Policy{})

	// Unchecked first: its keep-alive connection stays in the open pool.
	if body, err := get(context.Background(), client, srv.URL); err != nil || body != "secret answer" {
		t.Fatalf("unchecked request = %q, %v", body, err)
	}
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/"} {
		body, err := get(guarded, client, u)
		if !netguard.IsBlocked(err) {
			t.Errorf("GET %s with a policy = %q, %v; want a BlockedError", u, body, err)
		}
		if strings.Contains(fmt.Sprint(err), "secret answer") || body != "" {
			t.Errorf("the refused request read the answer: %q", body)
		}
	}
	allowed := netguard.WithPolicy(context.Background(), &netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if body, err := get(allowed, client, srv.URL); err != nil || body != "secret answer" {
		t.Errorf("allowed network: %q, %v", body, err)
	}
}

// A redirect is a new request through the same transport: its dial is
// checked too, whatever the first hop was.
func TestRedirectHopIsChecked(t *testing.T) {
	inner := listen(t, "127.0.0.2:0", http.HandlerFunc(ok))
	outer := listen(t, "127.0.0.1:0", http.RedirectHandler(inner.URL, http.StatusFound))
	client := &http.Client{Transport: newTransport()} // follows redirects
	ctx := netguard.WithPolicy(context.Background(), &netguard.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	body, err := get(ctx, client, outer.URL)
	var be *netguard.BlockedError
	if !errors.As(err, &be) || be.Addr != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("redirect to 127.0.0.2 = %q, %v; want it refused", body, err)
	}
}

// DialContext (the health probe's explicit connect) checks too.
func TestDialContext(t *testing.T) {
	srv := listen(t, "127.0.0.1:0", http.HandlerFunc(ok))
	addr := srv.Listener.Addr().String()
	conn, err := netguard.DialContext(context.Background(), nil, "tcp", addr)
	if err != nil {
		t.Fatalf("dial without a policy: %v", err)
	}
	conn.Close()
	ctx := netguard.WithPolicy(context.Background(), &netguard.Policy{})
	if conn, err := netguard.DialContext(ctx, nil, "tcp", addr); !netguard.IsBlocked(err) {
		if conn != nil {
			conn.Close()
		}
		t.Fatalf("dial with a policy = %v, want blocked", err)
	}
	if _, err := netguard.DialContext(ctx, nil, "tcp", "metadata.google.internal:80"); !netguard.IsBlocked(err) {
		t.Fatalf("dial to the metadata name = %v, want blocked before any lookup", err)
	}
}

// Through a proxy the proxy resolves the name: the target's host is
// resolved and checked before the request is handed over, and the proxy's
// own (loopback) address is not held against it.
func TestProxiedRequestsAreChecked(t *testing.T) {
	proxy := listen(t, "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "via proxy for "+r.URL.Host)
	}))
	base := http.DefaultTransport.(*http.Transport).Clone()
	pu, _ := url.Parse(proxy.URL)
	base.Proxy = http.ProxyURL(pu)
	client := &http.Client{Transport: netguard.NewTransport(base, nil)}
	p := &netguard.Policy{Resolver: fakeResolver{
		"evil.example":   {netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("127.0.0.1")},
		"public.example": {netip.MustParseAddr("203.0.113.10")},
	}}
	ctx := netguard.WithPolicy(context.Background(), p)
	if body, err := get(ctx, client, "http://evil.example/"); !netguard.IsBlocked(err) {
		t.Errorf("name with a loopback address through the proxy = %q, %v; want blocked", body, err)
	}
	if body, err := get(ctx, client, "http://169.254.169.254/latest/meta-data/"); !netguard.IsBlocked(err) {
		t.Errorf("metadata address through the proxy = %q, %v; want blocked", body, err)
	}
	if body, err := get(ctx, client, "http://public.example/"); err != nil || body != "via proxy for public.example" {
		t.Errorf("public name through a loopback proxy = %q, %v", body, err)
	}
}
