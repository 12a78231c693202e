package publish

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

// Kinds of delivery failure (stable values: used as metric labels and in
// the dead letters).
const (
	KindHTTPClient   = "http_4xx"
	KindHTTPServer   = "http_5xx"
	KindRateLimited  = "rate_limited"
	KindTimeout      = "timeout"
	KindNetwork      = "network"
	KindProvider     = "provider_error"
	KindConfig       = "config"
	KindCircuitOpen  = "circuit_open"
	KindUnknownType  = "unsupported_type"
	KindTargetAbsent = "target_not_found"
)

// MaxRetryAfter caps a server-requested delay so a bogus header cannot park
// a delivery for days.
const MaxRetryAfter = time.Hour

// Error is a classified delivery failure.
type Error struct {
	Kind       string
	StatusCode int
	Retryable  bool
	// RetryAfter is the delay the receiver asked for (0: use the backoff).
	RetryAfter time.Duration
	Msg        string
	// Auth is set by a provider whose answer says the target's
	// credentials are no good (Slack's invalid_auth and kin): health
	// counts it as an auth failure.
	Auth bool `json:",omitempty"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

// AsError returns err as an *Error, classifying unknown errors as retryable.
func AsError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return ClassifyTransport(err)
}

// Permanent returns a non-retryable error of the given kind.
func Permanent(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// Retryable returns a retryable error of the given kind.
func Retryable(kind string, after time.Duration, format string, args ...any) *Error {
	return &Error{Kind: kind, Retryable: true, RetryAfter: after, Msg: fmt.Sprintf(format, args...)}
}

// ClassifyStatus classifies an HTTP response status. 2xx is success (nil);
// 3xx is a permanent config error (deliveries never follow redirects);
// 429 and 503 honour Retry-After; 408, 425, 429 and 5xx are retryable; every
// other status is permanent. body is a short excerpt for the message.
func ClassifyStatus(status int, header http.Header, body []byte, now time.Time) error {
	return classifyStatus(status, header, body, now, nil)
}

// classifyStatus is ClassifyStatus with the excerpt of body redacted of
// secrets before it is cut (Send passes the request's credentials).
func classifyStatus(status int, header http.Header, body []byte, now time.Time, secrets []string) error {
	if status >= 200 && status < 300 {
		return nil
	}
	msg := RedactedExcerpt(body, secrets)
	switch {
	case status >= 300 && status < 400:
		return &Error{Kind: KindConfig, StatusCode: status, Msg: RedirectMessage(header.Get("Location"))}
	case status == http.StatusTooManyRequests:
		return &Error{Kind: KindRateLimited, StatusCode: status, Retryable: true,
			RetryAfter: ParseRetryAfter(header.Get("Retry-After"), now), Msg: msg}
	case status == http.StatusServiceUnavailable:
		return &Error{Kind: KindHTTPServer, StatusCode: status, Retryable: true,
			RetryAfter: ParseRetryAfter(header.Get("Retry-After"), now), Msg: msg}
	case status == http.StatusRequestTimeout || status == http.StatusTooEarly:
		return &Error{Kind: KindHTTPClient, StatusCode: status, Retryable: true, Msg: msg}
	case status >= 500:
		return &Error{Kind: KindHTTPServer, StatusCode: status, Retryable: true, Msg: msg}
	default:
		return &Error{Kind: KindHTTPClient, StatusCode: status, Msg: msg}
	}
}

// ParseRetryAfter reads a Retry-After header in one of the two forms of
// RFC 9110 section 10.2.3: delay-seconds (non-negative decimal digits only)
// or an HTTP-date. It returns 0 when absent, in another form (a sign, a
// fraction, an exponent, "Inf", "NaN") or already past, and never more than
// MaxRetryAfter: a delay too large for a Duration is capped, not wrapped.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if isDigits(v) {
		// Any number of seconds beyond the cap is the cap; checking the
		// digits first keeps huge values from overflowing.
		const maxSecs = int64(MaxRetryAfter / time.Second)
		trimmed := strings.TrimLeft(v, "0")
		if len(trimmed) > 18 {
			return MaxRetryAfter
		}
		secs, err := strconv.ParseInt("0"+trimmed, 10, 64)
		if err != nil || secs >= maxSecs {
			return MaxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	// Sub saturates instead of overflowing for dates far away.
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > MaxRetryAfter:
		return MaxRetryAfter
	}
	return d
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// RedirectMessage explains a 3xx answer. It names only the host of the
// Location, never its path or query (a redirect URL may carry a token).
func RedirectMessage(location string) string {
	const fix = "Herald does not follow redirects: set the target url to the final address"
	location = strings.TrimSpace(location)
	if location == "" {
		return "redirect without a Location; " + fix
	}
	u, err := url.Parse(location)
	switch {
	case err != nil:
		return "redirect to an unreadable Location; " + fix
	case u.Host == "":
		return "redirect to another path on the same host; " + fix
	}
	return "redirect to host " + Excerpt([]byte(u.Host)) + "; " + fix
}

// NoRedirect is an http.Client CheckRedirect that never follows a redirect:
// the client returns the 3xx answer itself. Every client that delivers
// alerts must use it (Send enforces it on the client it is given): a
// followed 301/302/303 turns the POST into a body-less GET whose 2xx would
// count as delivered, and a followed 307/308 re-posts the body with its
// credentials to another host.
func NoRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// ClassifyTransport classifies an error from sending a request: timeouts and
// network errors are retryable. The message never contains the request URL
// (it may hold a token); only its scheme and host.
func ClassifyTransport(err error) *Error {
	if err == nil {
		return nil
	}
	kind := KindNetwork
	if errors.Is(err, context.DeadlineExceeded) {
		kind = KindTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		kind = KindTimeout
	}
	msg := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = fmt.Sprintf("%s %s: %v", ue.Op, target.RedactURL(ue.URL), ue.Err)
	}
	return &Error{Kind: kind, Retryable: true, Msg: msg}
}

// Excerpt shortens a response body for an error message: at most
// MaxExcerpt bytes, whitespace squeezed, credentials recognisable by their
// shape redacted before the cut (RedactedExcerpt without known secrets;
// the publisher's Redact/RedactError with the target's secrets then masks
// the rest, including a secret the cut went through).
func Excerpt(body []byte) string { return RedactedExcerpt(body, nil) }
