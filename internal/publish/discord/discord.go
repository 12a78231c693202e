// Package discord publishes alerts to a Discord channel through a webhook
// (Execute Webhook): one message per notification with a short content
// line and an embed colored by severity while the alert fires, green once
// it resolves. Mentions are disabled, so alert text cannot ping anyone.
//
// The request is documented at
// https://discord.com/developers/docs/resources/webhook#execute-webhook,
// the embed and its limits at
// https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
// rate limits at https://discord.com/developers/docs/topics/rate-limits.
package discord

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Discord's message and embed limits (characters), enforced by cutting
// texts (ending them with "…"), never by failing a delivery.
const (
	MaxContent     = 2000
	MaxTitle       = 256
	MaxDescription = 4096
	MaxFields      = 25
	MaxFieldName   = 256
	MaxFieldValue  = 1024
	MaxFooter      = 2048
	// MaxEmbedTotal bounds the sum of title, description, field names and
	// values and footer text.
	MaxEmbedTotal = 6000
	// MinTrimmedText is how many characters a text cut to fit
	// MaxEmbedTotal keeps at least; fields are dropped after that.
	MinTrimmedText = 64
	// MaxLinkURL bounds a link's URL: a longer one is left out.
	MaxLinkURL = 512
)

// Embed colors by severity and state (RGB as an integer).
const (
	ColorCritical = 0xE01E5A
	ColorWarning  = 0xECB22E
	ColorInfo     = 0x36C5F0
	ColorResolved = 0x2EB67D
)

// CodeUnknownWebhook is Discord's error code of a deleted (or never
// existing) webhook.
const CodeUnknownWebhook = 10015

// Message is the JSON body of Execute Webhook.
type Message struct {
	Content         string          `json:"content,omitempty"`
	Embeds          []Embed         `json:"embeds"`
	AllowedMentions AllowedMentions `json:"allowed_mentions"`
}

// AllowedMentions with an empty Parse list lets the message mention
// nobody: no @everyone, @here, role or user ping.
type AllowedMentions struct {
	Parse []string `json:"parse"`
}

// Embed is a rich embed.
type Embed struct {
	Title       string  `json:"title,omitempty"`
	URL         string  `json:"url,omitempty"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color"`
	Timestamp   string  `json:"timestamp,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
	Footer      *Footer `json:"footer,omitempty"`
}

// Field is an embed field.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Footer is the embed's footer.
type Footer struct {
	Text string `json:"text"`
}

// Publisher posts one message per notification to the target's URL.
type Publisher struct {
	Client *http.Client
	// ObserveFormat, when set, is told how long each Format took.
	ObserveFormat publish.FormatObserver
}

// Color returns the embed color of n.
func Color(n publish.Notification) int { return palette.For(n) }

var palette = publish.Palette[int]{Critical: ColorCritical, Warning: ColorWarning, Info: ColorInfo, Resolved: ColorResolved}

// emptyValue stands in for an empty label value: Discord refuses empty
// field values.
const emptyValue = "(empty)"

// Format builds the message for n: content is the title; the embed has the
// title (the template title, else "[FIRING] <alertname>") linking to the
// alert's source, the description (the template body, else summary and
// description), severity, status and times, one inline field per label
// (the labels beyond the 25-field limit listed together in one field),
// the runbook, dashboard and source links, and the fingerprint in the
// footer. Every limit of Discord is enforced by cutting.
func Format(t target.Target, n publish.Notification) (Message, error) {
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Message{}, err
	}
	a := n.Alert
	resolved := n.Event == publish.EventResolved
	if title == "" {
		title = publish.StatusTitle(n)
	}
	desc := body
	if desc == "" {
		summary := a.Summary()
		desc = "**" + summary + "**"
		if d := strings.TrimSpace(a.Annotations["description"]); d != "" && d != summary {
			desc += "\n" + d
		}
	}
	e := Embed{
		Title:       publish.Truncate(title, MaxTitle),
		Description: publish.Truncate(desc, MaxDescription),
		Color:       Color(n),
	}
	if linkable(a.GeneratorURL) {
		e.URL = a.GeneratorURL
	}
	status := "firing"
	if resolved {
		status = "resolved"
	}
	e.Fields = append(e.Fields, Field{Name: "Severity", Value: n.Severity(), Inline: true},
		Field{Name: "Status", Value: status, Inline: true})
	if !a.StartsAt.IsZero() {
		e.Fields = append(e.Fields, Field{Name: "Started", Value: a.StartsAt.UTC().Format(timeLayout), Inline: true})
		e.Timestamp = a.StartsAt.UTC().Format(time.RFC3339)
	}
	if resolved && !a.EndsAt.IsZero() {
		e.Fields = append(e.Fields, Field{Name: "Ended", Value: a.EndsAt.UTC().Format(timeLayout), Inline: true})
		e.Timestamp = a.EndsAt.UTC().Format(time.RFC3339)
	}
	links := linksValue(a)
	room := MaxFields - len(e.Fields)
	if links != "" {
		room--
	}
	names := alert.SortedKeys(a.Labels)
	shown := names
	if len(names) > room {
		shown = names[:room-1]
	}
	for _, k := range shown {
		e.Fields = append(e.Fields, Field{Name: publish.Truncate(k, MaxFieldName), Value: fieldValue(a.Labels[k]), Inline: true})
	}
	if rest := names[len(shown):]; len(rest) > 0 {
		lines := make([]string, len(rest))
		for i, k := range rest {
			lines[i] = k + "=" + a.Labels[k]
		}
		e.Fields = append(e.Fields, Field{Name: "+" + strconv.Itoa(len(rest)) + " more labels",
			Value: fieldValue(strings.Join(lines, "\n"))})
	}
	if links != "" {
		e.Fields = append(e.Fields, Field{Name: "Links", Value: links})
	}
	footer := "Herald"
	if a.Fingerprint != "" {
		footer += " · fingerprint " + a.Fingerprint
	}
	e.Footer = &Footer{Text: publish.Truncate(footer, MaxFooter)}
	FitEmbed(&e)
	return Message{
		Content:         publish.Truncate(title, MaxContent),
		Embeds:          []Embed{e},
		AllowedMentions: AllowedMentions{Parse: []string{}},
	}, nil
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func fieldValue(v string) string {
	if strings.TrimSpace(v) == "" {
		return emptyValue
	}
	return publish.Truncate(v, MaxFieldValue)
}

// linksValue is "[Runbook](url) · [Dashboard](url) · [Source](url)" for
// the links the alert has, within MaxFieldValue.
func linksValue(a alert.Alert) string {
	var b strings.Builder
	for _, l := range [...]struct{ title, url string }{
		{"Runbook", a.Annotations["runbook_url"]}, {"Dashboard", a.Annotations["dashboard_url"]},
		{"Source", a.GeneratorURL},
	} {
		if !linkable(l.url) {
			continue
		}
		link := "[" + l.title + "](" + linkEscaper.Replace(l.url) + ")"
		sep := ""
		if b.Len() > 0 {
			sep = " · "
		}
		if utf8.RuneCountInString(b.String())+len(sep)+len(link) > MaxFieldValue {
			continue
		}
		b.WriteString(sep)
		b.WriteString(link)
	}
	return b.String()
}

// linkEscaper keeps a URL from ending a masked link early.
var linkEscaper = strings.NewReplacer("(", "%28", ")", "%29", " ", "%20")

// linkable reports whether u can be a link: absolute http(s), not too
// long (Discord refuses an embed with an invalid URL).
func linkable(u string) bool {
	if u == "" || len(u) > MaxLinkURL {
		return false
	}
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// EmbedSize is the size Discord limits to MaxEmbedTotal: the characters of
// the title, description, field names and values and footer text.
func EmbedSize(e *Embed) int {
	n := utf8.RuneCountInString(e.Title) + utf8.RuneCountInString(e.Description)
	for _, f := range e.Fields {
		n += utf8.RuneCountInString(f.Name) + utf8.RuneCountInString(f.Value)
	}
	if e.Footer != nil {
		n += utf8.RuneCountInString(e.Footer.Text)
	}
	return n
}

// FitEmbed cuts e to MaxEmbedTotal: the longest text first, by what is too
// much, never below MinTrimmedText characters (each cut ends with "…");
// when every text is that short, fields are dropped from the end.
func FitEmbed(e *Embed) {
	for {
		excess := EmbedSize(e) - MaxEmbedTotal
		if excess <= 0 {
			return
		}
		texts := []*string{&e.Title, &e.Description}
		for i := range e.Fields {
			texts = append(texts, &e.Fields[i].Name, &e.Fields[i].Value)
		}
		if e.Footer != nil {
			texts = append(texts, &e.Footer.Text)
		}
		var longest *string
		most := MinTrimmedText
		for _, s := range texts {
			if n := utf8.RuneCountInString(*s); n > most {
				longest, most = s, n
			}
		}
		if longest != nil {
			*longest = publish.Truncate(*longest, max(MinTrimmedText, most-excess))
			continue
		}
		if len(e.Fields) == 0 {
			return // cannot happen: the texts left are at most 3×MinTrimmedText
		}
		e.Fields = e.Fields[:len(e.Fields)-1]
	}
}

// Publish implements publish.Publisher. 204 No Content (200 with
// ?wait=true) is success; a 429 waits for the longest of the body's
// retry_after, X-RateLimit-Reset-After and Retry-After; 404 Unknown
// Webhook is a permanent config error; every other status goes through
// the shared classifier. Errors never carry the webhook token.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	start := time.Now()
	msg, err := Format(t, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	resp, err := publish.SendJSON(ctx, p.Client, http.MethodPost, t.URL, t.Headers, msg)
	if err != nil {
		return publish.Result{}, publish.RedactError(classify(resp, err), t.Secrets())
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}

// apiError is Discord's error body (a 429's carries retry_after).
type apiError struct {
	Message    string   `json:"message"`
	Code       int      `json:"code"`
	RetryAfter *float64 `json:"retry_after"`
	Global     bool     `json:"global"`
}

// classify refines the shared classification with Discord's answer.
func classify(resp publish.Response, err error) error {
	pe := publish.AsError(err)
	var body apiError
	_ = json.Unmarshal(resp.Body, &body)
	switch {
	case pe.StatusCode == http.StatusTooManyRequests:
		out := *pe
		out.Kind, out.Retryable = publish.KindRateLimited, true
		if body.RetryAfter != nil {
			out.RetryAfter = max(out.RetryAfter, Seconds(*body.RetryAfter))
		}
		if v, perr := strconv.ParseFloat(strings.TrimSpace(resp.Header.Get("X-RateLimit-Reset-After")), 64); perr == nil {
			out.RetryAfter = max(out.RetryAfter, Seconds(v))
		}
		return &out
	case pe.StatusCode == http.StatusNotFound && body.Code == CodeUnknownWebhook:
		out := *pe
		out.Kind, out.Retryable = publish.KindConfig, false
		out.Msg = "Unknown Webhook: the webhook was deleted or the url is wrong; " + pe.Msg
		return &out
	}
	return err
}

// Seconds converts a delay in (fractional) seconds as Discord writes it
// into a duration, rounded up to the millisecond: 0 when negative or not
// a number, at most publish.MaxRetryAfter.
func Seconds(s float64) time.Duration {
	if math.IsNaN(s) || s <= 0 {
		return 0
	}
	if s >= publish.MaxRetryAfter.Seconds() {
		return publish.MaxRetryAfter
	}
	return time.Duration(math.Ceil(s*1000)) * time.Millisecond
}
