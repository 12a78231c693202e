package discovery_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// noConfig as a config value builds a Secret without the config key.
const noConfig = "\x00none"

// secretToken appears in test configs; it must never show up in logs.
const secretToken = "SUPERSECRETTOKEN42"

var selected = map[string]string{"publishing-target": "true"}

func slackConfig(name string) string {
	return fmt.Sprintf(`{"name": %q, "type": "slack", "url": "https://hooks.slack.com/services/T0/B0/%s"}`, name, secretToken)
}

func newSecret(ns, name string, lbls map[string]string, config string) *corev1.Secret {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"other": []byte("x")},
	}
	if config != noConfig {
		s.Data["config"] = []byte(config)
	}
	return s
}

func createdAt(s *corev1.Secret, t time.Time) *corev1.Secret {
	s.CreationTimestamp = metav1.NewTime(t)
	return s
}

// fakeClient returns a fake clientset whose Secret watches are registered
// synchronously and counted, so a test can wait until the informers watch
// before it changes anything (the fake does not replay missed events).
func fakeClient(objs ...runtime.Object) (*fake.Clientset, *atomic.Int32) {
	cs := fake.NewSimpleClientset(objs...) // no field management: much faster writes
	var watches atomic.Int32
	cs.PrependWatchReactor("secrets", func(action k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := cs.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		watches.Add(1)
		return true, w, nil
	})
	return cs, &watches
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	client  *fake.Clientset
	reg     *target.Registry
	src     *discovery.SecretSource
	metrics *metrics.Metrics
	logs    *syncBuffer
}

// start runs a SecretSource over a fake cluster holding objs and waits for
// its first sync and for its watches. cfg.Client, Logger and Metrics are
// filled in.
func start(t testing.TB, cfg discovery.Config, objs ...runtime.Object) *harness {
	t.Helper()
	if len(cfg.Namespaces) == 0 {
		cfg.Namespaces = []string{"monitoring"}
	}
	client, watches := fakeClient(objs...)
	h := &harness{client: client, reg: target.NewRegistry(), metrics: metrics.New(), logs: &syncBuffer{}}
	cfg.Client = client
	cfg.Metrics = h.metrics
	if cfg.Logger == nil {
		cfg.Logger = newLogger(h.logs)
	}
	src, err := discovery.NewSecretSource(cfg)
	if err != nil {
		t.Fatalf("NewSecretSource: %v", err)
	}
	h.src = src
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, h.reg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	want := int32(len(src.Namespaces()))
	waitFor(t, "first sync and watches", func() bool { return src.HasSynced() && watches.Load() >= want })
	return h
}

var discardLogger = slog.New(slog.DiscardHandler)

func newLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *harness) create(t testing.TB, s *corev1.Secret) {
	t.Helper()
	if _, err := h.client.CoreV1().Secrets(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create secret %s/%s: %v", s.Namespace, s.Name, err)
	}
}

func (h *harness) update(t testing.TB, s *corev1.Secret) {
	t.Helper()
	if _, err := h.client.CoreV1().Secrets(s.Namespace).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update secret %s/%s: %v", s.Namespace, s.Name, err)
	}
}

func (h *harness) delete(t testing.TB, ns, name string) {
	t.Helper()
	if err := h.client.CoreV1().Secrets(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete secret %s/%s: %v", ns, name, err)
	}
}

func (h *harness) has(name string) bool {
	_, ok := h.reg.Get(name)
	return ok
}

func (h *harness) names() []string {
	var out []string
	for _, t := range h.reg.List() {
		out = append(out, t.Name)
	}
	return out
}

func (h *harness) problem(origin string) (target.Problem, bool) {
	for _, p := range h.reg.Snapshot().Problems {
		if p.Origin == origin {
			return p, true
		}
	}
	return target.Problem{}, false
}

func counterValue(t testing.TB, c *prometheus.CounterVec, lvs ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.WithLabelValues(lvs...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func gaugeValue(t testing.TB, g *prometheus.GaugeVec, lvs ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.WithLabelValues(lvs...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// gaugeSeries counts the series of g whose labels include the given pairs.
func gaugeSeries(t testing.TB, g *prometheus.GaugeVec, want map[string]string) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 1000)
	g.Collect(ch)
	close(ch)
	n := 0
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		match := 0
		for _, lp := range d.GetLabel() {
			if v, ok := want[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match == len(want) {
			n++
		}
	}
	return n
}
