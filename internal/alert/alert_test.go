package alert_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/herald-alerts/herald/internal/alert"
)

func baseAlert() alert.Alert {
	return alert.Alert{
		Fingerprint: "f1",
		Status:      alert.StatusFiring,
		Labels:      map[string]string{"alertname": "DiskFull", "severity": "warning", "instance": "db-1"},
		Annotations: map[string]string{"summary": "disk 95% full", "runbook": "https://runbooks/disk"},
	}
}

func TestContentHash(t *testing.T) {
	base := baseAlert().ContentHash()
	assert.NotEmpty(t, base)
	tests := []struct {
		name   string
		change func(a *alert.Alert)
		same   bool
	}{
		{"identical", func(*alert.Alert) {}, true},
		{"fresh copies of the maps", func(a *alert.Alert) {
			a.Labels = map[string]string{"instance": "db-1", "severity": "warning", "alertname": "DiskFull"}
			a.Annotations = map[string]string{"runbook": "https://runbooks/disk", "summary": "disk 95% full"}
		}, true},
		// Not part of what a notification says.
		{"other fingerprint", func(a *alert.Alert) { a.Fingerprint = "f2" }, true},
		{"other receiver", func(a *alert.Alert) { a.Receiver = "x"; a.GroupKey = "g"; a.ExternalURL = "http://am" }, true},
		{"status resolved", func(a *alert.Alert) { a.Status = alert.StatusResolved }, false},
		{"label value", func(a *alert.Alert) { a.Labels["instance"] = "db-2" }, false},
		{"label added", func(a *alert.Alert) { a.Labels["zone"] = "a" }, false},
		{"label removed", func(a *alert.Alert) { delete(a.Labels, "instance") }, false},
		{"annotation value", func(a *alert.Alert) { a.Annotations["summary"] = "disk 99% full" }, false},
		{"annotation added", func(a *alert.Alert) { a.Annotations["description"] = "more" }, false},
		{"annotation removed", func(a *alert.Alert) { delete(a.Annotations, "runbook") }, false},
		{"label moved to annotations", func(a *alert.Alert) {
			delete(a.Labels, "instance")
			a.Annotations["instance"] = "db-1"
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := baseAlert()
			tc.change(&a)
			if tc.same {
				assert.Equal(t, base, a.ContentHash())
			} else {
				assert.NotEqual(t, base, a.ContentHash())
			}
		})
	}
}

func TestContentHashInsertionOrder(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	fwd := alert.Alert{Status: alert.StatusFiring, Labels: map[string]string{}, Annotations: map[string]string{}}
	rev := alert.Alert{Status: alert.StatusFiring, Labels: map[string]string{}, Annotations: map[string]string{}}
	for _, k := range keys {
		fwd.Labels[k] = "l" + k
		fwd.Annotations[k] = "n" + k
	}
	for i := len(keys) - 1; i >= 0; i-- {
		rev.Labels[keys[i]] = "l" + keys[i]
		rev.Annotations[keys[i]] = "n" + keys[i]
	}
	want := fwd.ContentHash()
	for i := 0; i < 50; i++ {
		if got := rev.ContentHash(); got != want {
			t.Fatalf("hash depends on map order: %s != %s", got, want)
		}
	}
}

func TestNormalizeSeverity(t *testing.T) {
	tests := []struct{ in, want string }{
		{"critical", alert.SeverityCritical},
		{"CRITICAL", alert.SeverityCritical},
		{"  Critical ", alert.SeverityCritical},
		{"crit", alert.SeverityCritical},
		{"page", alert.SeverityCritical},
		{"P1", alert.SeverityCritical},
		{"p1", alert.SeverityCritical},
		{"error", alert.SeverityCritical},
		{"err", alert.SeverityCritical},
		{"fatal", alert.SeverityCritical},
		{"high", alert.SeverityCritical},
		{"info", alert.SeverityInfo},
		{"Info", alert.SeverityInfo},
		{"none", alert.SeverityInfo},
		{"low", alert.SeverityInfo},
		{"debug", alert.SeverityInfo},
		{"P4", alert.SeverityInfo},
		{"warning", alert.SeverityWarning},
		{"warn", alert.SeverityWarning},
		{"P2", alert.SeverityWarning},
		{"unknown", alert.SeverityWarning},
		{"", alert.SeverityWarning},
		{"   ", alert.SeverityWarning},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, alert.NormalizeSeverity(tc.in))
		})
	}
}

func TestAlertSeverityAndName(t *testing.T) {
	tests := []struct {
		name         string
		labels       map[string]string
		wantSeverity string
		wantName     string
	}{
		{"critical", map[string]string{"alertname": "A", "severity": "page"}, alert.SeverityCritical, "A"},
		{"info", map[string]string{"alertname": "B", "severity": "low"}, alert.SeverityInfo, "B"},
		{"missing severity", map[string]string{"alertname": "C"}, alert.SeverityWarning, "C"},
		{"nil labels", nil, alert.SeverityWarning, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := alert.Alert{Labels: tc.labels}
			assert.Equal(t, tc.wantSeverity, a.Severity())
			assert.Equal(t, tc.wantName, a.Name())
		})
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name        string
		labels      map[string]string
		annotations map[string]string
		want        string
	}{
		{"summary wins", map[string]string{"alertname": "A"},
			map[string]string{"summary": "the summary", "description": "the description", "message": "the message"}, "the summary"},
		{"summary trimmed", nil, map[string]string{"summary": "  padded  "}, "padded"},
		{"blank summary falls back to description", map[string]string{"alertname": "A"},
			map[string]string{"summary": "   ", "description": "the description"}, "the description"},
		{"description", map[string]string{"alertname": "A"}, map[string]string{"description": "the description"}, "the description"},
		{"message", map[string]string{"alertname": "A"}, map[string]string{"message": "the message"}, "the message"},
		{"alertname", map[string]string{"alertname": "A"}, map[string]string{"runbook": "x"}, "A"},
		{"alertname without annotations", map[string]string{"alertname": "A"}, nil, "A"},
		{"fingerprint", map[string]string{"job": "j"}, nil, "alert fp42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := alert.Alert{Fingerprint: "fp42", Labels: tc.labels, Annotations: tc.annotations}
			assert.Equal(t, tc.want, a.Summary())
		})
	}
}

func TestResolved(t *testing.T) {
	assert.True(t, alert.Alert{Status: alert.StatusResolved}.Resolved())
	assert.False(t, alert.Alert{Status: alert.StatusFiring}.Resolved())
	assert.False(t, alert.Alert{}.Resolved())
}

func TestSortedKeys(t *testing.T) {
	assert.Equal(t, []string{"a", "b", "c"}, alert.SortedKeys(map[string]string{"c": "1", "a": "2", "b": "3"}))
	assert.Empty(t, alert.SortedKeys(nil))
}
