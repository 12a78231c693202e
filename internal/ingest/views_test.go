package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

const zeroTime = "0001-01-01T00:00:00Z"

// firingState is an alert workflow's state just after its first delivery
// was queued: firing (no endsAt), one target queued but neither delivered
// nor failed, nothing in flight yet.
func firingState() *contract.AlertState {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return &contract.AlertState{
		Fingerprint: "abc123", Name: "DiskFull", Severity: "critical", Status: "firing", Mode: "normal",
		Alert:     alert.Alert{Fingerprint: "abc123", Status: "firing", Labels: map[string]string{"alertname": "DiskFull"}, StartsAt: at},
		Episode:   1,
		FirstSeen: at, LastSeen: at, Notifications: 1,
		Settings: contract.Settings{InactivityTimeout: 24 * time.Hour, DeliveryTimeout: 30 * time.Second,
			FirstAttemptTimeout: 5 * time.Second, MaxHealthWait: 24 * time.Hour, HealthRecheck: 30 * time.Second, ResolvedLinger: 10 * time.Minute},
		Targets: []*contract.TargetState{
			{Name: "t1", Type: "webhook", Status: contract.DeliveryDelivering, Event: "firing", Attempts: 1, TotalAttempts: 1,
				QueuedAt: at, Active: true, Ref: target.Ref{Name: "t1", Type: "webhook", Retry: target.DefaultRetry}},
			{Name: "am", Type: "alertmanager", Status: contract.DeliveryPending, Event: "firing", Active: true,
				Ref: target.Ref{Name: "am", Type: "alertmanager", Retry: target.DefaultRetry, ForwardTTL: time.Hour}},
		},
	}
}

// The API answers with durations as Go duration strings, as the
// configuration takes them, and leaves unset times out.
func TestAPIAnswerShapes(t *testing.T) {
	checked := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		client  *apiClient
		path    string
		strings map[string]string // JSON path: duration string
		absent  []string          // JSON paths left out
	}{
		{
			name: "alert state",
			client: &apiClient{state: firingState(), pending: []*workflowpb.PendingActivityInfo{
				{ActivityId: "publish/t1/1", Attempt: 1, State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED},
			}},
			path: "/api/v1/alerts/abc123",
			strings: map[string]string{
				"targets.0.ref.retry.initialInterval": "1s",
				"targets.0.ref.retry.maxInterval":     "5m0s",
				"targets.1.ref.forwardTTL":            "1h0m0s",
				"settings.inactivityTimeout":          "24h0m0s",
				"settings.deliveryTimeout":            "30s",
				"settings.firstAttemptTimeout":        "5s",
				"settings.maxHealthWait":              "24h0m0s",
				"settings.healthRecheck":              "30s",
				"settings.resolvedLinger":             "10m0s",
			},
			absent: []string{"alert.endsAt", "targets.0.deliveredAt", "targets.0.failedAt", "targets.1.queuedAt",
				"targets.0.ref.forwardTTL", "inFlight.0.lastAttemptAt", "lingerUntil"},
		},
		{
			name: "targets with health",
			client: &apiClient{health: []health.Status{{Target: "t1", State: health.StateHealthy, Checks: 1,
				LastCheck: checked, LastSuccess: checked, LastLatency: 120 * time.Millisecond}}},
			path:    "/api/v1/targets",
			strings: map[string]string{"targets.0.health.lastLatency": "120ms", "targets.0.retry.initial_interval": "1s"},
			absent:  []string{"targets.0.health.lastFailure"},
		},
		{
			name:   "targets never checked",
			client: &apiClient{},
			path:   "/api/v1/targets",
			absent: []string{"targets.0.health.lastLatency", "targets.0.health.lastCheck", "targets.0.health.since"},
		},
		{
			name: "target health",
			client: &apiClient{health: []health.Status{{Target: "t1", State: health.StateDegraded, Checks: 1,
				LastCheck: checked, LastSuccess: checked, LastLatency: 6 * time.Second}}},
			path:    "/api/v1/targets/t1/health",
			strings: map[string]string{"lastLatency": "6s"},
			absent:  []string{"lastFailure"},
		},
		{
			name: "dead letters",
			client: &apiClient{dlq: &workflows.ListResponse{Total: 1, Matched: 1, Entries: []*workflows.DeadLetter{{
				ID: "dl1", Fingerprint: "abc123", Target: "t1", Event: "firing", Error: "400", Attempts: 1, Failures: 1,
				FirstFailure: checked, LastFailure: checked, Archive: "herald-dlq-archive-1",
				// An archived entry keeps a stub of its alert.
				Alert: alert.Alert{Fingerprint: "abc123", Status: "firing", Labels: map[string]string{"alertname": "DiskFull"}},
			}}}},
			path:   "/api/v1/dlq",
			absent: []string{"entries.0.alert.startsAt", "entries.0.alert.endsAt", "overflow.oldest"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, Config{}, tc.client)
			rec := s.serve(request{method: http.MethodGet, path: tc.path})
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.NotContains(t, rec.Body.String(), zeroTime, "unset times are left out")
			var doc any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
			for path, want := range tc.strings {
				got, ok := jsonPath(doc, path)
				if assert.True(t, ok, "%s missing in %s", path, rec.Body.String()) {
					assert.Equal(t, want, got, path)
				}
			}
			for _, path := range tc.absent {
				_, ok := jsonPath(doc, path)
				assert.False(t, ok, "%s should be left out: %s", path, rec.Body.String())
			}
		})
	}
}

// The views still decode into the API's Go types (the integration tests
// and scripts read them back).
func TestAPIViewsRoundTrip(t *testing.T) {
	s := newAPIServer(t, Config{}, &apiClient{state: firingState()})
	rec := s.serve(request{method: http.MethodGet, path: "/api/v1/alerts/abc123"})
	require.Equal(t, http.StatusOK, rec.Code)
	v := decode[AlertView](t, rec)
	require.NotNil(t, v.AlertState)
	require.Len(t, v.Targets, 2)
	assert.Equal(t, target.Duration(time.Second), v.Targets[0].Ref.Retry.InitialInterval)
	assert.Equal(t, target.Duration(time.Hour), v.Target("am").Ref.ForwardTTL)
	assert.Equal(t, contract.DeliveryDelivering, v.Target("t1").Status)
	assert.Equal(t, target.Duration(30*time.Second), v.Settings.DeliveryTimeout)
	assert.True(t, v.Alert.EndsAt.IsZero())
	assert.Equal(t, "DiskFull", v.Alert.Name())
}

// Every duration the views can show, whichever field of the workflow
// state it is in, is a string, and no unset time appears: fields added to
// the embedded types later are caught here.
func TestAPIViewsHaveNoRawDurations(t *testing.T) {
	const d = 1500 * time.Millisecond
	st := &contract.AlertState{}
	fill(reflect.ValueOf(st), d, 0)
	var hs health.Status
	fill(reflect.ValueOf(&hs), d, 0)
	var obs health.Observation
	fill(reflect.ValueOf(&obs), d, 0)
	var dl activities.DeadLetter
	fill(reflect.ValueOf(&dl), d, 0)
	hv := newHealthView(hs)
	views := []struct {
		name         string
		view         any
		hasDurations bool
	}{
		{"alert state", newAlertView(st), true},
		{"target", TargetView{Public: target.Target{Name: "t1", Type: "webhook"}.Public(), Health: &hv}, true},
		{"check", CheckResult{Observation: newObservationView(obs), Health: hv}, true},
		{"dead letters", newDeadLetterList(workflows.ListResponse{Entries: []*workflows.DeadLetter{&dl}}), false},
	}
	for _, tc := range views {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.view)
			require.NoError(t, err)
			assert.NotContains(t, string(b), zeroTime)
			var doc any
			require.NoError(t, json.Unmarshal(b, &doc))
			walkJSON(doc, "", func(path string, v any) {
				if n, ok := v.(float64); ok && n == float64(d) {
					t.Errorf("%s is a duration in nanoseconds (%v): show it as a duration string", path, n)
				}
			})
			if tc.hasDurations {
				assert.Contains(t, string(b), `"`+d.String()+`"`)
			}
		})
	}
}

// fill sets every time.Duration reachable from v (through structs,
// pointers and slices, which get one element) to d; times stay zero.
func fill(v reflect.Value, d time.Duration, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			if !v.CanSet() {
				return
			}
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), d, depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), d, depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem() == reflect.TypeFor[time.Time]() {
			return
		}
		if v.Len() == 0 && v.CanSet() {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := range v.Len() {
			fill(v.Index(i), d, depth+1)
		}
	case reflect.Int64:
		if v.Type() == reflect.TypeFor[time.Duration]() && v.CanSet() {
			v.SetInt(int64(d))
		}
	}
}

func walkJSON(v any, path string, fn func(path string, v any)) {
	fn(path, v)
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			walkJSON(e, path+"."+k, fn)
		}
	case []any:
		for i, e := range v {
			walkJSON(e, fmt.Sprintf("%s.%d", path, i), fn)
		}
	}
}

// jsonPath follows a dotted path (object keys, list indexes) in doc.
func jsonPath(doc any, path string) (any, bool) {
	cur := doc
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			var i int
			if _, err := fmt.Sscan(p, &i); err != nil || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
