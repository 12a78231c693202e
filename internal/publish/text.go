package publish

import (
	"errors"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
)

// Truncate shortens s to at most max characters (runes), ending with "…"
// when cut. Providers use it to stay inside their field limits.
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
			return s[:i] + CutMark
		}
		n++
	}
	return s
}

// RedactError returns err with every secret removed from its message when
// it is an *Error (provider error bodies sometimes echo credentials).
func RedactError(err error, secrets []string) error {
	var pe *Error
	if !errors.As(err, &pe) {
		return err
	}
	msg := Redact(pe.Msg, secrets)
	if msg == pe.Msg {
		return err
	}
	out := *pe
	out.Msg = msg
	return &out
}

// StatusTitle is the default title of a notification that has no template
// title: "[FIRING] <alertname>" ("[RESOLVED] ...", "(updated)" after a
// changed firing alert; the fingerprint when the alert has no name).
func StatusTitle(n Notification) string {
	word := "FIRING"
	if n.Event == EventResolved {
		word = "RESOLVED"
	}
	name := n.Alert.Name()
	if name == "" {
		name = "alert " + n.Alert.Fingerprint
	}
	title := "[" + word + "] " + name
	if n.Update && n.Event != EventResolved {
		title += " (updated)"
	}
	return title
}

// UTF16Len is the length of s in UTF-16 code units, the unit some
// providers count their limits in (Telegram's entities, Opsgenie's
// fields).
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// TruncateUTF16 shortens s to at most max UTF-16 code units, ending with
// CutMark when cut.
func TruncateUTF16(s string, max int) string {
	if UTF16Len(s) <= max {
		return s
	}
	n := 0
	for i, r := range s {
		if n+utf16.RuneLen(r) > max-1 {
			return s[:i] + CutMark
		}
		n += utf16.RuneLen(r)
	}
	return s
}

// Palette is what a provider shows for each state of an alert: a colour,
// a card style, an icon.
type Palette[T any] struct {
	Critical, Warning, Info, Resolved T
}

// For picks n's entry: Resolved once resolved, else by severity (anything
// but critical and info is a warning).
func (p Palette[T]) For(n Notification) T {
	if n.Event == EventResolved {
		return p.Resolved
	}
	switch n.Severity() {
	case alert.SeverityCritical:
		return p.Critical
	case alert.SeverityInfo:
		return p.Info
	default:
		return p.Warning
	}
}
