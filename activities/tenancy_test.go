package activities_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/target"
)

// tenancyTargets: the operator's own target (targets file), a target from
// a Secret in namespace team-a whose filter asks for every namespace, and
// one from a namespace the operator lets route cluster-wide.
func tenancyTargets() []target.Target {
	return []target.Target{
		{Name: "ops-file", Type: "webhook", URL: "https://ops.example.com/hook", Origin: "file:targets.yaml#0"},
		{Name: "team-a-hook", Type: "webhook", URL: "https://a.example.com/hook", Origin: "secret:team-a/hook",
			Filter: target.Filter{"namespace": {"team-a", "team-b", "payments"}},
			Scope:  target.Scope{Tenant: true, Namespace: "team-a"}},
		{Name: "platform-hook", Type: "webhook", URL: "https://p.example.com/hook", Origin: "secret:platform/hook",
			Scope: target.Scope{Tenant: true}},
	}
}

// The worker decides routing: a target from a Secret in namespace N gets
// only alerts whose namespace label is N, whatever its filter says; the
// operator's targets and cluster-wide ones get every alert their filter
// matches. Both ResolveTargets and Prepare (the alert workflow's one call)
// apply it.
func TestResolveTargetsKeepsTenantsInTheirNamespace(t *testing.T) {
	tests := []struct {
		namespace      string // "" no namespace label
		want, filtered []string
	}{
		{"team-a", []string{"ops-file", "platform-hook", "team-a-hook"}, nil},
		{"team-b", []string{"ops-file", "platform-hook"}, []string{"team-a-hook"}},
		{"payments", []string{"ops-file", "platform-hook"}, []string{"team-a-hook"}},
		{"", []string{"ops-file", "platform-hook"}, []string{"team-a-hook"}},
	}
	for _, tc := range tests {
		t.Run("namespace "+tc.namespace, func(t *testing.T) {
			labels := map[string]string{"alertname": "X", "severity": "critical"}
			if tc.namespace != "" {
				labels["namespace"] = tc.namespace
			}
			a := &activities.Activities{Registry: newRegistry(tenancyTargets()...), HealthView: &fakeHealthView{}, Logger: quietLogger()}

			res := resolveTargets(t, a, labels)
			assert.Equal(t, tc.want, refNames(res.Targets))
			assert.Equal(t, tc.filtered, res.Filtered)

			env := newActivityEnv()
			env.RegisterActivity(a)
			episode := alert.Alert{Fingerprint: "fp1", Status: alert.StatusFiring, Labels: labels}
			val, err := env.ExecuteActivity(a.Prepare, contract.PrepareInput{Episode: &episode})
			require.NoError(t, err)
			var prep contract.PrepareResult
			require.NoError(t, val.Get(&prep))
			assert.Equal(t, tc.want, refNames(prep.Targets), "Prepare")
			assert.Equal(t, tc.filtered, prep.Filtered, "Prepare")
		})
	}
}
