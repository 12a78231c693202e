package alert

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Default per-alert limits of a webhook.
const (
	DefaultMaxBytes  = 256 << 10
	DefaultMaxLabels = 256
)

// Reasons a single alert is refused.
const (
	ReasonTooLarge      = "too_large"
	ReasonTooManyLabels = "too_many_labels"
)

// Limits bound one alert of a webhook. Zero fields take the defaults.
type Limits struct {
	// MaxBytes bounds the alert's JSON encoding, which is what its workflow
	// carries in history.
	MaxBytes int
	// MaxLabels bounds the number of labels.
	MaxLabels int
}

// LimitError is one alert that breaks a Limits bound.
type LimitError struct {
	Reason string // ReasonTooLarge or ReasonTooManyLabels
	Msg    string
}

func (e *LimitError) Error() string { return e.Msg }

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxLabels <= 0 {
		l.MaxLabels = DefaultMaxLabels
	}
	return l
}

// Check returns a *LimitError when a breaks a limit, else nil.
func (l Limits) Check(a Alert) error {
	l = l.withDefaults()
	if n := len(a.Labels); n > l.MaxLabels {
		return &LimitError{Reason: ReasonTooManyLabels,
			Msg: fmt.Sprintf("alert has %d labels, more than the limit of %d", n, l.MaxLabels)}
	}
	b, err := json.Marshal(a)
	if err != nil {
		// Every field is a string, a map of strings or a time: only an
		// out-of-range time fails, and such an alert is no use either.
		return &LimitError{Reason: ReasonTooLarge, Msg: "alert cannot be encoded: " + err.Error()}
	}
	if len(b) > l.MaxBytes {
		return &LimitError{Reason: ReasonTooLarge,
			Msg: fmt.Sprintf("alert is %d bytes encoded, more than the limit of %d", len(b), l.MaxBytes)}
	}
	return nil
}

// Truncate shortens s to at most n runes, marking a cut with "…" (counted in
// n). Invalid UTF-8 becomes U+FFFD, so the result is always valid UTF-8.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.ValidString(s) && utf8.RuneCountInString(s) <= n {
		return s
	}
	out := make([]rune, 0, n)
	for _, r := range s {
		out = append(out, r)
	}
	if len(out) <= n {
		return string(out)
	}
	return string(out[:n-1]) + "…"
}
