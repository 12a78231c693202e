package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	workflowpb "go.temporal.io/api/workflow/v1"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// What a tenant's target answered (here: an internal service's secret)
// must not reach an API reader without the admin token.
const internalAnswer = "http_4xx (HTTP 403): {\"AccessKeyId\": \"ASIA-internal\"}"

func tenancyRegistry() *target.Registry {
	reg := target.NewRegistry()
	reg.Update("file:targets.yaml", []target.Target{{Name: "own", Type: "webhook", URL: "http://own.test/hook",
		Origin: "file:targets.yaml#0"}}, nil)
	reg.Update("kubernetes", []target.Target{{Name: "tenant", Type: "webhook", URL: "http://tenant.test/hook",
		Origin: "secret:team-a/hook", Scope: target.Scope{Tenant: true, Namespace: "team-a"}}}, nil)
	return reg
}

func tenancyClient() *apiClient {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	st := firingState()
	st.Targets = []*contract.TargetState{
		{Name: "own", Type: "webhook", Status: contract.DeliveryFailed, LastError: internalAnswer,
			Records: []contract.DeliveryRecord{{Seq: 1, Outcome: "failed", Error: internalAnswer, At: at}}},
		{Name: "tenant", Type: "webhook", Status: contract.DeliveryFailed, LastError: internalAnswer, LastErrorKind: "http_4xx", StatusCode: 403,
			Records: []contract.DeliveryRecord{{Seq: 1, Outcome: "failed", Error: internalAnswer, At: at}}},
	}
	return &apiClient{
		state: st,
		pending: []*workflowpb.PendingActivityInfo{
			{ActivityId: "publish/own/2/1", Attempt: 2, State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, LastFailure: &failurepb.Failure{Message: internalAnswer}},
			{ActivityId: "publish/tenant/2/1", Attempt: 2, State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED, LastFailure: &failurepb.Failure{Message: internalAnswer}},
		},
		health: []health.Status{
			{Target: "own", State: health.StateUnhealthy, LastCheck: at, LastError: internalAnswer},
			{Target: "tenant", State: health.StateUnhealthy, LastCheck: at, LastError: internalAnswer},
		},
		dlq: &workflows.ListResponse{Total: 3, Matched: 3, Entries: []*workflows.DeadLetter{
			{ID: "dl1", Target: "own", Error: internalAnswer, LastFailure: at},
			{ID: "dl2", Target: "tenant", Error: internalAnswer, ErrorKind: "http_4xx", StatusCode: 403, LastFailure: at},
			{ID: "dl3", Target: "deleted-since", Error: internalAnswer, LastFailure: at},
		}},
	}
}

// Error excerpts of targets from Secrets (and of targets no longer
// configured) are shown only to a reader with the admin token; the kind of
// error and the status code stay visible, and the operator's own targets
// show everything.
func TestTenantErrorExcerptsNeedTheAdminToken(t *testing.T) {
	reads := []struct {
		path string
		// hidden and shown: JSON paths of the excerpt for a reader without
		// the token.
		hidden, shown []string
		kept          map[string]any
	}{
		{"/api/v1/alerts/abc123",
			[]string{"targets.1.lastError", "targets.1.records.0.error", "inFlight.1.lastFailure"},
			[]string{"targets.0.lastError", "targets.0.records.0.error", "inFlight.0.lastFailure"},
			map[string]any{"targets.1.lastErrorKind": "http_4xx", "targets.1.statusCode": 403.0}},
		{"/api/v1/targets", []string{"targets.1.health.lastError"}, []string{"targets.0.health.lastError"}, nil},
		{"/api/v1/targets/tenant/health", []string{"lastError"}, nil, nil},
		{"/api/v1/targets/own/health", nil, []string{"lastError"}, nil},
		{"/api/v1/dlq", []string{"entries.1.error", "entries.2.error"}, []string{"entries.0.error"},
			map[string]any{"entries.1.errorKind": "http_4xx", "entries.1.statusCode": 403.0}},
	}
	for _, setup := range []struct {
		name  string
		token string
	}{{"admin token configured", "adm1n"}, {"no admin token configured", ""}} {
		t.Run(setup.name, func(t *testing.T) {
			s := newAPIServer(t, Config{AdminToken: setup.token, Registry: tenancyRegistry()}, tenancyClient())
			for _, rd := range reads {
				rec := s.serve(request{method: http.MethodGet, path: rd.path})
				require.Equal(t, http.StatusOK, rec.Code, "%s: %s", rd.path, rec.Body.String())
				var doc any
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
				for _, p := range rd.hidden {
					got, _ := jsonPath(doc, p)
					assert.Equal(t, HiddenExcerpt, got, "%s %s without the token", rd.path, p)
				}
				for _, p := range rd.shown {
					got, _ := jsonPath(doc, p)
					assert.Equal(t, internalAnswer, got, "%s %s of the operator's target", rd.path, p)
				}
				for p, want := range rd.kept {
					got, _ := jsonPath(doc, p)
					assert.Equal(t, want, got, "%s %s", rd.path, p)
				}
				if setup.token == "" {
					continue
				}
				// With the admin token: everything.
				rec = s.serve(request{method: http.MethodGet, path: rd.path, header: map[string]string{"Authorization": "Bearer " + setup.token}})
				require.Equal(t, http.StatusOK, rec.Code)
				assert.NotContains(t, rec.Body.String(), HiddenExcerpt, "%s with the admin token", rd.path)
				assert.Equal(t, len(rd.hidden)+len(rd.shown), strings.Count(rec.Body.String(), "ASIA-internal"), "%s with the admin token", rd.path)
				// A wrong token is no token.
				rec = s.serve(request{method: http.MethodGet, path: rd.path, header: map[string]string{"Authorization": "Bearer wrong"}})
				assert.Equal(t, len(rd.shown), strings.Count(rec.Body.String(), "ASIA-internal"), "%s with a wrong token", rd.path)
			}
		})
	}
}

// Two Secrets defining one name: both refused, and /readyz says so while
// staying ready (a tenant must not take a replica out of service).
func TestReadyzReportsRefusedNames(t *testing.T) {
	reg := target.NewRegistry()
	reg.Update("file:targets.yaml", []target.Target{{Name: "ops", Type: "webhook", URL: "http://ops.test/", Origin: "file:targets.yaml#0"}}, nil)
	reg.Update("kubernetes", []target.Target{
		{Name: "ops", Type: "webhook", URL: "http://evil.test/", Origin: "secret:team-b/ops", Scope: target.Scope{Tenant: true}},
	}, []target.Problem{
		{Origin: "secret:team-a/oncall", Target: "oncall", Reason: target.ReasonDuplicateName, Message: "also defined by secret:team-b/oncall"},
		{Origin: "secret:team-b/oncall", Target: "oncall", Reason: target.ReasonDuplicateName, Message: "also defined by secret:team-a/oncall"},
	})
	s := newAPIServer(t, Config{Registry: reg, Ready: func(context.Context) error { return nil }}, nil)
	rec := s.serve(request{method: http.MethodGet, path: "/readyz"})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var got struct {
		Status  string        `json:"status"`
		Refused []RefusedName `json:"refused_target_names"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.Equal(t, "ready", got.Status)
	assert.Equal(t, []RefusedName{
		{Target: "oncall", Origins: []string{"secret:team-a/oncall", "secret:team-b/oncall"}},
		{Target: "ops", Origins: []string{"file:targets.yaml#0 (in use)", "secret:team-b/ops"}},
	}, got.Refused)

	// Nothing refused: the answer is as before.
	s = newAPIServer(t, Config{Ready: func(context.Context) error { return nil }}, nil)
	rec = s.serve(request{method: http.MethodGet, path: "/readyz"})
	assert.JSONEq(t, `{"status": "ready"}`, rec.Body.String())
}
