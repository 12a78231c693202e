package publish_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

var now = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func TestClassifyStatus(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	tests := []struct {
		name      string
		status    int
		header    http.Header
		ok        bool
		kind      string
		retryable bool
		after     time.Duration
	}{
		{name: "200", status: 200, ok: true},
		{name: "201", status: 201, ok: true},
		{name: "202", status: 202, ok: true},
		{name: "204", status: 204, ok: true},
		{name: "400 permanent", status: 400, kind: publish.KindHTTPClient},
		{name: "401 permanent", status: 401, kind: publish.KindHTTPClient},
		{name: "403 permanent", status: 403, kind: publish.KindHTTPClient},
		{name: "404 permanent", status: 404, kind: publish.KindHTTPClient},
		{name: "410 permanent", status: 410, kind: publish.KindHTTPClient},
		{name: "413 permanent", status: 413, kind: publish.KindHTTPClient},
		{name: "422 permanent", status: 422, kind: publish.KindHTTPClient},
		{name: "301 permanent", status: 301, kind: publish.KindConfig},
		{name: "307 permanent", status: 307, kind: publish.KindConfig},
		{name: "408 retryable", status: 408, kind: publish.KindHTTPClient, retryable: true},
		{name: "425 retryable", status: 425, kind: publish.KindHTTPClient, retryable: true},
		{name: "429 without Retry-After", status: 429, kind: publish.KindRateLimited, retryable: true},
		{name: "429 Retry-After seconds", status: 429, header: hdr("Retry-After", "7"), kind: publish.KindRateLimited, retryable: true, after: 7 * time.Second},
		{name: "429 Retry-After fraction is not RFC 9110", status: 429, header: hdr("Retry-After", "1.5"), kind: publish.KindRateLimited, retryable: true},
		{name: "429 Retry-After overflow", status: 429, header: hdr("Retry-After", "1e10"), kind: publish.KindRateLimited, retryable: true},
		{name: "429 Retry-After date", status: 429, header: hdr("Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), kind: publish.KindRateLimited, retryable: true, after: 90 * time.Second},
		{name: "429 Retry-After capped", status: 429, header: hdr("Retry-After", "999999"), kind: publish.KindRateLimited, retryable: true, after: publish.MaxRetryAfter},
		{name: "429 Retry-After garbage", status: 429, header: hdr("Retry-After", "soon"), kind: publish.KindRateLimited, retryable: true},
		{name: "503 Retry-After", status: 503, header: hdr("Retry-After", "120"), kind: publish.KindHTTPServer, retryable: true, after: 2 * time.Minute},
		{name: "503 without Retry-After", status: 503, kind: publish.KindHTTPServer, retryable: true},
		{name: "500 ignores Retry-After", status: 500, header: hdr("Retry-After", "30"), kind: publish.KindHTTPServer, retryable: true},
		{name: "502", status: 502, kind: publish.KindHTTPServer, retryable: true},
		{name: "504", status: 504, kind: publish.KindHTTPServer, retryable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.header
			if h == nil {
				h = http.Header{}
			}
			err := publish.ClassifyStatus(tc.status, h, []byte(`{"error":"x"}`), now)
			if tc.ok {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			pe := publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
			if pe.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", pe.StatusCode, tc.status)
			}
			if tc.status/100 != 3 && pe.Msg != `{"error":"x"}` {
				t.Errorf("msg = %q, want the body excerpt", pe.Msg)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"  ", 0},
		{"0", 0},
		{"-5", 0},
		{"3", 3 * time.Second},
		{" 45 ", 45 * time.Second},
		{"7200", publish.MaxRetryAfter},
		{"3599", 3599 * time.Second},
		{"3600", publish.MaxRetryAfter},
		{"007", 7 * time.Second},
		// Only RFC 9110 forms: digits or an HTTP-date.
		{"0.25", 0},
		{"+5", 0},
		{"5s", 0},
		{"1e3", 0},
		// Values that overflow a Duration are bounded, never negative.
		{"1e10", 0},
		{"Inf", 0},
		{"-Inf", 0},
		{"NaN", 0},
		{"9223372036854775807", publish.MaxRetryAfter},
		{"99999999999999999999999999999999", publish.MaxRetryAfter},
		{"00000000000000000000000000000012", 12 * time.Second},
		{"Fri, 31 Dec 9999 23:59:59 GMT", publish.MaxRetryAfter},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 0},
		{now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second},
		{now.Add(30 * time.Second).Format(time.ANSIC), 30 * time.Second},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(http.TimeFormat), 0},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), publish.MaxRetryAfter},
		{"tomorrow", 0},
	}
	for _, tc := range tests {
		if got := publish.ParseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestClassifyTransport(t *testing.T) {
	const secretPath = "/services/T000/B000/SeCrEtToKeN"
	tests := []struct {
		name    string
		err     error
		kind    string
		contain string
	}{
		{name: "deadline", err: context.DeadlineExceeded, kind: publish.KindTimeout},
		{name: "wrapped deadline", err: fmt.Errorf("post: %w", context.DeadlineExceeded), kind: publish.KindTimeout},
		{name: "net timeout", err: timeoutErr{}, kind: publish.KindTimeout},
		{name: "refused", err: errors.New("connection refused"), kind: publish.KindNetwork, contain: "connection refused"},
		{name: "url error keeps host, hides path", kind: publish.KindNetwork, contain: "https://hooks.slack.com/<redacted>",
			err: &url.Error{Op: "Post", URL: "https://hooks.slack.com" + secretPath, Err: errors.New("connection reset by peer")}},
		{name: "url error timeout", kind: publish.KindTimeout,
			err: &url.Error{Op: "Post", URL: "https://hooks.slack.com" + secretPath, Err: timeoutErr{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pe := publish.ClassifyTransport(tc.err)
			if pe.Kind != tc.kind || !pe.Retryable {
				t.Errorf("got kind %q retryable %v, want %q retryable", pe.Kind, pe.Retryable, tc.kind)
			}
			if tc.contain != "" && !strings.Contains(pe.Msg, tc.contain) {
				t.Errorf("msg %q does not contain %q", pe.Msg, tc.contain)
			}
			publishtest.AssertNoSecret(t, pe.Error(), secretPath, "SeCrEtToKeN")
		})
	}
	if publish.ClassifyTransport(nil) != nil {
		t.Error("ClassifyTransport(nil) must be nil")
	}
}

func TestAsError(t *testing.T) {
	orig := publish.Permanent(publish.KindConfig, "bad template")
	if got := publish.AsError(fmt.Errorf("publish: %w", orig)); got != orig {
		t.Errorf("AsError of a wrapped *Error = %v, want the original", got)
	}
	got := publish.AsError(errors.New("boom"))
	if got.Kind != publish.KindNetwork || !got.Retryable {
		t.Errorf("AsError(unknown) = %+v, want retryable network", got)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  *publish.Error
		want string
	}{
		{&publish.Error{Kind: publish.KindHTTPClient, StatusCode: 404, Msg: "channel_not_found"}, "http_4xx (HTTP 404): channel_not_found"},
		{&publish.Error{Kind: publish.KindTimeout}, "timeout"},
		{publish.Retryable(publish.KindCircuitOpen, time.Second, "open %d", 5), "circuit_open: open 5"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	if r := publish.Retryable(publish.KindNetwork, 3*time.Second, "x"); !r.Retryable || r.RetryAfter != 3*time.Second {
		t.Errorf("Retryable() = %+v", r)
	}
	if p := publish.Permanent(publish.KindConfig, "x"); p.Retryable {
		t.Errorf("Permanent() = %+v", p)
	}
}

func TestExcerpt(t *testing.T) {
	if got := publish.Excerpt([]byte("  a\n\tb   c ")); got != "a b c" {
		t.Errorf("Excerpt collapses whitespace: got %q", got)
	}
	long := strings.Repeat("x", 1000)
	got := publish.Excerpt([]byte(long))
	if len(got) != 256+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("Excerpt of 1000 bytes has %d bytes", len(got))
	}
}

func TestRedact(t *testing.T) {
	got := publish.Redact("token xoxb-123 in https://x/T1/B2", []string{"xoxb-123", "/T1/B2", ""})
	if got != "token <redacted> in https://x<redacted>" {
		t.Errorf("Redact = %q", got)
	}
}

func TestSend(t *testing.T) {
	srv := publishtest.NewServer(t,
		publishtest.OK("ok"),
		publishtest.Status(400, "invalid_payload"),
		publishtest.Status(429, "slow down").WithHeader("Retry-After", "12"),
		publishtest.Response{Status: 200, Delay: 2 * time.Second},
	)
	ctx := context.Background()
	resp, err := publish.Send(ctx, srv.Client(), http.MethodPost, srv.URL+"/hook", map[string]string{"X-Custom": "v"}, []byte(`{"a":1}`))
	if err != nil || resp.StatusCode != 200 || string(resp.Body) != "ok" {
		t.Fatalf("Send = %+v, %v", resp, err)
	}
	req := srv.Request(t, 0)
	if req.Method != http.MethodPost || req.Path != "/hook" {
		t.Errorf("request %s %s", req.Method, req.Path)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": publish.UserAgent, "X-Custom": "v"} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if req.Get("a") != float64(1) {
		t.Errorf("body = %s", req.Body)
	}

	resp, err = publish.SendJSON(ctx, srv.Client(), http.MethodPost, srv.URL, nil, map[string]int{"a": 1})
	pe := publishtest.AssertError(t, err, publish.KindHTTPClient, false, 0)
	if pe.Msg != "invalid_payload" || resp.StatusCode != 400 || string(resp.Body) != "invalid_payload" {
		t.Errorf("400: err %v, resp %+v", pe, resp)
	}

	_, err = publish.SendJSON(ctx, srv.Client(), http.MethodPost, srv.URL, nil, nil)
	publishtest.AssertError(t, err, publish.KindRateLimited, true, 12*time.Second)

	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = publish.SendJSON(ctx, srv.Client(), http.MethodPost, srv.URL, nil, nil)
	publishtest.AssertError(t, err, publish.KindTimeout, true, 0)

	_, err = publish.SendJSON(context.Background(), nil, http.MethodPost, "://bad", nil, nil)
	publishtest.AssertError(t, err, publish.KindConfig, false, 0)

	_, err = publish.SendJSON(context.Background(), nil, http.MethodPost, srv.URL, nil, func() {})
	publishtest.AssertError(t, err, publish.KindConfig, false, 0)
}

func TestRender(t *testing.T) {
	n := publishtest.Firing()
	tests := []struct {
		name      string
		spec      *target.TemplateSpec
		title     string
		body      string
		wantError bool
	}{
		{name: "no templates", spec: nil},
		{name: "title and body", spec: &target.TemplateSpec{Title: "{{ .Name }} is {{ .Status | upper }}", Body: "{{ .Labels.service }} / {{ .Severity }}"},
			title: "HighErrorRate is FIRING", body: "checkout / critical"},
		{name: "missing label renders empty", spec: &target.TemplateSpec{Title: "[{{ .Labels.nope }}]"}, title: "[]"},
		{name: "execution error", spec: &target.TemplateSpec{Body: "{{ index .Labels 1 }}"}, wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			title, body, err := publish.Render(tc.spec, n)
			if tc.wantError {
				publishtest.AssertError(t, err, publish.KindConfig, false, 0)
				return
			}
			if err != nil || title != tc.title || body != tc.body {
				t.Errorf("Render = %q, %q, %v; want %q, %q", title, body, err, tc.title, tc.body)
			}
		})
	}
}

func TestProviderStateMerge(t *testing.T) {
	var empty publish.ProviderState
	if empty.Clone() != nil {
		t.Error("Clone(nil) must be nil")
	}
	s := publish.ProviderState{"a": "1"}
	m := s.Merge(publish.ProviderState{"b": "2", "a": "3"})
	if m["a"] != "3" || m["b"] != "2" || s["a"] != "1" || len(s) != 1 {
		t.Errorf("Merge = %v, original %v", m, s)
	}
	if got := empty.Merge(publish.ProviderState{"x": "y"}); got["x"] != "y" {
		t.Errorf("nil.Merge = %v", got)
	}
}
