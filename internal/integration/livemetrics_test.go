package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"sigs.k8s.io/yaml"

	"github.com/herald-alerts/herald/internal/app/dev"
)

// The shipped operations artifacts, relative to this package.
const (
	rulesFile     = "../../deploy/prometheus/herald-alerts.yml"
	dashboardGlob = "../../deploy/grafana/*.json"
)

// notExported are names the artifacts use that no Herald process exports,
// each for the reason given. Everything else must be in a live /metrics.
var notExported = map[string]string{
	// Prometheus itself writes `up` for every scrape target; the Prometheus
	// part of TestOperationsArtifactsAgainstALiveHerald checks that
	// up{app_kubernetes_io_part_of="herald"} (HeraldDown's selector) is 1.
	"up": "written by Prometheus per scrape target",
	// The Temporal SDK creates these series at the first failure only: a
	// failed long poll of a task queue (the server unreachable or
	// rejecting the worker), a failed workflow task (a panic or
	// non-determinism in workflow code, which a correct Herald never
	// produces). Neither can be caused from outside without breaking the
	// Temporal server or the workflow code under test. The rules are
	// written for their absence: HeraldWorkerNotPolling falls back to
	// `... * 0` when no failure series exists, and HeraldWorkflowTaskFailures
	// has nothing to fire on; deploy/prometheus/tests covers both with
	// synthetic series.
	"temporal_long_request_failure_total":           "SDK series created at the first failed long poll",
	"temporal_workflow_task_execution_failed_total": "SDK series created at the first failed workflow task",
}

// TestOperationsArtifactsAgainstALiveHerald runs Herald as `worker dev`
// wires it (dev.Run: embedded Temporal, worker, starter, one /metrics) with
// a healthy webhook target, one that is down (503 always: its health checks
// make it unhealthy and its deliveries open its breaker) and one that
// answers 400 (a dead letter, then a failing replay), plus an invalid
// definition in the targets file and, later, a broken targets file.
//
//  1. Every metric named by a dashboard panel, a dashboard variable or an
//     alert rule is in Herald's /metrics exposition.
//  2. A real Prometheus scraping that Herald with the shipped rules fires
//     HeraldTargetUnhealthy for the down target only (and
//     HeraldCircuitBreakerOpen and HeraldPermanentDeliveryErrors for the
//     targets that earn them).
func TestOperationsArtifactsAgainstALiveHerald(t *testing.T) {
	t.Parallel() // its own embedded server and Prometheus
	promBin := prometheusBinary(t)
	healthy := newSink(t)
	down := newSink(t, response{Status: http.StatusServiceUnavailable, Body: "down for maintenance"})
	reject := newSink(t, response{Status: http.StatusBadRequest, Body: "schema mismatch"})
	// A downstream Alertmanager behind a tight rate limit (one per 5s):
	// its deliveries are deferred for seconds, so the wait they felt must
	// show in herald_rate_limit_wait_seconds and fire HeraldRateLimitWaitHigh.
	slow := newSink(t)
	httpAddr := freeAddr(t)
	base := "http://" + httpAddr
	targetsYAML := fmt.Sprintf(`- name: live-healthy
  type: webhook
  url: %s/hook/healthy
- name: live-down
  type: webhook
  url: %s/hook/down
  retry: {initial_interval: 200ms, backoff: 1.5, max_interval: 1s, max_attempts: 30}
- name: live-reject
  type: webhook
  url: %s/hook/reject
- name: Not_A_DNS_Label
  type: webhook
  url: %s/hook/never
- name: live-slow
  type: alertmanager
  url: %s
  rate_limit: {per_second: 0.2}
`, healthy.URL, down.URL, reject.URL, healthy.URL, slow.URL)
	targetsPath := writeTargets(t, targetsYAML)
	cfg := loadConfig(t, "--http-addr", httpAddr, "--in-memory", "--temporal-port", "0", "--ui-port", "-1",
		"--targets-file", targetsPath, "--targets-poll", "200ms", "--task-queue", "livemetrics",
		"--health-interval", "1s")
	logs := &syncBuffer{}
	runInBackground(t, "worker dev", func(ctx context.Context) error {
		return dev.Run(ctx, cfg, newJSONLogger(logs), &syncBuffer{})
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("herald logs:\n%s", tail(logs.String(), 8000))
		}
	})
	// Prometheus starts while Herald does: its first scrapes may fail.
	prom := startPrometheus(t, promBin, httpAddr)
	waitReady(t, base)

	// Drive: firing alerts (one resolved again) to every target.
	alerts := []string{"live1", "live2", "live3"}
	for _, fp := range alerts {
		postWebhook(t, base, webhookBody(firingAlert(fp, "LiveMetrics")))
	}
	postWebhook(t, base, webhookBody(resolvedAlert(firingAlert("live1", "LiveMetrics"))))

	eventually(t, 30*time.Second, "the healthy target receives every firing alert and the resolve", func() bool {
		return healthy.count("firing") == len(alerts) && healthy.count("resolved") == 1
	})
	eventually(t, 30*time.Second, "the 400 target's deliveries are dead letters", func() bool {
		return metricValue(t, base, "herald_dlq_writes_total", `target="live-reject"`) >= 1
	})
	eventually(t, 30*time.Second, "the down target's circuit breaker opens", func() bool {
		return metricValue(t, base, "herald_circuit_breaker_state", `target="live-down"`) == 2
	})
	eventually(t, 30*time.Second, "the health checks mark the down target unhealthy", func() bool {
		return metricValue(t, base, "herald_target_health", `target="live-down"`, `state="unhealthy"`) == 1 &&
			metricValue(t, base, "herald_target_health", `target="live-healthy"`, `state="healthy"`) == 1
	})
	// A replay of the dead letters fails: the target still answers 400.
	replay, err := http.Post(base+"/api/v1/dlq/replay", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	replay.Body.Close()
	if replay.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/dlq/replay = %d", replay.StatusCode)
	}
	eventually(t, 30*time.Second, "the failed replay is counted", func() bool {
		return metricValue(t, base, "herald_dlq_replays_total", `outcome="failure"`) >= 1
	})
	// A broken targets file is a discovery error (the last good targets stay).
	if err := os.WriteFile(targetsPath, []byte("- name: [broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the broken targets file is counted", func() bool {
		return metricValue(t, base, "herald_discovery_errors_total", `source="file"`) >= 1
	})
	// A firing alert after the down target turned unhealthy is held back for it.
	postWebhook(t, base, webhookBody(firingAlert("live4", "LiveMetrics")))
	eventually(t, 30*time.Second, "the alert after the breaker opened reaches the healthy target", func() bool {
		return healthy.count("firing") == len(alerts)+1
	})

	// A workflow task that reaches a worker without the workflow in its
	// cache (a restarted or evicting worker) is a sticky cache miss.
	worker.PurgeStickyWorkflowCache()
	postWebhook(t, base, webhookBody(resolvedAlert(firingAlert("live2", "LiveMetrics"))))
	eventually(t, 30*time.Second, "the resolve after a cache purge is a sticky cache miss, then delivered", func() bool {
		return healthy.count("resolved") == 2 && metricValue(t, base, "temporal_sticky_cache_miss_total") >= 1
	})

	// 1. Every metric an artifact names is exported.
	exposition := scrape(t, base+"/metrics")
	exported := exposedNames(exposition)
	wanted := artifactMetricNames(t)
	if len(wanted) < 30 {
		t.Fatalf("found only %d metric names in the rules and dashboards: the extraction is broken", len(wanted))
	}
	var missing []string
	for _, name := range sortedKeys(wanted) {
		if _, skip := notExported[name]; skip {
			continue
		}
		if !exported[name] {
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(wanted[name], ", ")))
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d metric names used by the shipped rules/dashboards are absent from a live Herald's /metrics:\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
	t.Logf("checked %d metric names against the live exposition: %s", len(wanted), strings.Join(sortedKeys(wanted), " "))
	if n := metricValue(t, base, "herald_format_duration_seconds_count", `type="webhook"`); n < float64(len(alerts)) {
		t.Errorf("herald_format_duration_seconds_count{type=webhook} = %v, want at least one per delivery", n)
	}
	if !strings.Contains(exposition, `herald_format_duration_seconds_count{type="slack"} 0`) {
		t.Error("herald_format_duration_seconds{type=slack} is not pre-initialised at zero")
	}

	// 2. The shipped rules, evaluated by a real Prometheus on this Herald.
	if prom == "" {
		return
	}
	eventually(t, 30*time.Second, `Prometheus scrapes Herald: up{app_kubernetes_io_part_of="herald"} == 1`, func() bool {
		return promQueryValue(t, prom, `up{app_kubernetes_io_part_of="herald"}`) == "1"
	})
	want := map[string]string{
		"HeraldTargetUnhealthy":         "live-down",
		"HeraldCircuitBreakerOpen":      "live-down",
		"HeraldPermanentDeliveryErrors": "live-reject",
	}
	var last []promAlert
	eventually(t, 45*time.Second, "Prometheus fires HeraldTargetUnhealthy, HeraldCircuitBreakerOpen and HeraldPermanentDeliveryErrors", func() bool {
		last = promAlerts(t, prom)
		for name, tgt := range want {
			if !hasAlert(last, name, tgt, "firing") {
				return false
			}
		}
		return true
	})
	// The deferred deliveries to the rate-limited target: their whole wait
	// (up to 25s for the sixth) is in the histogram, so the p95 for the
	// type passes 5s and the rule fires (before deferrals were measured,
	// every observation was under the 1s inline wait).
	eventually(t, 90*time.Second, "Prometheus fires HeraldRateLimitWaitHigh for type alertmanager", func() bool {
		for _, a := range promAlerts(t, prom) {
			if a.Labels["alertname"] == "HeraldRateLimitWaitHigh" && a.Labels["type"] == "alertmanager" && a.State == "firing" {
				return true
			}
		}
		return false
	})
	for _, a := range last {
		if a.Labels["alertname"] == "HeraldRateLimitWaitHigh" && a.Labels["type"] != "alertmanager" {
			t.Errorf("HeraldRateLimitWaitHigh is %s for type %q, want only alertmanager", a.State, a.Labels["type"])
		}
		if a.Labels["target"] == "live-healthy" {
			t.Errorf("alert %s is %s for the healthy target", a.Labels["alertname"], a.State)
		}
		if a.Labels["alertname"] == "HeraldTargetUnhealthy" && a.Labels["target"] != "live-down" {
			t.Errorf("HeraldTargetUnhealthy is %s for %q, want only live-down", a.State, a.Labels["target"])
		}
	}
}

// prometheusBinary finds the Prometheus server of the Debian package
// prometheus (or one named by HERALD_PROMETHEUS_BIN). "" means the
// Prometheus part is skipped (HERALD_SKIP_PROMETHEUS=1).
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HERALD_PROMETHEUS_BIN"); p != "" {
		return p
	}
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if os.Getenv("HERALD_SKIP_PROMETHEUS") == "1" {
		t.Log("prometheus not found and HERALD_SKIP_PROMETHEUS=1: the alert-rule part is skipped")
		return ""
	}
	t.Fatal("prometheus not found: install the Debian package prometheus (make deps), set HERALD_PROMETHEUS_BIN, " +
		"or set HERALD_SKIP_PROMETHEUS=1 to skip the alert-rule part")
	return ""
}

// Rules whose `for:` startPrometheus shortens, with the duration they have
// in the shipped file (a test asserts it, so a change there is noticed).
var shortenedRules = map[string]string{
	"HeraldRateLimitWaitHigh":       "15m",
	"HeraldTargetUnhealthy":         "5m",
	"HeraldCircuitBreakerOpen":      "5m",
	"HeraldPermanentDeliveryErrors": "5m",
}

// startPrometheus runs Prometheus (1s scrape and evaluation) on a free
// loopback port with a temp storage dir, scraping heraldAddr and loading a
// copy of the shipped rules in which the rules of shortenedRules have
// `for: 2s` instead of their minutes, so the test need not wait that long.
// Everything else about the rules is as shipped. The scrape job is named
// unlike anything "herald" (the rules must not depend on the job name) and
// carries the app_kubernetes_io_part_of label both documented scrape
// setups add. It returns the base URL ("" when bin is "").
func startPrometheus(t *testing.T, bin, heraldAddr string) string {
	t.Helper()
	if bin == "" {
		return ""
	}
	dir := t.TempDir()
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	shortened := string(rules)
	for name, was := range shortenedRules {
		shortened = shortenFor(t, shortened, name, was, "2s")
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yml"), []byte(shortened), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [rules.yml]
scrape_configs:
- job_name: kubernetes-service-endpoints
  static_configs:
  - targets: [%q]
    labels:
      app_kubernetes_io_part_of: herald
`, heraldAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus logs:\n%s", tail(logs.String(), 6000))
		}
	})
	promBase := "http://" + addr
	eventually(t, 30*time.Second, "prometheus ready", func() bool {
		resp, err := http.Get(promBase + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return promBase
}

// shortenFor replaces the `for: was` of the rule alert in a rules file.
func shortenFor(t *testing.T, rules, alert, was, now string) string {
	t.Helper()
	start := strings.Index(rules, "- alert: "+alert+"\n")
	if start < 0 {
		t.Fatalf("rule %s not in %s", alert, rulesFile)
	}
	rest := rules[start+1:]
	end := strings.Index(rest, "- alert: ")
	if end < 0 {
		end = len(rest)
	}
	block := rest[:end]
	old := "for: " + was + "\n"
	if strings.Count(block, old) != 1 {
		t.Fatalf("rule %s does not have %q any more: update shortenedRules", alert, strings.TrimSpace(old))
	}
	return rules[:start+1] + strings.Replace(block, old, "for: "+now+"\n", 1) + rest[end:]
}

type promAlert struct {
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
}

func promAlerts(t *testing.T, base string) []promAlert {
	t.Helper()
	var out struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	promGet(t, base+"/api/v1/alerts", &out)
	return out.Data.Alerts
}

func hasAlert(alerts []promAlert, name, target, state string) bool {
	for _, a := range alerts {
		if a.Labels["alertname"] == name && a.Labels["target"] == target && a.State == state {
			return true
		}
	}
	return false
}

// promQueryValue is the value of the first sample of an instant query, ""
// when there is none.
func promQueryValue(t *testing.T, base, query string) string {
	t.Helper()
	var out struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	promGet(t, base+"/api/v1/query?query="+url.QueryEscape(query), &out)
	if len(out.Data.Result) == 0 || len(out.Data.Result[0].Value) != 2 {
		return ""
	}
	v, _ := out.Data.Result[0].Value[1].(string)
	return v
}

func promGet(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
}

func postWebhook(t *testing.T, base string, body []byte) {
	t.Helper()
	resp, err := http.Post(base+"/webhook", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("POST /webhook: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /webhook = %d", resp.StatusCode)
	}
}

// metricValue sums the samples of name whose labels contain every one of
// labels, in Herald's current /metrics.
func metricValue(t *testing.T, base, name string, labels ...string) float64 {
	t.Helper()
	return float64(sumSamples(scrape(t, base+"/metrics"), name, labels...))
}

// exposedNames are the sample names of an exposition (a histogram's
// _bucket, _sum and _count, a summary's own name, _sum and _count), with
// at least one sample each.
func exposedNames(exposition string) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// artifactMetricNames maps every metric name used by an alert rule
// expression or a dashboard query (panel targets and variables) to where
// it is used.
func artifactMetricNames(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(where, expr string) {
		for _, n := range promqlMetricNames(expr) {
			if len(used[n]) == 0 || used[n][len(used[n])-1] != where {
				used[n] = append(used[n], where)
			}
		}
	}
	raw, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(raw, &rules); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			add("rule "+r.Alert+r.Record, r.Expr)
		}
	}
	dashboards, _ := filepath.Glob(dashboardGlob)
	if len(dashboards) == 0 {
		t.Fatalf("no dashboards at %s", dashboardGlob)
	}
	for _, path := range dashboards {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var d any
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		walkQueries(d, filepath.Base(path), add)
	}
	return used
}

// walkQueries calls add for every PromQL expression in a Grafana dashboard:
// targets' expr and the metric selector of label_values() variables.
func walkQueries(v any, where string, add func(where, expr string)) {
	switch v := v.(type) {
	case map[string]any:
		if title, ok := v["title"].(string); ok && title != "" {
			where = strings.SplitN(where, ": ", 2)[0] + ": " + title
		}
		for k, child := range v {
			s, isString := child.(string)
			switch {
			case isString && k == "expr":
				add(where, s)
			case isString && (k == "query" || k == "definition"):
				if m := labelValuesSelector.FindStringSubmatch(s); m != nil {
					add(where, m[1])
				}
			default:
				walkQueries(child, where, add)
			}
		}
	case []any:
		for _, child := range v {
			walkQueries(child, where, add)
		}
	}
}

var (
	// label_values(selector, label): the two-argument form names a metric.
	labelValuesSelector = regexp.MustCompile(`^\s*label_values\(\s*([^,]+?)\s*,\s*\w+\s*\)\s*$`)
	promqlString        = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlVariable      = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promqlMatchers      = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRange         = regexp.MustCompile(`\[[^\]]*\]`)
	promqlLabelList     = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlIdentifier    = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	promqlKeywords      = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"atan2": true, "inf": true, "nan": true, "Inf": true, "NaN": true}
)

// promqlMetricNames returns the metric names of a PromQL expression: the
// identifiers left after removing strings, template variables, label
// matchers, ranges and label lists, that are not a keyword and not
// followed by "(" (a function or aggregation).
func promqlMetricNames(expr string) []string {
	e := promqlString.ReplaceAllString(expr, `""`)
	e = promqlVariable.ReplaceAllString(e, "")
	e = promqlMatchers.ReplaceAllString(e, "{}")
	e = promqlRange.ReplaceAllString(e, "[]")
	e = promqlLabelList.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promqlIdentifier.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(e[loc[0]-1:loc[0]], "0123456789.") {
			continue // part of a number (1e3) or a duration
		}
		if promqlKeywords[name] || strings.HasPrefix(strings.TrimLeft(e[loc[1]:], " \t\n"), "(") {
			continue
		}
		out = append(out, name)
	}
	return out
}

// TestPromQLMetricNames pins the extraction the live-metrics check relies on.
func TestPromQLMetricNames(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`up{app_kubernetes_io_part_of="herald"} == 0`, "up"},
		{`absent(herald_mode)`, "herald_mode"},
		{`histogram_quantile(0.95, sum by (job, le) (rate(herald_webhook_duration_seconds_bucket[5m]))) > 1`,
			"herald_webhook_duration_seconds_bucket"},
		{`max by (target) (herald_circuit_breaker_state) == 2 and on (target) (sum by (target) (increase(herald_delivery_deferrals_total{kind="circuit_open"}[15m])) > 0)`,
			"herald_circuit_breaker_state herald_delivery_deferrals_total"},
		{`time() - max by (source) (label_replace(herald_discovery_last_sync_timestamp_seconds, "source", "file", "source", "file:.*")) > 1800`,
			"herald_discovery_last_sync_timestamp_seconds"},
		{`deriv(go_goroutines[1h]) > 0.1 and go_goroutines > 1e3 and on (job, instance) herald_mode`,
			"go_goroutines go_goroutines herald_mode"},
		{`sum(rate(herald_deliveries_total{target=~"$target"}[$__rate_interval])) / ignoring(x) group_left(y) sum(herald_targets offset 5m)`,
			"herald_deliveries_total herald_targets"},
	}
	for _, tc := range cases {
		if got := strings.Join(promqlMetricNames(tc.expr), " "); got != tc.want {
			t.Errorf("promqlMetricNames(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
