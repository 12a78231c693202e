package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/target"
)

// UserAgent is sent with every delivery.
var UserAgent = "Herald/1.0 (+https://github.com/herald-alerts/herald)"

// MaxResponseBody is how much of a response Herald reads.
const MaxResponseBody = 1 << 20

// Response is what came back from a delivery request.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// SendJSON posts payload as JSON with the given headers and classifies the
// outcome: a nil error means a 2xx status. A non-2xx status yields an *Error
// together with the response, so callers can read provider error bodies.
func SendJSON(ctx context.Context, client *http.Client, method, url string, headers map[string]string, payload any) (Response, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return Response{}, Permanent(KindConfig, "encode payload: %v", err)
	}
	return Send(ctx, client, method, url, headers, body)
}

// Send sends body and classifies the outcome like SendJSON. It never
// follows a redirect: a 3xx is a permanent KindConfig error naming the
// Location host.
func Send(ctx context.Context, client *http.Client, method, url string, headers map[string]string, body []byte) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return Response{}, Permanent(KindConfig, "build request: invalid target URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if client == nil {
		client = http.DefaultClient
	}
	// Never follow a redirect, whatever client the caller built: the 3xx
	// is classified as a permanent failure below.
	noFollow := *client
	noFollow.CheckRedirect = NoRedirect
	resp, err := noFollow.Do(req)
	if err != nil {
		if netguard.IsBlocked(err) {
			// A tenant's target pointing where it may not: no retry helps.
			return Response{}, Permanent(KindConfig, "%s", blockedText(err))
		}
		var pe *Error
		if errors.As(err, &pe) {
			// Classified below the client (an http_config's OAuth2 token
			// request refused): keep that classification.
			return Response{}, pe
		}
		return Response{}, ClassifyTransport(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	out := Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: data}
	if err != nil && resp.StatusCode/100 != 2 {
		return out, ClassifyTransport(fmt.Errorf("read response: %w", err))
	}
	// The answer may echo the request's credentials: redact them from the
	// whole answer before its excerpt is cut.
	return out, classifyStatus(resp.StatusCode, resp.Header, data, time.Now(), target.RequestSecrets(url, headers))
}

// blockedText is the dial guard's refusal without the request URL (which
// may hold a token).
func blockedText(err error) string {
	var be *netguard.BlockedError
	if errors.As(err, &be) {
		return be.Error()
	}
	return "blocked address"
}
