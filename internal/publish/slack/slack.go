// Package slack publishes alerts to Slack, through an incoming webhook (a
// target with url and no token) or the Web API with a bot token (token and
// channel): chat.postMessage, chat.update and thread replies.
package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// ProviderState keys of bot-token targets.
const (
	// StateTS is the ts of the alert's message.
	StateTS = "slack_ts"
	// StateChannel is the channel ID the message was posted to.
	StateChannel = "slack_channel"
	// StateResolveTS is the ts of the "resolved" thread reply.
	StateResolveTS = "slack_resolve_ts"
)

// Web API methods Herald calls.
const (
	MethodPostMessage = "chat.postMessage"
	MethodUpdate      = "chat.update"
)

// Publisher posts to Slack.
type Publisher struct {
	Client *http.Client
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// ObserveFormat, when set, is told how long each Format took.
	ObserveFormat publish.FormatObserver
}

// Publish implements publish.Publisher.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	var (
		res publish.Result
		err error
	)
	if ConfigOf(t).Token != "" {
		res, err = p.publishAPI(ctx, t, n)
	} else {
		res, err = p.publishWebhook(ctx, t, n)
	}
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	return res, nil
}

// publishWebhook posts one message per notification: incoming webhooks cannot
// edit or thread, so an update and a resolve are new messages.
func (p *Publisher) publishWebhook(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	if t.URL == "" {
		return publish.Result{}, publish.Permanent(publish.KindConfig, "slack target has neither an incoming webhook url nor a token")
	}
	start := time.Now()
	m, err := Format(t, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, err
	}
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, t.URL, t.Headers, m)
	if err != nil {
		return publish.Result{}, err
	}
	if err := checkWebhookBody(resp, p.now()); err != nil {
		return publish.Result{}, err
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}

// checkWebhookBody reads a 2xx answer of an incoming webhook as Alertmanager
// does: a JSON answer must say ok:true (an ok:false is classified like a
// Web API error), any other answer must be the text "ok". Anything else
// means Slack did not post the message: a permanent provider error.
func checkWebhookBody(resp publish.Response, now time.Time) error {
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var r APIResponse
		if err := json.Unmarshal(resp.Body, &r); err != nil {
			return &publish.Error{Kind: publish.KindProvider, StatusCode: resp.StatusCode, Retryable: true,
				Msg: "slack incoming webhook: response is not JSON: " + publish.Excerpt(resp.Body)}
		}
		if !r.OK {
			return ClassifyAPIError("incoming webhook", r.Error, resp.StatusCode, resp.Header, now)
		}
		return nil
	}
	if body := strings.TrimSpace(string(resp.Body)); body != "ok" {
		return &publish.Error{Kind: publish.KindProvider, StatusCode: resp.StatusCode,
			Msg: "slack incoming webhook: answered " + strconv.Quote(publish.Excerpt(resp.Body)) + " instead of ok"}
	}
	return nil
}

// publishAPI uses the Web API: a first firing posts a message; a firing
// update edits it; a resolve edits it to show the resolution and replies in
// its thread. Without a known message, update and resolve post new messages.
func (p *Publisher) publishAPI(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	if ConfigOf(t).Channel == "" {
		return publish.Result{}, publish.Permanent(publish.KindConfig, "slack target with a token needs a channel")
	}
	start := time.Now()
	m, err := Format(t, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, err
	}
	ts := n.State[StateTS]
	channel := n.State[StateChannel]
	if channel == "" {
		channel = ConfigOf(t).Channel
	}
	state := publish.ProviderState{}

	switch {
	case ts != "" && n.Event == publish.EventResolved:
		m.Channel, m.TS = channel, ts
		if _, err := p.call(ctx, t, MethodUpdate, m); err != nil && publish.AsError(err).Retryable {
			return publish.Result{}, err
		}
		// A message that can no longer be edited (deleted, too old) still
		// gets the resolve reply below.
		reply, err := FormatReply(t, n)
		if err != nil {
			return publish.Result{}, err
		}
		reply.Channel, reply.ThreadTS = channel, ts
		r, err := p.call(ctx, t, MethodPostMessage, reply)
		if err == nil {
			state[StateTS], state[StateChannel], state[StateResolveTS] = ts, channel, r.TS
			return publish.Result{StatusCode: http.StatusOK, State: state}, nil
		}
		if !hasCode(err, "thread_not_found", "message_not_found") {
			return publish.Result{}, err
		}
		// The parent message was deleted: post the resolved message at
		// the top level, as for an alert without a known message.
		m.TS = ""

	case ts != "" && n.Update:
		m.Channel, m.TS = channel, ts
		r, err := p.call(ctx, t, MethodUpdate, m)
		if err == nil {
			state[StateTS], state[StateChannel] = firstNonEmpty(r.TS, ts), firstNonEmpty(r.Channel, channel)
			return publish.Result{StatusCode: http.StatusOK, State: state}, nil
		}
		if !messageGone(err) {
			return publish.Result{}, err
		}
		// The original message is gone: post the update as a new message.
		m.TS = ""
	}

	m.Channel = ConfigOf(t).Channel
	r, err := p.call(ctx, t, MethodPostMessage, m)
	if err != nil {
		return publish.Result{}, err
	}
	state[StateTS], state[StateChannel] = r.TS, firstNonEmpty(r.Channel, ConfigOf(t).Channel)
	return publish.Result{StatusCode: http.StatusOK, State: state}, nil
}

// APIResponse is the common part of a Web API answer.
type APIResponse struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Channel string `json:"channel,omitempty"`
	TS      string `json:"ts,omitempty"`
}

// call invokes a Web API method with the bot token and classifies the answer:
// HTTP errors by the shared classifier, a 200 with ok:false by ClassifyAPIError.
func (p *Publisher) call(ctx context.Context, t target.Target, method string, m Message) (APIResponse, error) {
	headers := make(map[string]string, len(t.Headers)+2)
	for k, v := range t.Headers {
		headers[k] = v
	}
	headers["Authorization"] = "Bearer " + ConfigOf(t).Token
	headers["Content-Type"] = "application/json; charset=utf-8"
	if method == MethodUpdate {
		// chat.update keeps the original author; it takes no username or icon.
		m.Username, m.IconEmoji = "", ""
	}
	url := strings.TrimRight(t.Endpoint(), "/") + "/" + method
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, url, headers, m)
	if err != nil {
		return APIResponse{}, err
	}
	var r APIResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return APIResponse{}, &publish.Error{Kind: publish.KindProvider, StatusCode: resp.StatusCode, Retryable: true,
			Msg: "slack " + method + ": response is not JSON: " + publish.Excerpt(resp.Body)}
	}
	if !r.OK {
		return APIResponse{}, ClassifyAPIError(method, r.Error, resp.StatusCode, resp.Header, p.now())
	}
	return r, nil
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Web API error codes that mean "try again later".
var retryableCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"timeout":             true,
	"team_added_to_org":   true,
	// The workspace is migrating into an Enterprise Grid org: transient.
	"org_login_required": true,
}

// ClassifyAPIError turns a Web API ok:false answer into a delivery error:
// ratelimited is retryable (honouring Retry-After), Slack-side failures
// (internal_error, fatal_error, service_unavailable, request_timeout) are
// retryable, everything else (invalid_auth, not_authed, channel_not_found,
// is_archived, msg_too_long, invalid_blocks...) is permanent.
func ClassifyAPIError(method, code string, status int, header http.Header, now time.Time) *publish.Error {
	if code == "" {
		code = "unknown_error"
	}
	msg := "slack " + method + ": " + code
	switch {
	case code == "ratelimited" || code == "rate_limited":
		return &publish.Error{Kind: publish.KindRateLimited, StatusCode: status, Retryable: true,
			RetryAfter: publish.ParseRetryAfter(header.Get("Retry-After"), now), Msg: msg}
	case retryableCodes[code]:
		return &publish.Error{Kind: publish.KindProvider, StatusCode: status, Retryable: true, Msg: msg}
	default:
		return &publish.Error{Kind: publish.KindProvider, StatusCode: status, Msg: msg, Auth: authErrors[code]}
	}
}

// messageGone reports whether err says the message to edit no longer exists
// or cannot be edited.
func messageGone(err error) bool {
	return hasCode(err, "message_not_found", "cant_update_message", "edit_window_closed")
}

// hasCode reports whether err is a permanent Web API error with one of codes.
func hasCode(err error, codes ...string) bool {
	pe := publish.AsError(err)
	if pe.Kind != publish.KindProvider || pe.Retryable {
		return false
	}
	for _, code := range codes {
		if strings.HasSuffix(pe.Msg, ": "+code) {
			return true
		}
	}
	return false
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
