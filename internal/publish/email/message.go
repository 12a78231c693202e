package email

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limits of a message.
const (
	// MaxSubject bounds the subject text after its status tag (runes).
	MaxSubject = 200
	// MaxHeaderLine is where header lines are folded (RFC 5322 section
	// 2.1.1 recommends 78 characters; 998 is the hard limit).
	MaxHeaderLine = 78
	// MaxLine is RFC 5322's hard limit of a line, without its CRLF.
	MaxLine = 998
	// maxIDPart bounds the fingerprint in a Message-ID.
	maxIDPart = 64
)

// StateMessageID is the provider state key of the Message-ID of the
// alert's firing message: its update and resolve messages name it in
// In-Reply-To and References so mail clients thread them.
const StateMessageID = "email_message_id"

// Status tags that start a subject.
const (
	TagFiring   = "[FIRING]"
	TagResolved = "[RESOLVED]"
)

// Message is a composed e-mail.
type Message struct {
	// ID is the Message-ID, with its angle brackets.
	ID string
	// ThreadID is the Message-ID of the alert's firing message (ID itself
	// for the firing message).
	ThreadID string
	// Subject is the decoded subject.
	Subject string
	// From and To are the envelope's bare addresses (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Data is the whole message (header and body), CRLF line endings, no
	// line longer than MaxLine octets.
	Data []byte
}

// messageID is "<herald.<fingerprint>[.<episode>].<event>@<domain>>".
func messageID(n publish.Notification, event, domain string) string {
	var b strings.Builder
	b.WriteString("<herald.")
	b.WriteString(idPart(fingerprint(n)))
	if n.Episode > 0 {
		b.WriteString(".")
		b.WriteString(strconv.Itoa(n.Episode))
	}
	b.WriteString(".")
	b.WriteString(event)
	b.WriteString("@")
	b.WriteString(domain)
	b.WriteString(">")
	return b.String()
}

// MessageID is the Message-ID of the message for n sent from the address
// from: stable per alert, episode and event, so that a retried delivery
// carries the same identifier. A firing message is
// <herald.<fingerprint>.<episode>.firing@<from-domain>>, its resolve
// <herald.<fingerprint>.<episode>.resolved@<from-domain>>, and an update
// <herald.<fingerprint>.<episode>.update.<content hash>@<from-domain>>
// (each update says something new). The episode is left out when unknown.
func MessageID(n publish.Notification, from string) string {
	domain := idDomain(from)
	switch {
	case n.Event == publish.EventResolved:
		return messageID(n, "resolved", domain)
	case n.Update:
		return messageID(n, "update."+n.Alert.ContentHash(), domain)
	default:
		return messageID(n, "firing", domain)
	}
}

// ThreadID is the Message-ID of the firing message of n's alert and
// episode: the one the provider state recorded, else the one MessageID
// gives a firing notification.
func ThreadID(n publish.Notification, from string) string {
	if id := n.State[StateMessageID]; validMessageID(id) {
		return id
	}
	return messageID(n, "firing", idDomain(from))
}

func validMessageID(id string) bool {
	if len(id) < 5 || len(id) > 250 || id[0] != '<' || id[len(id)-1] != '>' || !strings.Contains(id, "@") {
		return false
	}
	for i := 1; i < len(id)-1; i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

func fingerprint(n publish.Notification) string {
	if n.Alert.Fingerprint != "" {
		return n.Alert.Fingerprint
	}
	return alert.Fingerprint(n.Alert.Labels)
}

// idPart keeps letters, digits and '-' of s (at most maxIDPart).
func idPart(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxIDPart {
			break
		}
		if r < utf8.RuneSelf && (r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "alert"
	}
	return b.String()
}

// idDomain is the domain of the from address, as a Message-ID right side.
func idDomain(from string) string {
	addr := from
	if a, err := mail.ParseAddress(from); err == nil {
		addr = a.Address
	}
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	if !validHostname(strings.Trim(domain, "[]")) {
		return "herald.invalid"
	}
	return domain
}

// Subject is the subject of n: the status tag, then the title template's
// text, else "<alertname> — <summary>".
func Subject(n publish.Notification, title string) string {
	tag := TagFiring
	if n.Event == publish.EventResolved {
		tag = TagResolved
	}
	text := title
	if strings.TrimSpace(text) == "" {
		name, summary := n.Alert.Name(), n.Alert.Summary()
		text = summary
		if name != "" && name != summary {
			text = name + " — " + summary
		}
	}
	return tag + " " + publish.Truncate(oneLine(text), MaxSubject)
}

// oneLine turns control characters (line breaks, tabs) into spaces and
// squeezes runs of spaces.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// Build composes the message for n: RFC 5322 with CRLF line endings, a
// multipart/alternative body of a text/plain and a text/html part, both
// quoted-printable.
func Build(t target.Target, cfg *Config, n publish.Notification, now time.Time) (Message, error) {
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Message{}, err
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return Message{}, publish.Permanent(publish.KindConfig, "from is not an e-mail address")
	}
	m := Message{
		ID:       MessageID(n, from.Address),
		ThreadID: ThreadID(n, from.Address),
		Subject:  Subject(n, title),
		From:     from.Address,
	}
	to := make([]string, 0, len(cfg.To))
	for _, r := range cfg.To {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return Message{}, publish.Permanent(publish.KindConfig, "to holds something that is not an e-mail address")
		}
		to = append(to, a.String())
		m.To = append(m.To, a.Address)
	}
	v := newView(n, m.Subject, body)

	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	if err := writePart(mw, "text/plain; charset=utf-8", []byte(plainText(v))); err != nil {
		return Message{}, err
	}
	var html bytes.Buffer
	if err := htmlTemplate.Execute(&html, v); err != nil {
		return Message{}, publish.Permanent(publish.KindConfig, "render the html part: %v", err)
	}
	if err := writePart(mw, "text/html; charset=utf-8", html.Bytes()); err != nil {
		return Message{}, err
	}
	if err := mw.Close(); err != nil {
		return Message{}, publish.Permanent(publish.KindConfig, "compose the message: %v", err)
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(fold(name + ": " + value))
		b.WriteString("\r\n")
	}
	header("Date", now.Format(time.RFC1123Z))
	header("From", from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", encodeHeader(m.Subject))
	header("Message-ID", m.ID)
	if m.ThreadID != m.ID {
		header("In-Reply-To", m.ThreadID)
		header("References", m.ThreadID)
	}
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	// RFC 3834: an automatic message, so that vacation responders keep
	// quiet.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	b.Write(parts.Bytes())
	m.Data = b.Bytes()
	return m, nil
}

func writePart(mw *multipart.Writer, contentType string, content []byte) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", contentType)
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(h)
	if err != nil {
		return publish.Permanent(publish.KindConfig, "compose the message: %v", err)
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write(content); err != nil {
		return publish.Permanent(publish.KindConfig, "compose the message: %v", err)
	}
	if err := qp.Close(); err != nil {
		return publish.Permanent(publish.KindConfig, "compose the message: %v", err)
	}
	return nil
}

// encodeHeader returns s as it is when it is printable ASCII, else as RFC
// 2047 Q-encoded words.
func encodeHeader(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// fold folds a header line at spaces so that no line is longer than
// MaxHeaderLine where a space allows it (encoded words are at most 75
// characters, so every line stays far below MaxLine).
func fold(line string) string {
	if len(line) <= MaxHeaderLine {
		return line
	}
	var b strings.Builder
	lineLen := 0
	for i, word := range strings.Split(line, " ") {
		if i > 0 {
			if lineLen+1+len(word) > MaxHeaderLine && lineLen > 0 {
				b.WriteString("\r\n ")
				lineLen = 1
			} else {
				b.WriteByte(' ')
				lineLen++
			}
		}
		b.WriteString(word)
		lineLen += len(word)
	}
	return b.String()
}

// view is what both parts show.
type view struct {
	Subject     string
	Firing      bool
	Name        string
	Summary     string
	Description string
	// Body is the body template's text (replaces summary and description).
	Body        string
	Severity    string
	StartsAt    string
	EndsAt      string
	Labels      []pair
	Annotations []pair
	Runbook     string
	Dashboard   string
	Generator   string
	External    string
	Fingerprint string
}

type pair struct{ Name, Value string }

// Annotations the message shows in their own place.
var ownAnnotations = map[string]bool{"summary": true, "description": true, "runbook_url": true, "dashboard_url": true}

func newView(n publish.Notification, subject, body string) view {
	a := n.Alert
	v := view{
		Subject: subject, Firing: n.Event != publish.EventResolved, Name: a.Name(),
		Summary: a.Summary(), Description: strings.TrimSpace(a.Annotations["description"]),
		Body: strings.TrimSpace(body), Severity: n.Severity(), Runbook: a.Annotations["runbook_url"],
		Dashboard: a.Annotations["dashboard_url"], Generator: a.GeneratorURL, External: a.ExternalURL,
		Fingerprint: fingerprint(n),
	}
	if v.Description == v.Summary {
		v.Description = ""
	}
	if !a.StartsAt.IsZero() {
		v.StartsAt = a.StartsAt.UTC().Format(time.RFC3339)
	}
	if !a.EndsAt.IsZero() && a.Resolved() {
		v.EndsAt = a.EndsAt.UTC().Format(time.RFC3339)
	}
	for _, k := range alert.SortedKeys(a.Labels) {
		v.Labels = append(v.Labels, pair{k, a.Labels[k]})
	}
	names := make([]string, 0, len(a.Annotations))
	for k := range a.Annotations {
		if !ownAnnotations[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		v.Annotations = append(v.Annotations, pair{k, a.Annotations[k]})
	}
	return v
}

// plainText is the text/plain part.
func plainText(v view) string {
	var b strings.Builder
	b.WriteString(v.Subject + "\n\n")
	if v.Body != "" {
		b.WriteString(v.Body + "\n\n")
	} else {
		b.WriteString(v.Summary + "\n\n")
		if v.Description != "" {
			b.WriteString(v.Description + "\n\n")
		}
	}
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, value)
		}
	}
	status := "firing"
	if !v.Firing {
		status = "resolved"
	}
	field("Status", status)
	field("Severity", v.Severity)
	field("Started", v.StartsAt)
	field("Ended", v.EndsAt)
	if len(v.Labels) > 0 {
		b.WriteString("\nLabels:\n")
		for _, p := range v.Labels {
			fmt.Fprintf(&b, "  %s = %s\n", p.Name, p.Value)
		}
	}
	if len(v.Annotations) > 0 {
		b.WriteString("\nAnnotations:\n")
		for _, p := range v.Annotations {
			fmt.Fprintf(&b, "  %s = %s\n", p.Name, p.Value)
		}
	}
	b.WriteString("\n")
	field("Runbook", v.Runbook)
	field("Dashboard", v.Dashboard)
	field("Source", v.Generator)
	field("Alertmanager", v.External)
	field("Fingerprint", v.Fingerprint)
	b.WriteString("\n-- \nSent by Herald\n")
	return b.String()
}

// htmlTemplate is the text/html part. html/template escapes every value
// for its context: text, attributes, and URLs (a javascript: link becomes
// "#ZgotmplZ").
var htmlTemplate = htmltemplate.Must(htmltemplate.New("email").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:sans-serif">
<h2 style="color:{{if .Firing}}#b3261e{{else}}#1e7a34{{end}}">{{.Subject}}</h2>
{{if .Body}}<pre style="white-space:pre-wrap">{{.Body}}</pre>
{{else}}<p>{{.Summary}}</p>
{{if .Description}}<p>{{.Description}}</p>
{{end}}{{end}}<table style="border-collapse:collapse">
<tr><th align="left">Status</th><td>{{if .Firing}}firing{{else}}resolved{{end}}</td></tr>
{{if .Severity}}<tr><th align="left">Severity</th><td>{{.Severity}}</td></tr>
{{end}}{{if .StartsAt}}<tr><th align="left">Started</th><td>{{.StartsAt}}</td></tr>
{{end}}{{if .EndsAt}}<tr><th align="left">Ended</th><td>{{.EndsAt}}</td></tr>
{{end}}</table>
{{if .Labels}}<h3>Labels</h3>
<table style="border-collapse:collapse">
{{range .Labels}}<tr><th align="left">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{end}}{{if .Annotations}}<h3>Annotations</h3>
<table style="border-collapse:collapse">
{{range .Annotations}}<tr><th align="left">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{end}}<p>
{{if .Runbook}}<a href="{{.Runbook}}">Runbook</a>
{{end}}{{if .Dashboard}}<a href="{{.Dashboard}}">Dashboard</a>
{{end}}{{if .Generator}}<a href="{{.Generator}}">Source</a>
{{end}}{{if .External}}<a href="{{.External}}">Alertmanager</a>
{{end}}</p>
<p style="color:#666">Fingerprint {{.Fingerprint}} · sent by Herald</p>
</body></html>
`))
