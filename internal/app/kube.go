package app

import (
	"context"
	"fmt"
	"time"

	"github.com/herald-alerts/herald/internal/discovery"
)

// startKubernetes starts target discovery from Kubernetes Secrets.
func (rt *Runtime) startKubernetes(ctx context.Context) error {
	client, err := discovery.ClientFromConfig(rt.Config.Kubeconfig)
	if err != nil {
		return fmt.Errorf("kubernetes discovery: %w", err)
	}
	src, err := discovery.NewSecretSource(discovery.Config{
		Client: client, Namespaces: rt.Config.K8sNamespaces, Selector: rt.Config.K8sSelector,
		Resync: 10 * time.Minute, Logger: rt.Log, Metrics: rt.Metrics,
		ClusterWide: rt.Config.K8sClusterWide, AllowedCIDRs: rt.Config.K8sAllowedTargetCIDRs,
	})
	if err != nil {
		return fmt.Errorf("kubernetes discovery: %w", err)
	}
	// No delivery is decided before the Secrets are listed: until then the
	// targets they hold are unknown (ResolveTargets fails retryably and
	// /readyz says why).
	rt.Registry.Expect(discovery.SourceName)
	rt.goRun(func() {
		if err := src.Run(ctx, rt.Registry); err != nil {
			rt.Log.Error("kubernetes discovery stopped", "error", err)
		}
	})
	rt.Log.Info("kubernetes discovery started", "namespaces", src.Namespaces(), "selector", src.Selector())
	return nil
}
