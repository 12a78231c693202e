package alert_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/alert"
)

const validWebhook = `{
  "version": "4",
  "groupKey": "{}:{alertname=\"HighLatency\"}",
  "truncatedAlerts": 0,
  "status": "firing",
  "receiver": "herald",
  "groupLabels": {"alertname": "HighLatency"},
  "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
  "commonAnnotations": {"summary": "p99 latency above 2s"},
  "externalURL": "http://alertmanager.example:9093",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "api-1"},
      "annotations": {"summary": "p99 latency above 2s"},
      "startsAt": "2024-05-01T10:00:00Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus.example/graph?g0.expr=x",
      "fingerprint": "abc123DEF"
    },
    {
      "status": "resolved",
      "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "api-2"},
      "startsAt": "2024-05-01T09:00:00Z",
      "endsAt": "2024-05-01T09:30:00Z"
    }
  ]
}`

// webhookWith returns a one-alert v4 webhook body whose single alert is the
// given JSON object.
func webhookWith(alertJSON string) string {
	return `{"version": "4", "status": "firing", "receiver": "r", "alerts": [` + alertJSON + `]}`
}

func TestParseWebhookValid(t *testing.T) {
	w, err := alert.ParseWebhook([]byte(validWebhook))
	require.NoError(t, err)
	assert.Equal(t, "4", w.Version)
	assert.Equal(t, "herald", w.Receiver)
	assert.Equal(t, `{}:{alertname="HighLatency"}`, w.GroupKey)
	assert.Equal(t, "http://alertmanager.example:9093", w.ExternalURL)
	assert.Equal(t, map[string]string{"alertname": "HighLatency"}, w.GroupLabels)
	require.Len(t, w.Alerts, 2)
	a := w.Alerts[0]
	assert.Equal(t, alert.StatusFiring, a.Status)
	assert.Equal(t, "abc123DEF", a.Fingerprint)
	assert.Equal(t, "api-1", a.Labels["instance"])
	assert.Equal(t, "p99 latency above 2s", a.Annotations["summary"])
	assert.True(t, a.StartsAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)), "startsAt = %v", a.StartsAt)
	assert.Equal(t, "http://prometheus.example/graph?g0.expr=x", a.GeneratorURL)
	assert.Equal(t, alert.StatusResolved, w.Alerts[1].Status)
	assert.True(t, w.Alerts[1].EndsAt.Equal(time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)))
}

func TestParseWebhookInvalid(t *testing.T) {
	tests := []struct {
		name string
		body string
		// want is a substring of the error message.
		want string
	}{
		{"empty body", ``, "malformed JSON"},
		{"malformed JSON", `{"version": "4", "alerts": [`, "malformed JSON"},
		{"not an object", `[1, 2]`, "malformed JSON"},
		{"wrong field type", `{"version": 4}`, "malformed JSON"},
		{"trailing data", validWebhook + ` {"version": "4"}`, "trailing data"},
		{"trailing garbage", validWebhook + ` x`, "trailing data"},
		{"missing version", `{"status": "firing", "alerts": [{"status": "firing", "labels": {"a": "b"}}]}`, `"version" is missing`},
		{"version 3", `{"version": "3", "alerts": [{"status": "firing", "labels": {"a": "b"}}]}`, `unsupported webhook version "3"`},
		{"no alerts", `{"version": "4", "alerts": []}`, "no alerts"},
		{"alerts null", `{"version": "4"}`, "no alerts"},
		{"bad status", webhookWith(`{"status": "pending", "labels": {"a": "b"}}`), `alerts[0]: status "pending"`},
		{"missing status", webhookWith(`{"labels": {"a": "b"}}`), `alerts[0]: status ""`},
		{"empty labels", webhookWith(`{"status": "firing", "labels": {}}`), "alerts[0]: labels are empty"},
		{"missing labels", webhookWith(`{"status": "firing"}`), "alerts[0]: labels are empty"},
		{"fingerprint too long", webhookWith(`{"status": "firing", "labels": {"a": "b"}, "fingerprint": "` + strings.Repeat("a", 65) + `"}`), "fingerprint"},
		{"fingerprint with dash", webhookWith(`{"status": "firing", "labels": {"a": "b"}, "fingerprint": "abc-123"}`), "fingerprint"},
		{"fingerprint with slash", webhookWith(`{"status": "firing", "labels": {"a": "b"}, "fingerprint": "../etc"}`), "fingerprint"},
		{"fingerprint with space", webhookWith(`{"status": "firing", "labels": {"a": "b"}, "fingerprint": "ab cd"}`), "fingerprint"},
		{"second alert invalid", `{"version": "4", "alerts": [{"status": "firing", "labels": {"a": "b"}}, {"status": "firing", "labels": {}}]}`, "alerts[1]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := alert.ParseWebhook([]byte(tc.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, alert.IsValidationError(err), "IsValidationError(%v) = false", err)
			var ve *alert.ValidationError
			assert.True(t, errors.As(err, &ve), "error %T is not a *ValidationError", err)
			assert.Empty(t, w.Alerts, "an invalid webhook returned alerts")
		})
	}
}

func TestParseWebhookFingerprintBounds(t *testing.T) {
	tests := []struct {
		name string
		fp   string
		ok   bool
	}{
		{"absent", "", true},
		{"one char", "a", true},
		{"64 chars", strings.Repeat("Z9", 32), true},
		{"65 chars", strings.Repeat("a", 65), false},
		{"underscore", "abc_def", false},
		{"unicode letter", "abcé", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := webhookWith(`{"status": "firing", "labels": {"a": "b"}, "fingerprint": "` + tc.fp + `"}`)
			_, err := alert.ParseWebhook([]byte(body))
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.True(t, alert.IsValidationError(err), "err = %v", err)
			}
		})
	}
}

func TestIsValidationError(t *testing.T) {
	ve := &alert.ValidationError{Msg: "bad"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("bad"), false},
		{"validation", ve, true},
		{"wrapped", errors.Join(errors.New("context"), ve), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, alert.IsValidationError(tc.err))
		})
	}
	assert.Equal(t, "bad", ve.Error())
}

func TestAlertList(t *testing.T) {
	w, err := alert.ParseWebhook([]byte(validWebhook))
	require.NoError(t, err)
	list := w.AlertList()
	require.Len(t, list, 2)
	for i, a := range list {
		assert.Equal(t, "herald", a.Receiver, "alert %d receiver", i)
		assert.Equal(t, `{}:{alertname="HighLatency"}`, a.GroupKey, "alert %d group key", i)
		assert.Equal(t, "http://alertmanager.example:9093", a.ExternalURL, "alert %d external URL", i)
		assert.Equal(t, w.Alerts[i].Status, a.Status)
		assert.Equal(t, w.Alerts[i].Labels, a.Labels)
		assert.Equal(t, w.Alerts[i].Annotations, a.Annotations)
		assert.True(t, w.Alerts[i].StartsAt.Equal(a.StartsAt))
		assert.True(t, w.Alerts[i].EndsAt.Equal(a.EndsAt))
		assert.Equal(t, w.Alerts[i].GeneratorURL, a.GeneratorURL)
	}
	// The first alert keeps Alertmanager's fingerprint; the second gets one
	// computed from its labels.
	assert.Equal(t, "abc123DEF", list[0].Fingerprint)
	assert.Equal(t, alert.Fingerprint(w.Alerts[1].Labels), list[1].Fingerprint)
	assert.NotEmpty(t, list[1].Fingerprint)
	assert.NotEqual(t, list[0].Fingerprint, list[1].Fingerprint)
	assert.Regexp(t, `^[0-9a-f]{16}$`, list[1].Fingerprint, "a computed fingerprint must itself pass validation")

	assert.Empty(t, alert.Webhook{}.AlertList())
}

func TestAlertListComputedFingerprint(t *testing.T) {
	fpOf := func(labelsJSON string) string {
		t.Helper()
		w, err := alert.ParseWebhook([]byte(webhookWith(`{"status": "firing", "labels": ` + labelsJSON + `}`)))
		require.NoError(t, err)
		list := w.AlertList()
		require.Len(t, list, 1)
		require.NotEmpty(t, list[0].Fingerprint)
		return list[0].Fingerprint
	}
	base := fpOf(`{"alertname": "A", "instance": "i-1", "job": "j"}`)
	tests := []struct {
		name   string
		labels string
		same   bool
	}{
		{"same labels, same order", `{"alertname": "A", "instance": "i-1", "job": "j"}`, true},
		{"same labels, other order", `{"job": "j", "instance": "i-1", "alertname": "A"}`, true},
		{"different value", `{"alertname": "A", "instance": "i-2", "job": "j"}`, false},
		{"extra label", `{"alertname": "A", "instance": "i-1", "job": "j", "x": "y"}`, false},
		{"missing label", `{"alertname": "A", "instance": "i-1"}`, false},
		{"key/value boundary moved", `{"alertname": "A", "instance": "i-1", "jobj": ""}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fpOf(tc.labels)
			if tc.same {
				assert.Equal(t, base, got)
			} else {
				assert.NotEqual(t, base, got)
			}
		})
	}
}

func TestFingerprintIndependentOfInsertionOrder(t *testing.T) {
	keys := []string{"alertname", "cluster", "instance", "job", "namespace", "pod", "severity"}
	forward := map[string]string{}
	for _, k := range keys {
		forward[k] = "v-" + k
	}
	backward := map[string]string{}
	for i := len(keys) - 1; i >= 0; i-- {
		backward[keys[i]] = "v-" + keys[i]
	}
	want := alert.Fingerprint(forward)
	// Go randomises map iteration; computing it repeatedly would catch
	// an implementation that iterates the map directly.
	for i := 0; i < 50; i++ {
		require.Equal(t, want, alert.Fingerprint(backward))
	}
}
