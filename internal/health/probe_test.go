package health_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"github.com/herald-alerts/herald/internal/publish/rootly"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/health"
	_ "github.com/herald-alerts/herald/internal/providers"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"github.com/herald-alerts/herald/internal/target"
)

// recorder is a fake provider: it answers with a scripted handler and
// records every request it saw.
type recorder struct {
	mu   sync.Mutex
	reqs []seen
}

type seen struct {
	Method, Path, Query, Auth string
}

func (r *recorder) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, seen{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Get("Authorization")})
		r.mu.Unlock()
		h(w, req)
	}
}

func (r *recorder) requests() []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seen(nil), r.reqs...)
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

func jsonBody(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

var fixedNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestProbeByType(t *testing.T) {
	tests := []struct {
		name     string
		tls      bool
		handler  http.HandlerFunc
		target   func(base string) target.Target
		wantOK   bool
		class    string
		code     int
		wantReq  seen
		wantAuth string
	}{
		{
			name: "alertmanager healthy", handler: status(200),
			target: func(b string) target.Target { return target.Target{Type: "alertmanager", URL: b + "/am/"} },
			wantOK: true, code: 200, wantReq: seen{Method: "GET", Path: "/am/-/healthy"},
		},
		{
			name: "alertmanager 500", handler: status(500),
			target: func(b string) target.Target { return target.Target{Type: "alertmanager", URL: b} },
			class:  health.ClassHTTPStatus, code: 500, wantReq: seen{Method: "GET", Path: "/-/healthy"},
		},
		{
			name: "alertmanager 404 is not healthy", handler: status(404),
			target: func(b string) target.Target { return target.Target{Type: "alertmanager", URL: b} },
			class:  health.ClassHTTPStatus, code: 404, wantReq: seen{Method: "GET", Path: "/-/healthy"},
		},
		{
			name: "alertmanager redirect is not followed", handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/elsewhere", http.StatusFound)
			},
			target: func(b string) target.Target { return target.Target{Type: "alertmanager", URL: b} },
			class:  health.ClassHTTPStatus, code: 302, wantReq: seen{Method: "GET", Path: "/-/healthy"},
		},
		{
			name: "webhook 405 counts as reachable", handler: status(405),
			target: func(b string) target.Target {
				return target.Target{Type: "webhook", URL: b + "/hook", Headers: map[string]string{"Authorization": "Bearer hdr-secret"}}
			},
			wantOK: true, code: 405, wantReq: seen{Method: "HEAD", Path: "/hook"}, wantAuth: "Bearer hdr-secret",
		},
		{
			name: "webhook answering HEAD with 501 (only POST implemented) counts as reachable", handler: status(501),
			target: func(b string) target.Target { return target.Target{Type: "webhook", URL: b + "/hook"} },
			wantOK: true, code: 501, wantReq: seen{Method: "HEAD", Path: "/hook"},
		},
		{
			name: "webhook 500 on HEAD still proves reachability", handler: status(500),
			target: func(b string) target.Target { return target.Target{Type: "webhook", URL: b + "/hook"} },
			wantOK: true, code: 500, wantReq: seen{Method: "HEAD", Path: "/hook"},
		},
		{
			name: "webhook 503", handler: status(503),
			target: func(b string) target.Target { return target.Target{Type: "webhook", URL: b + "/hook"} },
			class:  health.ClassHTTPStatus, code: 503, wantReq: seen{Method: "HEAD", Path: "/hook"},
		},
		{
			name: "slack incoming webhook: host root only", tls: true, handler: status(404),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", URL: b + "/services/T000/B000/whsecretpath"}
			},
			wantOK: true, code: 404, wantReq: seen{Method: "GET", Path: "/"},
		},
		{
			name: "slack incoming webhook: 500 still an answer", tls: true, handler: status(500),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", URL: b + "/services/T000/B000/whsecretpath"}
			},
			wantOK: true, code: 500, wantReq: seen{Method: "GET", Path: "/"},
		},
		{
			name: "slack bot token ok", handler: jsonBody(200, `{"ok":true,"team":"x"}`),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", Config: &slack.Config{Token: "xoxb-bot-secret", Channel: "#c"}, URL: b + "/api"}
			},
			wantOK: true, code: 200, wantReq: seen{Method: "POST", Path: "/api/auth.test"}, wantAuth: "Bearer xoxb-bot-secret",
		},
		{
			name: "slack bot token invalid_auth", handler: jsonBody(200, `{"ok":false,"error":"invalid_auth"}`),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", Config: &slack.Config{Token: "xoxb-bot-secret", Channel: "#c"}, URL: b + "/api/"}
			},
			class: health.ClassAuth, code: 200, wantReq: seen{Method: "POST", Path: "/api/auth.test"}, wantAuth: "Bearer xoxb-bot-secret",
		},
		{
			name: "slack bot token not_authed", handler: jsonBody(200, `{"ok":false,"error":"not_authed"}`),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", Config: &slack.Config{Token: "xoxb-bot-secret", Channel: "#c"}, URL: b}
			},
			class: health.ClassAuth, code: 200, wantReq: seen{Method: "POST", Path: "/auth.test"},
		},
		{
			name: "slack bot token other error", handler: jsonBody(200, `{"ok":false,"error":"fatal_error"}`),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", Config: &slack.Config{Token: "xoxb-bot-secret", Channel: "#c"}, URL: b}
			},
			class: health.ClassHTTPStatus, code: 200, wantReq: seen{Method: "POST", Path: "/auth.test"},
		},
		{
			name: "slack bot token garbage answer", handler: jsonBody(200, `<html>`),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", Config: &slack.Config{Token: "xoxb-bot-secret", Channel: "#c"}, URL: b}
			},
			class: health.ClassHTTPStatus, code: 200, wantReq: seen{Method: "POST", Path: "/auth.test"},
		},
		{
			name: "slack bot token 502", handler: status(502),
			target: func(b string) target.Target {
				return target.Target{Type: "slack", Config: &slack.Config{Token: "xoxb-bot-secret", Channel: "#c"}, URL: b}
			},
			class: health.ClassHTTPStatus, code: 502, wantReq: seen{Method: "POST", Path: "/auth.test"},
		},
		{
			name: "pagerduty root 404 is reachable", handler: status(404),
			target: func(b string) target.Target {
				return target.Target{Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "pd-routing-secret"}, URL: b}
			},
			wantOK: true, code: 404, wantReq: seen{Method: "GET", Path: "/"},
		},
		{
			name: "pagerduty 500", handler: status(500),
			target: func(b string) target.Target {
				return target.Target{Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "pd-routing-secret"}, URL: b}
			},
			class: health.ClassHTTPStatus, code: 500, wantReq: seen{Method: "GET", Path: "/"},
		},
		{
			name: "rootly ok", handler: jsonBody(200, `{"data":[]}`),
			target: func(b string) target.Target {
				return target.Target{Type: "rootly", Config: &rootly.Config{Token: "rootly-secret"}, URL: b}
			},
			wantOK: true, code: 200,
			wantReq:  seen{Method: "GET", Path: "/v1/alerts", Query: url.Values{"page[size]": {"1"}}.Encode()},
			wantAuth: "Bearer rootly-secret",
		},
		{
			name: "rootly header auth", handler: jsonBody(200, `{"data":[]}`),
			target: func(b string) target.Target {
				return target.Target{Type: "rootly", URL: b, Headers: map[string]string{"Authorization": "Bearer from-header"}}
			},
			wantOK: true, code: 200,
			wantReq:  seen{Method: "GET", Path: "/v1/alerts", Query: url.Values{"page[size]": {"1"}}.Encode()},
			wantAuth: "Bearer from-header",
		},
		{
			name: "rootly 401", handler: status(401),
			target: func(b string) target.Target {
				return target.Target{Type: "rootly", Config: &rootly.Config{Token: "rootly-secret"}, URL: b}
			},
			class: health.ClassAuth, code: 401, wantReq: seen{Method: "GET", Path: "/v1/alerts", Query: "page%5Bsize%5D=1"},
		},
		{
			name: "rootly 403", handler: status(403),
			target: func(b string) target.Target {
				return target.Target{Type: "rootly", Config: &rootly.Config{Token: "rootly-secret"}, URL: b}
			},
			class: health.ClassAuth, code: 403, wantReq: seen{Method: "GET", Path: "/v1/alerts", Query: "page%5Bsize%5D=1"},
		},
		{
			name: "rootly 500", handler: status(500),
			target: func(b string) target.Target {
				return target.Target{Type: "rootly", Config: &rootly.Config{Token: "rootly-secret"}, URL: b}
			},
			class: health.ClassHTTPStatus, code: 500, wantReq: seen{Method: "GET", Path: "/v1/alerts", Query: "page%5Bsize%5D=1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(rec.wrap(tc.handler))
			} else {
				srv = httptest.NewServer(rec.wrap(tc.handler))
			}
			defer srv.Close()
			tg := tc.target(srv.URL)
			tg.Name = "t1"
			p := &health.Prober{Client: srv.Client(), Timeout: 5 * time.Second, Now: func() time.Time { return fixedNow }}
			o := p.Probe(context.Background(), tg)

			if o.OK != tc.wantOK || o.Class != tc.class || o.StatusCode != tc.code {
				t.Fatalf("got ok=%v class=%q status=%d (%s), want ok=%v class=%q status=%d",
					o.OK, o.Class, o.StatusCode, o.Message, tc.wantOK, tc.class, tc.code)
			}
			if o.Target != "t1" || o.Source != health.SourceProbe || !o.At.Equal(fixedNow) || o.Latency <= 0 {
				t.Errorf("observation metadata: %+v", o)
			}
			if tc.wantOK && o.Message != "" {
				t.Errorf("message on success: %q", o.Message)
			}
			if !tc.wantOK && o.Message == "" {
				t.Errorf("failure without message")
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests: %+v, want exactly one", reqs)
			}
			got := reqs[0]
			if got.Method != tc.wantReq.Method || got.Path != tc.wantReq.Path || got.Query != tc.wantReq.Query {
				t.Errorf("request %s %s?%s, want %s %s?%s", got.Method, got.Path, got.Query,
					tc.wantReq.Method, tc.wantReq.Path, tc.wantReq.Query)
			}
			if tc.wantAuth != "" && got.Auth != tc.wantAuth {
				t.Errorf("Authorization %q, want %q", got.Auth, tc.wantAuth)
			}
			if tg.Type == "slack" && slack.ConfigOf(tg).Token == "" && got.Auth != "" {
				t.Errorf("slack webhook probe sent credentials")
			}
		})
	}
}

// TestProbeNeverCreatesAlerts probes every type against one server that
// fails the test on any request that would create or change an alert.
func TestProbeNeverCreatesAlerts(t *testing.T) {
	var mu sync.Mutex
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		create := r.Method == http.MethodPost && !strings.HasSuffix(r.URL.Path, "/auth.test") ||
			r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete ||
			strings.Contains(r.URL.Path, "/v2/enqueue") || strings.Contains(r.URL.Path, "/api/v2/alerts") ||
			strings.Contains(r.URL.Path, "/services/") || r.ContentLength > 0
		if create {
			mu.Lock()
			bad = append(bad, r.Method+" "+r.URL.Path)
			mu.Unlock()
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer srv.Close()
	targets := []target.Target{
		{Name: "am", Type: "alertmanager", URL: srv.URL},
		{Name: "wh", Type: "webhook", URL: srv.URL + "/hook"},
		{Name: "sw", Type: "slack", URL: srv.URL + "/services/T/B/x"},
		{Name: "sb", Type: "slack", Config: &slack.Config{Token: "xoxb-1234", Channel: "#c"}, URL: srv.URL},
		{Name: "pd", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "rk-1234"}, URL: srv.URL},
		{Name: "ro", Type: "rootly", Config: &rootly.Config{Token: "ro-1234"}, URL: srv.URL},
	}
	p := &health.Prober{Client: srv.Client()}
	for _, tg := range targets {
		if o := p.Probe(context.Background(), tg); !o.OK {
			t.Errorf("%s: %+v", tg.Name, o)
		}
	}
	if len(bad) != 0 {
		t.Fatalf("probes sent alert-creating requests: %v", bad)
	}
}

func TestProbeTransportFailures(t *testing.T) {
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()

	// A handler slower than the probe timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)

	// A TLS server whose certificate the probing client does not trust.
	fail503 := httptest.NewServer(status(503))
	defer fail503.Close()
	untrusted := httptest.NewTLSServer(status(200))
	defer untrusted.Close()
	trusted := httptest.NewTLSServer(status(200))
	defer trusted.Close()

	tests := []struct {
		name    string
		target  target.Target
		client  *http.Client
		timeout time.Duration
		class   string
	}{
		{"refused", target.Target{Type: "webhook", URL: "http://" + closedAddr + "/hook"}, nil, time.Second, health.ClassRefused},
		{"timeout", target.Target{Type: "webhook", URL: slow.URL}, slow.Client(), 150 * time.Millisecond, health.ClassTimeout},
		{"untrusted certificate", target.Target{Type: "alertmanager", URL: untrusted.URL}, &http.Client{}, time.Second, health.ClassTLS},
		{"trusted certificate", target.Target{Type: "alertmanager", URL: trusted.URL}, trusted.Client(), time.Second, ""},
		{"no url", target.Target{Type: "webhook"}, nil, time.Second, health.ClassConfig},
		{"bad url", target.Target{Type: "webhook", URL: "ftp://example.com/x"}, nil, time.Second, health.ClassConfig},
		{"unsupported type", target.Target{Type: "carrier-pigeon", URL: trusted.URL}, trusted.Client(), time.Second, health.ClassConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.target.Name = "x"
			p := &health.Prober{Client: tc.client, Timeout: tc.timeout}
			start := time.Now()
			o := p.Probe(context.Background(), tc.target)
			elapsed := time.Since(start)
			if o.Class != tc.class || o.OK != (tc.class == "") {
				t.Fatalf("got ok=%v class=%q (%s), want class %q", o.OK, o.Class, o.Message, tc.class)
			}
			if elapsed > tc.timeout+2*time.Second {
				t.Errorf("probe took %v with timeout %v", elapsed, tc.timeout)
			}
			if tc.class == health.ClassTimeout && o.Latency < tc.timeout {
				t.Errorf("timeout latency %v below the timeout %v", o.Latency, tc.timeout)
			}
		})
	}
}

func TestProbeDNSFailure(t *testing.T) {
	p := &health.Prober{Timeout: 3 * time.Second, Resolver: nxdomainResolver(t)}
	o := p.Probe(context.Background(), target.Target{Name: "x", Type: "webhook", URL: "https://nonexistent.invalid/hook"})
	if o.OK || o.Class != health.ClassDNS {
		t.Fatalf("got ok=%v class=%q (%s), want dns", o.OK, o.Class, o.Message)
	}
	if !strings.Contains(o.Message, "nonexistent.invalid") {
		t.Errorf("message should name the host: %q", o.Message)
	}
}

// nxdomainResolver is a resolver whose DNS server, on loopback, answers
// every question with NXDOMAIN: the test needs no network.
func nxdomainResolver(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			// The question echoed back: header flags QR, RD, RA and
			// RCODE 3 (NXDOMAIN), no answers.
			resp := append([]byte(nil), buf[:n]...)
			resp[2] = 0x81 | (buf[2] & 0x01)
			resp[3] = 0x83
			for i := 6; i < 12; i++ {
				resp[i] = 0 // ANCOUNT, NSCOUNT, ARCOUNT
			}
			// Drop anything after the question (an EDNS record).
			if end := questionEnd(resp); end > 0 {
				resp = resp[:end]
			}
			_, _ = pc.WriteTo(resp, addr)
		}
	}()
	server := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", server)
	}}
}

// questionEnd is the offset after the first question of a DNS message (0
// if it is malformed).
func questionEnd(msg []byte) int {
	i := 12
	for i < len(msg) && msg[i] != 0 {
		i += int(msg[i]) + 1
	}
	if i+5 > len(msg) {
		return 0
	}
	return i + 5 // the root label, QTYPE and QCLASS
}

func TestProbeCancelledContext(t *testing.T) {
	srv := httptest.NewServer(status(200))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	o := (&health.Prober{Client: srv.Client()}).Probe(ctx, target.Target{Name: "x", Type: "webhook", URL: srv.URL})
	if o.OK {
		t.Fatalf("probe with a cancelled context succeeded: %+v", o)
	}
}

func TestProbeNilProberUsesDefaults(t *testing.T) {
	srv := httptest.NewServer(status(200))
	defer srv.Close()
	var p *health.Prober
	before := time.Now()
	o := p.Probe(context.Background(), target.Target{Name: "x", Type: "alertmanager", URL: srv.URL})
	if !o.OK || o.At.Before(before) {
		t.Fatalf("nil prober: %+v", o)
	}
}

// TestProbeMessagesHoldNoSecrets fails targets in every way with credentials
// in URL paths, queries, user info, headers, tokens and routing keys.
func TestProbeMessagesHoldNoSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	fail500 := httptest.NewServer(status(500))
	defer fail500.Close()
	fail503 := httptest.NewServer(status(503))
	defer fail503.Close()
	fail401 := httptest.NewServer(status(401))
	defer fail401.Close()
	slackErr := httptest.NewServer(jsonBody(200, `{"ok":false,"error":"invalid_auth xoxb-s3cr3t-token"}`))
	defer slackErr.Close()
	untrusted := httptest.NewTLSServer(status(200))
	defer untrusted.Close()

	secrets := []string{"s3cr3t-path", "s3cr3t-query", "s3cr3t-user", "s3cr3t-pass", "s3cr3t-header", "xoxb-s3cr3t-token", "s3cr3t-routing"}
	withSecrets := func(typ, base string) target.Target {
		u, _ := url.Parse(base)
		u.User = url.UserPassword("s3cr3t-user", "s3cr3t-pass")
		u.Path = "/hooks/s3cr3t-path"
		u.RawQuery = "token=s3cr3t-query"
		tg := target.Target{Name: "leaky", Type: typ, URL: u.String(),
			Headers: map[string]string{"Authorization": "Bearer s3cr3t-header"}}
		switch typ {
		case "slack":
			tg.Config = &slack.Config{Token: "xoxb-s3cr3t-token", Channel: "#c"}
		case "pagerduty":
			tg.Config = &pagerduty.Config{RoutingKey: "s3cr3t-routing"}
		case "rootly":
			tg.Config = &rootly.Config{Token: "xoxb-s3cr3t-token"}
		}
		return tg
	}
	cases := []struct {
		name   string
		target target.Target
		client *http.Client
	}{
		{"refused webhook", withSecrets("webhook", "http://"+closed), nil},
		{"503 webhook", withSecrets("webhook", fail503.URL), nil},
		{"500 alertmanager", withSecrets("alertmanager", fail500.URL), nil},
		{"401 rootly", withSecrets("rootly", fail401.URL), nil},
		{"500 pagerduty", withSecrets("pagerduty", fail500.URL), nil},
		{"slack api error echoing the token", withSecrets("slack", slackErr.URL), nil},
		{"tls slack", withSecrets("slack", untrusted.URL), &http.Client{}},
		{"dns", withSecrets("webhook", "http://nonexistent.invalid"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := (&health.Prober{Client: tc.client, Timeout: 3 * time.Second}).Probe(context.Background(), tc.target)
			if o.OK {
				t.Fatalf("expected a failure: %+v", o)
			}
			if o.Message == "" {
				t.Fatal("failure without message")
			}
			for _, s := range secrets {
				if strings.Contains(o.Message, s) {
					t.Errorf("message leaks %q: %s", s, o.Message)
				}
			}
			if strings.Contains(o.Message, "/hooks") || strings.Contains(o.Message, "token=") {
				t.Errorf("message leaks the URL path or query: %s", o.Message)
			}
		})
	}
}

func TestErrorClass(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"deadline", fmt.Errorf("get: %w", context.DeadlineExceeded), health.ClassTimeout},
		{"net timeout", &net.OpError{Op: "dial", Err: timeoutErr{}}, health.ClassTimeout},
		{"dns not found", &net.OpError{Op: "dial", Err: &net.DNSError{Name: "x.invalid", Err: "no such host", IsNotFound: true}}, health.ClassDNS},
		{"dns timeout", &net.DNSError{Name: "x", Err: "i/o timeout", IsTimeout: true}, health.ClassTimeout},
		{"refused", &url.Error{Op: "Get", URL: "http://h/p", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}, health.ClassRefused},
		{"tls message", errors.New("remote error: tls: handshake failure"), health.ClassTLS},
		{"tls record", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, health.ClassTLS},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, health.ClassNetwork},
		{"other", errors.New("boom"), health.ClassNetwork},
	}
	for _, tc := range tests {
		if got := health.ErrorClass(tc.err); got != tc.want {
			t.Errorf("%s: health.ErrorClass = %q, want %q", tc.name, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestObserveDelivery(t *testing.T) {
	at := fixedNow
	tests := []struct {
		name   string
		err    error
		ok     bool
		class  string
		status int
	}{
		{"success", nil, true, "", 0},
		{"timeout", publish.Retryable(publish.KindTimeout, 0, "Post https://h: context deadline exceeded"), false, health.ClassTimeout, 0},
		{"refused", publish.ClassifyTransport(&url.Error{Op: "Post", URL: "http://h/secret", Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}), false, health.ClassRefused, 0},
		{"dns", publish.ClassifyTransport(&url.Error{Op: "Post", URL: "http://h", Err: &net.DNSError{Name: "h", Err: "no such host"}}), false, health.ClassDNS, 0},
		{"tls", publish.ClassifyTransport(&url.Error{Op: "Post", URL: "https://h", Err: errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority")}), false, health.ClassTLS, 0},
		{"network other", publish.ClassifyTransport(errors.New("connection reset by peer")), false, health.ClassNetwork, 0},
		{"5xx", publish.ClassifyStatus(502, nil, nil, at), false, health.ClassHTTPStatus, 502},
		{"429", publish.ClassifyStatus(429, http.Header{}, nil, at), false, health.ClassHTTPStatus, 429},
		{"400 is healthy", publish.ClassifyStatus(400, nil, []byte("bad payload"), at), true, "", 0},
		{"404 is healthy", publish.ClassifyStatus(404, nil, nil, at), true, "", 0},
		{"401", publish.ClassifyStatus(401, nil, nil, at), false, health.ClassAuth, 401},
		{"403", publish.ClassifyStatus(403, nil, nil, at), false, health.ClassAuth, 403},
		{"slack invalid_auth", slack.ClassifyAPIError("chat.postMessage", "invalid_auth", 200, http.Header{}, at), false, health.ClassAuth, 200},
		{"slack channel_not_found is reachable", &publish.Error{Kind: publish.KindProvider, StatusCode: 200, Msg: "slack chat.postMessage: channel_not_found"}, true, "", 0},
		{"slack internal_error", &publish.Error{Kind: publish.KindProvider, StatusCode: 200, Retryable: true, Msg: "slack chat.postMessage: internal_error"}, false, health.ClassHTTPStatus, 200},
		{"config", publish.Permanent(publish.KindConfig, "template does not render"), false, health.ClassConfig, 0},
		{"wrapped", fmt.Errorf("activity: %w", publish.ClassifyStatus(500, nil, nil, at)), false, health.ClassHTTPStatus, 500},
		{"plain deadline", context.DeadlineExceeded, false, health.ClassTimeout, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := health.ObserveDelivery("tg", at, 42*time.Millisecond, tc.err)
			if o.OK != tc.ok || o.Class != tc.class || o.StatusCode != tc.status {
				t.Fatalf("got ok=%v class=%q status=%d (%s), want ok=%v class=%q status=%d",
					o.OK, o.Class, o.StatusCode, o.Message, tc.ok, tc.class, tc.status)
			}
			if o.Target != "tg" || !o.At.Equal(at) || o.Latency != 42*time.Millisecond || o.Source != health.SourceDelivery {
				t.Errorf("metadata: %+v", o)
			}
			if !tc.ok && o.Message == "" {
				t.Errorf("failure without message")
			}
			if strings.Contains(o.Message, "/secret") {
				t.Errorf("message leaks the URL path: %s", o.Message)
			}
		})
	}
}
