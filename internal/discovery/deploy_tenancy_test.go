package discovery_test

import (
	"io"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/herald-alerts/herald/internal/config"
)

// The manifests run the tenancy model as docs/discovery.md describes it:
// API reads need the admin token on the starter (the only process with an
// API); Herald's own namespace routes cluster-wide on both processes (so
// the example Secrets keep receiving every alert); no process lets targets
// from Secrets reach blocked addresses. Each container's environment loads
// as a valid configuration.
func TestDeployTenancy(t *testing.T) {
	ms := loadManifests(t, deployDir)
	for _, name := range []string{"herald-worker", "herald-starter"} {
		c := find[*appsv1.Deployment](t, ms, "Deployment", name).Spec.Template.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				env[e.Name] = "from-secret"
				continue
			}
			env[e.Name] = e.Value
		}
		if got, want := env["HERALD_K8S_CLUSTER_WIDE_NAMESPACES"], env["HERALD_K8S_NAMESPACES"]; got != want || got == "" {
			t.Errorf("%s: HERALD_K8S_CLUSTER_WIDE_NAMESPACES = %q, want Herald's own namespace %q", name, got, want)
		}
		if v, set := env["HERALD_K8S_ALLOWED_TARGET_CIDRS"]; set {
			t.Errorf("%s: HERALD_K8S_ALLOWED_TARGET_CIDRS = %q; targets from Secrets must not reach blocked addresses by default", name, v)
		}
		wantReads := map[string]string{"herald-starter": "true", "herald-worker": ""}[name]
		if got := env["HERALD_ADMIN_READS"]; got != wantReads {
			t.Errorf("%s: HERALD_ADMIN_READS = %q, want %q", name, got, wantReads)
		}
		if _, err := config.Load(name, nil, func(k string) string { return env[k] }, io.Discard); err != nil {
			t.Errorf("%s: its environment is not a valid configuration: %v", name, err)
		}
	}
}
