package alert_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/alert"
)

func labelsN(n int) map[string]string {
	m := map[string]string{"alertname": "Many"}
	for i := 1; i < n; i++ {
		m["l"+strconv.Itoa(i)] = "v"
	}
	return m
}

func TestLimitsCheck(t *testing.T) {
	small := alert.Limits{MaxBytes: 300, MaxLabels: 3}
	tests := []struct {
		name   string
		limits alert.Limits
		alert  alert.Alert
		reason string // "" = accepted
		msg    string
	}{
		{"within limits", small, alert.Alert{Fingerprint: "a1", Status: "firing", Labels: labelsN(3)}, "", ""},
		{"one label too many", small, alert.Alert{Fingerprint: "a1", Status: "firing", Labels: labelsN(4)},
			alert.ReasonTooManyLabels, "4 labels, more than the limit of 3"},
		{"annotation makes it too large", small, alert.Alert{Fingerprint: "a1", Status: "firing", Labels: labelsN(1),
			Annotations: map[string]string{"description": strings.Repeat("x", 300)}}, alert.ReasonTooLarge, "more than the limit of 300"},
		{"defaults: 256 labels pass", alert.Limits{}, alert.Alert{Labels: labelsN(256)}, "", ""},
		{"defaults: 257 labels fail", alert.Limits{}, alert.Alert{Labels: labelsN(257)}, alert.ReasonTooManyLabels, "limit of 256"},
		{"defaults: 256 KiB fails", alert.Limits{}, alert.Alert{Labels: labelsN(1),
			Annotations: map[string]string{"d": strings.Repeat("x", 256<<10)}}, alert.ReasonTooLarge, "limit of 262144"},
		{"defaults: 255 KiB passes", alert.Limits{}, alert.Alert{Labels: labelsN(1),
			Annotations: map[string]string{"d": strings.Repeat("x", 255<<10)}}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.limits.Check(tc.alert)
			if tc.reason == "" {
				require.NoError(t, err)
				return
			}
			var le *alert.LimitError
			require.True(t, errors.As(err, &le), "want a *LimitError, got %v", err)
			assert.Equal(t, tc.reason, le.Reason)
			assert.Contains(t, le.Error(), tc.msg)
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"longer than ten", 10, "longer th…"},
		{"ünïcödé-name", 5, "ünïc…"},
		{"bad\xffutf8", 20, "bad\uFFFDutf8"},
		{"anything", 0, ""},
		{"ab", 1, "…"},
	}
	for _, tc := range tests {
		got := alert.Truncate(tc.in, tc.n)
		assert.Equal(t, tc.want, got, "Truncate(%q, %d)", tc.in, tc.n)
		assert.True(t, utf8.ValidString(got))
		assert.LessOrEqual(t, utf8.RuneCountInString(got), max(tc.n, 0))
	}
}
