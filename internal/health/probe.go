package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/httpconfig"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// DefaultProbeTimeout bounds one probe (connect, TLS handshake and request).
const DefaultProbeTimeout = 5 * time.Second

// maxProbeBody is how much of a probe response is read.
const maxProbeBody = 64 << 10

// maxMessage caps the length of an observation message.
const maxMessage = 300

// Prober checks targets with requests that fit their type and never create
// an alert: a TCP connect and, for https, a TLS handshake to the endpoint's
// host, then one harmless request (see Probe).
type Prober struct {
	// Client sends the probe request; nil means a client on
	// http.DefaultTransport. Its TLS settings (when its Transport is an
	// *http.Transport) also drive the explicit handshake.
	Client *http.Client
	// Timeout bounds the whole probe; 0 means DefaultProbeTimeout.
	Timeout time.Duration
	// Now is the clock of Observation.At; nil means time.Now in UTC.
	Now func() time.Time
	// Resolver resolves the target's host for the connect step; nil means
	// the system resolver.
	Resolver *net.Resolver
}

// ProbeEnv is what a type's probe works with: the prober's client (it never
// follows redirects) and the target's endpoint, already connected to.
type ProbeEnv struct {
	Client *http.Client
	// Endpoint is the target's endpoint (its url or the type's default),
	// URL its parsed form.
	Endpoint string
	URL      *url.URL
}

// ProbeFunc is a type's probe: one harmless request that never creates an
// alert, judged so that a working receiver is never marked unusable.
type ProbeFunc func(ctx context.Context, env ProbeEnv, t target.Target) Observation

var probes = struct {
	sync.RWMutex
	byType map[string]ProbeFunc
}{byType: map[string]ProbeFunc{}}

// RegisterProbe makes the probe of a type known (internal/providers
// registers every provider's).
func RegisterProbe(typ string, fn ProbeFunc) {
	probes.Lock()
	defer probes.Unlock()
	probes.byType[typ] = fn
}

func probeFor(typ string) (ProbeFunc, bool) {
	probes.RLock()
	defer probes.RUnlock()
	fn, ok := probes.byType[typ]
	return fn, ok
}

// Probe checks t once and returns what it saw: a TCP connect and, for
// https, a TLS handshake to the endpoint's host, then the request of t's
// type (each provider package documents its own).
//
// The message never holds credentials, URL paths or queries.
func (p *Prober) Probe(ctx context.Context, t target.Target) Observation {
	now := func() time.Time { return time.Now().UTC() }
	if p != nil && p.Now != nil {
		now = p.Now
	}
	timeout := DefaultProbeTimeout
	if p != nil && p.Timeout > 0 {
		timeout = p.Timeout
	}
	start := now()
	began := time.Now() // monotonic, for the latency
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// A tenant's target is probed only where its dial policy lets it.
	ctx = netguard.WithPolicy(ctx, t.Scope.Dial)
	o := p.probe(httpconfig.WithConfig(ctx, httpconfig.Of(t.HTTPConfig)), t)
	o.Target, o.At, o.Source = t.Name, start, SourceProbe
	o.Latency = time.Since(began)
	if o.OK {
		o.Class = ""
	} else {
		o.Message = cleanMessage(o.Message, t)
	}
	return o
}

// probe runs the checks; Probe fills in target, time, latency and source.
func (p *Prober) probe(ctx context.Context, t target.Target) Observation {
	typeProbe, known := probeFor(t.Type)
	if !known {
		return Failure(ClassConfig, 0, fmt.Sprintf("unsupported target type %q", t.Type))
	}
	if k, ok := target.KindOf(t.Type); ok {
		if _, notHTTP := k.(target.NotHTTP); notHTTP {
			// Not an HTTP endpoint (an email smarthost): the type's probe
			// dials by itself, under the context's dial policy.
			return typeProbe(ctx, ProbeEnv{Client: p.client()}, t)
		}
	}
	endpoint := t.Endpoint()
	if endpoint == "" {
		return Failure(ClassConfig, 0, "target has no url")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Failure(ClassConfig, 0, "target url is not an absolute http(s) URL")
	}
	base := target.RedactURL(endpoint)
	client := p.client()

	// With an http_config, its proxy (if any) is the next hop and its
	// TLS settings verify the server: the probe's request checks those,
	// so the connect step is only made where it means the same.
	hc := httpconfig.Of(t.HTTPConfig)
	if hc == nil || hc.ProxyURL == "" {
		if err := connect(ctx, client, p.resolver(), u, hc == nil || hc.TLSConfig == nil); err != nil {
			return Failure(ErrorClass(err), 0, "connect "+base+": "+ErrorText(err))
		}
	}
	return typeProbe(ctx, ProbeEnv{Client: client, Endpoint: endpoint, URL: u}, t)
}

// Verdict judges an HTTP status: ok, else the failure class.
type Verdict func(status int) (ok bool, class string)

// OnlyOK accepts 200 only.
func OnlyOK(status int) (bool, string) {
	if status == http.StatusOK {
		return true, ""
	}
	return false, ClassHTTPStatus
}

// Below500 accepts any answer below 500.
func Below500(status int) (bool, string) {
	if status < 500 {
		return true, ""
	}
	return false, ClassHTTPStatus
}

// AnyAnswer accepts any HTTP answer.
func AnyAnswer(int) (bool, string) { return true, "" }

// Reachable judges a webhook probe: a webhook receiver need implement
// nothing but POST, so any HTTP answer proves it is there (405, 404, 501
// Not Implemented, 505...), except the answers that say it is not serving:
// 502, 503 and 504 (a proxy or the server itself reporting it unavailable).
func Reachable(status int) (bool, string) {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false, ClassHTTPStatus
	}
	return true, ""
}

// AuthOrOK accepts 200; 401 and 403 are auth failures.
func AuthOrOK(status int) (bool, string) {
	switch {
	case status == http.StatusOK:
		return true, ""
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return false, ClassAuth
	default:
		return false, ClassHTTPStatus
	}
}

// Expect sends one request and judges its status with v.
func Expect(ctx context.Context, client *http.Client, method, rawURL string, headers map[string]string, v Verdict) Observation {
	status, _, err := Send(ctx, client, method, rawURL, headers)
	label := method + " " + target.RedactURL(rawURL)
	if err != nil {
		return Failure(ErrorClass(err), 0, label+": "+ErrorText(err))
	}
	ok, class := v(status)
	if ok {
		return Observation{OK: true, StatusCode: status}
	}
	return Failure(class, status, fmt.Sprintf("%s: HTTP %d", label, status))
}

// SafeCode keeps an error code short and free of anything but [a-z0-9_].
func SafeCode(code string) string {
	if code == "" {
		return "unknown_error"
	}
	if len(code) > 64 {
		code = code[:64]
	}
	for _, r := range code {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "unknown_error"
		}
	}
	return code
}

// Send performs one request without following redirects and returns the
// status and (up to 64 KiB of) the body.
func Send(ctx context.Context, client *http.Client, method, rawURL string, headers map[string]string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, nil)
	if err != nil {
		return 0, nil, errors.New("invalid probe request")
	}
	req.Header.Set("User-Agent", publish.UserAgent)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return 0, nil, fmt.Errorf("read response: %w", err)
	}
	return resp.StatusCode, data, nil
}

// client returns the HTTP client of the probe, never following redirects:
// a redirect is an answer, and following it could leave the target's host.
func (p *Prober) client() *http.Client {
	var c http.Client
	if p != nil && p.Client != nil {
		c = *p.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// connect opens a TCP connection to u's host and, for https, completes a TLS
// handshake with the client's TLS settings; then closes it.
// resolver is the Resolver of p (nil for a nil Prober: the system's).
func (p *Prober) resolver() *net.Resolver {
	if p == nil {
		return nil
	}
	return p.Resolver
}

func connect(ctx context.Context, client *http.Client, resolver *net.Resolver, u *url.URL, handshake bool) error {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(host, port)
	d := net.Dialer{Resolver: resolver}
	conn, err := netguard.DialContext(ctx, &d, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if u.Scheme != "https" || !handshake {
		return nil
	}
	cfg := &tls.Config{}
	tr, _ := client.Transport.(*http.Transport)
	if nt, ok := client.Transport.(*netguard.Transport); ok {
		tr = nt.Base()
	}
	if tr != nil && tr.TLSClientConfig != nil {
		cfg = tr.TLSClientConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("tls handshake: %w", err)
	}
	return tc.Close()
}

// ErrorClass classifies a transport error: timeout, dns, tls, refused or
// network.
func ErrorClass(err error) string {
	if err == nil {
		return ""
	}
	if netguard.IsBlocked(err) {
		return ClassConfig
	}
	var dnsErr *net.DNSError
	isDNS := errors.As(err, &dnsErr)
	if isDNS && !dnsErr.IsTimeout {
		return ClassDNS
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ClassTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ClassTimeout
	}
	if isDNS {
		return ClassDNS
	}
	if isTLSError(err) {
		return ClassTLS
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ClassRefused
	}
	return ClassNetwork
}

func isTLSError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		alert            tls.AlertError
	)
	switch {
	case errors.As(err, &unknownAuthority), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verification), errors.As(err, &record), errors.As(err, &alert):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "tls:") || strings.Contains(msg, "x509:")
}

// ErrorText is the error's message without any URL: a *url.Error keeps only
// its cause (the caller names the redacted endpoint).
func ErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer before the deadline"
	}
	return err.Error()
}

// cleanMessage removes the target's credentials and caps the length.
func cleanMessage(msg string, t target.Target) string {
	msg = publish.Redact(msg, t.Secrets())
	if len(msg) > maxMessage {
		msg = msg[:maxMessage] + "…"
	}
	return msg
}

// Failure is a failed observation of class with status and message.
func Failure(class string, status int, msg string) Observation {
	return Observation{Class: class, StatusCode: status, Message: msg}
}

// JoinURL appends path to u's path (one slash between) and adds query to
// u's query.
func JoinURL(u *url.URL, path string, query url.Values) string {
	v := *u
	v.Path = strings.TrimRight(u.Path, "/") + path
	v.RawPath = ""
	if len(query) > 0 {
		q := u.Query()
		for k, vals := range query {
			q[k] = vals
		}
		v.RawQuery = q.Encode()
	}
	return v.String()
}

// WithHeaders copies h with room for more.
func WithHeaders(h map[string]string) map[string]string {
	out := make(map[string]string, len(h)+3)
	for k, v := range h {
		out[k] = v
	}
	return out
}

// ObserveDelivery turns the outcome of a real delivery into an observation
// (Source delivery). nil is a success. Of the classified failures
// (*publish.Error), timeouts and network errors (refused, dns and tls told
// apart by their message), 5xx and provider-side rate limits are failures;
// 401/403 and Slack token errors are auth failures; config errors are
// config failures; any other 4xx means the target answered and counts as
// healthy. Callers record it only when Informative(err): some outcomes say
// nothing about the target.
func ObserveDelivery(targetName string, at time.Time, latency time.Duration, err error) Observation {
	o := Observation{Target: targetName, At: at, Latency: latency, Source: SourceDelivery}
	if err == nil {
		o.OK = true
		return o
	}
	var pe *publish.Error
	if !errors.As(err, &pe) {
		if errors.Is(err, context.Canceled) {
			o.Class, o.Message = ClassNetwork, "delivery canceled"
			return o
		}
		o.Class, o.Message = ErrorClass(err), capped(ErrorText(err))
		return o
	}
	o.StatusCode = pe.StatusCode
	o.Message = capped(pe.Error())
	switch pe.Kind {
	case publish.KindTimeout:
		o.Class = ClassTimeout
	case publish.KindNetwork:
		o.Class = classFromMessage(pe.Msg)
	case publish.KindHTTPServer, publish.KindRateLimited:
		o.Class = ClassHTTPStatus
	case publish.KindHTTPClient:
		if pe.StatusCode == http.StatusUnauthorized || pe.StatusCode == http.StatusForbidden {
			o.Class = ClassAuth
		} else {
			o.OK, o.Message = true, ""
		}
	case publish.KindProvider:
		switch {
		case pe.Auth:
			o.Class = ClassAuth
		case pe.Retryable:
			o.Class = ClassHTTPStatus
		default:
			// The provider answered and rejected this one message
			// (channel_not_found, msg_too_long...): reachable.
			o.OK, o.Message = true, ""
		}
	case publish.KindConfig, publish.KindUnknownType, publish.KindTargetAbsent:
		o.Class = ClassConfig
	default:
		o.Class = ClassNetwork
	}
	if o.OK {
		o.StatusCode = 0
	}
	return o
}

// classFromMessage tells refused, dns, tls and timeout apart in the message
// of a classified network error (the cause is not kept as a value).
func classFromMessage(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "connection refused"):
		return ClassRefused
	case strings.Contains(m, "no such host"), strings.Contains(m, "lookup "), strings.Contains(m, "server misbehaving"):
		return ClassDNS
	case strings.Contains(m, "x509:"), strings.Contains(m, "tls:"), strings.Contains(m, "certificate"):
		return ClassTLS
	case strings.Contains(m, "timeout"), strings.Contains(m, "deadline exceeded"):
		return ClassTimeout
	}
	return ClassNetwork
}

func capped(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "…"
	}
	return s
}
