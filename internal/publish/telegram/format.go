package telegram

import (
	"net/url"
	"strings"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
)

// Limits of the message (https://core.telegram.org/bots/api#sendmessage):
// the text is at most MaxText characters after entity parsing, counted in
// UTF-16 code units as Telegram counts entity lengths.
const (
	MaxText = 4096
	// Caps applied before the whole message is fitted, so that a long
	// description leaves room for the links and labels.
	MaxSummary     = 1024
	MaxDescription = 3000
	MaxLabelValue  = 256
	// TruncatedMark ends a message that had to be cut.
	TruncatedMark = "\n… (truncated)"
)

// segment is a piece of the message: text between an opening and a
// closing tag (either may be empty). Only text counts towards MaxText.
type segment struct {
	open, text, close string
	// cuttable: the text may be shortened; a segment that is not (a link)
	// is left out whole.
	cuttable bool
}

func plain(s string) segment { return segment{text: s, cuttable: true} }
func tag(name, s string) segment {
	return segment{open: "<" + name + ">", text: s, close: "</" + name + ">", cuttable: true}
}
func link(href, s string) segment {
	return segment{open: `<a href="` + escapeAttr(href) + `">`, text: s, close: "</a>"}
}
func escapeText(s string) string { return textEscaper.Replace(s) }
func escapeAttr(s string) string { return attrEscaper.Replace(s) }

var (
	textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
)

func visibleLen(segs []segment) int {
	n := 0
	for _, s := range segs {
		n += publish.UTF16Len(s.text)
	}
	return n
}

// Text renders the message for n as Telegram HTML (parse_mode HTML): every
// alert value escaped, only <b>, <code> and <a href> tags. A message over
// MaxText visible characters is cut where it reaches the limit (the tags
// stay balanced) and ends with TruncatedMark.
func Text(n publish.Notification, title, body string) string {
	return render(message(n, title, body), MaxText)
}

func render(segs []segment, max int) string {
	var b strings.Builder
	if visibleLen(segs) <= max {
		for _, s := range segs {
			b.WriteString(s.open + escapeText(s.text) + s.close)
		}
		return b.String()
	}
	room := max - publish.UTF16Len(TruncatedMark)
	for _, s := range segs {
		l := publish.UTF16Len(s.text)
		if l <= room {
			b.WriteString(s.open + escapeText(s.text) + s.close)
			room -= l
			continue
		}
		if s.cuttable && room >= 2 {
			b.WriteString(s.open + escapeText(publish.TruncateUTF16(s.text, room)) + s.close)
		}
		break
	}
	b.WriteString(escapeText(TruncatedMark))
	return b.String()
}

// message lays out the notification.
func message(n publish.Notification, title, body string) []segment {
	a := n.Alert
	name := strings.TrimSpace(title)
	if name == "" {
		name = a.Name()
	}
	if name == "" {
		name = "alert " + a.Fingerprint
	}
	var segs []segment
	add := func(s ...segment) { segs = append(segs, s...) }
	status, icon := "FIRING", severityIcon(n.Severity())
	switch {
	case n.Event == publish.EventResolved:
		status, icon = "RESOLVED", "✅"
	case n.Update:
		status = "FIRING, updated"
	}
	add(plain(icon+" "), tag("b", "["+status+"] "+name))
	summary := a.Summary()
	if summary != name {
		add(plain("\n" + publish.TruncateUTF16(summary, MaxSummary)))
	}
	if n.Event == publish.EventResolved {
		if !a.EndsAt.IsZero() {
			add(plain("\n"), tag("b", "Ended:"), plain(" "+a.EndsAt.UTC().Format("2006-01-02 15:04:05 UTC")))
		}
		return segs
	}
	desc := body
	if desc == "" {
		desc = a.Annotations["description"]
	}
	if desc = strings.TrimSpace(desc); desc != "" && desc != summary {
		add(plain("\n\n" + publish.TruncateUTF16(desc, MaxDescription)))
	}
	add(plain("\n\n"), tag("b", "Severity:"), plain(" "+n.Severity()))
	if !a.StartsAt.IsZero() {
		add(plain("\n"), tag("b", "Started:"), plain(" "+a.StartsAt.UTC().Format("2006-01-02 15:04:05 UTC")))
	}
	first := true
	for _, l := range []struct{ name, href string }{
		{"Source", a.GeneratorURL}, {"Runbook", a.Annotations["runbook_url"]},
		{"Dashboard", a.Annotations["dashboard_url"]}, {"Alertmanager", a.ExternalURL},
	} {
		if !httpURL(l.href) {
			continue
		}
		sep := " · "
		if first {
			sep, first = "\n", false
		}
		add(plain(sep), link(l.href, l.name))
	}
	if len(a.Labels) > 0 {
		add(plain("\n"), tag("b", "Labels:"))
		for _, k := range alert.SortedKeys(a.Labels) {
			add(plain("\n"), tag("code", k+"="+publish.TruncateUTF16(a.Labels[k], MaxLabelValue)))
		}
	}
	return segs
}

func severityIcon(sev string) string {
	switch sev {
	case alert.SeverityCritical:
		return "🔴"
	case alert.SeverityInfo:
		return "🔵"
	default:
		return "🟠"
	}
}

// httpURL reports an absolute http(s) URL: only those become links
// (Telegram refuses a message whose link it cannot parse).
func httpURL(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
