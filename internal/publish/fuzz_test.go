package publish_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// FuzzRetryAfter: whatever a receiver sends as Retry-After, the delay is
// within [0, MaxRetryAfter], and so is the RetryAfter of the classified
// 429 and 503. Seeds: testdata/fuzz/FuzzRetryAfter.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "1.5", "-1", "1e10", "Inf", "NaN", "99999999999999999999",
		now.Add(time.Minute).Format(http.TimeFormat)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := publish.ParseRetryAfter(v, now)
		if d < 0 || d > publish.MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v, outside [0, %v]", v, d, publish.MaxRetryAfter)
		}
		for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
			err := publish.ClassifyStatus(status, http.Header{"Retry-After": []string{v}}, nil, now)
			pe := publish.AsError(err)
			if pe.RetryAfter != d || !pe.Retryable {
				t.Fatalf("HTTP %d with Retry-After %q: %+v, want retryable after %v", status, v, pe, d)
			}
		}
	})
}

// FuzzTemplate: arbitrary template text never panics in validation or
// rendering; a template that validates either renders or fails with a
// config error. Seeds: testdata/fuzz/FuzzTemplate.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"", "{{ .Name }}", "{{ .Status | upper }}", `{{ join .LabelNames ", " }}`,
		`{{ title .Labels.team }}`, "{{ index .Labels 1 }}", "{{ template \"x\" }}", "{{ .Nope }}", "{{",
		`{{ range .Labels }}{{ . | lower }}{{ end }}`, `{{ printf "%d" .Name }}`, `{{ title "" }}`} {
		f.Add(s)
	}
	n := publishtest.Firing()
	resolved := publishtest.Resolved(nil)
	f.Fuzz(func(t *testing.T, src string) {
		tg := target.Target{Name: "hook", Type: "webhook", URL: "https://hooks.example.com/h",
			Template: &target.TemplateSpec{Title: src, Body: src}}
		if err := tg.Validate(); err != nil {
			return
		}
		for _, n := range []publish.Notification{n, resolved} {
			_, _, err := publish.Render(tg.Template, n)
			if err != nil {
				if pe := publish.AsError(err); pe.Kind != publish.KindConfig || pe.Retryable {
					t.Fatalf("Render(%q): %v, want a permanent config error", src, err)
				}
			}
		}
	})
}
