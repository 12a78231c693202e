package target

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// Bounds of the functions that take a regular expression (match,
// reReplaceAll) or build a string whose size is not that of their input.
const (
	// MaxRegexpLength bounds a pattern's source, in bytes.
	MaxRegexpLength = 1024
	// MaxRegexpSize bounds a pattern's program: its nodes, with every
	// counted repetition expanded (`a{1000}` is about 1000).
	MaxRegexpSize = 2000
	// MaxFuncResult bounds the string one call of reReplaceAll or join
	// may build; what all calls build is bounded by the Budget.
	MaxFuncResult = 1 << 20
	// regexpWorkPerStep is how much regexp work is one step: the text's
	// bytes times the pattern's size (Go's regexp takes up to about 5ns
	// per unit, a step about 0.5µs).
	regexpWorkPerStep = 64
	// replaceBytesPerStep: reReplaceAll may find a match at every byte of
	// its text, and each costs about a third of a step.
	replaceBytesPerStep = 4
	// scanBytesPerStep is how many input bytes a function that parses or
	// scans its input (without building a string of that size) may read
	// per step.
	scanBytesPerStep = 256
	// tzLoadSteps is what loading a time zone costs (once per zone and
	// process; later calls hit the cache).
	tzLoadSteps = 64
)

// templateFuncs returns the functions a template may call, each charging
// b: Herald's own (upper, lower, title, join) and Alertmanager's (its
// template package's default functions and the humanize family of
// Prometheus' templates, with their semantics). Each call charges a step,
// plus the bytes it builds and, for those that read their input without
// building a string of its size, one step per scanBytesPerStep bytes read.
func templateFuncs(b Budget) template.FuncMap {
	built := func(r string) (string, error) {
		if err := b.Step(1); err != nil {
			return "", err
		}
		return r, b.Built(len(r))
	}
	str := func(f func(string) string) func(string) (string, error) {
		return func(s string) (string, error) { return built(f(s)) }
	}
	scan := func(n int) error { return b.Step(1 + n/scanBytesPerStep) }
	num := func(f func(float64) string) func(any) (string, error) {
		return func(v any) (string, error) {
			if s, ok := v.(string); ok {
				if err := scan(len(s)); err != nil {
					return "", err
				}
			}
			x, err := toFloat(v)
			if err != nil {
				return "", err
			}
			return built(f(x))
		}
	}
	timeArg := func(v any) (time.Time, error) {
		if s, ok := v.(string); ok {
			if err := scan(len(s)); err != nil {
				return time.Time{}, err
			}
		} else if err := b.Step(1); err != nil {
			return time.Time{}, err
		}
		return toTime(v)
	}
	join := func(a, c any) (string, error) {
		elems, sep, err := joinArgs(a, c)
		if err != nil {
			return "", err
		}
		n := len(sep) * max(len(elems)-1, 0)
		for _, e := range elems {
			n += len(e)
		}
		if n > MaxFuncResult {
			return "", fmt.Errorf("the result would be %d bytes, over the limit of %d", n, MaxFuncResult)
		}
		if err := b.Step(1 + len(elems)); err != nil {
			return "", err
		}
		return strings.Join(elems, sep), b.Built(n)
	}
	return template.FuncMap{
		// Herald's names.
		"upper": str(strings.ToUpper),
		"lower": str(strings.ToLower),
		"title": str(titleCase),
		"join":  join,
		// toJson writes its argument as JSON (a string as a quoted,
		// escaped JSON string), for body templates that build JSON.
		"toJson": func(v any) (string, error) {
			var buf strings.Builder
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(v); err != nil {
				return "", fmt.Errorf("toJson: %w", err)
			}
			r := strings.TrimSuffix(buf.String(), "\n")
			if len(r) > MaxFuncResult {
				return "", fmt.Errorf("the result would be %d bytes, over the limit of %d", len(r), MaxFuncResult)
			}
			if err := scan(len(r)); err != nil {
				return "", err
			}
			return r, b.Built(len(r))
		},

		// Alertmanager's template/template.go.
		"toUpper":   str(strings.ToUpper),
		"toLower":   str(strings.ToLower),
		"trimSpace": str(strings.TrimSpace),
		"safeHtml":  str(identity),
		"safeUrl":   str(identity),
		"urlUnescape": func(s string) (string, error) {
			r, err := url.QueryUnescape(s)
			if err != nil {
				return "", err
			}
			return built(r)
		},
		"stringSlice": func(s ...string) ([]string, error) { return s, b.Step(1 + len(s)) },
		"match": func(pattern, text string) (bool, error) {
			re, err := regexpFor(b, pattern, len(text))
			if err != nil {
				return false, err
			}
			return re.MatchString(text), nil
		},
		"reReplaceAll": func(pattern, repl, text string) (string, error) {
			re, err := regexpFor(b, pattern, len(text))
			if err != nil {
				return "", err
			}
			if err := b.Step(len(text) / replaceBytesPerStep); err != nil {
				return "", err
			}
			if err := checkReplaceSize(b, re, repl, text); err != nil {
				return "", err
			}
			return built(re.ReplaceAllString(text, repl))
		},
		"date": func(layout string, v any) (string, error) {
			t, err := timeArg(v)
			if err != nil {
				return "", err
			}
			return built(t.Format(layout))
		},
		"tz": func(name string, v any) (time.Time, error) {
			t, err := timeArg(v)
			if err != nil {
				return time.Time{}, err
			}
			loc, err := location(b, name)
			if err != nil {
				return time.Time{}, err
			}
			return t.In(loc), nil
		},
		"since": func(v any) (time.Duration, error) {
			t, err := timeArg(v)
			if err != nil {
				return 0, err
			}
			return time.Since(t), nil
		},

		// Prometheus' template functions, which Alertmanager templates use
		// (humanizeDuration is also in Alertmanager's list).
		"humanize":           num(humanize),
		"humanize1024":       num(humanize1024),
		"humanizeDuration":   num(humanizeDuration),
		"humanizePercentage": num(humanizePercentage),
		"humanizeTimestamp": func(v any) (string, error) {
			if s, ok := v.(string); ok {
				if err := scan(len(s)); err != nil {
					return "", err
				}
			}
			x, err := toFloat(v)
			if err != nil {
				return "", err
			}
			r, err := humanizeTimestamp(x)
			if err != nil {
				return "", err
			}
			return built(r)
		},
	}
}

// unlimited is the Budget of TemplateFuncs: it charges nothing.
type unlimited struct{}

func (unlimited) Step(int) error  { return nil }
func (unlimited) Built(int) error { return nil }

func identity(s string) string { return s }

// titleCase upper-cases the first character of s (a whole rune, so
// multi-byte text stays valid UTF-8). Alertmanager's title upper-cases the
// first letter of every word and lower-cases the rest; Herald keeps its
// own meaning of the name (docs/targets.md says so).
func titleCase(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if size == 0 || r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[size:]
}

// joinArgs accepts both argument orders: Herald's (join .LabelNames ", ")
// and Alertmanager's (join ", " .LabelNames, so that .LabelNames | join ", "
// works).
func joinArgs(a, b any) ([]string, string, error) {
	switch x := a.(type) {
	case string:
		if elems, ok := b.([]string); ok {
			return elems, x, nil
		}
	case []string:
		if sep, ok := b.(string); ok {
			return x, sep, nil
		}
	}
	return nil, "", fmt.Errorf(`join takes a separator and a list of strings (join ", " .LabelNames), not %T and %T`, a, b)
}

// regexps caches compiled patterns by source. It is small and bounded:
// when full, an arbitrary entry makes room.
var regexps = struct {
	sync.Mutex
	m map[string]*sizedRegexp
}{m: map[string]*sizedRegexp{}}

const maxCachedRegexps = 64

type sizedRegexp struct {
	*regexp.Regexp
	size int
}

// regexpFor compiles pattern (or takes it from the cache) and charges the
// work of running it over textLen bytes: one step per regexpWorkPerStep
// bytes times the pattern's size; compiling costs the pattern's length
// and size in steps.
func regexpFor(b Budget, pattern string, textLen int) (*sizedRegexp, error) {
	if err := b.Step(1); err != nil {
		return nil, err
	}
	regexps.Lock()
	re, ok := regexps.m[pattern]
	regexps.Unlock()
	if !ok {
		var err error
		if re, err = compileRegexp(pattern); err != nil {
			return nil, err
		}
		if err := b.Step(len(pattern) + re.size); err != nil {
			return nil, err
		}
	}
	return re, b.Step(textLen * re.size / regexpWorkPerStep)
}

// compileRegexp compiles pattern within MaxRegexpLength and MaxRegexpSize,
// and caches it.
func compileRegexp(pattern string) (*sizedRegexp, error) {
	if len(pattern) > MaxRegexpLength {
		return nil, fmt.Errorf("regexp is %d bytes long, over the limit of %d", len(pattern), MaxRegexpLength)
	}
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	size := regexpSize(tree)
	if size > MaxRegexpSize {
		return nil, fmt.Errorf("regexp %q is too large: its program has more than %d instructions", pattern, MaxRegexpSize)
	}
	compiled, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	re := &sizedRegexp{Regexp: compiled, size: max(size, 1)}
	regexps.Lock()
	defer regexps.Unlock()
	if len(regexps.m) >= maxCachedRegexps {
		for k := range regexps.m {
			delete(regexps.m, k)
			break
		}
	}
	regexps.m[pattern] = re
	return re, nil
}

// regexpSize estimates the size of the program of a parsed pattern,
// expanding counted repetitions; it stops counting past MaxRegexpSize.
func regexpSize(re *syntax.Regexp) int {
	n := 1 + len(re.Rune)
	if re.Op == syntax.OpCharClass {
		n = 1
	}
	for _, sub := range re.Sub {
		n += regexpSize(sub)
		if n > MaxRegexpSize {
			return n
		}
	}
	if re.Op == syntax.OpRepeat {
		count := re.Max
		if count < 0 {
			count = re.Min + 1
		}
		n *= max(count, 1)
	}
	return n
}

// checkReplaceSize refuses a replacement whose result could exceed
// MaxFuncResult before building it. Each match's expansion is at most the
// replacement plus, for each '$' in it, the match (a group is part of its
// match); while that bound is too loose, the matches are counted first (a
// second pass over the text, charged like the first).
func checkReplaceSize(b Budget, re *sizedRegexp, repl, text string) error {
	dollars := strings.Count(repl, "$")
	bound := func(matches, matched int) int {
		return len(text) + matches*len(repl) + dollars*matched
	}
	if bound(len(text)+1, len(text)) <= MaxFuncResult {
		return nil
	}
	if err := b.Step(len(text)*re.size/regexpWorkPerStep + len(text)/replaceBytesPerStep); err != nil {
		return err
	}
	matches, matched := 0, 0
	re.ReplaceAllStringFunc(text, func(m string) string {
		matches++
		matched += len(m)
		return ""
	})
	if n := bound(matches, matched); n > MaxFuncResult {
		return fmt.Errorf("the result could be %d bytes, over the limit of %d", n, MaxFuncResult)
	}
	return nil
}

// locations caches time zones by name (found or not), bounded like
// regexps.
var locations = struct {
	sync.Mutex
	m map[string]locationResult
}{m: map[string]locationResult{}}

type locationResult struct {
	loc *time.Location
	err error
}

const (
	maxCachedLocations = 64
	maxLocationName    = 64
)

func location(b Budget, name string) (*time.Location, error) {
	if len(name) > maxLocationName {
		return nil, fmt.Errorf("unknown time zone %.64q...", name)
	}
	locations.Lock()
	r, ok := locations.m[name]
	locations.Unlock()
	if ok {
		return r.loc, r.err
	}
	if err := b.Step(tzLoadSteps); err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(name)
	locations.Lock()
	defer locations.Unlock()
	if len(locations.m) >= maxCachedLocations {
		for k := range locations.m {
			delete(locations.m, k)
			break
		}
	}
	locations.m[name] = locationResult{loc: loc, err: err}
	return loc, err
}

// toTime takes a time as date, tz and since accept it: a time.Time (what
// tz returns) or Herald's RFC 3339 text (.StartsAt, .EndsAt); the empty
// text (.EndsAt of a firing alert) is the zero time.
func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t, nil
	case string:
		if t == "" {
			return time.Time{}, nil
		}
		return time.Parse(time.RFC3339Nano, t)
	}
	return time.Time{}, fmt.Errorf("can't convert %T to a time", v)
}

// toFloat converts what the humanize functions accept, as Prometheus does:
// numbers, numeric text (a label or annotation value) and durations (in
// seconds).
func toFloat(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case string:
		return strconv.ParseFloat(x, 64)
	case time.Duration:
		return x.Seconds(), nil
	}
	return 0, fmt.Errorf("can't convert %T to float", v)
}

var (
	bigPrefixes   = []string{"k", "M", "G", "T", "P", "E", "Z", "Y"}
	smallPrefixes = []string{"m", "u", "n", "p", "f", "a", "z", "y"}
	binPrefixes   = []string{"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}
)

// scaled divides (or, for a small value, multiplies) v by step while its
// magnitude calls for the next prefix, and returns the result and the
// prefix.
func scaled(v, step float64, prefixes []string, up bool) (float64, string) {
	prefix := ""
	for _, p := range prefixes {
		if up && math.Abs(v) < step || !up && math.Abs(v) >= 1 {
			break
		}
		prefix = p
		if up {
			v /= step
		} else {
			v *= step
		}
	}
	return v, prefix
}

// humanize: 4 significant digits with an SI prefix (1234567 is "1.235M",
// 0.012 "12m").
func humanize(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v)
	}
	if math.Abs(v) >= 1 {
		x, prefix := scaled(v, 1000, bigPrefixes, true)
		return fmt.Sprintf("%.4g%s", x, prefix)
	}
	x, prefix := scaled(v, 1000, smallPrefixes, false)
	return fmt.Sprintf("%.4g%s", x, prefix)
}

// humanize1024: 4 significant digits with a binary prefix (1048576 is
// "1Mi"); values up to 1 are not scaled.
func humanize1024(v float64) string {
	if math.Abs(v) <= 1 || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v)
	}
	x, prefix := scaled(v, 1024, binPrefixes, true)
	return fmt.Sprintf("%.4g%s", x, prefix)
}

// humanizeDuration: seconds as days, hours, minutes and whole seconds
// (3601 is "1h 0m 1s"), 4 significant digits under a minute ("1.234s"),
// and an SI prefix under a second ("100ms").
func humanizeDuration(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Sprintf("%.4g", v)
	case v == 0:
		return "0s"
	case math.Abs(v) < 1:
		x, prefix := scaled(v, 1000, smallPrefixes, false)
		return fmt.Sprintf("%.4g%ss", x, prefix)
	}
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	secs := int64(v)
	d, h, m, s := secs/86400, secs/3600%24, secs/60%60, secs%60
	switch {
	case d != 0:
		return fmt.Sprintf("%s%dd %dh %dm %ds", sign, d, h, m, s)
	case h != 0:
		return fmt.Sprintf("%s%dh %dm %ds", sign, h, m, s)
	case m != 0:
		return fmt.Sprintf("%s%dm %ds", sign, m, s)
	}
	return fmt.Sprintf("%s%.4gs", sign, v)
}

// humanizePercentage: a ratio as a percentage with 4 significant digits
// (0.1234 is "12.34%").
func humanizePercentage(v float64) string {
	return fmt.Sprintf("%.4g%%", v*100)
}

// errTimestampRange is humanizeTimestamp's error for a time outside
// int64 nanoseconds.
var errTimestampRange = errors.New("cannot be represented as a nanoseconds timestamp since it overflows int64")

// humanizeTimestamp: Unix seconds as a UTC time, to the millisecond, as
// Go prints a time ("2015-06-23 13:19:44.128 +0000 UTC").
func humanizeTimestamp(v float64) (string, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("%.4g", v), nil
	}
	ns := v * 1e9
	if ns >= math.MaxInt64 || ns < math.MinInt64 {
		return "", fmt.Errorf("%v %w", v, errTimestampRange)
	}
	return time.UnixMilli(int64(ns) / 1e6).UTC().String(), nil
}
