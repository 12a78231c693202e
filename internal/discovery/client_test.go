package discovery_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/discovery"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
users:
- name: herald
  user:
    token: not-a-real-token
contexts:
- name: test
  context:
    cluster: test
    user: herald
    namespace: herald
current-context: test
`

func TestClientFromConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(good, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken")
	if err := os.WriteFile(broken, []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		path       string
		env        string
		wantErr    string
		outCluster bool // unset the in-cluster service variables
	}{
		{name: "explicit path", path: good},
		{name: "KUBECONFIG", env: good},
		{name: "explicit path beats KUBECONFIG", path: good, env: broken},
		{name: "broken file", path: broken, wantErr: "kubernetes config from " + broken},
		{name: "missing file", path: filepath.Join(dir, "nope"), wantErr: "kubernetes config from"},
		{name: "not in a cluster", outCluster: true, wantErr: "in-cluster config (outside a cluster, set KUBECONFIG)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			if tc.outCluster {
				t.Setenv("KUBERNETES_SERVICE_HOST", "")
				t.Setenv("KUBERNETES_SERVICE_PORT", "")
			}
			client, err := discovery.ClientFromConfig(tc.path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || client == nil {
				t.Fatalf("ClientFromConfig = %v, %v", client, err)
			}
		})
	}
}
