package alert

import (
	"encoding/json"
	"fmt"
	"sort"
	"unicode/utf8"
)

// Default per-alert limits of a webhook.
const (
	DefaultMaxBytes  = 256 << 10
	DefaultMaxLabels = 256
)

// Reasons a single alert is refused. Only what cannot be repaired is
// refused: too many labels, or labels (with the fixed fields) that alone do
// not fit the byte limit. Long annotations and URLs are trimmed instead.
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

// Trim records one value that Fit shortened (or, for an annotation whose
// name alone is too long, removed) so that its alert fits the limits.
type Trim struct {
	// Field is "annotations.<name>" (the name cut to 128 characters),
	// "generatorURL", "externalURL", "groupKey" or "receiver".
	Field string `json:"field"`
	// Bytes is the value's length as received; Kept what is left of it,
	// the trim marker included (0 when the annotation was removed).
	Bytes int `json:"bytes"`
	Kept  int `json:"kept"`
}

// TrimMark ends every trimmed value, so that a reader sees that text is
// missing and where to find it whole (the source: Prometheus, the rule).
const TrimMark = " …[trimmed by Herald: %d of %d bytes kept]"

// WithDefaults fills zero fields with the defaults.
func (l Limits) WithDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxLabels <= 0 {
		l.MaxLabels = DefaultMaxLabels
	}
	return l
}

// Check returns a *LimitError when a breaks a limit as it is, else nil.
func (l Limits) Check(a Alert) error {
	l = l.WithDefaults()
	if err := l.checkLabels(a); err != nil {
		return err
	}
	if n := encodedSize(a); n > l.MaxBytes {
		return &LimitError{Reason: ReasonTooLarge,
			Msg: fmt.Sprintf("alert is %d bytes encoded, more than the limit of %d", n, l.MaxBytes)}
	}
	return nil
}

func (l Limits) checkLabels(a Alert) error {
	if n := len(a.Labels); n > l.MaxLabels {
		return &LimitError{Reason: ReasonTooManyLabels,
			Msg: fmt.Sprintf("alert has %d labels, more than the limit of %d; labels identify the alert and are never trimmed", n, l.MaxLabels)}
	}
	return nil
}

// Fit makes a fit the limits without losing it: when its encoding is over
// MaxBytes, the longest annotation values are trimmed first, to one common
// length, then the URLs and webhook fields; an annotation whose name alone
// is too long is removed. Every trimmed value ends with TrimMark and is
// listed in the result's Trimmed. Only an alert whose labels (with the
// fixed fields) break the limits is refused, with a *LimitError naming why.
// The same alert always fits the same way, so repeats stay repeats.
func (l Limits) Fit(a Alert) (Alert, error) {
	l = l.WithDefaults()
	if err := l.checkLabels(a); err != nil {
		return a, err
	}
	size := encodedSize(a)
	if size <= l.MaxBytes {
		return a, nil
	}
	orig := size
	a = cloneAlert(a)
	a.Trimmed = nil
	// Room left for the trimmable values once everything else is counted.
	fields := trimmable(a)
	fixed := size
	for _, f := range fields {
		fixed -= f.enc
	}
	room := l.MaxBytes - fixed
	if room < 0 {
		// Annotation names (with empty values) or labels are too large.
		a, room = dropLongAnnotationNames(a, l.MaxBytes, &fields)
		if room < 0 {
			return a, &LimitError{Reason: ReasonTooLarge, Msg: fmt.Sprintf(
				"alert is %d bytes encoded, more than the limit of %d, and its labels alone take %d: labels identify the alert and are never trimmed",
				orig, l.MaxBytes, l.MaxBytes-room)}
		}
	}
	// The encoding estimate is exact for encoding/json's escaping; the loop
	// only guards against a difference, taking the excess off the room.
	base := a
	for range 8 {
		a = cloneAlert(base)
		level := fillLevel(fields, room)
		for _, f := range fields {
			if f.enc <= level {
				continue
			}
			v := cutToEncoded(f.value, level, len(f.value))
			f.set(&a, v)
			a.Trimmed = append(a.Trimmed, Trim{Field: f.name, Bytes: len(f.value), Kept: len(v)})
		}
		sort.Slice(a.Trimmed, func(i, j int) bool { return a.Trimmed[i].Field < a.Trimmed[j].Field })
		n := encodedSize(a)
		if n <= l.MaxBytes {
			return a, nil
		}
		room -= n - l.MaxBytes
	}
	return a, &LimitError{Reason: ReasonTooLarge, Msg: fmt.Sprintf(
		"alert is %d bytes encoded and could not be trimmed to the limit of %d", orig, l.MaxBytes)}
}

// field is one trimmable value of an alert.
type field struct {
	name  string
	value string
	enc   int // bytes of its JSON string encoding, quotes included
	set   func(a *Alert, v string)
}

func trimmable(a Alert) []field {
	var out []field
	for _, k := range SortedKeys(a.Annotations) {
		k := k
		out = append(out, field{name: "annotations." + Truncate(k, 128), value: a.Annotations[k],
			set: func(a *Alert, v string) { a.Annotations[k] = v }})
	}
	// The webhook's fields are omitted from the encoding when empty, so
	// only those that are set count.
	for _, f := range []field{
		{name: "generatorURL", value: a.GeneratorURL, set: func(a *Alert, v string) { a.GeneratorURL = v }},
		{name: "externalURL", value: a.ExternalURL, set: func(a *Alert, v string) { a.ExternalURL = v }},
		{name: "groupKey", value: a.GroupKey, set: func(a *Alert, v string) { a.GroupKey = v }},
		{name: "receiver", value: a.Receiver, set: func(a *Alert, v string) { a.Receiver = v }},
	} {
		if f.value != "" {
			out = append(out, f)
		}
	}
	for i := range out {
		out[i].enc = stringEncodedLen(out[i].value)
	}
	return out
}

// markRoom is the most a value's trim mark can take, quotes aside.
const markRoom = len(TrimMark) + 2*20

// fillLevel is the largest encoded length L such that cutting every value
// longer than L down to L (its mark included) fits room.
func fillLevel(fields []field, room int) int {
	total := func(level int) int {
		n := 0
		for _, f := range fields {
			n += min(f.enc, level)
		}
		return n
	}
	lo, hi := 0, 0
	for _, f := range fields {
		hi = max(hi, f.enc)
	}
	// Values at level L take at most L each; values under it keep theirs.
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if total(mid) <= room {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// cutToEncoded returns a prefix of v, whole runes only, followed by the
// trim mark, whose JSON string encoding takes at most limit bytes. When
// even the mark does not fit, the value becomes empty.
func cutToEncoded(v string, limit, orig int) string {
	budget := limit - 2 - markRoom // quotes and the mark
	if budget < 0 {
		return ""
	}
	used, end := 0, 0
	for i, r := range v {
		n := runeEncodedLen(r, v[i:])
		if used+n > budget {
			break
		}
		used += n
		end = i + utf8.RuneLen(r)
		if r == utf8.RuneError {
			end = i + 1
		}
	}
	prefix := string([]rune(v[:end])) // invalid bytes become U+FFFD
	kept := len(prefix)
	mark := fmt.Sprintf(TrimMark, kept, orig)
	return prefix + mark
}

// dropLongAnnotationNames removes annotations, longest name first, until the
// alert without any annotation value fits max; it returns the room left for
// the values (negative when the labels alone do not fit).
func dropLongAnnotationNames(a Alert, maxBytes int, fields *[]field) (Alert, int) {
	room := func() int {
		n := encodedSize(a)
		for _, f := range trimmable(a) {
			n -= f.enc
		}
		return maxBytes - n
	}
	keys := SortedKeys(a.Annotations)
	sort.SliceStable(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	r := room()
	for _, k := range keys {
		if r >= 0 {
			break
		}
		a.Trimmed = append(a.Trimmed, Trim{Field: "annotations." + Truncate(k, 128), Bytes: len(a.Annotations[k])})
		delete(a.Annotations, k)
		r = room()
	}
	*fields = trimmable(a)
	return a, r
}

func cloneAlert(a Alert) Alert {
	ann := make(map[string]string, len(a.Annotations))
	for k, v := range a.Annotations {
		ann[k] = v
	}
	a.Annotations = ann
	a.Trimmed = append([]Trim(nil), a.Trimmed...)
	return a
}

func encodedSize(a Alert) int {
	b, err := json.Marshal(a)
	if err != nil {
		// Every field is a string, a map of strings or a time: only an
		// out-of-range time fails; count it as too large to be noticed.
		return int(^uint(0) >> 1)
	}
	return len(b)
}

// stringEncodedLen is the length of s as a JSON string by encoding/json,
// quotes included.
func stringEncodedLen(s string) int {
	n := 2
	for i, r := range s {
		n += runeEncodedLen(r, s[i:])
	}
	return n
}

// runeEncodedLen is the bytes encoding/json writes for r, the rune at the
// start of rest (HTML-safe escaping, invalid UTF-8 as \ufffd).
func runeEncodedLen(r rune, rest string) int {
	switch {
	case r == utf8.RuneError:
		if _, size := utf8.DecodeRuneInString(rest); size == 1 {
			return len(`\ufffd`)
		}
		return 3
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\f':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	default:
		return utf8.RuneLen(r)
	}
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
