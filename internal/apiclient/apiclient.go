// Package apiclient is a Go client of Herald's HTTP API (docs/api.md,
// docs/openapi.yaml). Its answers are the types the server writes
// (internal/ingest views, the dead-letter workflow's results), so a field
// the server adds is a field the client reads.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/workflows"
)

// maxAnswerBytes bounds the answer body the client reads.
const maxAnswerBytes = 64 << 20

// Client calls one Herald.
type Client struct {
	base *url.URL
	// token is the admin token (HERALD_ADMIN_TOKEN), webhookToken the
	// webhook's (HERALD_WEBHOOK_TOKEN); each is sent only where it belongs
	// and never appears in an error.
	token, webhookToken string
	http                *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithAdminToken sends the admin token with every /api/v1 call.
func WithAdminToken(token string) Option { return func(c *Client) { c.token = token } }

// WithWebhookToken sends the webhook token with POST /webhook.
func WithWebhookToken(token string) Option { return func(c *Client) { c.webhookToken = token } }

// WithHTTPClient uses hc instead of a client with a 6-minute timeout (a
// replay-all may take 5 minutes).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client of the Herald at baseURL (http or https, such as
// http://127.0.0.1:8080). A URL with user information is refused: the
// admin token is the API's credential.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("API URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http://host:port or https://host:port", u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("API URL %q: leave credentials out of the URL (use HERALD_ADMIN_TOKEN)", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("API URL %q: no query or fragment", u.Redacted())
	}
	c := &Client{base: u, http: &http.Client{Timeout: 6 * time.Minute}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Error is an answer with a 4xx or 5xx status.
type Error struct {
	Method string
	// Path is the request's path and query.
	Path string
	// Status is the HTTP status code; Message the API's error message (or
	// the start of a body that is not the API's JSON).
	Status  int
	Message string
	// RetryAfter is the Retry-After header, if any.
	RetryAfter string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// Response is an answer as it came: the status and the JSON body.
type Response struct {
	Status int
	Body   []byte
}

// call sends one request and decodes a 2xx answer into into. A 4xx or 5xx
// answer is an *Error; its body is decoded into into as well when its
// status is resultOn (a failed replay answers 502 with its result).
func (c *Client) call(ctx context.Context, method, path string, query url.Values, header http.Header, body []byte, into any, resultOn int) (*Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	shown := u.Path
	if u.RawQuery != "" {
		shown += "?" + u.RawQuery
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, shown, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, shown, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, shown, err)
	}
	out := &Response{Status: resp.StatusCode, Body: b}
	if resp.StatusCode >= 400 {
		apiErr := &Error{Method: method, Path: shown, Status: resp.StatusCode, Message: messageOf(b),
			RetryAfter: resp.Header.Get("Retry-After")}
		if resp.StatusCode == resultOn && into != nil && json.Valid(b) {
			_ = json.Unmarshal(b, into)
		}
		return out, apiErr
	}
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			return out, fmt.Errorf("%s %s: decode answer (HTTP %d): %w", method, shown, resp.StatusCode, err)
		}
	}
	return out, nil
}

// messageOf is the API's error message of an error body, or the start of
// a body that is not the API's JSON.
func messageOf(b []byte) string {
	var eb ingest.ErrorBody
	if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
		return eb.Error
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return "(no message)"
	}
	return alert.Truncate(text, 200)
}

func (c *Client) api(ctx context.Context, method, path string, query url.Values, header http.Header, into any) (*Response, error) {
	if header == nil {
		header = http.Header{}
	}
	if c.token != "" {
		header.Set("Authorization", "Bearer "+c.token)
	}
	return c.call(ctx, method, "/api/v1"+path, query, header, nil, into, 0)
}

// AlertFilter selects alerts of GET /api/v1/alerts (empty fields: any).
type AlertFilter struct {
	Status, Severity, Name, Target, Fingerprint string
	// Limit is 1-1000; 0 is the server's default (100).
	Limit int
	// PageToken is an earlier answer's NextPageToken: the next page.
	PageToken string
}

func (f AlertFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "severity": f.Severity, "name": f.Name,
		"target": f.Target, "fingerprint": f.Fingerprint, "page_token": f.PageToken} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Alerts searches alert workflows: GET /api/v1/alerts.
func (c *Client) Alerts(ctx context.Context, f AlertFilter) (ingest.AlertList, *Response, error) {
	var out ingest.AlertList
	resp, err := c.api(ctx, http.MethodGet, "/alerts", f.query(), nil, &out)
	return out, resp, err
}

// Alert reads one alert's state: GET /api/v1/alerts/{fingerprint}.
func (c *Client) Alert(ctx context.Context, fingerprint string) (ingest.AlertView, *Response, error) {
	var out ingest.AlertView
	resp, err := c.api(ctx, http.MethodGet, "/alerts/"+url.PathEscape(fingerprint), nil, nil, &out)
	return out, resp, err
}

// Targets lists the targets with their health: GET /api/v1/targets.
func (c *Client) Targets(ctx context.Context) (ingest.TargetList, *Response, error) {
	var out ingest.TargetList
	resp, err := c.api(ctx, http.MethodGet, "/targets", nil, nil, &out)
	return out, resp, err
}

// TargetHealth reads one target's health: GET /api/v1/targets/{name}/health.
func (c *Client) TargetHealth(ctx context.Context, name string) (ingest.HealthView, *Response, error) {
	var out ingest.HealthView
	resp, err := c.api(ctx, http.MethodGet, "/targets/"+url.PathEscape(name)+"/health", nil, nil, &out)
	return out, resp, err
}

// CheckTarget probes a target now: POST /api/v1/targets/{name}/check.
func (c *Client) CheckTarget(ctx context.Context, name string) (ingest.CheckResult, *Response, error) {
	var out ingest.CheckResult
	resp, err := c.api(ctx, http.MethodPost, "/targets/"+url.PathEscape(name)+"/check", nil, nil, &out)
	return out, resp, err
}

// Mode reads the publishing mode: GET /api/v1/mode.
func (c *Client) Mode(ctx context.Context) (ingest.ModeState, *Response, error) {
	var out ingest.ModeState
	resp, err := c.api(ctx, http.MethodGet, "/mode", nil, nil, &out)
	return out, resp, err
}

// DeadLetterFilter selects dead letters of GET /api/v1/dlq.
type DeadLetterFilter struct {
	Target, Fingerprint string
	// Kind keeps entries whose last failure has this error kind.
	Kind string
	// OlderThan keeps entries whose last failure is older (0: any).
	OlderThan time.Duration
	// Offset and Limit page the list (Limit 0: the server's default, 100).
	Offset, Limit int
}

func (f DeadLetterFilter) query() url.Values {
	q := url.Values{}
	if f.Target != "" {
		q.Set("target", f.Target)
	}
	if f.Fingerprint != "" {
		q.Set("fingerprint", f.Fingerprint)
	}
	if f.Kind != "" {
		q.Set("kind", f.Kind)
	}
	if f.OlderThan > 0 {
		q.Set("older_than", f.OlderThan.String())
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// DeadLetters lists dead letters: GET /api/v1/dlq.
func (c *Client) DeadLetters(ctx context.Context, f DeadLetterFilter) (ingest.DeadLetterList, *Response, error) {
	var out ingest.DeadLetterList
	resp, err := c.api(ctx, http.MethodGet, "/dlq", f.query(), nil, &out)
	return out, resp, err
}

// DeadLetter reads one dead letter: GET /api/v1/dlq/{id}.
func (c *Client) DeadLetter(ctx context.Context, id string) (ingest.DeadLetterView, *Response, error) {
	var out ingest.DeadLetterView
	resp, err := c.api(ctx, http.MethodGet, "/dlq/"+url.PathEscape(id), nil, nil, &out)
	return out, resp, err
}

// DeadLetterStats counts dead letters: GET /api/v1/dlq/stats.
func (c *Client) DeadLetterStats(ctx context.Context) (workflows.Stats, *Response, error) {
	var out workflows.Stats
	resp, err := c.api(ctx, http.MethodGet, "/dlq/stats", nil, nil, &out)
	return out, resp, err
}

// Replay delivers one dead letter again: POST /api/v1/dlq/{id}/replay.
// When the target fails again the answer is a 502 *Error and the result
// (with its error) is returned as well.
func (c *Client) Replay(ctx context.Context, id string) (workflows.ReplayResult, *Response, error) {
	var out workflows.ReplayResult
	header := http.Header{}
	if c.token != "" {
		header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.call(ctx, http.MethodPost, "/api/v1/dlq/"+url.PathEscape(id)+"/replay", nil, header, nil, &out, http.StatusBadGateway)
	return out, resp, err
}

// ReplayAll replays every dead letter, or those of target:
// POST /api/v1/dlq/replay. key is the Idempotency-Key (empty: none; the
// server then picks one): a retry with the same key joins the same
// replay-all. A replay-all still running when the server's time is up
// answers 202: the result then has Done false.
func (c *Client) ReplayAll(ctx context.Context, target, key string) (workflows.ReplayAllResult, *Response, error) {
	var out workflows.ReplayAllResult
	q := url.Values{}
	if target != "" {
		q.Set("target", target)
	}
	header := http.Header{}
	if key != "" {
		header.Set("Idempotency-Key", key)
	}
	resp, err := c.api(ctx, http.MethodPost, "/dlq/replay", q, header, &out)
	return out, resp, err
}

// Drop removes one dead letter: DELETE /api/v1/dlq/{id}.
func (c *Client) Drop(ctx context.Context, id string) (workflows.DropResult, *Response, error) {
	var out workflows.DropResult
	resp, err := c.api(ctx, http.MethodDelete, "/dlq/"+url.PathEscape(id), nil, nil, &out)
	return out, resp, err
}

// Purge removes the dead letters whose last failure is older than
// olderThan: DELETE /api/v1/dlq?older_than=.
func (c *Client) Purge(ctx context.Context, olderThan time.Duration) (workflows.DropResult, *Response, error) {
	var out workflows.DropResult
	resp, err := c.api(ctx, http.MethodDelete, "/dlq", url.Values{"older_than": {olderThan.String()}}, nil, &out)
	return out, resp, err
}

// Webhook posts an Alertmanager webhook: POST /webhook. A 400 that
// refused some alerts one by one returns the answer (the accepted alerts
// were delivered) with the *Error.
func (c *Client) Webhook(ctx context.Context, hook alert.Webhook) (ingest.WebhookResponse, *Response, error) {
	var out ingest.WebhookResponse
	body, err := json.Marshal(hook)
	if err != nil {
		return out, nil, fmt.Errorf("encode webhook: %w", err)
	}
	header := http.Header{"Content-Type": {"application/json"}}
	if c.webhookToken != "" {
		header.Set("Authorization", "Bearer "+c.webhookToken)
	}
	resp, err := c.call(ctx, http.MethodPost, "/webhook", nil, header, body, &out, http.StatusBadRequest)
	return out, resp, err
}
