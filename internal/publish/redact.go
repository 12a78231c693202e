package publish

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/target"
)

// Redaction of error messages. A receiver's answer may echo what Herald
// sent it (a header, the URL, the body), as written or escaped, and an
// excerpt may cut it anywhere; so may a log line or a health message.

// CutMark ends a text that was cut (Excerpt, Truncate).
const CutMark = "…"

// MaxExcerpt is how many bytes of a receiver's answer an error message
// keeps (Excerpt).
const MaxExcerpt = 256

// minCutPrefix is the shortest start of a secret that is masked where a
// text was cut (shorter starts say next to nothing about the secret).
const minCutPrefix = 4

// excerptWindow is how much of an answer Excerpt reads: enough for the
// excerpt and any secret crossing its end, after whitespace is squeezed.
const excerptWindow = 64 << 10

// Redact replaces every secret in s with "<redacted>":
//   - each secret as written and in the escaped forms a receiver may echo
//     it in: percent-encoded (query and path escaping, upper- or lower-case
//     hex) and JSON-escaped (with or without \u escapes of <, >, & and
//     non-ASCII characters, with or without "\/");
//   - credentials recognisable by their shape even when they are not in
//     secrets (RedactCredentials);
//   - the start of a secret (at least 4 bytes, in any of its forms) that
//     ends s or stands just before a CutMark: what is left of a secret an
//     earlier cut went through.
func Redact(s string, secrets []string) string {
	if s == "" {
		return s
	}
	forms := secretForms(secrets)
	for _, f := range forms {
		if strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, target.Redacted)
		}
	}
	s = RedactCredentials(s)
	return maskCutSecrets(s, forms)
}

// RedactedExcerpt is the excerpt of a receiver's answer for an error
// message: whitespace squeezed, redacted like Redact does with secrets
// (the whole text first), then cut to MaxExcerpt bytes with a CutMark,
// and what the cut leaves of a secret masked.
func RedactedExcerpt(body []byte, secrets []string) string {
	if len(body) > excerptWindow {
		body = body[:excerptWindow]
	}
	s := strings.Join(strings.Fields(string(body)), " ")
	s = Redact(s, secrets)
	if len(s) <= MaxExcerpt {
		return s
	}
	cut := MaxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	// Never leave half a placeholder.
	if i := strings.LastIndexByte(s[:cut], '<'); i >= 0 && i+len(target.Redacted) > cut &&
		strings.HasPrefix(s[i:], target.Redacted) {
		cut = i
	}
	return maskCutSecrets(s[:cut]+CutMark, secretForms(secrets))
}

// secretForms lists every secret in the forms Redact looks for, longest
// first (so a header value goes before the token inside it).
func secretForms(secrets []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, sec := range secrets {
		add(sec)
		if len(sec) < minCutPrefix {
			continue
		}
		for _, f := range escapedForms(sec) {
			add(f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// escapedForms are the ways sec may be written in a URL or a JSON string.
func escapedForms(sec string) []string {
	var out []string
	for _, f := range []string{url.QueryEscape(sec), url.PathEscape(sec)} {
		out = append(out, f, lowerHex(f, '%', 2))
	}
	for _, f := range jsonForms(sec) {
		slashed := strings.ReplaceAll(f, "/", `\/`)
		out = append(out, f, slashed, upperHex(f, 4), upperHex(slashed, 4))
	}
	return out
}

// jsonForms are sec as the inside of a JSON string: as Go escapes it (<, >
// and & as \u003c...), without those escapes, and with every non-ASCII
// character as \u escapes too.
func jsonForms(sec string) []string {
	html, _ := json.Marshal(sec)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(sec)
	plain := strings.TrimSuffix(b.String(), "\n")
	out := []string{unquote(string(html)), unquote(plain)}
	var ascii strings.Builder
	for _, r := range unquote(plain) {
		switch {
		case r < utf8.RuneSelf:
			ascii.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&ascii, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&ascii, `\u%04x`, r)
		}
	}
	return append(out, ascii.String())
}

func unquote(q string) string { return strings.TrimSuffix(strings.TrimPrefix(q, `"`), `"`) }

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xD800 + (r>>10)&0x3FF, 0xDC00 + r&0x3FF
}

// lowerHex lower-cases the n hex digits after every esc in s ("%2F" ->
// "%2f").
func lowerHex(s string, esc byte, n int) string {
	b := []byte(s)
	for i := 0; i < len(b); i++ {
		if b[i] == esc && i+n < len(b) {
			for j := i + 1; j <= i+n; j++ {
				b[j] = byte(unicode.ToLower(rune(b[j])))
			}
		}
	}
	return string(b)
}

// upperHex upper-cases the n hex digits of every \u escape in s.
func upperHex(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1+n < len(s) && s[i+1] == 'u' {
			b.WriteString(`\u`)
			b.WriteString(strings.ToUpper(s[i+2 : i+2+n]))
			i += 1 + n
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// maskCutSecrets replaces the longest start of a form (at least
// minCutPrefix bytes, shorter than the form) that ends s or stands just
// before a CutMark.
func maskCutSecrets(s string, forms []string) string {
	if len(forms) == 0 {
		return s
	}
	var ends []int
	for i := 0; ; {
		j := strings.Index(s[i:], CutMark)
		if j < 0 {
			break
		}
		ends = append(ends, i+j)
		i += j + len(CutMark)
	}
	ends = append(ends, len(s))
	for k := len(ends) - 1; k >= 0; k-- {
		end, best := ends[k], 0
		for _, f := range forms {
			for n := min(len(f)-1, end); n >= minCutPrefix && n > best; n-- {
				if s[end-n:end] == f[:n] {
					best = n
					break
				}
			}
		}
		if best > 0 {
			s = s[:end-best] + target.Redacted + s[end:]
		}
	}
	return s
}

// sep is a path separator as written in a URL, a JSON string ("\/") or a
// percent-encoded URL ("%2F").
const sep = `(?:/|\\/|%2[fF])`

// credentialPatterns find credentials by their shape.
// hint is a lower-case string every match contains: a pattern runs only
// when the text (lower-cased) holds it.
var credentialPatterns = []struct {
	hint string
	re   *regexp.Regexp
	repl string
}{
	// Slack incoming webhooks and workflow triggers: the path is the secret.
	{"hooks.slack.com", regexp.MustCompile(`(?i)(hooks\.slack\.com` + sep + `(?:services|workflows|triggers)` + sep + `)(?:[a-z0-9_-]|` + sep + `)+`), "${1}" + target.Redacted},
	// Telegram bot API paths: /bot<id>:<token>/...
	{"bot", regexp.MustCompile(`(` + sep + `bot)[0-9]{3,}(?::|%3[aA])[A-Za-z0-9_-]{10,}`), "${1}" + target.Redacted},
	// A bare Telegram bot token.
	{":", regexp.MustCompile(`\b[0-9]{6,}:[A-Za-z0-9_-]{30,}`), target.Redacted},
	// Discord webhooks: /api[/v10]/webhooks/<id>/<token>.
	{"webhooks", regexp.MustCompile(`(?i)(` + sep + `api(?:` + sep + `v[0-9]+)?` + sep + `webhooks` + sep + `[0-9]+` + sep + `)[a-z0-9_.-]+`), "${1}" + target.Redacted},
	// Any URL's user info: scheme://user:password@host.
	{"@", regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*:` + sep + sep + `)[^\s/\\@"'<>?#]+@`), "${1}" + target.Redacted + "@"},
	// Query parameters that carry credentials (MS Teams and Azure "sig",
	// "token", "api_key", ...).
	{"=", regexp.MustCompile(`(?i)((?:[?&]|\\u0026)(?:sig|signature|x-amz-signature|x-goog-signature|token|access_token|auth|key|api_key|apikey|api-key|secret|client_secret|password|passwd|pwd|code)=)[^&\s"'<>#\\]+`), "${1}" + target.Redacted},
	// Slack tokens.
	{"xox", regexp.MustCompile(`\bxox[abposre]-[A-Za-z0-9-]{8,}`), target.Redacted},
}

// authCredential finds "<scheme> <credential>" as in an Authorization
// header; authScheme decides whether the credential looks like one.
var authCredential = regexp.MustCompile(`(?i)\b(Bearer|Basic|GenieKey|Bot)(\s+)([A-Za-z0-9._~+/=:-]{12,})`)

// RedactCredentials replaces credentials recognisable by their shape, known
// to Herald or not: the secret path of Slack, Telegram and Discord webhook
// URLs, any URL's user info, credential query parameters (sig, token,
// api_key...), Slack and Telegram tokens, and the credential of
// "Bearer ...", "Basic ...", "GenieKey ..." and "Bot ..." when it looks like
// one (a digit, an upper-case letter after the first character, one of
// "+/=", or 32 characters and more).
func RedactCredentials(s string) string {
	lower := strings.ToLower(s)
	for _, p := range credentialPatterns {
		if strings.Contains(lower, p.hint) && p.re.MatchString(s) {
			s = p.re.ReplaceAllString(s, p.repl)
		}
	}
	if !containsAny(lower, "bearer", "basic", "geniekey", "bot") {
		return s
	}
	return authCredential.ReplaceAllStringFunc(s, func(m string) string {
		sub := authCredential.FindStringSubmatch(m)
		if !looksLikeCredential(sub[3]) {
			return m
		}
		return sub[1] + sub[2] + target.Redacted
	})
}

func looksLikeCredential(c string) bool {
	if len(c) >= 32 || strings.ContainsAny(c, "0123456789+/=") {
		return true
	}
	for _, r := range c[1:] {
		if unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
