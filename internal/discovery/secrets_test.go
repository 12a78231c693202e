package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

func TestNewSecretSourceValidatesConfig(t *testing.T) {
	client, _ := fakeClient()
	tests := []struct {
		name    string
		cfg     discovery.Config
		wantErr string // empty: valid
		wantNS  []string
		wantSel string
	}{
		{name: "defaults", cfg: discovery.Config{Client: client, Namespaces: []string{"herald"}},
			wantNS: []string{"herald"}, wantSel: "publishing-target=true"},
		{name: "set-based selector", cfg: discovery.Config{Client: client, Namespaces: []string{"herald"}, Selector: "publishing-target in (true,yes),team!=legacy"},
			wantNS: []string{"herald"}, wantSel: "publishing-target in (true,yes),team!=legacy"},
		{name: "blank and repeated namespaces", cfg: discovery.Config{Client: client, Namespaces: []string{" b ", "", "a", "b"}},
			wantNS: []string{"a", "b"}, wantSel: "publishing-target=true"},
		{name: "all namespaces wins", cfg: discovery.Config{Client: client, Namespaces: []string{"a", "*"}},
			wantNS: []string{"*"}, wantSel: "publishing-target=true"},
		{name: "no client", cfg: discovery.Config{Namespaces: []string{"a"}}, wantErr: "no Kubernetes client"},
		{name: "no namespace", cfg: discovery.Config{Client: client, Namespaces: []string{" ", ""}}, wantErr: "no namespace to watch"},
		{name: "bad namespace", cfg: discovery.Config{Client: client, Namespaces: []string{"Team_A"}}, wantErr: `invalid namespace "Team_A"`},
		{name: "unbalanced selector", cfg: discovery.Config{Client: client, Namespaces: []string{"a"}, Selector: "publishing-target in (true"},
			wantErr: `invalid label selector "publishing-target in (true"`},
		{name: "bad selector operator", cfg: discovery.Config{Client: client, Namespaces: []string{"a"}, Selector: "a=>b"},
			wantErr: "invalid label selector"},
		{name: "negative resync", cfg: discovery.Config{Client: client, Namespaces: []string{"a"}, Resync: -time.Second},
			wantErr: "resync interval -1s is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := discovery.NewSecretSource(tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := src.Namespaces(); fmt.Sprint(got) != fmt.Sprint(tc.wantNS) {
				t.Errorf("namespaces = %v, want %v", got, tc.wantNS)
			}
			if got := src.Selector(); got != tc.wantSel {
				t.Errorf("selector = %q, want %q", got, tc.wantSel)
			}
			if src.Name() != "kubernetes" {
				t.Errorf("name = %q", src.Name())
			}
		})
	}
}

func TestSecretLifecycleReachesRegistry(t *testing.T) {
	h := start(t, discovery.Config{})
	if n := len(h.reg.List()); n != 0 {
		t.Fatalf("registry starts with %d targets", n)
	}

	s := newSecret("monitoring", "team-a", selected, slackConfig("team-a-slack"))
	h.create(t, s)
	waitFor(t, "added target", func() bool { return h.has("team-a-slack") })
	got, _ := h.reg.Get("team-a-slack")
	if got.Origin != "secret:monitoring/team-a" {
		t.Errorf("origin = %q", got.Origin)
	}
	if !got.IsEnabled() {
		t.Errorf("target should be enabled by default")
	}

	s.Data["config"] = []byte(`{"name": "team-a-slack", "type": "webhook", "url": "https://hooks.example.com/a"}`)
	h.update(t, s)
	waitFor(t, "updated target", func() bool { got, _ := h.reg.Get("team-a-slack"); return got.Type == "webhook" })

	s.Data["config"] = []byte(`{"name": "team-a-slack", "type": "webhook", "url": "https://hooks.example.com/a", "enabled": false}`)
	h.update(t, s)
	waitFor(t, "disabled target", func() bool { got, ok := h.reg.Get("team-a-slack"); return ok && !got.IsEnabled() })
	if n := len(h.reg.Enabled()); n != 0 {
		t.Errorf("disabled target listed as enabled (%d enabled)", n)
	}

	s.Data["config"] = []byte(`{"name": "renamed", "type": "webhook", "url": "https://hooks.example.com/a"}`)
	h.update(t, s)
	waitFor(t, "renamed target", func() bool { return h.has("renamed") && !h.has("team-a-slack") })

	h.delete(t, "monitoring", "team-a")
	waitFor(t, "deleted target", func() bool { return len(h.reg.List()) == 0 })
}

// recordingSink remembers the size of every update it passes on.
type recordingSink struct {
	mu    sync.Mutex
	sizes []int
	next  target.Sink
}

func (r *recordingSink) Update(source string, ts []target.Target, ps []target.Problem) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(ts))
	r.mu.Unlock()
	r.next.Update(source, ts, ps)
}

func TestFirstUpdateIsComplete(t *testing.T) {
	const n = 60
	var objs []runtime.Object
	for i := range n {
		ns := []string{"a", "b", "c"}[i%3]
		objs = append(objs, newSecret(ns, fmt.Sprintf("s%d", i), selected, slackConfig(fmt.Sprintf("t%d", i))))
	}
	client, _ := fakeClient(objs...)
	reg := target.NewRegistry()
	sink := &recordingSink{next: reg}
	src, err := discovery.NewSecretSource(discovery.Config{Client: client, Namespaces: []string{"a", "b", "c"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.Run(ctx, sink) }()
	waitFor(t, "first sync", src.HasSynced)

	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.sizes) == 0 || sink.sizes[0] != n {
		t.Fatalf("update sizes = %v, want the first to hold all %d targets", sink.sizes, n)
	}
}

func TestRunTwiceFails(t *testing.T) {
	h := start(t, discovery.Config{})
	if err := h.src.Run(context.Background(), h.reg); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Run = %v, want an already-running error", err)
	}
}

func TestInvalidSecretsAreSkipped(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		wantReason string
		wantTarget string
		wantMsg    string
	}{
		{name: "missing config key", config: noConfig, wantReason: "missing_config", wantMsg: `secret has no "config" key`},
		{name: "empty config", config: "  \n", wantReason: "missing_config", wantMsg: `secret key "config" is empty`},
		{name: "invalid json", config: `{"name": "bad", "type": "slack", "url": "https://hooks.slack.com/services/` + secretToken + `"`,
			wantReason: "invalid_json", wantMsg: "malformed target object"},
		{name: "list instead of object", config: `[{"name": "bad"}]`, wantReason: "invalid_json", wantMsg: "cannot unmarshal array"},
		{name: "wrong field type", config: `{"name": "bad", "type": "slack", "url": "https://hooks.slack.com/services/` + secretToken + `", "enabled": "yes"}`,
			wantReason: "invalid_json", wantTarget: "bad", wantMsg: "Target.enabled of type bool"},
		{name: "unknown field", config: `{"name": "bad", "type": "slack", "urll": "https://hooks.slack.com/services/` + secretToken + `"}`,
			wantReason: "invalid_json", wantTarget: "bad", wantMsg: `unknown field "urll"`},
		{name: "missing name", config: `{"type": "slack", "url": "https://hooks.slack.com/services/` + secretToken + `"}`,
			wantReason: "invalid_target", wantMsg: "field name: is required"},
		{name: "missing type", config: `{"name": "bad", "url": "https://hooks.slack.com/services/` + secretToken + `"}`,
			wantReason: "invalid_target", wantTarget: "bad", wantMsg: "field type: is required"},
		{name: "wrong target type", config: `{"name": "bad", "type": "carrier-pigeon", "url": "https://mail.example.com/` + secretToken + `"}`,
			wantReason: "invalid_target", wantTarget: "bad", wantMsg: `"carrier-pigeon" is not one of`},
		{name: "bad url scheme", config: `{"name": "bad", "type": "webhook", "url": "ftp://user:` + secretToken + `@files.example.com/x"}`,
			wantReason: "invalid_target", wantTarget: "bad", wantMsg: "field url: must be an absolute http or https URL"},
		{name: "relative url", config: `{"name": "bad", "type": "webhook", "url": "/hooks/` + secretToken + `"}`,
			wantReason: "invalid_target", wantTarget: "bad", wantMsg: "field url"},
		{name: "missing routing key", config: `{"name": "bad", "type": "pagerduty"}`,
			wantReason: "invalid_target", wantTarget: "bad", wantMsg: "field routing_key"},
		{name: "yaml with bad name", config: "name: Bad_Name\ntype: webhook\nurl: https://hooks.example.com/" + secretToken + "\n",
			wantReason: "invalid_target", wantTarget: "Bad_Name", wantMsg: "DNS-1123"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := newSecret("monitoring", "good", selected, slackConfig("good-slack"))
			bad := newSecret("monitoring", "broken", selected, tc.config)
			h := start(t, discovery.Config{}, good, bad)

			if got := h.names(); fmt.Sprint(got) != "[good-slack]" {
				t.Fatalf("targets = %v, want only the good one", got)
			}
			p, ok := h.problem("secret:monitoring/broken")
			if !ok {
				t.Fatalf("no problem reported; problems = %+v", h.reg.Snapshot().Problems)
			}
			if p.Reason != tc.wantReason || p.Target != tc.wantTarget || !strings.Contains(p.Message, tc.wantMsg) {
				t.Errorf("problem = %+v, want reason %q, target %q, message containing %q", p, tc.wantReason, tc.wantTarget, tc.wantMsg)
			}
			if strings.Contains(p.Message, secretToken) {
				t.Errorf("problem message leaks the secret: %q", p.Message)
			}
			if got := counterValue(t, h.metrics.DiscoveryErrors, "kubernetes", tc.wantReason); got != 1 {
				t.Errorf("discovery_errors_total{reason=%q} = %v, want 1", tc.wantReason, got)
			}

			logs := h.logs.String()
			var lines []string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, "target secret skipped") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], "secret=monitoring/broken") || !strings.Contains(lines[0], "reason="+tc.wantReason) {
				t.Errorf("want one skip line naming the secret and reason, got:\n%s", strings.Join(lines, "\n"))
			}
			if strings.Contains(logs, secretToken) {
				t.Errorf("logs leak the secret content:\n%s", logs)
			}
		})
	}
}

func TestValidYAMLConfig(t *testing.T) {
	yml := "name: team-b-pd\ntype: pagerduty\nrouting_key: R0UTINGKEY\nfilter:\n  severity: [critical]\n"
	h := start(t, discovery.Config{}, newSecret("monitoring", "pd", selected, yml))
	got, ok := h.reg.Get("team-b-pd")
	if !ok {
		t.Fatalf("YAML target not discovered; problems = %+v", h.reg.Snapshot().Problems)
	}
	if pagerduty.ConfigOf(got).RoutingKey != "R0UTINGKEY" || len(got.Filter["severity"]) != 1 {
		t.Errorf("target = %+v", got)
	}
}

func TestStringDataIsAccepted(t *testing.T) {
	s := newSecret("monitoring", "sd", selected, noConfig)
	s.StringData = map[string]string{"config": slackConfig("from-string-data")}
	h := start(t, discovery.Config{}, s)
	if !h.has("from-string-data") {
		t.Fatalf("targets = %v", h.names())
	}
}

func TestProblemsReportedOncePerChange(t *testing.T) {
	bad := newSecret("monitoring", "broken", selected, noConfig)
	h := start(t, discovery.Config{}, bad)
	target.ObserveRegistry(h.reg, h.metrics)
	origin := "secret:monitoring/broken"

	// Unrelated changes must not report the unchanged broken Secret again.
	for i := range 3 {
		h.create(t, newSecret("monitoring", fmt.Sprintf("ok%d", i), selected, slackConfig(fmt.Sprintf("ok%d", i))))
	}
	waitFor(t, "unrelated targets", func() bool { return len(h.reg.List()) == 3 })
	if got := counterValue(t, h.metrics.DiscoveryErrors, "kubernetes", "missing_config"); got != 1 {
		t.Errorf("missing_config counted %v times, want 1", got)
	}
	if got := gaugeValue(t, h.metrics.DiscoveryProblem, origin, "missing_config"); got != 1 {
		t.Errorf("discovery_invalid_targets = %v, want 1", got)
	}

	// Broken in another way: a new report.
	bad.Data["config"] = []byte("{not json")
	h.update(t, bad)
	waitFor(t, "new problem", func() bool { p, _ := h.problem(origin); return p.Reason == "invalid_json" })
	if got := counterValue(t, h.metrics.DiscoveryErrors, "kubernetes", "invalid_json"); got != 1 {
		t.Errorf("invalid_json counted %v times, want 1", got)
	}
	waitFor(t, "gauge follows the reason", func() bool {
		return gaugeSeries(t, h.metrics.DiscoveryProblem, map[string]string{"origin": origin}) == 1 &&
			gaugeValue(t, h.metrics.DiscoveryProblem, origin, "invalid_json") == 1
	})

	// Fixed: problem and gauge series disappear.
	bad.Data["config"] = []byte(slackConfig("fixed"))
	h.update(t, bad)
	waitFor(t, "fixed target", func() bool { return h.has("fixed") })
	if _, ok := h.problem(origin); ok {
		t.Errorf("problem still reported after the fix")
	}
	if n := gaugeSeries(t, h.metrics.DiscoveryProblem, map[string]string{"origin": origin}); n != 0 {
		t.Errorf("%d discovery_invalid_targets series left for a fixed secret", n)
	}
	if !strings.Contains(h.logs.String(), "target secret no longer skipped") {
		t.Errorf("fix not logged")
	}
}

func TestLabelSelectors(t *testing.T) {
	setBased := "publishing-target in (true,yes),team!=legacy"
	tests := []struct {
		name     string
		selector string
		labels   map[string]string
		want     bool
		sentinel map[string]string // matches the selector; proves the candidate was processed
	}{
		{name: "default match", labels: map[string]string{"publishing-target": "true"}, want: true},
		{name: "default extra labels", labels: map[string]string{"publishing-target": "true", "team": "a", "app": "x"}, want: true},
		{name: "default wrong value", labels: map[string]string{"publishing-target": "false"}, want: false},
		{name: "default value case matters", labels: map[string]string{"publishing-target": "True"}, want: false},
		{name: "default no labels", labels: nil, want: false},
		{name: "default other label", labels: map[string]string{"publishing": "true"}, want: false},
		{name: "set-based true", selector: setBased, labels: map[string]string{"publishing-target": "true", "team": "a"}, want: true},
		{name: "set-based yes", selector: setBased, labels: map[string]string{"publishing-target": "yes"}, want: true},
		{name: "set-based excluded team", selector: setBased, labels: map[string]string{"publishing-target": "yes", "team": "legacy"}, want: false},
		{name: "set-based other value", selector: setBased, labels: map[string]string{"publishing-target": "no"}, want: false},
		{name: "exists", selector: "publishing-target", labels: map[string]string{"publishing-target": "anything"}, want: true,
			sentinel: map[string]string{"publishing-target": "x"}},
		{name: "does not exist", selector: "publishing-target,!legacy", labels: map[string]string{"publishing-target": "x", "legacy": ""}, want: false,
			sentinel: map[string]string{"publishing-target": "x"}},
		{name: "notin", selector: "env notin (dev,test),publishing-target=true", labels: map[string]string{"publishing-target": "true", "env": "dev"}, want: false},
	}
	for _, tc := range tests {
		for _, path := range []string{"list", "watch"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				sentinel := tc.sentinel
				if sentinel == nil {
					sentinel = map[string]string{"publishing-target": "true"}
				}
				cand := newSecret("monitoring", "candidate", tc.labels, slackConfig("candidate"))
				var objs []runtime.Object
				if path == "list" {
					objs = append(objs, cand)
				}
				h := start(t, discovery.Config{Selector: tc.selector}, objs...)
				if path == "watch" {
					h.create(t, cand)
				}
				h.create(t, newSecret("monitoring", "sentinel", sentinel, slackConfig("sentinel")))
				waitFor(t, "sentinel", func() bool { return h.has("sentinel") })
				if got := h.has("candidate"); got != tc.want {
					t.Errorf("candidate discovered = %v, want %v", got, tc.want)
				}
			})
		}
	}
}

func TestRelabelledSecretIsRemoved(t *testing.T) {
	s := newSecret("monitoring", "team-a", map[string]string{"publishing-target": "true", "team": "a"}, slackConfig("team-a"))
	h := start(t, discovery.Config{}, s)
	if !h.has("team-a") {
		t.Fatal("target not discovered")
	}
	s.Labels = map[string]string{"publishing-target": "false", "team": "a"}
	h.update(t, s)
	waitFor(t, "removal after relabel", func() bool { return !h.has("team-a") })

	s.Labels = map[string]string{"publishing-target": "true"}
	h.update(t, s)
	waitFor(t, "return after relabel", func() bool { return h.has("team-a") })
}

func TestNamespaces(t *testing.T) {
	objs := []runtime.Object{
		newSecret("a", "s", selected, slackConfig("in-a")),
		newSecret("b", "s", selected, slackConfig("in-b")),
		newSecret("c", "s", selected, slackConfig("in-c")),
	}
	t.Run("listed namespaces", func(t *testing.T) {
		h := start(t, discovery.Config{Namespaces: []string{"a", "b"}}, objs...)
		if got := fmt.Sprint(h.names()); got != "[in-a in-b]" {
			t.Fatalf("targets = %s", got)
		}
		h.create(t, newSecret("c", "late", selected, slackConfig("late-c")))
		h.create(t, newSecret("b", "late", selected, slackConfig("late-b")))
		h.create(t, newSecret("a", "late", selected, slackConfig("late-a")))
		waitFor(t, "late secrets", func() bool { return h.has("late-a") && h.has("late-b") })
		if h.has("late-c") {
			t.Errorf("secret in an unwatched namespace was discovered")
		}
		h.delete(t, "c", "s")
		h.delete(t, "a", "s")
		waitFor(t, "deletion in a", func() bool { return !h.has("in-a") })
		if got := fmt.Sprint(h.names()); got != "[in-b late-a late-b]" {
			t.Errorf("targets = %s", got)
		}
	})
	t.Run("all namespaces", func(t *testing.T) {
		h := start(t, discovery.Config{Namespaces: []string{"*"}}, objs...)
		if got := fmt.Sprint(h.names()); got != "[in-a in-b in-c]" {
			t.Fatalf("targets = %s", got)
		}
		h.create(t, newSecret("zeta", "late", selected, slackConfig("late-zeta")))
		waitFor(t, "secret in a new namespace", func() bool { return h.has("late-zeta") })
		got, _ := h.reg.Get("late-zeta")
		if got.Origin != "secret:zeta/late" {
			t.Errorf("origin = %q", got.Origin)
		}
	})
}

// A target name that two Secrets define is refused in both, whichever is
// older: no Secret takes over a name another one holds. The refusal is in
// the problems (and so in /readyz, herald_discovery_invalid_targets and
// the API), in herald_discovery_errors_total and in the log.
func TestDuplicateNames(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pd := func(key string) string {
		return fmt.Sprintf(`{"name": "oncall", "type": "pagerduty", "routing_key": %q}`, key)
	}
	objs := []runtime.Object{
		createdAt(newSecret("a", "newest", selected, pd("from-a-newest")), t0.Add(2*time.Hour)),
		createdAt(newSecret("b", "middle", selected, pd("from-b-middle")), t0.Add(time.Hour)),
		createdAt(newSecret("z", "oldest", selected, pd("from-z-oldest")), t0),
		newSecret("c", "other", selected, slackConfig("unrelated")),
	}
	h := start(t, discovery.Config{Namespaces: []string{"*"}}, objs...)
	target.ObserveRegistry(h.reg, h.metrics)
	if got, ok := h.reg.Get("oncall"); ok {
		t.Fatalf("oncall is in use (from %s); want every definition refused", got.Origin)
	}
	if !h.has("unrelated") {
		t.Errorf("an unrelated target was refused too")
	}
	all := []string{"secret:a/newest", "secret:b/middle", "secret:z/oldest"}
	for _, origin := range all {
		p, ok := h.problem(origin)
		if !ok || p.Reason != "duplicate_name" || p.Target != "oncall" {
			t.Errorf("problem for %s = %+v", origin, p)
			continue
		}
		for _, other := range all {
			if other != origin && !strings.Contains(p.Message, other) {
				t.Errorf("problem for %s does not name %s: %s", origin, other, p.Message)
			}
		}
		if got := gaugeValue(t, h.metrics.DiscoveryProblem, origin, "duplicate_name"); got != 1 {
			t.Errorf("discovery_invalid_targets{origin=%q} = %v, want 1", origin, got)
		}
		if l := h.logs.String(); !strings.Contains(l, "secret="+strings.TrimPrefix(origin, "secret:")) || !strings.Contains(l, "reason=duplicate_name") {
			t.Errorf("the refusal of %s is not logged:\n%s", origin, l)
		}
	}
	if got := counterValue(t, h.metrics.DiscoveryErrors, "kubernetes", "duplicate_name"); got != 3 {
		t.Errorf("duplicate_name counted %v times, want 3", got)
	}

	// Down to two: still refused, both.
	h.delete(t, "z", "oldest")
	waitFor(t, "the oldest's problem to go", func() bool { _, ok := h.problem("secret:z/oldest"); return !ok })
	if h.has("oncall") {
		t.Fatalf("oncall in use with two definitions left")
	}
	// One left: it is used.
	h.delete(t, "a", "newest")
	waitFor(t, "the last definition in use", func() bool { got, _ := h.reg.Get("oncall"); return got.Origin == "secret:b/middle" })
	if len(h.reg.Snapshot().Problems) != 0 {
		t.Errorf("problems left: %+v", h.reg.Snapshot().Problems)
	}
	// A newer Secret cannot take the name over either: both refused again.
	h.create(t, createdAt(newSecret("a", "late", selected, pd("late")), t0.Add(5*time.Hour)))
	waitFor(t, "the late duplicate refused", func() bool { _, ok := h.problem("secret:a/late"); return ok && !h.has("oncall") })
	if p, ok := h.problem("secret:b/middle"); !ok || p.Reason != "duplicate_name" {
		t.Errorf("problem for the earlier holder = %+v", p)
	}
}

func TestMetrics(t *testing.T) {
	objs := []runtime.Object{
		newSecret("monitoring", "on", selected, slackConfig("slack-on")),
		newSecret("monitoring", "off", selected, `{"name": "slack-off", "type": "slack", "url": "https://hooks.slack.com/x", "enabled": false}`),
		newSecret("monitoring", "pd", selected, `{"name": "pd", "type": "pagerduty", "routing_key": "k"}`),
		newSecret("monitoring", "broken", selected, "{"),
	}
	before := float64(time.Now().Unix())
	h := start(t, discovery.Config{}, objs...)
	target.ObserveRegistry(h.reg, h.metrics)

	if got := gaugeValue(t, h.metrics.DiscoveryLastOK, "kubernetes"); got < before {
		t.Errorf("last sync timestamp = %v, want >= %v", got, before)
	}
	want := map[[2]string]float64{
		{"slack", "enabled"}: 1, {"slack", "disabled"}: 1, {"pagerduty", "enabled"}: 1,
		{"pagerduty", "disabled"}: 0, {"webhook", "enabled"}: 0, {"rootly", "enabled"}: 0, {"alertmanager", "disabled"}: 0,
	}
	for k, v := range want {
		if got := gaugeValue(t, h.metrics.Targets, k[0], k[1]); got != v {
			t.Errorf("herald_targets{type=%q,state=%q} = %v, want %v", k[0], k[1], got, v)
		}
	}
	if got := gaugeValue(t, h.metrics.DiscoveryProblem, "secret:monitoring/broken", "invalid_json"); got != 1 {
		t.Errorf("discovery_invalid_targets = %v, want 1", got)
	}

	h.delete(t, "monitoring", "on")
	waitFor(t, "gauge after delete", func() bool { return gaugeValue(t, h.metrics.Targets, "slack", "enabled") == 0 })
}

func TestForbiddenIsReported(t *testing.T) {
	client, _ := fakeClient()
	client.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC: no list"))
	})
	m := metrics.New()
	logs := &syncBuffer{}
	src, err := discovery.NewSecretSource(discovery.Config{Client: client, Namespaces: []string{"herald"}, Metrics: m,
		Logger: newLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, target.NewRegistry()) }()
	waitFor(t, "forbidden error", func() bool { return counterValue(t, m.DiscoveryErrors, "kubernetes", "forbidden") >= 1 })
	if src.HasSynced() {
		t.Errorf("source reports synced without a successful list")
	}
	if l := logs.String(); !strings.Contains(l, "not allowed to list or watch target secrets") || !strings.Contains(l, "namespace=herald") {
		t.Errorf("logs = %s", l)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestUnchangedSecretsDoNotBumpRegistry(t *testing.T) {
	s := newSecret("monitoring", "a", selected, slackConfig("a"))
	h := start(t, discovery.Config{}, s)
	gen := h.reg.Snapshot().Generation
	// An update that does not change the target (another key) leaves the
	// registry alone; a following real change shows the update was seen.
	s.Data["other"] = []byte("changed")
	h.update(t, s)
	h.create(t, newSecret("monitoring", "b", selected, slackConfig("b")))
	waitFor(t, "second target", func() bool { return h.has("b") })
	if got := h.reg.Snapshot().Generation; got != gen+1 {
		t.Errorf("generation went from %d to %d, want exactly one bump", gen, got)
	}
}

// TestConcurrentLookupsDuringUpdates is meant for -race: readers query the
// registry from many goroutines while Secrets keep changing.
func TestConcurrentLookupsDuringUpdates(t *testing.T) {
	var objs []runtime.Object
	for i := range 20 {
		objs = append(objs, newSecret("monitoring", fmt.Sprintf("s%d", i), selected, slackConfig(fmt.Sprintf("t%d", i))))
	}
	h := start(t, discovery.Config{}, objs...)
	target.ObserveRegistry(h.reg, h.metrics)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("t%d", (i+r)%25)
				if tg, ok := h.reg.Get(name); ok && tg.Name != name {
					t.Errorf("Get(%q) returned %q", name, tg.Name)
				}
				snap := h.reg.Snapshot()
				list := snap.List()
				for j := 1; j < len(list); j++ {
					if list[j-1].Name >= list[j].Name {
						t.Errorf("snapshot list not sorted")
					}
				}
				_, _ = snap.Get(name)
				_ = h.reg.List()
				_ = h.reg.Enabled()
				_ = len(snap.Problems)
				goruntime.Gosched() // leave the writer and the informer their share of the CPU
			}
		}()
	}

	churn := newSecret("monitoring", "churn", selected, slackConfig("churn"))
	h.create(t, churn)
	for i := range 400 {
		url := fmt.Sprintf("https://hooks.example.com/%d", i)
		churn.Data["config"] = []byte(fmt.Sprintf(`{"name": "churn", "type": "webhook", "url": %q}`, url))
		h.update(t, churn)
		k := (i / 2) % 20
		if i%2 == 0 {
			h.delete(t, "monitoring", fmt.Sprintf("s%d", k))
		} else {
			h.create(t, newSecret("monitoring", fmt.Sprintf("s%d", k), selected, slackConfig(fmt.Sprintf("t%d", k))))
		}
		if i%10 == 9 {
			waitFor(t, "churn update", func() bool { got, _ := h.reg.Get("churn"); return got.URL == url })
		}
	}
	close(stop)
	wg.Wait()
}
