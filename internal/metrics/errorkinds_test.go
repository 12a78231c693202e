package metrics

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// HeraldRateLimitWaitHigh compares the p95 of herald_rate_limit_wait_seconds
// with a threshold. histogram_quantile can only tell a p95 above the
// threshold from one below it when the threshold is a bucket bound with
// finite bounds above it; and waits that include deferrals last minutes in
// a storm, which the buckets must still tell apart (not all +Inf).
func TestRateLimitWaitBucketsFitTheAlertRule(t *testing.T) {
	threshold := ruleThreshold(t, "../../deploy/prometheus/herald-alerts.yml", "HeraldRateLimitWaitHigh")
	if !slices.Contains(RateLimitWaitBuckets, threshold) {
		t.Errorf("threshold %vs of HeraldRateLimitWaitHigh is no bucket bound of %v", threshold, RateLimitWaitBuckets)
	}
	above := 0
	for _, b := range RateLimitWaitBuckets {
		if b > threshold {
			above++
		}
	}
	if above < 3 {
		t.Errorf("%d bucket bounds above the %vs threshold, want at least 3", above, threshold)
	}
	if top := RateLimitWaitBuckets[len(RateLimitWaitBuckets)-1]; top < 300 {
		t.Errorf("top bucket bound %vs: a backlog of deferred deliveries (minutes) would all be +Inf", top)
	}
}

// ruleThreshold reads `> N` from the expression of the named alert rule.
func ruleThreshold(t *testing.T, path, alert string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read rules: %v", err)
	}
	re := regexp.MustCompile(`(?s)- alert: ` + alert + `\s+expr: \|.*?\)\s*>\s*([0-9.]+)\s`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no `> threshold` in the expression of %s", alert)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("threshold of %s: %v", alert, err)
	}
	return v
}

// A known target's refusal kinds exist at zero, and outlive the target's
// removal: deliveries still in flight count target_not_found afterwards.
func TestInitDeliveryErrors(t *testing.T) {
	m := New()
	m.InitDeliveryErrors("hook", "webhook")
	m.ForgetTarget("hook")
	for _, tc := range []struct{ kind string }{{"circuit_open"}, {"target_not_found"}} {
		t.Run(tc.kind, func(t *testing.T) {
			if got := seriesValue(t, m, "herald_delivery_errors_total", map[string]string{"target": "hook", "type": "webhook", "kind": tc.kind}); got != 0 {
				t.Errorf("value %v, want 0", got)
			}
		})
	}
	if n := len(families(t, m)["herald_delivery_errors_total"].GetMetric()); n != len(RefusalKinds) {
		t.Errorf("%d series, want %d", n, len(RefusalKinds))
	}
}

// seriesValue is the value of an existing counter series (fails if the
// series was never created).
func seriesValue(t *testing.T, m *Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	for _, mt := range families(t, m)[name].GetMetric() {
		match := true
		for _, l := range mt.GetLabel() {
			match = match && labels[l.GetName()] == l.GetValue()
		}
		if match {
			return mt.GetCounter().GetValue()
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}
