package slack

import (
	"strings"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Block Kit and message limits Herald enforces (by truncating, never by
// failing a delivery).
const (
	MaxBlocks          = 50
	MaxHeaderText      = 150
	MaxSectionText     = 3000
	MaxFields          = 10
	MaxFieldText       = 2000
	MaxContextElements = 10
	MaxText            = 40000
)

// Attachment colors by severity and state.
const (
	ColorCritical = "#E01E5A"
	ColorWarning  = "#ECB22E"
	ColorInfo     = "#36C5F0"
	ColorResolved = "#2EB67D"
)

// Message is the JSON body of an incoming webhook post, chat.postMessage and
// chat.update.
type Message struct {
	Channel     string       `json:"channel,omitempty"`
	TS          string       `json:"ts,omitempty"`
	ThreadTS    string       `json:"thread_ts,omitempty"`
	Text        string       `json:"text"`
	Blocks      []Block      `json:"blocks,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Username    string       `json:"username,omitempty"`
	IconEmoji   string       `json:"icon_emoji,omitempty"`
}

// Attachment carries the severity color bar and the detail blocks.
type Attachment struct {
	Color    string  `json:"color"`
	Fallback string  `json:"fallback,omitempty"`
	Blocks   []Block `json:"blocks,omitempty"`
}

// Block is a Block Kit block (header, section, context or divider).
type Block struct {
	Type     string `json:"type"`
	Text     Text   `json:"text,omitzero"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Color returns the attachment color of n.
func Color(n publish.Notification) string {
	if n.Event == publish.EventResolved {
		return ColorResolved
	}
	switch n.Severity() {
	case alert.SeverityCritical:
		return ColorCritical
	case alert.SeverityInfo:
		return ColorInfo
	default:
		return ColorWarning
	}
}

func statusWord(n publish.Notification) string {
	if n.Event == publish.EventResolved {
		return "RESOLVED"
	}
	return "FIRING"
}

func statusEmoji(n publish.Notification) string {
	if n.Event == publish.EventResolved {
		return ":white_check_mark:"
	}
	switch n.Severity() {
	case alert.SeverityCritical:
		return ":red_circle:"
	case alert.SeverityInfo:
		return ":large_blue_circle:"
	default:
		return ":large_yellow_circle:"
	}
}

// fieldLabels are shown as fields (in this order) when the alert has them.
var fieldLabels = [...]string{"service", "namespace", "instance", "cluster", "job", "team"}

// Format builds the message for n: a header and a summary section (the
// target's template title and body when set), and an attachment colored by
// severity (green once resolved) with fields, all labels and links. It
// enforces Slack's limits by truncating.
func Format(t target.Target, n publish.Notification) (Message, error) {
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Message{}, err
	}
	a := n.Alert
	status := statusWord(n)
	name := a.Name()
	if name == "" {
		name = "alert " + a.Fingerprint
	}
	header := title
	if header == "" {
		header = "[" + status + "] " + name
		if n.Update && n.Event != publish.EventResolved {
			header += " (updated)"
		}
	}
	summary := a.Summary()
	if body == "" {
		body = defaultBody(a, summary)
	}

	text := statusEmoji(n) + " " + header
	if title == "" && summary != name {
		text += ": " + summary
	}
	m := Message{
		Text: text,
		Blocks: []Block{
			{Type: "header", Text: Text{Type: "plain_text", Text: header, Emoji: true}},
			{Type: "section", Text: Text{Type: "mrkdwn", Text: body}},
		},
	}
	if o := t.Slack; o != nil {
		m.Username, m.IconEmoji = o.Username, o.IconEmoji
	}
	details := make([]Block, 0, 3)
	details = append(details, Block{Type: "section", Fields: fieldTexts(n)})
	if len(a.Labels) > 0 {
		details = append(details, Block{Type: "section", Text: Text{Type: "mrkdwn", Text: labelList(a.Labels)}})
	}
	details = append(details, Block{Type: "context", Elements: contextElements(a)})
	m.Attachments = []Attachment{{Color: Color(n), Fallback: m.Text, Blocks: details}}
	EnforceLimits(&m)
	return m, nil
}

// fieldTexts renders the fields of the detail section: severity, status,
// times and the well-known labels. All texts share one allocation.
func fieldTexts(n publish.Notification) []Text {
	a := n.Alert
	var b strings.Builder
	b.Grow(160 + 16*len(fieldLabels))
	ends := make([]int, 0, MaxFields)
	mark := func() { ends = append(ends, b.Len()) }
	b.WriteString("*Severity*\n")
	b.WriteString(n.Severity())
	mark()
	b.WriteString("*Status*\n")
	if n.Event == publish.EventResolved {
		b.WriteString("resolved")
	} else {
		b.WriteString("firing")
	}
	mark()
	var tb [32]byte
	if !a.StartsAt.IsZero() {
		b.WriteString("*Started*\n")
		b.Write(a.StartsAt.UTC().AppendFormat(tb[:0], timeLayout))
		mark()
	}
	if n.Event == publish.EventResolved && !a.EndsAt.IsZero() {
		b.WriteString("*Ended*\n")
		b.Write(a.EndsAt.UTC().AppendFormat(tb[:0], timeLayout))
		mark()
	}
	for _, k := range fieldLabels {
		if v := a.Labels[k]; v != "" && len(ends) < MaxFields {
			b.WriteString("*")
			b.WriteString(k)
			b.WriteString("*\n")
			b.WriteString(Escape(v))
			mark()
		}
	}
	all := b.String()
	fields := make([]Text, len(ends))
	start := 0
	for i, end := range ends {
		fields[i] = Text{Type: "mrkdwn", Text: all[start:end]}
		start = end
	}
	return fields
}

// FormatReply builds the short thread reply posted under the original
// message when an alert resolves.
func FormatReply(t target.Target, n publish.Notification) (Message, error) {
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Message{}, err
	}
	a := n.Alert
	text := title
	if text == "" {
		text = "Resolved: " + a.Name()
		if s := a.Summary(); s != a.Name() {
			text += ": " + s
		}
	}
	text = ":white_check_mark: " + text
	section := Escape(text)
	if title != "" {
		section = text
	}
	if body != "" {
		section += "\n" + body
	}
	m := Message{
		Text:   text,
		Blocks: []Block{{Type: "section", Text: Text{Type: "mrkdwn", Text: section}}},
	}
	if !a.EndsAt.IsZero() {
		m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []Text{{Type: "mrkdwn", Text: "Ended " + a.EndsAt.UTC().Format(timeLayout)}}})
	}
	if o := t.Slack; o != nil {
		m.Username, m.IconEmoji = o.Username, o.IconEmoji
	}
	EnforceLimits(&m)
	return m, nil
}

const timeLayout = "2006-01-02 15:04:05 UTC"

func defaultBody(a alert.Alert, summary string) string {
	var b strings.Builder
	desc := strings.TrimSpace(a.Annotations["description"])
	b.Grow(len(summary) + len(desc) + 8)
	b.WriteString("*")
	b.WriteString(Escape(summary))
	b.WriteString("*")
	if desc != "" && desc != summary {
		b.WriteString("\n")
		b.WriteString(Escape(desc))
	}
	return b.String()
}

func labelList(labels map[string]string) string {
	keys := alert.SortedKeys(labels)
	size := 12
	for _, k := range keys {
		size += len(k) + len(labels[k]) + 6
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString("*Labels*")
	for _, k := range keys {
		b.WriteString("\n`")
		b.WriteString(Escape(k))
		b.WriteString("` ")
		b.WriteString(Escape(labels[k]))
	}
	return b.String()
}

func contextElements(a alert.Alert) []Text {
	var b strings.Builder
	b.Grow(len(a.GeneratorURL) + len(a.Annotations["runbook_url"]) + len(a.Annotations["dashboard_url"]) + len(a.ExternalURL) + 80)
	link := func(url, label string) {
		if url == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(" | ")
		}
		b.WriteString("<")
		b.WriteString(escapeURL(url))
		b.WriteString("|")
		b.WriteString(label)
		b.WriteString(">")
	}
	link(a.GeneratorURL, "Source")
	link(a.Annotations["runbook_url"], "Runbook")
	link(a.Annotations["dashboard_url"], "Dashboard")
	link(a.ExternalURL, "Alertmanager")
	links := b.Len()
	b.WriteString("Fingerprint `")
	b.WriteString(a.Fingerprint)
	b.WriteString("` | Herald")
	all := b.String()
	if links == 0 {
		return []Text{{Type: "mrkdwn", Text: all}}
	}
	return []Text{{Type: "mrkdwn", Text: all[:links]}, {Type: "mrkdwn", Text: all[links:]}}
}

// Escape escapes &, < and > for Slack mrkdwn.
func Escape(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '&' || c == '<' || c == '>' {
			return mrkdwnEscaper.Replace(s)
		}
	}
	return s
}

var mrkdwnEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escapeURL keeps a URL from breaking the <url|label> syntax.
func escapeURL(u string) string {
	if !strings.ContainsAny(u, "|<>") {
		return u
	}
	return strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E").Replace(u)
}

// EnforceLimits truncates m to Slack's limits: at most MaxBlocks blocks in
// all, header and section texts, fields and context elements within bounds,
// and the text fallback within MaxText.
func EnforceLimits(m *Message) {
	m.Text = Truncate(m.Text, MaxText)
	budget := MaxBlocks
	m.Blocks = limitBlocks(m.Blocks, &budget)
	for i := range m.Attachments {
		m.Attachments[i].Fallback = Truncate(m.Attachments[i].Fallback, MaxText)
		m.Attachments[i].Blocks = limitBlocks(m.Attachments[i].Blocks, &budget)
	}
}

func limitBlocks(blocks []Block, budget *int) []Block {
	if len(blocks) > *budget {
		blocks = blocks[:*budget]
	}
	*budget -= len(blocks)
	for i := range blocks {
		b := &blocks[i]
		if b.Text.Text != "" {
			max := MaxSectionText
			if b.Type == "header" {
				max = MaxHeaderText
			}
			b.Text.Text = Truncate(b.Text.Text, max)
		}
		if len(b.Fields) > MaxFields {
			b.Fields = b.Fields[:MaxFields]
		}
		for j := range b.Fields {
			b.Fields[j].Text = Truncate(b.Fields[j].Text, MaxFieldText)
		}
		if len(b.Elements) > MaxContextElements {
			b.Elements = b.Elements[:MaxContextElements]
		}
		for j := range b.Elements {
			b.Elements[j].Text = Truncate(b.Elements[j].Text, MaxSectionText)
		}
	}
	return blocks
}

// Truncate shortens s to at most max characters, ending with "…" when cut.
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max-1 {
			if utf8.RuneCountInString(s[i:]) <= 1 {
				return s
			}
			return s[:i] + "…"
		}
		n++
	}
	return s
}
