package discovery

import (
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// userAgent identifies Herald in the API server's audit log.
const userAgent = "herald"

// ClientFromConfig returns a Kubernetes client. With an empty path and no
// KUBECONFIG in the environment it uses the in-cluster service account;
// otherwise it loads the kubeconfig (the path, or KUBECONFIG's files) and its
// current context.
func ClientFromConfig(kubeconfigPath string) (kubernetes.Interface, error) {
	cfg, err := restConfig(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = userAgent
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return client, nil
}

func restConfig(kubeconfigPath string) (*rest.Config, error) {
	if kubeconfigPath == "" && os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes in-cluster config (outside a cluster, set KUBECONFIG): %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if kubeconfigPath != "" {
		rules.ExplicitPath = kubeconfigPath
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		where := kubeconfigPath
		if where == "" {
			where = "$" + clientcmd.RecommendedConfigPathEnvVar
		}
		return nil, fmt.Errorf("kubernetes config from %s: %w", where, err)
	}
	return cfg, nil
}
