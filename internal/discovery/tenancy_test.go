package discovery_test

import (
	"net/netip"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/target"
)

// A target from a Secret in namespace N receives only alerts whose
// namespace label is N, whatever its filter says, unless the operator lets
// N route cluster-wide. Every target from a Secret is a tenant's: its dials
// are checked.
func TestTargetsAreScopedToTheirSecretsNamespace(t *testing.T) {
	objs := []runtime.Object{
		newSecret("team-a", "s", selected, `{"name": "a-hook", "type": "webhook", "url": "https://a.example.com/hook"}`),
		// Its filter asks for everything of team-b and every critical alert.
		newSecret("team-a", "greedy", selected, `{"name": "a-greedy", "type": "webhook", "url": "https://a.example.com/all",
			"filter": {"namespace": ["team-b", "team-a"]}}`),
		newSecret("ops", "s", selected, `{"name": "ops-hook", "type": "webhook", "url": "https://ops.example.com/hook"}`),
	}
	alertIn := func(ns string) map[string]string {
		l := map[string]string{"alertname": "X", "severity": "critical"}
		if ns != "" {
			l[target.NamespaceLabel] = ns
		}
		return l
	}
	t.Run("scoped unless cluster-wide", func(t *testing.T) {
		h := start(t, discovery.Config{Namespaces: []string{"*"}, ClusterWide: []string{"ops"}}, objs...)
		for name, want := range map[string]map[string]bool{
			"a-hook":   {"team-a": true, "team-b": false, "": false, "ops": false},
			"a-greedy": {"team-a": true, "team-b": false, "": false},
			"ops-hook": {"team-a": true, "team-b": true, "": true},
		} {
			tg, ok := h.reg.Get(name)
			if !ok {
				t.Fatalf("%s not discovered; problems %+v", name, h.reg.Snapshot().Problems)
			}
			if !tg.FromTenant() || tg.Scope.Dial == nil {
				t.Errorf("%s: scope %+v, want a tenant's target with a dial policy", name, tg.Scope)
			}
			for ns, accept := range want {
				if got := tg.Accepts(alertIn(ns)); got != accept {
					t.Errorf("%s accepts an alert of namespace %q: %v, want %v", name, ns, got, accept)
				}
			}
		}
		if got := h.src.ClusterWide(); len(got) != 1 || got[0] != "ops" {
			t.Errorf("ClusterWide() = %v", got)
		}
	})
	t.Run("every namespace cluster-wide", func(t *testing.T) {
		h := start(t, discovery.Config{Namespaces: []string{"team-a", "ops"}, ClusterWide: []string{"*"}}, objs...)
		tg, ok := h.reg.Get("a-hook")
		if !ok || tg.Scope.Namespace != "" || !tg.Accepts(alertIn("team-b")) || !tg.FromTenant() {
			t.Errorf("a-hook = %+v, want a cluster-wide tenant target", tg.Scope)
		}
	})
	t.Run("invalid setting", func(t *testing.T) {
		client, _ := fakeClient()
		_, err := discovery.NewSecretSource(discovery.Config{Client: client, Namespaces: []string{"a"}, ClusterWide: []string{"Team_A"}})
		if err == nil || !strings.Contains(err.Error(), `invalid cluster-wide namespace "Team_A"`) {
			t.Errorf("error = %v", err)
		}
	})
}

// A Secret's target whose url names a loopback, link-local or metadata
// address (or a metadata host name) is refused when it is read; a name
// that resolves to one is refused when it is dialled (internal/netguard).
func TestSecretTargetsMayNotNameBlockedAddresses(t *testing.T) {
	hook := func(name, url string) string {
		return `{"name": "` + name + `", "type": "webhook", "url": "` + url + `"}`
	}
	objs := []runtime.Object{
		newSecret("team-a", "loop", selected, hook("loop", "http://127.0.0.1:9093/api")),
		newSecret("team-a", "loop6", selected, hook("loop6", "http://[::1]:8080/")),
		newSecret("team-a", "imds", selected, hook("imds", "http://169.254.169.254/latest/meta-data/")),
		newSecret("team-a", "gce", selected, hook("gce", "http://metadata.google.internal/computeMetadata/v1/")),
		newSecret("team-a", "am", selected, `{"name": "am", "type": "alertmanager", "url": "http://169.254.170.2:9093"}`),
		newSecret("team-a", "fine", selected, hook("fine", "https://hooks.example.com/a")),
		newSecret("team-a", "incluster", selected, hook("incluster", "http://10.96.0.15:8080/hook")),
	}
	h := start(t, discovery.Config{Namespaces: []string{"team-a"}}, objs...)
	for _, name := range []string{"loop", "loop6", "imds", "gce", "am"} {
		p, ok := h.problem("secret:team-a/" + name)
		if !ok || p.Reason != discovery.ReasonBlockedAddress || !strings.Contains(p.Message, "may not reach") {
			t.Errorf("%s: problem %+v, want %s", name, p, discovery.ReasonBlockedAddress)
		}
		if h.has(name) {
			t.Errorf("%s is in use", name)
		}
	}
	for _, name := range []string{"fine", "incluster"} {
		if !h.has(name) {
			t.Errorf("%s refused: %+v", name, h.reg.Snapshot().Problems)
		}
	}
	if got := counterValue(t, h.metrics.DiscoveryErrors, "kubernetes", discovery.ReasonBlockedAddress); got != 5 {
		t.Errorf("blocked_address counted %v times, want 5", got)
	}

	// The operator allows loopback (a laptop): those targets are used,
	// metadata stays refused.
	h2 := start(t, discovery.Config{Namespaces: []string{"team-a"},
		AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, objs...)
	if !h2.has("loop") || !h2.has("loop6") {
		t.Errorf("allowed loopback targets refused: %+v", h2.reg.Snapshot().Problems)
	}
	if h2.has("imds") || h2.has("gce") {
		t.Errorf("metadata targets in use with only loopback allowed")
	}
	tg, _ := h2.reg.Get("loop")
	if err := tg.Scope.Dial.CheckHost("127.0.0.1"); err != nil {
		t.Errorf("the target's dial policy refuses the allowed network: %v", err)
	}
	if err := tg.Scope.Dial.CheckHost("169.254.169.254"); !netguard.IsBlocked(err) {
		t.Errorf("the target's dial policy allows metadata: %v", err)
	}
}

// herald_discovery_errors_total and herald_discovery_invalid_targets exist
// for the Kubernetes source from the start, at zero.
func TestDiscoveryMetricsExistFromTheStart(t *testing.T) {
	client, _ := fakeClient()
	m := metrics.New()
	if _, err := discovery.NewSecretSource(discovery.Config{Client: client, Namespaces: []string{"a"}, Metrics: m}); err != nil {
		t.Fatal(err)
	}
	for _, reason := range []string{"forbidden", "watch_error", "missing_config", "invalid_json", "invalid_target", "duplicate_name", "blocked_address"} {
		if n := counterSeries(t, m, "herald_discovery_errors_total", map[string]string{"source": "kubernetes", "reason": reason}); n != 1 {
			t.Errorf("herald_discovery_errors_total{source=kubernetes,reason=%s}: %d series, want 1", reason, n)
		}
	}
	for _, reason := range []string{"missing_config", "invalid_json", "invalid_target", "duplicate_name", "blocked_address"} {
		if n := gaugeSeries(t, m.DiscoveryProblem, map[string]string{"origin": "kubernetes", "reason": reason}); n != 1 {
			t.Errorf("herald_discovery_invalid_targets{origin=kubernetes,reason=%s}: %d series, want 1", reason, n)
		}
		if v := gaugeValue(t, m.DiscoveryProblem, "kubernetes", reason); v != 0 {
			t.Errorf("herald_discovery_invalid_targets{origin=kubernetes,reason=%s} = %v, want 0", reason, v)
		}
	}
}

// counterSeries counts the series of the named family whose labels
// include want, in a gather of m's registry (no series is created).
func counterSeries(t *testing.T, m *metrics.Metrics, name string, want map[string]string) int {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			match := 0
			for _, lp := range s.GetLabel() {
				if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
					match++
				}
			}
			if match == len(want) {
				n++
			}
		}
	}
	return n
}
