package publish

import (
	"errors"
	"unicode/utf8"
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
