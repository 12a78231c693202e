// Package telegram publishes alerts to a Telegram chat with the Bot API
// (POST {url}/bot<token>/sendMessage, https://core.telegram.org/bots/api):
// one HTML message while an alert fires, replies to it for updates and the
// resolve.
package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// ProviderState keys.
const (
	// StateMessageID is the message_id of the alert's firing message (the
	// one updates and the resolve reply to).
	StateMessageID = "telegram_message_id"
	// StateChatID is the numeric id of the chat it is in (as Telegram
	// answered); StateChat the target's chat_id it was sent to.
	StateChatID = "telegram_chat_id"
	StateChat   = "telegram_chat"
	// StateReplyMessageID is the message_id of the last update or resolve
	// reply.
	StateReplyMessageID = "telegram_reply_message_id"
)

// SendMessage is the body of sendMessage.
type SendMessage struct {
	ChatID             ChatID              `json:"chat_id"`
	MessageThreadID    int64               `json:"message_thread_id,omitempty"`
	Text               string              `json:"text"`
	ParseMode          string              `json:"parse_mode"`
	LinkPreviewOptions *LinkPreviewOptions `json:"link_preview_options,omitempty"`
	ReplyParameters    *ReplyParameters    `json:"reply_parameters,omitempty"`
}

// LinkPreviewOptions of a message.
type LinkPreviewOptions struct {
	IsDisabled bool `json:"is_disabled"`
}

// ReplyParameters make a message a reply.
type ReplyParameters struct {
	MessageID                int64 `json:"message_id"`
	AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
}

// Response is the Bot API's answer.
type Response struct {
	OK          bool                `json:"ok"`
	Result      *Message            `json:"result,omitempty"`
	ErrorCode   int                 `json:"error_code,omitempty"`
	Description string              `json:"description,omitempty"`
	Parameters  *ResponseParameters `json:"parameters,omitempty"`
}

// Message is the part of a sent message Herald keeps.
type Message struct {
	MessageID int64 `json:"message_id"`
	Chat      struct {
		ID int64 `json:"id"`
	} `json:"chat"`
}

// ResponseParameters tell why a request failed and what to do.
type ResponseParameters struct {
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
	RetryAfter      int64 `json:"retry_after,omitempty"`
}

// Publisher sends messages with sendMessage.
type Publisher struct {
	Client *http.Client
	// ObserveFormat, when set, is told how long each Build took.
	ObserveFormat publish.FormatObserver
}

// replyTo is the firing message n's update or resolve replies to: the
// state's message when it was sent to the chat the target posts to now.
func replyTo(cfg *Config, n publish.Notification) int64 {
	if n.Event == publish.EventFiring && !n.Update {
		return 0
	}
	if chat := n.State[StateChat]; chat != "" && chat != cfg.ChatID.String() {
		return 0
	}
	id, err := strconv.ParseInt(n.State[StateMessageID], 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// Build returns the sendMessage body for n: a firing message, or for an
// update or a resolve a reply to the firing message (a plain message when
// Herald knows none).
func Build(t target.Target, n publish.Notification) (SendMessage, error) {
	cfg := configOf(t)
	if cfg == nil {
		return SendMessage{}, publish.Permanent(publish.KindConfig, "telegram target has no bot_token")
	}
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return SendMessage{}, err
	}
	m := SendMessage{
		ChatID:             cfg.ChatID,
		Text:               Text(n, title, body),
		ParseMode:          "HTML",
		LinkPreviewOptions: &LinkPreviewOptions{IsDisabled: true},
	}
	if cfg.MessageThreadID != nil {
		m.MessageThreadID = *cfg.MessageThreadID
	}
	if id := replyTo(cfg, n); id > 0 {
		m.ReplyParameters = &ReplyParameters{MessageID: id, AllowSendingWithoutReply: true}
	}
	return m, nil
}

// Publish implements publish.Publisher.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	cfg := configOf(t)
	if cfg == nil || cfg.BotToken == "" {
		return publish.Result{}, publish.Permanent(publish.KindConfig, "telegram target has no bot_token")
	}
	start := time.Now()
	msg, err := Build(t, n)
	var body []byte
	if err == nil {
		body, err = json.Marshal(msg)
		if err != nil {
			err = publish.Permanent(publish.KindConfig, "encode telegram message: %v", err)
		}
	}
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	rawURL := strings.TrimRight(t.Endpoint(), "/") + "/bot" + cfg.BotToken + "/sendMessage"
	resp, err := publish.Send(ctx, p.Client, http.MethodPost, rawURL, t.Headers, body)
	if err != nil {
		return publish.Result{}, classify(t, resp, err)
	}
	var r Response
	if json.Unmarshal(resp.Body, &r) != nil || !r.OK {
		// A 2xx that is not ok:true: not the Bot API, or a refusal.
		pe := publish.Permanent(publish.KindProvider, "telegram: answered HTTP %d without ok:true: %s",
			resp.StatusCode, publish.RedactedExcerpt(resp.Body, t.Secrets()))
		pe.StatusCode = resp.StatusCode
		if r.ErrorCode != 0 {
			return publish.Result{}, classify(t, resp, pe)
		}
		return publish.Result{}, publish.RedactError(pe, t.Secrets())
	}
	state := publish.ProviderState{}
	if r.Result != nil && r.Result.MessageID > 0 {
		id := strconv.FormatInt(r.Result.MessageID, 10)
		if msg.ReplyParameters != nil || n.Event == publish.EventResolved {
			state[StateReplyMessageID] = id
		} else {
			state[StateMessageID] = id
			state[StateChat] = cfg.ChatID.String()
			if r.Result.Chat.ID != 0 {
				state[StateChatID] = strconv.FormatInt(r.Result.Chat.ID, 10)
			}
		}
	}
	return publish.Result{StatusCode: resp.StatusCode, State: state}, nil
}

// classify reads the Bot API's error answer ({"ok":false, "error_code",
// "description", "parameters"}): retry_after makes a rate-limited error
// retried after exactly that long; migrate_to_chat_id (the group became a
// supergroup) is a permanent config error naming the new chat_id; 404 (an
// unknown bot token) is a permanent auth failure; the rest keeps the shared
// classification (5xx and 429 retried, other 4xx permanent) with
// Telegram's description. The token never reaches the message.
func classify(t target.Target, resp publish.Response, err error) error {
	pe := publish.AsError(err)
	out := *pe
	var r Response
	if len(resp.Body) > 0 && json.Unmarshal(resp.Body, &r) == nil && !r.OK && (r.ErrorCode != 0 || r.Description != "") {
		desc := publish.RedactedExcerpt([]byte(r.Description), t.Secrets())
		out.Msg = "telegram: " + desc
		code := r.ErrorCode
		if code == 0 {
			code = pe.StatusCode
		}
		var params ResponseParameters
		if r.Parameters != nil {
			params = *r.Parameters
		}
		switch {
		case params.MigrateToChatID != 0:
			out = publish.Error{Kind: publish.KindConfig, StatusCode: pe.StatusCode, Msg: fmt.Sprintf(
				"the group was upgraded to a supergroup: set the target's chat_id to %d (telegram: %s)",
				params.MigrateToChatID, desc)}
		case code == http.StatusTooManyRequests || params.RetryAfter > 0:
			out.Kind, out.Retryable = publish.KindRateLimited, true
			if out.StatusCode == 0 {
				out.StatusCode = http.StatusTooManyRequests
			}
			if params.RetryAfter > 0 {
				out.RetryAfter = min(time.Duration(min(params.RetryAfter, int64(publish.MaxRetryAfter/time.Second)))*time.Second,
					publish.MaxRetryAfter)
			}
		case code == http.StatusNotFound:
			out.Kind, out.Retryable, out.Auth = publish.KindProvider, false, true
			out.Msg += " (Telegram does not know the bot token)"
		}
	}
	out.Msg = publish.Redact(out.Msg, t.Secrets())
	return &out
}
