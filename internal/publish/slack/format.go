package slack

import (
	"slices"
	"strings"
	"time"

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
func Color(n publish.Notification) string { return palette.For(n) }

var palette = publish.Palette[string]{Critical: ColorCritical, Warning: ColorWarning, Info: ColorInfo, Resolved: ColorResolved}

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
//
// Formatting runs for every delivery, so all texts of the message are
// written into one buffer and sliced from it, and the blocks and the text
// objects share one allocation each.
func Format(t target.Target, n publish.Notification) (Message, error) {
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Message{}, err
	}
	a := n.Alert
	resolved := n.Event == publish.EventResolved
	summary := a.Summary()
	name := a.Name()
	desc := strings.TrimSpace(a.Annotations["description"])

	// Labels sorted by name; their size is most of the message.
	var buf [32]labelPair
	labels := buf[:0]
	size := 256 + 2*len(title) + len(body) + 2*len(summary) + len(desc) + len(a.GeneratorURL) + len(a.ExternalURL) +
		len(a.Annotations["runbook_url"]) + len(a.Annotations["dashboard_url"]) + len(a.Fingerprint)
	for k, v := range a.Labels {
		labels = append(labels, labelPair{k, v})
		size += 2 * (len(k) + len(v) + 6)
	}
	slices.SortFunc(labels, func(x, y labelPair) int { return strings.Compare(x.name, y.name) })

	var w textWriter
	w.b.Grow(size)

	// Header: the template title, else "[FIRING] name".
	header := w.begin()
	if title != "" {
		w.raw(title)
	} else {
		w.raw("[")
		w.raw(statusWord(n))
		w.raw("] ")
		if name != "" {
			w.raw(name)
		} else {
			w.raw("alert ")
			w.raw(a.Fingerprint)
		}
		if n.Update && !resolved {
			w.raw(" (updated)")
		}
	}
	w.end(&header)

	// Notification text: emoji, header and summary, escaped for mrkdwn
	// (Slack parses text, so an unescaped <!channel> would ping).
	text := w.begin()
	w.raw(statusEmoji(n))
	w.raw(" ")
	w.escaped(w.b.String()[header.from:header.to])
	if title == "" && summary != name {
		w.raw(": ")
		w.escaped(summary)
	}
	w.end(&text)

	// First section: the template body, else summary and description.
	section := w.begin()
	if body != "" {
		w.raw(body)
	} else {
		w.raw("*")
		w.escaped(summary)
		w.raw("*")
		if desc != "" && desc != summary {
			w.raw("\n")
			w.escaped(desc)
		}
	}
	w.end(&section)

	// Fields: severity, status, times, well-known labels.
	var fields [MaxFields]span
	nf := 0
	addField := func(sp span) {
		w.end(&sp)
		fields[nf] = sp
		nf++
	}
	sp := w.fieldLabel("Severity")
	w.raw(n.Severity())
	addField(sp)
	sp = w.fieldLabel("Status")
	if resolved {
		w.raw("resolved")
	} else {
		w.raw("firing")
	}
	addField(sp)
	if !a.StartsAt.IsZero() {
		sp = w.fieldLabel("Started")
		w.time(a.StartsAt)
		addField(sp)
	}
	if resolved && !a.EndsAt.IsZero() {
		sp = w.fieldLabel("Ended")
		w.time(a.EndsAt)
		addField(sp)
	}
	for _, k := range fieldLabels {
		if v := a.Labels[k]; v != "" && nf < MaxFields {
			sp = w.fieldLabel(k)
			w.escaped(v)
			addField(sp)
		}
	}

	// All labels, sorted by name.
	labelList := w.begin()
	if len(labels) > 0 {
		w.raw("*Labels*")
		for _, l := range labels {
			w.raw("\n`")
			w.escaped(l.name)
			w.raw("` ")
			w.escaped(l.value)
		}
	}
	w.end(&labelList)

	// Context: links, then the fingerprint.
	links := w.begin()
	w.link(links, a.GeneratorURL, "Source")
	w.link(links, a.Annotations["runbook_url"], "Runbook")
	w.link(links, a.Annotations["dashboard_url"], "Dashboard")
	w.link(links, a.ExternalURL, "Alertmanager")
	w.end(&links)
	footer := w.begin()
	w.raw("Fingerprint `")
	w.raw(a.Fingerprint)
	w.raw("` | Herald")
	w.end(&footer)

	all := w.b.String()
	ne := 1
	if !links.empty() {
		ne = 2
	}
	texts := make([]Text, nf+ne)
	for i := 0; i < nf; i++ {
		texts[i] = Text{Type: "mrkdwn", Text: fields[i].of(all)}
	}
	elements := texts[nf:]
	if ne == 2 {
		elements[0] = Text{Type: "mrkdwn", Text: links.of(all)}
	}
	elements[ne-1] = Text{Type: "mrkdwn", Text: footer.of(all)}

	blocks := make([]Block, 5)
	blocks[0] = Block{Type: "header", Text: Text{Type: "plain_text", Text: header.of(all), Emoji: true}}
	blocks[1] = Block{Type: "section", Text: Text{Type: "mrkdwn", Text: section.of(all)}}
	details := blocks[2:2:5]
	details = append(details, Block{Type: "section", Fields: texts[:nf:nf]})
	if !labelList.empty() {
		details = append(details, Block{Type: "section", Text: Text{Type: "mrkdwn", Text: labelList.of(all)}})
	}
	details = append(details, Block{Type: "context", Elements: elements})

	m := Message{Text: text.of(all), Blocks: blocks[:2:2]}
	if o := ConfigOf(t).Slack; o != nil {
		m.Username, m.IconEmoji = o.Username, o.IconEmoji
	}
	m.Attachments = []Attachment{{Color: Color(n), Fallback: m.Text, Blocks: details}}
	EnforceLimits(&m)
	return m, nil
}

type labelPair struct{ name, value string }

// textWriter collects the texts of a message in one buffer.
type textWriter struct{ b strings.Builder }

// span is the position of one text in the buffer.
type span struct{ from, to int }

func (w *textWriter) begin() span   { return span{from: w.b.Len()} }
func (w *textWriter) end(s *span)   { s.to = w.b.Len() }
func (s span) of(all string) string { return all[s.from:s.to] }
func (s span) empty() bool          { return s.to == s.from }
func (w *textWriter) raw(s string)  { w.b.WriteString(s) }
func (w *textWriter) time(t time.Time) {
	var buf [32]byte
	w.b.Write(t.UTC().AppendFormat(buf[:0], timeLayout))
}

// fieldLabel starts a field text: "*label*\n".
func (w *textWriter) fieldLabel(label string) span {
	sp := w.begin()
	w.raw("*")
	w.raw(label)
	w.raw("*\n")
	return sp
}

// escaped writes s escaped for mrkdwn (&, <, >).
func (w *textWriter) escaped(s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		default:
			continue
		}
		w.b.WriteString(s[last:i])
		w.b.WriteString(rep)
		last = i + 1
	}
	w.b.WriteString(s[last:])
}

// link writes <url|label>, separated by " | " from earlier links of the
// text that starts at from.
func (w *textWriter) link(from span, url, label string) {
	if url == "" {
		return
	}
	if w.b.Len() > from.from {
		w.raw(" | ")
	}
	w.raw("<")
	w.raw(escapeURL(url))
	w.raw("|")
	w.raw(label)
	w.raw(">")
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
	section := ":white_check_mark: " + Escape(text)
	if title != "" {
		section = ":white_check_mark: " + text
	}
	text = ":white_check_mark: " + Escape(text)
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
	if o := ConfigOf(t).Slack; o != nil {
		m.Username, m.IconEmoji = o.Username, o.IconEmoji
	}
	EnforceLimits(&m)
	return m, nil
}

const timeLayout = "2006-01-02 15:04:05 UTC"

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
	m.Text = publish.Truncate(m.Text, MaxText)
	budget := MaxBlocks
	m.Blocks = limitBlocks(m.Blocks, &budget)
	for i := range m.Attachments {
		m.Attachments[i].Fallback = publish.Truncate(m.Attachments[i].Fallback, MaxText)
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
			b.Text.Text = publish.Truncate(b.Text.Text, max)
		}
		if len(b.Fields) > MaxFields {
			b.Fields = b.Fields[:MaxFields]
		}
		for j := range b.Fields {
			b.Fields[j].Text = publish.Truncate(b.Fields[j].Text, MaxFieldText)
		}
		if len(b.Elements) > MaxContextElements {
			b.Elements = b.Elements[:MaxContextElements]
		}
		for j := range b.Elements {
			b.Elements[j].Text = publish.Truncate(b.Elements[j].Text, MaxSectionText)
		}
	}
	return blocks
}
