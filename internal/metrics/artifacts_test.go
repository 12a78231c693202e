package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/target"
)

// The shipped operations artifacts: Grafana dashboards and alert rules.
var artifactGlobs = []string{
	"../../deploy/grafana/*.json",
	"../../deploy/prometheus/herald-alerts.yml",
	"../../deploy/monitoring/prometheusrule.yaml",
}

var heraldName = regexp.MustCompile(`\bherald_[a-z0-9_]+`)

// createdByEvents are the Herald metrics that an artifact names and that
// exist only once something happened: a series per target and outcome, or
// per target type, created by the first delivery, health check, failure or
// webhook (or, for herald_target_health, by the first read of the shared
// health, once Temporal is connected). The live test
// (internal/integration TestOperationsArtifactsAgainstALiveHerald) causes
// each of them and checks them in a real scrape. Everything else an
// artifact names must be in the exposition from the start.
var createdByEvents = map[string]string{
	"herald_alerts_received_total":         "first webhook, by alert status",
	"herald_webhook_requests_total":        "first webhook, by HTTP status",
	"herald_deliveries_total":              "first delivery, by target, type, event and outcome",
	"herald_delivery_duration_seconds":     "first delivery, by type and outcome",
	"herald_delivery_errors_total":         "first failed delivery, by target, type and kind",
	"herald_rate_limit_wait_seconds":       "first delivery, by type",
	"herald_dlq_writes_total":              "first dead letter, by target and kind",
	"herald_health_checks_total":           "first health check, by target and result",
	"herald_health_check_duration_seconds": "first health check, by target",
	"herald_target_health":                 "first read of the shared health (needs Temporal)",
}

// startedMetrics are what a worker exposes right after it started with a
// targets file (one target, one invalid definition) and Kubernetes
// discovery configured, before any alert, check or failure.
var startedMetrics = []string{
	"herald_discovery_errors_total",
	"herald_discovery_invalid_targets",
	"herald_dlq_replays_total",
}

// TestArtifactMetricsExistFromTheStart: every metric a dashboard or an
// alert rule names is in the exposition of a freshly started Herald, or is
// listed in createdByEvents with the event that creates it. Series that
// are known at start (each configured source's reasons, the replay
// outcomes, each target's breaker, skip and deferral series) exist at zero,
// so absent() is never true of them and increase() sees their first step.
func TestArtifactMetricsExistFromTheStart(t *testing.T) {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.yaml")
	if err := os.WriteFile(targets, []byte("- name: hook\n  type: webhook\n  url: https://hooks.example.com/x\n- name: Not_A_Label\n  type: webhook\n  url: https://hooks.example.com/y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("test", []string{"--targets-file", targets}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := app.NewRuntime(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	defer cancel()
	// Kubernetes discovery as startKubernetes wires it (its client aside).
	if _, err := discovery.NewSecretSource(discovery.Config{Client: fake.NewSimpleClientset(), Namespaces: []string{"team-a", "team-b"},
		Logger: log, Metrics: rt.Metrics}); err != nil {
		t.Fatal(err)
	}
	rt.Registry.Expect(discovery.SourceName)
	// The worker's composition: publishers (format series per type), the
	// guard (per-target series of every target it learns of).
	if _, err := app.NewWorkerDeps(cfg, rt.Registry, rt.Metrics, nil, log); err != nil {
		t.Fatal(err)
	}

	mfs, err := rt.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) > 0 {
			exposed[mf.GetName()] = true
		}
	}

	wanted := artifactNames(t)
	if len(wanted) < 15 {
		t.Fatalf("only %d herald_ names found in the artifacts: the extraction is broken", len(wanted))
	}
	var missing []string
	for _, name := range sortedKeys(wanted) {
		if _, later := createdByEvents[name]; later {
			continue
		}
		if !exposed[name] {
			missing = append(missing, name+" (used by "+strings.Join(wanted[name], ", ")+")")
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d metrics named by dashboards or rules are absent from a freshly started Herald (pre-initialise their known series, or list them in createdByEvents with the event that creates them):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
	for _, name := range startedMetrics {
		if !exposed[name] {
			t.Errorf("%s is absent at start", name)
		}
		if _, later := createdByEvents[name]; later {
			t.Errorf("%s must exist from the start, not by an event", name)
		}
	}
	for name := range createdByEvents {
		if _, used := wanted[name]; !used {
			t.Errorf("createdByEvents lists %s, which no artifact names any more", name)
		}
	}

	// The series of each configured source, at zero.
	file := "file:" + targets
	for _, want := range []struct{ family, a, b string }{
		{"herald_discovery_errors_total", "file", target.ReasonReadError},
		{"herald_discovery_errors_total", "file", target.ReasonInvalidFile},
		{"herald_discovery_errors_total", "kubernetes", discovery.ReasonForbidden},
		{"herald_discovery_errors_total", "kubernetes", discovery.ReasonDuplicateName},
		{"herald_discovery_invalid_targets", file, target.ReasonDuplicateName},
		{"herald_discovery_invalid_targets", "kubernetes", discovery.ReasonBlockedAddress},
		{"herald_dlq_replays_total", "success", ""},
		{"herald_dlq_replays_total", "failure", ""},
		{"herald_circuit_breaker_state", "hook", ""},
	} {
		if !hasSeries(mfs, want.family, want.a, want.b) {
			t.Errorf("%s has no series {%s %s}", want.family, want.a, want.b)
		}
	}
	// The invalid definition itself is a series of its own, at 1.
	if !hasSeries(mfs, "herald_discovery_invalid_targets", file+"#1", target.ReasonInvalidTarget) {
		t.Errorf("the invalid definition has no herald_discovery_invalid_targets series")
	}
}

// artifactNames maps every herald_ metric name the artifacts use (a
// histogram by its base name) to the files that use it.
func artifactNames(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, glob := range artifactGlobs {
		files, err := filepath.Glob(glob)
		if err != nil || len(files) == 0 {
			t.Fatalf("no artifact matches %s", glob)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range heraldName.FindAllString(string(raw), -1) {
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					n = strings.TrimSuffix(n, suffix)
				}
				where := filepath.Base(f)
				if l := out[n]; len(l) == 0 || l[len(l)-1] != where {
					out[n] = append(out[n], where)
				}
			}
		}
	}
	return out
}

// hasSeries reports whether the family has a series with label values a
// and b (b empty: any).
func hasSeries(mfs []*dto.MetricFamily, family, a, b string) bool {
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, s := range mf.GetMetric() {
			values := map[string]bool{}
			for _, lp := range s.GetLabel() {
				values[lp.GetValue()] = true
			}
			if values[a] && (b == "" || values[b]) {
				return true
			}
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
