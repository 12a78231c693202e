// Package msteams publishes alerts to a Microsoft Teams channel or chat
// through a Workflows (Power Automate) webhook: one Adaptive Card per
// notification, colored by severity while the alert fires and green once
// it resolves.
//
// The request is documented at
// https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
// (the message envelope) and https://adaptivecards.io/explorer/ (the
// card), the 28 KB message limit at
// https://learn.microsoft.com/en-us/connectors/teams/#known-issues-and-limitations.
package msteams

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limits and constants of the message.
const (
	// MaxMessageSize is the largest body Herald posts: Teams' documented
	// limit of "about 28 KB" for a message, read as 28,000 bytes. A card
	// over it is trimmed (longest texts first, then labels, then links)
	// until it fits, and is never sent larger.
	MaxMessageSize = 28000
	// MinTrimmedText is how many characters a trimmed text keeps at
	// least; when every text is that short, labels are dropped instead.
	MinTrimmedText = 64
	// MaxLinkURL bounds a link's URL: a longer one is left out.
	MaxLinkURL = 2048
	// CardContentType is the attachment's contentType of an Adaptive Card.
	CardContentType = "application/vnd.microsoft.card.adaptive"
	// CardSchema and CardVersion identify the Adaptive Card format.
	CardSchema  = "http://adaptivecards.io/schemas/adaptive-card.json"
	CardVersion = "1.4"
	// TrimmedNote is shown at the end of a card that was trimmed.
	TrimmedNote = "Trimmed to fit the 28 KB message limit of Microsoft Teams."
)

// Adaptive Card styles and colors by severity and state.
const (
	StyleCritical = "attention"
	StyleWarning  = "warning"
	StyleInfo     = "accent"
	StyleResolved = "good"
)

// Message is the body posted to the webhook: a message with one Adaptive
// Card attachment.
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries the card.
type Attachment struct {
	ContentType string `json:"contentType"`
	Content     Card   `json:"content"`
}

// Card is an Adaptive Card.
type Card struct {
	Type    string    `json:"type"`
	Schema  string    `json:"$schema"`
	Version string    `json:"version"`
	MSTeams *MSTeams  `json:"msteams,omitempty"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
}

// MSTeams holds the Teams-specific card settings.
type MSTeams struct {
	Width string `json:"width,omitempty"`
}

// Element is a card element: a TextBlock, a Container or a FactSet.
type Element struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	Size     string    `json:"size,omitempty"`
	Weight   string    `json:"weight,omitempty"`
	Color    string    `json:"color,omitempty"`
	IsSubtle bool      `json:"isSubtle,omitempty"`
	Wrap     bool      `json:"wrap,omitempty"`
	Spacing  string    `json:"spacing,omitempty"`
	Style    string    `json:"style,omitempty"`
	Bleed    bool      `json:"bleed,omitempty"`
	Items    []Element `json:"items,omitempty"`
	Facts    []Fact    `json:"facts,omitempty"`
}

// Fact is one title/value pair of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.OpenUrl button.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Publisher posts one card per notification to the target's URL.
type Publisher struct {
	Client *http.Client
	// ObserveFormat, when set, is told how long each Build took.
	ObserveFormat publish.FormatObserver
}

// Style returns the card style of n: attention for critical, warning for
// warning, accent for info, good once resolved.
func Style(n publish.Notification) string { return palette.For(n) }

var palette = publish.Palette[string]{Critical: StyleCritical, Warning: StyleWarning, Info: StyleInfo, Resolved: StyleResolved}

const timeLayout = "2006-01-02 15:04:05 UTC"

// Format builds the card for n: a header container in the severity's
// style (title and status line), the summary and description (the
// target's template body instead, when set), the labels as a FactSet, the
// fingerprint, and links to the runbook, the dashboard and the source.
// The template title replaces the default title "[FIRING] <alertname>".
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
	status := []string{"Severity " + n.Severity(), "firing"}
	if resolved {
		status[1] = "resolved"
	}
	if !a.StartsAt.IsZero() {
		status = append(status, "started "+a.StartsAt.UTC().Format(timeLayout))
	}
	if resolved && !a.EndsAt.IsZero() {
		status = append(status, "ended "+a.EndsAt.UTC().Format(timeLayout))
	}
	style := Style(n)
	els := []Element{{
		Type: "Container", Style: style, Bleed: true,
		Items: []Element{
			{Type: "TextBlock", Text: title, Size: "Large", Weight: "Bolder", Color: style, Wrap: true},
			{Type: "TextBlock", Text: strings.Join(status, " · "), IsSubtle: true, Spacing: "None", Wrap: true},
		},
	}}
	if body != "" {
		els = append(els, Element{Type: "TextBlock", Text: body, Wrap: true})
	} else {
		summary := a.Summary()
		els = append(els, Element{Type: "TextBlock", Text: summary, Weight: "Bolder", Wrap: true})
		if desc := strings.TrimSpace(a.Annotations["description"]); desc != "" && desc != summary {
			els = append(els, Element{Type: "TextBlock", Text: desc, Wrap: true})
		}
	}
	if len(a.Labels) > 0 {
		names := alert.SortedKeys(a.Labels)
		facts := make([]Fact, len(names))
		for i, k := range names {
			facts[i] = Fact{Title: k, Value: a.Labels[k]}
		}
		els = append(els, Element{Type: "FactSet", Facts: facts})
	}
	if a.Fingerprint != "" {
		els = append(els, Element{Type: "TextBlock", Text: "Fingerprint " + a.Fingerprint + " · Herald",
			Size: "Small", IsSubtle: true, Wrap: true})
	}
	var actions []Action
	for _, l := range [...]struct{ title, url string }{
		{"Runbook", a.Annotations["runbook_url"]}, {"Dashboard", a.Annotations["dashboard_url"]},
		{"Source", a.GeneratorURL},
	} {
		if linkable(l.url) {
			actions = append(actions, Action{Type: "Action.OpenUrl", Title: l.title, URL: l.url})
		}
	}
	return Message{Type: "message", Attachments: []Attachment{{
		ContentType: CardContentType,
		Content: Card{Type: "AdaptiveCard", Schema: CardSchema, Version: CardVersion,
			MSTeams: &MSTeams{Width: "Full"}, Body: els, Actions: actions},
	}}}, nil
}

// linkable reports whether u can be a button's URL: absolute http(s), not
// too long (Teams refuses a card with an invalid URL).
func linkable(u string) bool {
	if u == "" || len(u) > MaxLinkURL {
		return false
	}
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// Build formats n and encodes the card within MaxMessageSize.
func Build(t target.Target, n publish.Notification) ([]byte, error) {
	m, err := Format(t, n)
	if err != nil {
		return nil, err
	}
	return Encode(&m)
}

func encode(m *Message) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, publish.Permanent(publish.KindConfig, "encode card: %v", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Encode encodes m, trimming it to fit MaxMessageSize: it adds
// TrimmedNote, then cuts the longest text (title, texts, label names and
// values) by what is too much, never below MinTrimmedText characters, each
// cut ending with "…"; when every text is that short, it drops labels from
// the end, then the links. A card that still does not fit is a permanent
// config error and is not sent.
func Encode(m *Message) ([]byte, error) {
	b, err := encode(m)
	if err != nil || len(b) <= MaxMessageSize {
		return b, err
	}
	card := &m.Attachments[0].Content
	card.Body = append(card.Body, Element{Type: "TextBlock", Text: TrimmedNote, Size: "Small", IsSubtle: true, Wrap: true})
	for {
		if b, err = encode(m); err != nil || len(b) <= MaxMessageSize {
			return b, err
		}
		excess := len(b) - MaxMessageSize
		if s := longestText(card); s != nil {
			runes := utf8.RuneCountInString(*s)
			*s = publish.Truncate(*s, max(MinTrimmedText, runes-excess-4))
			continue
		}
		if fs := lastFactSet(card); fs != nil {
			dropped := 0
			for len(fs.Facts) > 0 && dropped < excess {
				f := fs.Facts[len(fs.Facts)-1]
				dropped += len(f.Title) + len(f.Value) + len(`{"title":"","value":""},`)
				fs.Facts = fs.Facts[:len(fs.Facts)-1]
			}
			if len(fs.Facts) == 0 {
				fs.Type, fs.Facts, fs.Text = "TextBlock", nil, "(labels left out)"
			}
			continue
		}
		if len(card.Actions) > 0 {
			card.Actions = nil
			continue
		}
		return nil, publish.Permanent(publish.KindConfig,
			"the card is %d bytes even trimmed, over the Teams limit of %d", len(b), MaxMessageSize)
	}
}

// longestText returns the longest text of the card that may still be cut
// (more than MinTrimmedText characters), or nil.
func longestText(c *Card) *string {
	var best *string
	bestLen := 0
	consider := func(s *string) {
		if len(*s) > bestLen && *s != TrimmedNote && utf8.RuneCountInString(*s) > MinTrimmedText {
			best, bestLen = s, len(*s)
		}
	}
	var walk func(els []Element)
	walk = func(els []Element) {
		for i := range els {
			e := &els[i]
			consider(&e.Text)
			for j := range e.Facts {
				consider(&e.Facts[j].Title)
				consider(&e.Facts[j].Value)
			}
			walk(e.Items)
		}
	}
	walk(c.Body)
	return best
}

func lastFactSet(c *Card) *Element {
	for i := len(c.Body) - 1; i >= 0; i-- {
		if c.Body[i].Type == "FactSet" && len(c.Body[i].Facts) > 0 {
			return &c.Body[i]
		}
	}
	return nil
}

// Publish implements publish.Publisher. Workflows answers 202 Accepted;
// every status is classified by the shared classifier. Errors never carry
// the webhook URL's path or query, even when the receiver echoes them.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	start := time.Now()
	body, err := Build(t, n)
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	resp, err := publish.Send(ctx, p.Client, http.MethodPost, t.URL, t.Headers, body)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	return publish.Result{StatusCode: resp.StatusCode}, nil
}
