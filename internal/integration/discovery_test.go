package integration

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/herald-alerts/herald/internal/discovery"
)

func targetSecret(name, url string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: name, Labels: map[string]string{"publishing-target": "true"}},
		Data:       map[string][]byte{"config": []byte(fmt.Sprintf(`{"name": %q, "type": "webhook", "url": %q}`, name, url))},
	}
}

// TestSecretChangesApplyWithoutRestart: targets come from Kubernetes
// Secrets (client-go fake clientset with watches). A Secret added while
// Herald runs is used by the next alert; a target deleted between firing
// and resolve still receives the resolve.
func TestSecretChangesApplyWithoutRestart(t *testing.T) {
	first, second := newSink(t), newSink(t)
	cs := fake.NewSimpleClientset(targetSecret("first", first.URL+"/hook"))
	h := startHerald(t, nil)
	src, err := discovery.NewSecretSource(discovery.Config{
		Client: cs, Namespaces: []string{"monitoring"}, Selector: "publishing-target=true", Logger: discardLogger(),
		// The operator lets these targets route every namespace's alerts
		// and reach the loopback sinks (targets from Secrets may do
		// neither by default).
		ClusterWide: []string{"monitoring"}, AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = src.Run(ctx, h.registry) }()
	eventually(t, 10*time.Second, "first secret discovered", func() bool { _, ok := h.registry.Get("first"); return ok })

	h.post(webhookBody(firingAlert("k1", "Discovered")))
	eventually(t, 30*time.Second, "alert 1 reaches the first target", func() bool { return first.count("firing") == 1 })

	// Add a Secret while Herald runs (retry until the informer's watch is up).
	if _, err := cs.CoreV1().Secrets("monitoring").Create(ctx, targetSecret("second", second.URL+"/hook"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "second secret discovered", func() bool { _, ok := h.registry.Get("second"); return ok })
	a2 := firingAlert("k2", "AfterAdd")
	h.post(webhookBody(a2))
	eventually(t, 30*time.Second, "alert 2 reaches both targets", func() bool {
		return first.count("firing") == 2 && second.count("firing") == 1
	})

	// Delete the second target's Secret before alert 2 resolves.
	if err := cs.CoreV1().Secrets("monitoring").Delete(ctx, "second", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "second target removed", func() bool { _, ok := h.registry.Get("second"); return !ok })
	h.post(webhookBody(resolvedAlert(a2)))
	st := h.waitWorkflowDone("k2")
	if second.count("resolved") != 1 {
		t.Errorf("deleted target got %d resolves, want 1 (it received the firing)", second.count("resolved"))
	}
	for _, ts := range st.Targets {
		if ts.Status != "delivered" {
			t.Errorf("%s: %s (%s)", ts.Name, ts.Status, ts.LastError)
		}
	}
	// A new alert no longer goes to the deleted target.
	h.post(webhookBody(firingAlert("k3", "AfterDelete")))
	eventually(t, 30*time.Second, "alert 3 reaches the first target", func() bool { return first.count("firing") == 3 })
	if second.count("firing") != 1 {
		t.Errorf("deleted target got %d firings, want still 1", second.count("firing"))
	}
}
