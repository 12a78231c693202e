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
// 429 and 503 honour Retry-After; 408, 425, 429 and 5xx are retryable; every
// other status is permanent. body is a short excerpt for the message.
func ClassifyStatus(status int, header http.Header, body []byte, now time.Time) error {
	if status >= 200 && status < 300 {
		return nil
	}
	msg := Excerpt(body)
	switch {
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

// ParseRetryAfter reads a Retry-After header (delay in seconds or an HTTP
// date). It returns 0 when absent or unreadable, capped at MaxRetryAfter.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d <= 0 {
			return 0
		}
	} else {
		return 0
	}
	if d > MaxRetryAfter {
		d = MaxRetryAfter
	}
	return d
}

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

// Excerpt shortens a response body for an error message.
func Excerpt(body []byte) string {
	const max = 256
	s := strings.TrimSpace(string(body))
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
