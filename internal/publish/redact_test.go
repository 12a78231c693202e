package publish_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// TestSendRedactsAnEchoCutAtTheExcerpt is issue 17 item 7: a receiver
// answering 400 with 220 bytes of text followed by the request's
// Authorization header put 28 of the token's 29 characters into the error
// (and so into alert state and dead letters), because the excerpt was cut
// before it was redacted. Send now redacts the whole answer with the
// request's credentials first; no piece of 6 bytes of the token remains,
// even before the publisher's own redaction.
func TestSendRedactsAnEchoCutAtTheExcerpt(t *testing.T) {
	const token = "hk-4f7a9c2e1b8d6035a7e9c1f4b2" // 29 characters
	if len(token) != 29 {
		t.Fatalf("token of %d characters", len(token))
	}
	// 220 bytes, a space, "Bearer ": the excerpt's cut keeps 28 of the
	// token's 29 characters.
	text := strings.Repeat("x", 220) + " "
	srv := publishtest.NewServer(t)
	srv.Handle(func(r publishtest.Request) (publishtest.Response, bool) {
		return publishtest.Status(http.StatusBadRequest, text+r.Header.Get("Authorization")), true
	})
	_, err := publish.Send(context.Background(), srv.Client(), http.MethodPost, srv.URL+"/hook",
		map[string]string{"Authorization": "Bearer " + token}, []byte(`{}`))
	pe := publishtest.AssertError(t, err, publish.KindHTTPClient, false, 0)
	publishtest.AssertNoSecretFragment(t, pe.Error(), publishtest.MinFragment, token)
	// Redacted first, the answer is short enough to keep whole.
	if !strings.HasSuffix(pe.Msg, " "+target.Redacted) {
		t.Errorf("msg = %q, want the header redacted", pe.Msg)
	}
	// Without Send's knowledge (a publisher cutting a body itself), the
	// target's Redact masks what the cut left of the secret.
	cut := publish.Excerpt([]byte(text + "Bearer " + token))
	publishtest.AssertNoSecretFragment(t, publish.Redact(cut, []string{"Bearer " + token, token}), 4, token)
}

// TestRedactedExcerptRedactsBeforeTheCut: secrets anywhere in the answer
// are replaced before the cut, a cut never splits the placeholder, and what
// a cut leaves of a secret (4 bytes and more) is masked.
func TestRedactedExcerptRedactsBeforeTheCut(t *testing.T) {
	const secret = "S3CRET-0123456789abcdef"
	for keep := 1; keep <= len(secret)+3; keep++ {
		body := strings.Repeat("a", publish.MaxExcerpt-keep) + secret + " tail"
		got := publish.RedactedExcerpt([]byte(body), []string{secret})
		publishtest.AssertNoSecretFragment(t, got, 4, secret)
		if strings.Contains(got, "<redac"+publish.CutMark) {
			t.Errorf("keep %d: the cut split the placeholder: %q", keep, got)
		}
	}
	// Only the first 64 KiB are read, whitespace is squeezed.
	long := "a  b\n\t" + strings.Repeat("z", 1<<20)
	if got := publish.RedactedExcerpt([]byte(long), nil); !strings.HasPrefix(got, "a b zzz") || len(got) > publish.MaxExcerpt+len(publish.CutMark) {
		t.Errorf("excerpt = %q (%d bytes)", got[:20], len(got))
	}
}

// TestRedactEscapedForms: a secret is redacted in every form a receiver may
// echo it in.
func TestRedactEscapedForms(t *testing.T) {
	const secret = "tok/en+a b=c&d<e>ü😀"
	jsonHTML := `tok/en+a b=c\u0026d\u003ce\u003eü😀`
	for _, tc := range []struct{ name, form string }{
		{"as written", secret},
		{"query escaped", url.QueryEscape(secret)},
		{"path escaped", url.PathEscape(secret)},
		{"query escaped, lower-case hex", lowerPercent(url.QueryEscape(secret))},
		{"JSON (Go)", jsonHTML},
		{"JSON (Go) with \\/", strings.ReplaceAll(jsonHTML, "/", `\/`)},
		{"JSON, ASCII only", `tok/en+a b=c&d<e>\u00fc\ud83d\ude00`},
		{"JSON, ASCII only, upper-case hex, \\/", `tok\/en+a b=c&d<e>\u00FC\uD83D\uDE00`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := publish.Redact(`{"echo":"`+tc.form+`"}`, []string{secret})
			if strings.Contains(got, tc.form) || !strings.Contains(got, target.Redacted) {
				t.Errorf("Redact = %q", got)
			}
		})
	}
}

func lowerPercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteString("%" + strings.ToLower(s[i+1:i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TestRedactCredentialShapes: credentials recognisable by their shape are
// redacted even when the redactor does not know them; ordinary text stays.
func TestRedactCredentialShapes(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte("admin:hunter2"))
	for _, tc := range []struct {
		name, in, want string
	}{
		{"slack webhook", "posting to https://hooks.slack.com/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX failed",
			"posting to https://hooks.slack.com/services/<redacted> failed"},
		{"slack webhook in JSON", `{"url":"https:\/\/hooks.slack.com\/services\/T0001\/B0002\/XXXXXXXX"}`,
			`{"url":"https:\/\/hooks.slack.com\/services\/<redacted>"}`},
		{"slack webhook percent-encoded", "u=https%3A%2F%2Fhooks.slack.com%2Fservices%2FT0001%2FB0002%2FXXXXXXXX&x=1",
			"u=https%3A%2F%2Fhooks.slack.com%2Fservices%2F<redacted>&x=1"},
		{"slack workflow trigger", "https://hooks.slack.com/triggers/T0001/1234/abcdef0123",
			"https://hooks.slack.com/triggers/<redacted>"},
		{"telegram bot path", "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage: 401",
			"POST https://api.telegram.org/bot<redacted>/sendMessage: 401"},
		{"telegram token alone", "token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw is invalid",
			"token <redacted> is invalid"},
		{"discord webhook", "https://discord.com/api/webhooks/112233445566778899/abcDEF-ghi_JKL.mno?wait=true",
			"https://discord.com/api/webhooks/112233445566778899/<redacted>?wait=true"},
		{"discord webhook with version", "https://discord.com/api/v10/webhooks/1122/tok-en",
			"https://discord.com/api/v10/webhooks/1122/<redacted>"},
		{"url user info", "dial https://admin:hunter2@am.example.com/api/v2/alerts",
			"dial https://<redacted>@am.example.com/api/v2/alerts"},
		{"url user info in JSON", `"https:\/\/admin:hunter2@am.example.com"`, `"https:\/\/<redacted>@am.example.com"`},
		{"teams sig query", "https://x.logic.azure.com/workflows/1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=AbC123xyz",
			"https://x.logic.azure.com/workflows/1/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig=<redacted>"},
		{"token query", "GET /v1/x?token=s3cr3t&page=2", "GET /v1/x?token=<redacted>&page=2"},
		{"bearer", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", "Authorization: Bearer <redacted>"},
		{"basic", "Authorization: Basic " + basic, "Authorization: Basic <redacted>"},
		{"opsgenie", "Authorization: GenieKey 0a1b2c3d-4e5f-6789-abcd-ef0123456789", "Authorization: GenieKey <redacted>"},
		{"slack token", "not_authed for xoxb-1234-5678-abcdefgh", "not_authed for <redacted>"},
		// Ordinary text stays.
		{"basic authentication", "Basic authentication required", "Basic authentication required"},
		{"bearer realm", `Bearer realm="api"`, `Bearer realm="api"`},
		{"slack error code", "no_service", "no_service"},
		{"plain url", "https://api.example.com/v2/alerts?page=2", "https://api.example.com/v2/alerts?page=2"},
		{"e-mail address", "mail to ops@example.com failed", "mail to ops@example.com failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publish.Redact(tc.in, nil); got != tc.want {
				t.Errorf("Redact(%q) =\n  %q\nwant\n  %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestRedactMasksACutSecret: the start of a secret (4 bytes and more) just
// before a cut mark or at the end is masked; 3 bytes are not.
func TestRedactMasksACutSecret(t *testing.T) {
	secrets := []string{"R0UTINGKEY0123456789"}
	for _, tc := range []struct{ in, want string }{
		{"invalid key R0UTINGKEY01…", "invalid key <redacted>…"},
		{`answered "x R0UT…" instead of ok`, `answered "x <redacted>…" instead of ok`},
		{"ends with R0UTINGK", "ends with <redacted>"},
		{"ends with R0U", "ends with R0U"},
		{"R0UT in the middle", "R0UT in the middle"},
		{"whole R0UTINGKEY0123456789 key", "whole <redacted> key"},
	} {
		if got := publish.Redact(tc.in, secrets); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
