// Package publishtest is the shared test kit of Herald's publishers: a fake
// provider that records every request and answers with scripted responses,
// a typical alert, and assertions about secrets in error messages.
package publishtest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Response is one scripted answer of a Server.
type Response struct {
	Status int
	Header map[string]string
	Body   string
	// Delay holds the response back (until the client gives up, at most).
	Delay time.Duration
}

// OK is a 200 response with body.
func OK(body string) Response { return Response{Status: http.StatusOK, Body: body} }

// Status is a response with the given status and body.
func Status(code int, body string) Response { return Response{Status: code, Body: body} }

// JSON is a response with a JSON-encoded body.
func JSON(code int, v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return Response{Status: code, Body: string(b), Header: map[string]string{"Content-Type": "application/json"}}
}

// WithHeader returns r with one more header.
func (r Response) WithHeader(k, v string) Response {
	h := make(map[string]string, len(r.Header)+1)
	for hk, hv := range r.Header {
		h[hk] = hv
	}
	h[k] = v
	r.Header = h
	return r
}

// Request is what the fake provider received.
type Request struct {
	// At is when the request arrived.
	At     time.Time
	Method string
	// Path is the decoded path; EscapedPath is the path as sent.
	Path        string
	EscapedPath string
	RawQuery    string
	Header      http.Header
	Body        []byte
	// JSON is the decoded body (nil when the body is not JSON).
	JSON any
}

// Get returns the value at a dotted path of the decoded body ("payload.summary",
// "blocks.0.text.text"); nil when absent.
func (r Request) Get(path string) any { return Get(r.JSON, path) }

// String returns the string at path ("" when absent or not a string).
func (r Request) String(path string) string {
	s, _ := r.Get(path).(string)
	return s
}

// Server is a fake provider: an httptest server answering with the scripted
// responses in order, then with Default.
type Server struct {
	*httptest.Server
	// Default answers requests beyond the script (200 "ok" unless changed).
	Default Response

	mu       sync.Mutex
	script   []Response
	requests []Request
	handler  func(Request) (Response, bool)
}

// NewServer starts a fake provider that is closed when the test ends.
func NewServer(t testing.TB, script ...Response) *Server {
	t.Helper()
	s := &Server{Default: OK("ok"), script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Script appends responses to the script.
func (s *Server) Script(rs ...Response) {
	s.mu.Lock()
	s.script = append(s.script, rs...)
	s.mu.Unlock()
}

// AnswerFromNowOn drops what is left of the script and answers every
// further request with r (a provider that recovered, or broke).
func (s *Server) AnswerFromNowOn(r Response) {
	s.mu.Lock()
	s.script = nil
	s.Default = r
	s.mu.Unlock()
}

// Handle installs a function that may answer a request before the script
// does (return false to fall through to the script).
func (s *Server) Handle(f func(Request) (Response, bool)) {
	s.mu.Lock()
	s.handler = f
	s.mu.Unlock()
}

// Requests returns the recorded requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// Request returns the i-th recorded request, failing the test when there are
// fewer.
func (s *Server) Request(t testing.TB, i int) Request {
	t.Helper()
	reqs := s.Requests()
	if i >= len(reqs) {
		t.Fatalf("want request #%d, the fake provider received %d", i, len(reqs))
	}
	return reqs[i]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{At: time.Now(), Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body}
	var decoded any
	if json.Unmarshal(body, &decoded) == nil {
		req.JSON = decoded
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	handler := s.handler
	s.mu.Unlock()

	resp, ok := Response{}, false
	if handler != nil {
		resp, ok = handler(req)
	}
	if !ok {
		s.mu.Lock()
		if len(s.script) > 0 {
			resp = s.script[0]
			s.script = s.script[1:]
		} else {
			resp = s.Default
		}
		s.mu.Unlock()
	}
	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range resp.Header {
		w.Header().Set(k, v)
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, resp.Body)
}

// Get walks a dotted path through decoded JSON: map keys and list indices.
func Get(v any, path string) any {
	if path == "" {
		return v
	}
	for _, part := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// AssertNoSecret fails the test when haystack contains any of the secrets,
// as written or in a form a receiver may echo it in: percent-encoded (query
// or path escaping) or JSON-escaped (with or without "\/").
func AssertNoSecret(t testing.TB, haystack string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, form := range EscapedForms(s) {
			if strings.Contains(haystack, form) {
				t.Errorf("secret %q leaked into %q (as %q)", mask(s), haystack, mask(form))
				break
			}
		}
	}
}

// EscapedForms returns s and the ways a receiver may write it: query and
// path escaping, JSON string escaping (Go's, with \u escapes of <, > and
// &), and each JSON form with "/" written as "\/".
func EscapedForms(s string) []string {
	forms := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	if b, err := json.Marshal(s); err == nil {
		j := strings.TrimSuffix(strings.TrimPrefix(string(b), `"`), `"`)
		forms = append(forms, j, strings.ReplaceAll(j, "/", `\/`))
	}
	out := forms[:0]
	seen := map[string]bool{}
	for _, f := range forms {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// MinFragment is the shortest piece of a secret AssertLeaksNoSecret looks
// for where a receiver's echo of the secret was cut.
const MinFragment = 6

// AssertNoSecretFragment fails the test when haystack contains any piece of
// at least minLen bytes of any of the secrets: what is left of a secret
// that a cut went through.
func AssertNoSecretFragment(t testing.TB, haystack string, minLen int, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if frag := secretFragment(haystack, s, minLen); frag != "" {
			t.Errorf("%d bytes of secret %q leaked into %q (%q)", len(frag), mask(s), haystack, frag)
		}
	}
}

// secretFragment returns the longest piece of s of at least minLen bytes
// found in haystack, or "".
func secretFragment(haystack, s string, minLen int) string {
	for n := len(s); n >= minLen; n-- {
		for i := 0; i+n <= len(s); i++ {
			if strings.Contains(haystack, s[i:i+n]) {
				return s[i : i+n]
			}
		}
	}
	return ""
}

// LeakCase is one failure AssertLeaksNoSecret drives a publisher into.
type LeakCase struct {
	Name string
	Resp Response
	// Closed: nothing listens (a transport error) instead of answering Resp.
	Closed bool
}

// AssertLeaksNoSecret is the secrets check every publisher runs: for each
// case it publishes a firing alert to a target built by newTarget from the
// fake provider's base URL (or a closed port), with a 200 ms deadline so a
// slow answer times out, and fails unless the result is an error that names
// none of the target's credentials (in any of their EscapedForms).
//
// Then, whatever the cases, it checks echoes cut at the excerpt boundary:
// the fake provider answers 400 with filler text followed by the request's
// Authorization header (when it has one) or by one of the target's
// secrets, with the filler's length chosen so that the error excerpt's cut
// (publish.MaxExcerpt bytes) falls at every position inside the echoed
// value. No piece of MinFragment bytes or more of the echoed value may
// reach the error.
func AssertLeaksNoSecret(t *testing.T, pub publish.Publisher, newTarget func(baseURL string) target.Target, cases []LeakCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			base := ""
			if tc.Closed {
				base = ClosedURL(t, "")
			} else {
				base = NewServer(t, tc.Resp).URL
			}
			tg := newTarget(base)
			if len(tg.Secrets()) == 0 {
				t.Fatal("the test target must carry secrets")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := pub.Publish(ctx, tg, Firing())
			if err == nil {
				t.Fatal("want an error")
			}
			AssertNoSecret(t, err.Error(), tg.Secrets()...)
		})
	}
	t.Run("echo cut at the excerpt boundary", func(t *testing.T) {
		assertCutEchoesLeakNothing(t, pub, newTarget)
	})
}

// assertCutEchoesLeakNothing is the boundary part of AssertLeaksNoSecret.
func assertCutEchoesLeakNothing(t *testing.T, pub publish.Publisher, newTarget func(baseURL string) target.Target) {
	srv := NewServer(t)
	tg := newTarget(srv.URL)
	// What to echo: "" stands for the request's Authorization header.
	echoes := append([]string{""}, tg.Secrets()...)
	var (
		mu     sync.Mutex
		echo   string
		filler int
		sent   string
	)
	srv.Handle(func(r Request) (Response, bool) {
		mu.Lock()
		defer mu.Unlock()
		sent = echo
		if sent == "" {
			sent = r.Header.Get("Authorization")
		}
		return Status(http.StatusBadRequest, strings.Repeat("~", filler)+" "+sent), true
	})
	for i, e := range echoes {
		if e == "" && tg.Headers["Authorization"] == "" {
			continue
		}
		length := len(e)
		if e == "" {
			length = len(tg.Headers["Authorization"])
		}
		// The excerpt keeps MaxExcerpt bytes of "<filler> <echo>": keep
		// 1, 2, ... length bytes of the echo.
		for keep := 1; keep <= length && keep < publish.MaxExcerpt; keep++ {
			mu.Lock()
			echo, filler = e, publish.MaxExcerpt-1-keep
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := pub.Publish(ctx, tg, Firing())
			cancel()
			if err == nil {
				t.Fatalf("echo #%d keeping %d bytes: want an error", i, keep)
			}
			mu.Lock()
			echoed := sent
			mu.Unlock()
			before := t.Failed()
			AssertNoSecret(t, err.Error(), tg.Secrets()...)
			AssertNoSecretFragment(t, err.Error(), MinFragment, echoed)
			if !before && t.Failed() {
				t.Fatalf("echo #%d keeping %d of %d bytes leaked (see above)", i, keep, length)
			}
		}
	}
}

func mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:2] + strings.Repeat("*", len(s)-4) + s[len(s)-2:]
}

// AssertError checks the classification of err: its kind, retryability and
// Retry-After delay (wantAfter < 0 skips the delay check).
func AssertError(t testing.TB, err error, kind string, retryable bool, wantAfter time.Duration) *publish.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error, got success", kind)
	}
	pe, ok := err.(*publish.Error)
	if !ok {
		t.Fatalf("want *publish.Error, got %T: %v", err, err)
	}
	if pe.Kind != kind {
		t.Errorf("kind = %q, want %q (%v)", pe.Kind, kind, pe)
	}
	if pe.Retryable != retryable {
		t.Errorf("retryable = %v, want %v (%v)", pe.Retryable, retryable, pe)
	}
	if wantAfter >= 0 && pe.RetryAfter != wantAfter {
		t.Errorf("retry after = %v, want %v", pe.RetryAfter, wantAfter)
	}
	return pe
}

// Now is the fixed time of the sample alerts.
var Now = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// Alert returns a typical firing alert: eight labels, three annotations.
func Alert() alert.Alert {
	return alert.Alert{
		Fingerprint: "c0ffee1234567890",
		Status:      alert.StatusFiring,
		Labels: map[string]string{
			"alertname": "HighErrorRate", "severity": "critical", "service": "checkout",
			"namespace": "shop", "instance": "checkout-7f9c:8080", "job": "checkout",
			"cluster": "prod-eu1", "team": "payments",
		},
		Annotations: map[string]string{
			"summary":     "Checkout error rate above 5%",
			"description": "The checkout service returns 7.3% HTTP 5xx over the last 10 minutes.",
			"runbook_url": "https://runbooks.example.com/checkout/high-error-rate",
		},
		StartsAt:     Now.Add(-10 * time.Minute),
		GeneratorURL: "http://prometheus.example.com/graph?g0.expr=rate%28http_errors%5B5m%5D%29",
		Receiver:     "herald",
		GroupKey:     `{}:{alertname="HighErrorRate"}`,
		ExternalURL:  "http://alertmanager.example.com",
	}
}

// Firing returns a firing notification of Alert().
func Firing() publish.Notification {
	return publish.Notification{Alert: Alert(), Event: publish.EventFiring}
}

// Resolved returns the resolved notification of Alert() with state.
func Resolved(state publish.ProviderState) publish.Notification {
	a := Alert()
	a.Status = alert.StatusResolved
	a.EndsAt = Now
	return publish.Notification{Alert: a, Event: publish.EventResolved, State: state}
}

// Update returns a firing update of Alert() with state.
func Update(state publish.ProviderState) publish.Notification {
	n := Firing()
	n.Update = true
	n.State = state
	return n
}

// ClosedURL returns a URL on which nothing listens, with path appended
// (for transport failures).
func ClosedURL(t testing.TB, path string) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u + path
}
