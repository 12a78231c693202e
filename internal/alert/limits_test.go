package alert_test

import (
	"encoding/json"
	"errors"
	"maps"
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

func TestLimitsFit(t *testing.T) {
	huge := strings.Repeat("disk full on /var/lib/prometheus; ", 700_000/34)
	tests := []struct {
		name    string
		limits  alert.Limits
		alert   alert.Alert
		reason  string   // "" = fits (possibly trimmed)
		msg     string   // for a refusal
		trimmed []string // fields trimmed, sorted
	}{
		{"within limits: unchanged", alert.Limits{MaxBytes: 300, MaxLabels: 3},
			alert.Alert{Fingerprint: "a1", Status: "firing", Labels: labelsN(3),
				Annotations: map[string]string{"summary": "short"}}, "", "", nil},
		{"one label too many is refused", alert.Limits{MaxBytes: 300, MaxLabels: 3},
			alert.Alert{Fingerprint: "a1", Status: "firing", Labels: labelsN(4)},
			alert.ReasonTooManyLabels, "4 labels, more than the limit of 3", nil},
		{"700,000-character description is trimmed to the default limit", alert.Limits{},
			alert.Alert{Fingerprint: "big", Status: "firing", Labels: labelsN(5),
				Annotations: map[string]string{"summary": "Disk full", "description": huge, "runbook_url": "https://runbooks/x"}},
			"", "", []string{"annotations.description"}},
		{"largest first: two long values are cut to one length, the short kept", alert.Limits{MaxBytes: 4000},
			alert.Alert{Fingerprint: "two", Status: "firing", Labels: labelsN(2),
				Annotations: map[string]string{"a": strings.Repeat("a", 5000), "b": strings.Repeat("b", 3000), "summary": "keep me"}},
			"", "", []string{"annotations.a", "annotations.b"}},
		{"escaped characters are counted as encoded", alert.Limits{MaxBytes: 2000},
			alert.Alert{Fingerprint: "esc", Status: "firing", Labels: labelsN(1),
				Annotations: map[string]string{"d": strings.Repeat("<&>\\\"\x01\xff", 2000)}},
			"", "", []string{"annotations.d"}},
		{"multi-byte text is cut on a rune boundary", alert.Limits{MaxBytes: 1000},
			alert.Alert{Fingerprint: "utf", Status: "firing", Labels: labelsN(1),
				Annotations: map[string]string{"d": strings.Repeat("ディスク", 1000)}},
			"", "", []string{"annotations.d"}},
		{"a long generator URL is trimmed after the annotations are", alert.Limits{MaxBytes: 1200},
			alert.Alert{Fingerprint: "url", Status: "firing", Labels: labelsN(1), GeneratorURL: "http://prom/graph?g0.expr=" + strings.Repeat("x", 3000),
				Annotations: map[string]string{"summary": "s"}},
			"", "", []string{"generatorURL"}},
		{"an annotation whose name alone is too long is removed", alert.Limits{MaxBytes: 1000},
			alert.Alert{Fingerprint: "name", Status: "firing", Labels: labelsN(1),
				Annotations: map[string]string{strings.Repeat("n", 2000): "v", "summary": "kept"}},
			"", "", []string{"annotations." + strings.Repeat("n", 127) + "…"}},
		{"labels alone over the limit are refused, naming the labels", alert.Limits{MaxBytes: 1000},
			alert.Alert{Fingerprint: "lab", Status: "firing", Labels: map[string]string{"alertname": "L", "pod": strings.Repeat("p", 2000)},
				Annotations: map[string]string{"description": strings.Repeat("x", 5000)}},
			alert.ReasonTooLarge, "its labels alone take", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.alert
			origAnn := maps.Clone(tc.alert.Annotations)
			got, err := tc.limits.Fit(tc.alert)
			assert.Equal(t, origAnn, orig.Annotations, "the input is not changed")
			if tc.reason != "" {
				var le *alert.LimitError
				require.True(t, errors.As(err, &le), "want a *LimitError, got %v", err)
				assert.Equal(t, tc.reason, le.Reason)
				assert.Contains(t, le.Error(), tc.msg)
				return
			}
			require.NoError(t, err)
			limits := tc.limits
			if limits.MaxBytes == 0 {
				limits.MaxBytes = alert.DefaultMaxBytes
			}
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(b), limits.MaxBytes, "the fitted alert is within the limit")
			require.NoError(t, limits.Check(got), "a fitted alert passes Check")
			var fields []string
			for _, tr := range got.Trimmed {
				fields = append(fields, tr.Field)
				assert.Greater(t, tr.Bytes, tr.Kept, tr.Field)
			}
			assert.Equal(t, tc.trimmed, fields)
			assert.Equal(t, orig.Labels, got.Labels, "labels are never changed")
			for k, v := range got.Annotations {
				assert.True(t, utf8.ValidString(v), k)
				if v != origAnn[k] {
					assert.Regexp(t, `…\[trimmed by Herald: \d+ of \d+ bytes kept\]$`, v, "a trimmed value is marked")
					assert.True(t, strings.HasPrefix(origAnn[k], strings.TrimRight(v[:strings.LastIndex(v, " …[")], "\ufffd")) ||
						!utf8.ValidString(origAnn[k]), "a trimmed value keeps the start of the text")
				}
			}
			again, err := tc.limits.Fit(tc.alert)
			require.NoError(t, err)
			assert.Equal(t, got, again, "the same alert always fits the same way")
			assert.Equal(t, got.ContentHash(), again.ContentHash())
		})
	}
}

func TestLimitsFitLargestFirst(t *testing.T) {
	a := alert.Alert{Fingerprint: "two", Status: "firing", Labels: labelsN(2),
		Annotations: map[string]string{"a": strings.Repeat("a", 5000), "b": strings.Repeat("b", 3000), "summary": "keep me"}}
	got, err := alert.Limits{MaxBytes: 4000}.Fit(a)
	require.NoError(t, err)
	assert.Equal(t, "keep me", got.Annotations["summary"], "short values are kept whole")
	la, lb := len(got.Annotations["a"]), len(got.Annotations["b"])
	assert.InDelta(t, la, lb, 2, "the two long values are cut to one common length")
	assert.Greater(t, la, 1500, "and not further than needed")
	desc := strings.Repeat("y", 700_000)
	big, err := alert.Limits{}.Fit(alert.Alert{Fingerprint: "f", Status: "firing", Labels: labelsN(3),
		Annotations: map[string]string{"description": desc}})
	require.NoError(t, err)
	assert.Greater(t, len(big.Annotations["description"]), alert.DefaultMaxBytes-1024,
		"a single long value keeps all the room there is")
	require.Len(t, big.Trimmed, 1)
	assert.Equal(t, alert.Trim{Field: "annotations.description", Bytes: 700_000, Kept: len(big.Annotations["description"])}, big.Trimmed[0])
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
