package discovery_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

var updateRule = flag.Bool("update-prometheusrule", false, "regenerate deploy/monitoring/prometheusrule.yaml from deploy/prometheus/herald-alerts.yml")

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor that
// Herald uses; strict decoding rejects any other field.
type serviceMonitor struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		TargetLabels []string `json:"targetLabels"`
		Endpoints    []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func (s *serviceMonitor) GetNamespace() string { return s.Metadata.Namespace }

// ruleGroups is a Prometheus rule file, and the spec of a PrometheusRule.
type ruleGroups struct {
	Groups []struct {
		Name  string `json:"name"`
		Rules []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"rules"`
	} `json:"groups"`
}

type prometheusRule struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       ruleGroups        `json:"spec"`
}

const (
	rulesFile          = deployDir + "/prometheus/herald-alerts.yml"
	prometheusRuleFile = deployDir + "/monitoring/prometheusrule.yaml"
	monitoringDir      = deployDir + "/monitoring"
)

var makefileVersion = regexp.MustCompile(`(?m)^VERSION\s*:?=\s*(\S+)\s*$`)

func TestDeploySafeByDefault(t *testing.T) {
	ms := loadManifests(t, deployDir)
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := makefileVersion.FindSubmatch(mk)
	if m == nil {
		t.Fatal("no VERSION := in the Makefile")
	}
	version := string(m[1])

	t.Run("image pinned to the Makefile VERSION", func(t *testing.T) {
		k := find[*kustomization](t, ms, "Kustomization", "")
		if len(k.Images) != 1 || k.Images[0].Name != "ghcr.io/herald-alerts/herald" || k.Images[0].NewTag != version {
			t.Errorf("kustomization images = %+v, want ghcr.io/herald-alerts/herald newTag %s", k.Images, version)
		}
		for _, name := range []string{"herald-worker", "herald-starter"} {
			c := find[*appsv1.Deployment](t, ms, "Deployment", name).Spec.Template.Spec.Containers[0]
			if c.Image != "ghcr.io/herald-alerts/herald:"+version {
				t.Errorf("%s image = %q, want tag %s", name, c.Image, version)
			}
		}
	})

	t.Run("starter tokens are required", func(t *testing.T) {
		c := find[*appsv1.Deployment](t, ms, "Deployment", "herald-starter").Spec.Template.Spec.Containers[0]
		for env, key := range map[string]string{"HERALD_WEBHOOK_TOKEN": "webhook-token", "HERALD_ADMIN_TOKEN": "admin-token"} {
			ref := secretRef(c, env)
			if ref == nil || ref.Name != "herald-auth" || ref.Key != key {
				t.Errorf("%s = %+v, want Secret herald-auth key %s", env, ref, key)
				continue
			}
			if ref.Optional != nil && *ref.Optional {
				t.Errorf("%s is optional: a missing Secret would turn authentication off", env)
			}
		}
	})

	t.Run("network policies", func(t *testing.T) {
		for _, name := range []string{"herald-starter", "herald-worker"} {
			np := find[*networkingv1.NetworkPolicy](t, ms, "NetworkPolicy", name)
			d := find[*appsv1.Deployment](t, ms, "Deployment", name)
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("%s: podSelector %v does not select the deployment's pods", name, np.Spec.PodSelector)
			}
			if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || len(np.Spec.Ingress) != 1 {
				t.Fatalf("%s: want exactly one ingress rule, got %+v", name, np.Spec)
			}
			rule := np.Spec.Ingress[0]
			if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.String() != "http" {
				t.Errorf("%s: ports = %+v, want only the http port", name, rule.Ports)
			}
			if len(rule.From) == 0 {
				t.Errorf("%s: an empty from admits everyone", name)
			}
			monitoring := false
			for _, peer := range rule.From {
				if peer.IPBlock != nil {
					t.Errorf("%s: unexpected ipBlock peer", name)
				}
				if peer.NamespaceSelector != nil && peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "monitoring" && peer.PodSelector == nil {
					monitoring = true
					continue
				}
				// Any other peer must name labelled pods.
				if peer.PodSelector == nil || len(peer.PodSelector.MatchLabels) == 0 {
					t.Errorf("%s: peer %+v admits unlabelled pods", name, peer)
				}
				if name == "herald-worker" {
					t.Errorf("herald-worker admits more than Prometheus: %+v", peer)
				}
			}
			if !monitoring {
				t.Errorf("%s: Prometheus (namespace monitoring) is not admitted", name)
			}
		}
	})
}

func secretRef(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

func TestMonitoringManifests(t *testing.T) {
	if *updateRule {
		writePrometheusRule(t)
	}
	base := loadManifests(t, deployDir)
	ms := loadManifests(t, monitoringDir)

	k := find[*kustomization](t, ms, "Kustomization", "")
	if res := append([]string(nil), k.Resources...); !slices.Equal(res, []string{"servicemonitor.yaml", "prometheusrule.yaml"}) {
		t.Errorf("monitoring kustomization resources = %v", res)
	}

	t.Run("ServiceMonitor selects both Services and sets the label HeraldDown uses", func(t *testing.T) {
		sm := find[*serviceMonitor](t, ms, "ServiceMonitor", "herald")
		if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Metadata.Namespace != "herald" {
			t.Errorf("apiVersion %q namespace %q", sm.APIVersion, sm.Metadata.Namespace)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil || sel.Empty() {
			t.Fatalf("selector %v: %v", sm.Spec.Selector, err)
		}
		if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"herald"}) {
			t.Errorf("namespaceSelector = %v", sm.Spec.NamespaceSelector.MatchNames)
		}
		for _, name := range []string{"herald-starter", "herald-worker-metrics"} {
			svc := find[*corev1.Service](t, base, "Service", name)
			if !sel.Matches(labels.Set(svc.Labels)) {
				t.Errorf("ServiceMonitor does not select Service %s (labels %v)", name, svc.Labels)
			}
			for _, l := range sm.Spec.TargetLabels {
				if svc.Labels[l] != "herald" {
					t.Errorf("Service %s has no label %s=herald to copy", name, l)
				}
			}
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					t.Errorf("Service %s has no port %q", name, ep.Port)
				}
			}
		}
		if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("endpoints = %+v", sm.Spec.Endpoints)
		}
		// The Prometheus Operator turns the label into a sanitised label name.
		if !slices.Equal(sm.Spec.TargetLabels, []string{"app.kubernetes.io/part-of"}) {
			t.Fatalf("targetLabels = %v", sm.Spec.TargetLabels)
		}
		rules := loadRuleFile(t)
		down := findRule(t, rules, "HeraldDown")
		if !strings.Contains(down, `app_kubernetes_io_part_of="herald"`) {
			t.Errorf("HeraldDown %q does not select the label the ServiceMonitor sets", down)
		}
	})

	t.Run("PrometheusRule equals the rule file", func(t *testing.T) {
		pr := find[*prometheusRule](t, ms, "PrometheusRule", "herald")
		if pr.APIVersion != "monitoring.coreos.com/v1" || pr.Metadata.Namespace != "herald" {
			t.Errorf("apiVersion %q namespace %q", pr.APIVersion, pr.Metadata.Namespace)
		}
		want := loadRuleFile(t)
		if !reflect.DeepEqual(pr.Spec, want) {
			t.Errorf("%s differs from %s; regenerate it with\n  go test ./internal/discovery -run TestMonitoringManifests -update-prometheusrule",
				prometheusRuleFile, rulesFile)
		}
	})

	t.Run("no rule depends on the scrape job's name", func(t *testing.T) {
		for _, g := range loadRuleFile(t).Groups {
			for _, r := range g.Rules {
				if strings.Contains(r.Expr, "job=") || strings.Contains(r.Expr, "job!") {
					t.Errorf("%s selects a job: %s", r.Alert, r.Expr)
				}
			}
		}
	})
}

func loadRuleFile(t *testing.T) ruleGroups {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var g ruleGroups
	if err := yaml.UnmarshalStrict(data, &g); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return g
}

func findRule(t *testing.T, g ruleGroups, alert string) string {
	t.Helper()
	for _, grp := range g.Groups {
		for _, r := range grp.Rules {
			if r.Alert == alert {
				return r.Expr
			}
		}
	}
	t.Fatalf("no rule %s", alert)
	return ""
}

// writePrometheusRule wraps the groups of the rule file, text and comments
// unchanged, into a PrometheusRule.
func writePrometheusRule(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte("\ngroups:\n"))
	if i < 0 {
		t.Fatal("no groups: in the rule file")
	}
	var b bytes.Buffer
	b.WriteString(`# GENERATED from deploy/prometheus/herald-alerts.yml, the one source of the rules:
#   go test ./internal/discovery -run TestMonitoringManifests -update-prometheusrule
# Do not edit by hand; make test fails when the two differ.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: herald
  namespace: herald
  labels:
    app.kubernetes.io/name: herald
    app.kubernetes.io/part-of: herald
spec:
`)
	for _, line := range strings.SplitAfter(string(data[i+1:]), "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString(line)
			continue
		}
		b.WriteString("  " + line)
	}
	if err := os.WriteFile(prometheusRuleFile, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTemporalHelmValues checks the values for the Temporal chart against
// what Herald's manifests expect: PostgreSQL for both stores, the namespace
// the Deployments use.
func TestTemporalHelmValues(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "temporal-helm-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Server struct {
			ReplicaCount int `json:"replicaCount"`
			Config       struct {
				NumHistoryShards int `json:"numHistoryShards"`
				Persistence      struct {
					DefaultStore    string `json:"defaultStore"`
					VisibilityStore string `json:"visibilityStore"`
					Datastores      map[string]struct {
						SQL *struct {
							PluginName      string `json:"pluginName"`
							DatabaseName    string `json:"databaseName"`
							ConnectAddr     string `json:"connectAddr"`
							ConnectProtocol string `json:"connectProtocol"`
							User            string `json:"user"`
							Password        string `json:"password"`
							MaxConns        int    `json:"maxConns"`
							MaxIdleConns    int    `json:"maxIdleConns"`
							MaxConnLifetime string `json:"maxConnLifetime"`
						} `json:"sql"`
					} `json:"datastores"`
				} `json:"persistence"`
				Namespaces struct {
					Create    bool `json:"create"`
					Namespace []struct {
						Name      string `json:"name"`
						Retention string `json:"retention"`
					} `json:"namespace"`
				} `json:"namespaces"`
			} `json:"config"`
		} `json:"server"`
	}
	if err := yaml.UnmarshalStrict(data, &v); err != nil {
		t.Fatal(err)
	}
	p := v.Server.Config.Persistence
	for _, store := range []string{p.DefaultStore, p.VisibilityStore} {
		ds, ok := p.Datastores[store]
		if !ok || ds.SQL == nil || ds.SQL.PluginName != "postgres12" || ds.SQL.DatabaseName == "" || ds.SQL.ConnectAddr == "" {
			t.Errorf("store %q is not PostgreSQL: %+v", store, ds)
		}
		if ds.SQL != nil && ds.SQL.Password != "" {
			t.Errorf("store %q: a password in the committed values", store)
		}
	}
	if p.DefaultStore == p.VisibilityStore || p.Datastores[p.DefaultStore].SQL.DatabaseName == p.Datastores[p.VisibilityStore].SQL.DatabaseName {
		t.Errorf("main store and visibility must be separate databases")
	}
	if v.Server.Config.NumHistoryShards < 1 || v.Server.ReplicaCount < 2 {
		t.Errorf("numHistoryShards %d, replicaCount %d", v.Server.Config.NumHistoryShards, v.Server.ReplicaCount)
	}
	ms := loadManifests(t, deployDir)
	d := find[*appsv1.Deployment](t, ms, "Deployment", "herald-worker")
	ns := ""
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "HERALD_TEMPORAL_NAMESPACE" {
			ns = e.Value
		}
	}
	nss := v.Server.Config.Namespaces
	if !nss.Create || !slices.ContainsFunc(nss.Namespace, func(n struct {
		Name      string `json:"name"`
		Retention string `json:"retention"`
	}) bool {
		return n.Name == ns
	}) {
		t.Errorf("the chart does not create the namespace %q the Deployments use: %+v", ns, nss)
	}
}
