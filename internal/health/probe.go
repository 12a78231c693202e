package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
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

// Probe checks t once and returns what it saw. The request per type:
//
//   - alertmanager: GET {url}/-/healthy, 200 expected;
//   - webhook: HEAD {url}, any answer but 502/503/504 counts (501 Not
//     Implemented included: a receiver need implement only POST);
//   - slack incoming webhook: GET {scheme}://{host}/ (the webhook URL itself
//     is never requested), any HTTP answer counts;
//   - slack bot token: POST {endpoint}/auth.test with the token, ok:true
//     expected (invalid_auth and the like are auth failures);
//   - pagerduty: GET {endpoint}/, any answer below 500 counts (never
//     /v2/enqueue);
//   - rootly: GET {endpoint}/v1/alerts?page[size]=1 with the token, 200
//     expected (401/403 are auth failures).
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
	o := p.probe(netguard.WithPolicy(ctx, t.Scope.Dial), t)
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
	endpoint := t.Endpoint()
	if endpoint == "" {
		return failure(ClassConfig, 0, "target has no url")
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return failure(ClassConfig, 0, "target url is not an absolute http(s) URL")
	}
	base := target.RedactURL(endpoint)
	client := p.client()

	if err := connect(ctx, client, p.resolver(), u); err != nil {
		return failure(ErrorClass(err), 0, "connect "+base+": "+errorText(err))
	}

	switch t.Type {
	case target.TypeAlertmanager:
		return expect(ctx, client, http.MethodGet, joinURL(u, "/-/healthy", nil), t.Headers, onlyOK)
	case target.TypeWebhook:
		return expect(ctx, client, http.MethodHead, endpoint, t.Headers, reachable)
	case target.TypePagerDuty:
		return expect(ctx, client, http.MethodGet, joinURL(u, "/", nil), t.Headers, below500)
	case target.TypeRootly:
		headers := withHeaders(t.Headers)
		headers["Accept"] = "application/vnd.api+json"
		if t.Token != "" {
			headers["Authorization"] = "Bearer " + t.Token
		}
		q := url.Values{"page[size]": {"1"}}
		return expect(ctx, client, http.MethodGet, joinURL(u, "/v1/alerts", q), headers, authOrOK)
	case target.TypeSlack:
		if t.Token != "" {
			return slackAuthTest(ctx, client, t, u)
		}
		// Incoming webhook: only the host's root, never the webhook URL
		// (a GET there is harmless too, but the path is the credential).
		root := u.Scheme + "://" + u.Host + "/"
		return expect(ctx, client, http.MethodGet, root, nil, anyAnswer)
	default:
		return failure(ClassConfig, 0, fmt.Sprintf("unsupported target type %q", t.Type))
	}
}

// verdict judges an HTTP status: ok, else the failure class.
type verdict func(status int) (ok bool, class string)

func onlyOK(status int) (bool, string) {
	if status == http.StatusOK {
		return true, ""
	}
	return false, ClassHTTPStatus
}

func below500(status int) (bool, string) {
	if status < 500 {
		return true, ""
	}
	return false, ClassHTTPStatus
}

func anyAnswer(int) (bool, string) { return true, "" }

// reachable judges a webhook probe: a webhook receiver need implement
// nothing but POST, so any HTTP answer proves it is there (405, 404, 501
// Not Implemented, 505...), except the answers that say it is not serving:
// 502, 503 and 504 (a proxy or the server itself reporting it unavailable).
func reachable(status int) (bool, string) {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return false, ClassHTTPStatus
	}
	return true, ""
}

func authOrOK(status int) (bool, string) {
	switch {
	case status == http.StatusOK:
		return true, ""
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return false, ClassAuth
	default:
		return false, ClassHTTPStatus
	}
}

// expect sends one request and judges its status with v.
func expect(ctx context.Context, client *http.Client, method, rawURL string, headers map[string]string, v verdict) Observation {
	status, _, err := send(ctx, client, method, rawURL, headers)
	label := method + " " + target.RedactURL(rawURL)
	if err != nil {
		return failure(ErrorClass(err), 0, label+": "+errorText(err))
	}
	ok, class := v(status)
	if ok {
		return Observation{OK: true, StatusCode: status}
	}
	return failure(class, status, fmt.Sprintf("%s: HTTP %d", label, status))
}

// slackAuthTest calls auth.test with the bot token.
func slackAuthTest(ctx context.Context, client *http.Client, t target.Target, u *url.URL) Observation {
	headers := withHeaders(t.Headers)
	headers["Authorization"] = "Bearer " + t.Token
	headers["Content-Type"] = "application/x-www-form-urlencoded"
	rawURL := joinURL(u, "/auth.test", nil)
	label := "POST " + target.RedactURL(rawURL)
	status, body, err := send(ctx, client, http.MethodPost, rawURL, headers)
	if err != nil {
		return failure(ErrorClass(err), 0, label+": "+errorText(err))
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return failure(ClassAuth, status, fmt.Sprintf("%s: HTTP %d", label, status))
	case status/100 != 2:
		return failure(ClassHTTPStatus, status, fmt.Sprintf("%s: HTTP %d", label, status))
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return failure(ClassHTTPStatus, status, label+": answer is not Slack API JSON")
	}
	if r.OK {
		return Observation{OK: true, StatusCode: status}
	}
	class := ClassHTTPStatus
	if slackAuthErrors[r.Error] {
		class = ClassAuth
	}
	return failure(class, status, label+": "+safeCode(r.Error))
}

// slackAuthErrors are auth.test error codes that mean the token is no good.
var slackAuthErrors = map[string]bool{
	"invalid_auth":           true,
	"not_authed":             true,
	"account_inactive":       true,
	"token_revoked":          true,
	"token_expired":          true,
	"no_permission":          true,
	"missing_scope":          true,
	"not_allowed_token_type": true,
}

// safeCode keeps an error code short and free of anything but [a-z0-9_].
func safeCode(code string) string {
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

// send performs one request without following redirects and returns the
// status and (up to maxProbeBody of) the body.
func send(ctx context.Context, client *http.Client, method, rawURL string, headers map[string]string) (int, []byte, error) {
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

func connect(ctx context.Context, client *http.Client, resolver *net.Resolver, u *url.URL) error {
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
	if u.Scheme != "https" {
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

// errorText is the error's message without any URL: a *url.Error keeps only
// its cause (the caller names the redacted endpoint).
func errorText(err error) string {
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

func failure(class string, status int, msg string) Observation {
	return Observation{Class: class, StatusCode: status, Message: msg}
}

// joinURL appends path to u's path (one slash between) and adds query to
// u's query.
func joinURL(u *url.URL, path string, query url.Values) string {
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

func withHeaders(h map[string]string) map[string]string {
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
		o.Class, o.Message = ErrorClass(err), capped(errorText(err))
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
		case slackAuthErrors[providerCode(pe.Msg)]:
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

// providerCode is the Slack error code at the end of "slack METHOD: CODE".
func providerCode(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return strings.TrimSpace(msg[i+2:])
	}
	return strings.TrimSpace(msg)
}

func capped(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "…"
	}
	return s
}
