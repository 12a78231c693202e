package alert_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
)

var fuzzFingerprintRE = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

// FuzzParseWebhook feeds arbitrary bodies to the webhook decoder. Any error
// must be a ValidationError (a 400, never a 5xx or a panic); anything
// accepted must hold usable alerts, survive the per-alert limit check, and
// decode to the same alerts after re-encoding.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(validWebhook))
	f.Add([]byte(webhookWith(`{"status":"firing","labels":{"alertname":"A"}}`)))
	f.Add([]byte(webhookWith(`{"status":"resolved","labels":{"a":"\u0000\ud800"},"fingerprint":"Z9"}`)))
	f.Add([]byte(`{"version":"4","alerts":[]}`))
	f.Add([]byte(`{"version":"4"}{"version":"4"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := alert.ParseWebhook(body)
		if err != nil {
			if !alert.IsValidationError(err) {
				t.Fatalf("error is not a ValidationError: %T %v", err, err)
			}
			return
		}
		alerts := w.AlertList()
		if len(alerts) == 0 || len(alerts) != len(w.Alerts) {
			t.Fatalf("accepted webhook yields %d alerts of %d", len(alerts), len(w.Alerts))
		}
		for i, a := range alerts {
			if !fuzzFingerprintRE.MatchString(a.Fingerprint) {
				t.Fatalf("alerts[%d]: fingerprint %q", i, a.Fingerprint)
			}
			if a.Status != alert.StatusFiring && a.Status != alert.StatusResolved {
				t.Fatalf("alerts[%d]: status %q", i, a.Status)
			}
			if err := (alert.Limits{MaxBytes: 512, MaxLabels: 4}).Check(a); err != nil {
				var le *alert.LimitError
				if !errors.As(err, &le) || le.Reason == "" {
					t.Fatalf("alerts[%d]: limit error without reason: %v", i, err)
				}
			}
			if name := alert.Truncate(a.Name(), 255); !utf8.ValidString(name) || utf8.RuneCountInString(name) > 255 {
				t.Fatalf("alerts[%d]: truncated name %q", i, name)
			}
		}
		again, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("re-encode accepted webhook: %v", err)
		}
		w2, err := alert.ParseWebhook(again)
		if err != nil {
			t.Fatalf("re-encoded webhook rejected: %v\n%s", err, again)
		}
		for i, a := range w2.AlertList() {
			b := alerts[i]
			if a.Fingerprint != b.Fingerprint || a.Status != b.Status || !a.StartsAt.Equal(b.StartsAt) ||
				a.ContentHash() != b.ContentHash() {
				t.Fatalf("alerts[%d] changed in a round trip: %+v vs %+v", i, a, b)
			}
		}
	})
}
