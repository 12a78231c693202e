package workflows

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/publish"
)

// SampleDeadLetters returns n realistic, varied dead letters (about 2 KB of
// labels and annotations each, pseudo-random but reproducible from seed)
// spread over the given targets. Size tests and benchmarks use them, so
// that measured sizes reflect real alerts rather than repeated strings that
// compress to nothing.
func SampleDeadLetters(n int, seed uint64, targets []string, t0 time.Time) []DeadLetter {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]DeadLetter, n)
	for i := range out {
		out[i] = sampleDeadLetter(rng, i, targets[i%len(targets)], t0.Add(time.Duration(i)*time.Second))
	}
	return out
}

var (
	sampleAlertNames = []string{"KubePodCrashLooping", "KubeDeploymentReplicasMismatch", "NodeFilesystemSpaceFillingUp",
		"NodeMemoryMajorPagesFaults", "HighRequestLatency", "ErrorBudgetBurn", "PostgresReplicationLag",
		"KafkaConsumerLagHigh", "CertificateExpiringSoon", "TargetDown", "CPUThrottlingHigh", "PersistentVolumeFillingUp",
		"RedisMemoryHigh", "IngressFiveXXRate", "JobFailed", "ContainerOOMKilled", "EtcdMembersDown", "APIServerErrors"}
	sampleNamespaces = []string{"payments", "checkout", "search", "identity", "billing", "catalog", "ml-serving",
		"observability", "kube-system", "data-pipeline", "edge", "notifications"}
	sampleTeams    = []string{"sre", "payments-oncall", "platform", "data-eng", "search-team", "identity-core", "ml-infra"}
	sampleRegions  = []string{"eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-southeast-1"}
	sampleWords    = strings.Fields("the service replica latency budget error rate queue consumer partition node disk volume memory pressure certificate upstream timeout connection pool saturation throttled restarts crash backoff scheduled pending evicted quota exceeded burn window threshold p99 shard leader election lag")
	sampleSeverity = []string{"critical", "warning", "warning", "info"}
)

func sampleHex(rng *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[rng.IntN(16)]
	}
	return string(b)
}

func sampleSentence(rng *rand.Rand, words int) string {
	w := make([]string, words)
	for i := range w {
		w[i] = sampleWords[rng.IntN(len(sampleWords))]
	}
	return strings.Join(w, " ")
}

func sampleDeadLetter(rng *rand.Rand, i int, targetName string, failedAt time.Time) DeadLetter {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	name, ns, region := pick(sampleAlertNames), pick(sampleNamespaces), pick(sampleRegions)
	deploy := fmt.Sprintf("%s-%s", ns, pick(sampleWords))
	pod := fmt.Sprintf("%s-%s-%s", deploy, sampleHex(rng, 10), sampleHex(rng, 5))
	fp := sampleHex(rng, 16)
	instance := fmt.Sprintf("10.%d.%d.%d:%d", rng.IntN(256), rng.IntN(256), rng.IntN(256), 9100+rng.IntN(900))
	labels := map[string]string{
		"alertname": name, "severity": pick(sampleSeverity), "namespace": ns, "pod": pod,
		"container": pick(sampleWords) + "-" + pick(sampleWords), "instance": instance,
		"job": "kubernetes-pods", "cluster": fmt.Sprintf("prod-%s-%d", region, 1+rng.IntN(4)),
		"region": region, "team": pick(sampleTeams), "service": deploy, "deployment": deploy,
		"node":         fmt.Sprintf("ip-10-%d-%d-%d.%s.compute.internal", rng.IntN(256), rng.IntN(256), rng.IntN(256), region),
		"prometheus":   "monitoring/k8s-" + sampleHex(rng, 4),
		"endpoint":     pick([]string{"http-metrics", "web", "metrics", "https"}),
		"uid":          fmt.Sprintf("%s-%s-%s-%s-%s", sampleHex(rng, 8), sampleHex(rng, 4), sampleHex(rng, 4), sampleHex(rng, 4), sampleHex(rng, 12)),
		"customer":     fmt.Sprintf("acct-%07d", rng.IntN(10_000_000)),
		"slo":          pick(sampleWords) + "-availability",
		"mount_device": fmt.Sprintf("/dev/nvme%dn1p%d", rng.IntN(4), 1+rng.IntN(3)),
	}
	value := fmt.Sprintf("%.3f", rng.Float64()*100)
	expr := fmt.Sprintf(`sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total{namespace="%s",pod=~"%s.*"}[5m])) / sum by (namespace, pod) (rate(container_cpu_cfs_periods_total{namespace="%s"}[5m])) > %s`,
		ns, deploy, ns, value)
	annotations := map[string]string{
		"summary": fmt.Sprintf("%s on %s in %s is at %s%% (threshold %d%%)", name, pod, ns, value, 50+rng.IntN(45)),
		"description": fmt.Sprintf("%s. Instance %s on node %s reported %s for the last %dm; %s.",
			sampleSentence(rng, 18), instance, labels["node"], value, 5+rng.IntN(55), sampleSentence(rng, 22)),
		"runbook_url": fmt.Sprintf("https://runbooks.example.com/%s/%s#%s", labels["team"], strings.ToLower(name), sampleHex(rng, 6)),
		"dashboard": fmt.Sprintf("https://grafana.example.com/d/%s/%s?var-namespace=%s&var-pod=%s&from=now-%dh",
			sampleHex(rng, 9), strings.ToLower(name), ns, pod, 1+rng.IntN(24)),
		"value":   value,
		"impact":  sampleSentence(rng, 12),
		"ticket":  fmt.Sprintf("OPS-%d", 10000+rng.IntN(90000)),
		"details": sampleSentence(rng, 20),
	}
	startsAt := failedAt.Add(-time.Duration(rng.IntN(3600)) * time.Second)
	a := alert.Alert{
		Fingerprint: fp, Status: alert.StatusFiring, Labels: labels, Annotations: annotations, StartsAt: startsAt,
		GeneratorURL: "http://prometheus-k8s-0.monitoring.svc:9090/graph?g0.expr=" + url.QueryEscape(expr) + "&g0.tab=1",
		Receiver:     "herald", GroupKey: fmt.Sprintf(`{}/{namespace="%s"}:{alertname="%s"}`, ns, name),
		ExternalURL: "http://alertmanager-main.monitoring.svc:9093",
	}
	runID := fmt.Sprintf("%s-%s-%s-%s-%s", sampleHex(rng, 8), sampleHex(rng, 4), sampleHex(rng, 4), sampleHex(rng, 4), sampleHex(rng, 12))
	seq := 1 + rng.IntN(4)
	code := []int{500, 502, 503, 504, 400, 404, 429}[rng.IntN(7)]
	kind := publish.KindHTTPServer
	if code < 500 {
		kind = publish.KindHTTPClient
	}
	e := DeadLetter{
		ID: contract.DeadLetterID(fp, runID, targetName, seq), Fingerprint: fp, AlertName: name, Target: targetName,
		TargetType: "webhook", Event: publish.EventFiring, ErrorKind: kind,
		Error:      fmt.Sprintf("%s (HTTP %d): %s", kind, code, sampleSentence(rng, 6)),
		StatusCode: code, Attempts: int32(1 + rng.IntN(10)), Failures: 1, FirstFailure: failedAt, LastFailure: failedAt,
		AlertWorkflowID: contract.AlertWorkflowID(fp), AlertRunID: runID, Seq: seq, Alert: a,
	}
	if i%3 == 0 {
		e.Provider = publish.ProviderState{"ts": fmt.Sprintf("%d.%06d", 1700000000+rng.IntN(1e8), rng.IntN(1e6))}
	}
	return e
}
