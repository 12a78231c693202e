package discovery_test

import (
	"bytes"
	"github.com/herald-alerts/herald/internal/publish/slack"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/target"
)

const deployDir = "../../deploy"

// manifest is one parsed YAML document of deploy/.
type manifest struct {
	file string
	kind string
	name string
	obj  any
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels,omitempty"`
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// loadManifests strictly decodes every document of dir/*.yaml into its typed
// Kubernetes object, so a misspelt field fails the test.
func loadManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	var out []manifest
	for _, file := range files {
		if strings.HasSuffix(file, "-values.yaml") {
			continue // Helm values, not a manifest (see TestTemporalHelmValues)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range docSeparator.Split(string(data), -1) {
			var meta struct {
				metav1.TypeMeta   `json:",inline"`
				metav1.ObjectMeta `json:"metadata"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if meta.Kind == "" {
				if strings.TrimSpace(stripComments(doc)) != "" {
					t.Fatalf("%s document %d has no kind", file, i)
				}
				continue
			}
			var obj any
			switch meta.Kind {
			case "Namespace":
				obj = &corev1.Namespace{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "Secret":
				obj = &corev1.Secret{}
			case "Service":
				obj = &corev1.Service{}
			case "Role":
				obj = &rbacv1.Role{}
			case "RoleBinding":
				obj = &rbacv1.RoleBinding{}
			case "ClusterRole":
				obj = &rbacv1.ClusterRole{}
			case "ClusterRoleBinding":
				obj = &rbacv1.ClusterRoleBinding{}
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "PodDisruptionBudget":
				obj = &policyv1.PodDisruptionBudget{}
			case "NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "ServiceMonitor":
				obj = &serviceMonitor{}
			case "PrometheusRule":
				obj = &prometheusRule{}
			case "Kustomization":
				obj = &kustomization{}
			default:
				t.Fatalf("%s: unexpected kind %q", file, meta.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s (%s %s): %v", file, meta.Kind, meta.Name, err)
			}
			out = append(out, manifest{file: filepath.Base(file), kind: meta.Kind, name: meta.Name, obj: obj})
		}
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func find[T any](t *testing.T, ms []manifest, kind, name string) T {
	t.Helper()
	for _, m := range ms {
		if m.kind == kind && m.name == name {
			return m.obj.(T)
		}
	}
	var zero T
	t.Fatalf("no %s %q in deploy/", kind, name)
	return zero
}

func TestDeployManifests(t *testing.T) {
	ms := loadManifests(t, deployDir)

	var got []string
	for _, m := range ms {
		got = append(got, m.kind+"/"+m.name)
	}
	sort.Strings(got)
	want := []string{
		"ClusterRole/herald-target-discovery-all-namespaces", "ClusterRoleBinding/herald-target-discovery-all-namespaces",
		"Deployment/herald-starter", "Deployment/herald-worker", "Kustomization/",
		"Namespace/herald", "NetworkPolicy/herald-starter", "NetworkPolicy/herald-worker",
		"PodDisruptionBudget/herald-starter", "PodDisruptionBudget/herald-worker",
		"Role/herald-target-discovery", "RoleBinding/herald-target-discovery",
		"Service/herald-starter", "Service/herald-worker-metrics", "ServiceAccount/herald",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("objects in deploy/:\n got %v\nwant %v", got, want)
	}

	t.Run("namespaced objects live in herald", func(t *testing.T) {
		for _, m := range ms {
			switch m.kind {
			case "Namespace", "ClusterRole", "ClusterRoleBinding", "Kustomization":
				continue
			}
			ns := reflectNamespace(m.obj)
			if ns != "herald" {
				t.Errorf("%s %s: namespace %q, want herald", m.kind, m.name, ns)
			}
		}
	})

	t.Run("RBAC grants only reading secrets", func(t *testing.T) {
		role := find[*rbacv1.Role](t, ms, "Role", "herald-target-discovery")
		checkSecretReadRules(t, "Role", role.Rules)
		cr := find[*rbacv1.ClusterRole](t, ms, "ClusterRole", "herald-target-discovery-all-namespaces")
		checkSecretReadRules(t, "ClusterRole", cr.Rules)

		rb := find[*rbacv1.RoleBinding](t, ms, "RoleBinding", "herald-target-discovery")
		if rb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name}) {
			t.Errorf("RoleBinding roleRef = %+v", rb.RoleRef)
		}
		checkHeraldSubject(t, "RoleBinding", rb.Subjects)
		crb := find[*rbacv1.ClusterRoleBinding](t, ms, "ClusterRoleBinding", "herald-target-discovery-all-namespaces")
		if crb.RoleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cr.Name}) {
			t.Errorf("ClusterRoleBinding roleRef = %+v", crb.RoleRef)
		}
		checkHeraldSubject(t, "ClusterRoleBinding", crb.Subjects)
	})

	deployments := map[string]string{"herald-worker": "/herald/worker", "herald-starter": "/herald/starter"}
	for name, command := range deployments {
		t.Run("deployment "+name, func(t *testing.T) {
			d := find[*appsv1.Deployment](t, ms, "Deployment", name)
			checkDeployment(t, d, command)
			pdb := find[*policyv1.PodDisruptionBudget](t, ms, "PodDisruptionBudget", name)
			if !selects(t, pdb.Spec.Selector.MatchLabels, d) || pdb.Spec.MinAvailable == nil {
				t.Errorf("PodDisruptionBudget %s does not protect the deployment: %+v", name, pdb.Spec)
			}
		})
	}

	for svcName, depName := range map[string]string{"herald-starter": "herald-starter", "herald-worker-metrics": "herald-worker"} {
		t.Run("service "+svcName, func(t *testing.T) {
			svc := find[*corev1.Service](t, ms, "Service", svcName)
			d := find[*appsv1.Deployment](t, ms, "Deployment", depName)
			if !selects(t, svc.Spec.Selector, d) {
				t.Errorf("service selector %v does not select %s", svc.Spec.Selector, depName)
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 {
				t.Errorf("ports = %+v, want one port 8080 named http", svc.Spec.Ports)
			}
			a := svc.Annotations
			if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "8080" || a["prometheus.io/path"] != "/metrics" {
				t.Errorf("prometheus annotations = %v", a)
			}
		})
	}

	t.Run("kustomization", func(t *testing.T) {
		k := find[*kustomization](t, ms, "Kustomization", "")
		if k.Namespace != "herald" {
			t.Errorf("namespace = %q", k.Namespace)
		}
		var files []string
		for _, m := range ms {
			if m.kind != "Kustomization" && m.file != "rbac-all-namespaces.yaml" && !slices.Contains(files, m.file) {
				files = append(files, m.file)
			}
		}
		sort.Strings(files)
		res := append([]string(nil), k.Resources...)
		sort.Strings(res)
		if !slices.Equal(res, files) {
			t.Errorf("kustomization resources = %v, want %v", res, files)
		}
		if slices.Contains(k.Resources, "rbac-all-namespaces.yaml") {
			t.Errorf("the cluster-wide RBAC must stay optional")
		}
	})
}

func reflectNamespace(obj any) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetNamespace()
	}
	return ""
}

func checkSecretReadRules(t *testing.T, what string, rules []rbacv1.PolicyRule) {
	t.Helper()
	if len(rules) == 0 {
		t.Errorf("%s has no rules", what)
	}
	for _, r := range rules {
		if !slices.Equal(r.APIGroups, []string{""}) || !slices.Equal(r.Resources, []string{"secrets"}) || len(r.NonResourceURLs) > 0 {
			t.Errorf("%s rule %+v: want core secrets only", what, r)
		}
		verbs := append([]string(nil), r.Verbs...)
		sort.Strings(verbs)
		if !slices.Equal(verbs, []string{"get", "list", "watch"}) {
			t.Errorf("%s verbs = %v, want exactly get, list, watch", what, r.Verbs)
		}
	}
}

func checkHeraldSubject(t *testing.T, what string, subjects []rbacv1.Subject) {
	t.Helper()
	want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "herald", Namespace: "herald"}}
	if !slices.Equal(subjects, want) {
		t.Errorf("%s subjects = %+v, want the herald ServiceAccount", what, subjects)
	}
}

func selects(t *testing.T, sel map[string]string, d *appsv1.Deployment) bool {
	t.Helper()
	return len(sel) > 0 && labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels))
}

func checkDeployment(t *testing.T, d *appsv1.Deployment, command string) {
	t.Helper()
	spec := d.Spec.Template.Spec
	if d.Spec.Selector == nil || !selects(t, d.Spec.Selector.MatchLabels, d) {
		t.Errorf("selector does not match the pod template")
	}
	if spec.ServiceAccountName != "herald" {
		t.Errorf("serviceAccountName = %q", spec.ServiceAccountName)
	}
	if psc := spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod must run as non-root")
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !slices.Equal(c.Command, []string{command}) {
		t.Errorf("command = %v, want %s", c.Command, command)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for k, v := range map[string]string{
		"HERALD_HTTP_ADDR":          ":8080",
		"HERALD_TEMPORAL_ADDRESS":   "temporal-frontend.temporal.svc:7233",
		"HERALD_TEMPORAL_NAMESPACE": "default",
		"HERALD_K8S_NAMESPACES":     "herald",
	} {
		if env[k] != v {
			t.Errorf("env %s = %q, want %q", k, env[k], v)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != 8080 || c.Ports[0].Name != "http" {
		t.Errorf("ports = %+v", c.Ports)
	}
	for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[what]
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = %+v, want GET %s on port http", what, p, want)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext = %+v", sc)
	}
}

func TestExampleTargetSecrets(t *testing.T) {
	ms := loadManifests(t, filepath.Join(deployDir, "examples"))
	var (
		objs  []runtime.Object
		types = map[string]bool{}
		names = map[string]bool{}
	)
	slackKinds := map[string]bool{}
	for _, m := range ms {
		switch m.kind {
		case "Kustomization":
			k := m.obj.(*kustomization)
			for _, r := range k.Resources {
				if _, err := os.Stat(filepath.Join(deployDir, "examples", r)); err != nil {
					t.Errorf("kustomization lists a missing file: %v", err)
				}
			}
			continue
		case "Secret":
		default:
			t.Fatalf("%s: unexpected %s in examples", m.file, m.kind)
		}
		s := m.obj.(*corev1.Secret)
		if s.Namespace != "herald" || s.Labels["publishing-target"] != "true" {
			t.Errorf("%s: namespace %q labels %v", m.file, s.Namespace, s.Labels)
		}
		config, ok := s.StringData["config"]
		if !ok || len(s.Data) > 0 {
			t.Errorf("%s: want the target in stringData.config", m.file)
			continue
		}
		tg, err := target.ParseOne([]byte(config), m.file)
		if err != nil {
			t.Errorf("%s: %v", m.file, err)
			continue
		}
		if names[tg.Name] {
			t.Errorf("%s: target name %q used twice", m.file, tg.Name)
		}
		names[tg.Name] = true
		types[tg.Type] = true
		if tg.Type == "slack" {
			slackKinds[map[bool]string{true: "bot", false: "webhook"}[slack.ConfigOf(tg).Token != ""]] = true
		}
		for _, secret := range tg.Secrets() {
			if !strings.Contains(secret, "example") && !strings.Contains(secret, "EXAMPLE") && !bytes.Contains([]byte(secret), []byte("herald")) {
				t.Errorf("%s: credential %q does not look obviously fake", m.file, secret)
			}
		}
		objs = append(objs, s)
	}
	for _, typ := range target.Types() {
		if !types[typ] {
			t.Errorf("no example for type %s", typ)
		}
	}
	if !slackKinds["bot"] || !slackKinds["webhook"] {
		t.Errorf("want a slack incoming-webhook and a slack bot-token example, have %v", slackKinds)
	}

	// The examples as they would be discovered in the herald namespace.
	h := start(t, discovery.Config{Namespaces: []string{"herald"}}, objs...)
	if got := len(h.reg.List()); got != len(objs) {
		t.Errorf("discovered %d of %d examples; problems: %+v", got, len(objs), h.reg.Snapshot().Problems)
	}
}
