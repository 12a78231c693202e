package discovery_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/herald-alerts/herald/internal/discovery"
	"github.com/herald-alerts/herald/internal/target"
)

// BenchmarkFirstSync measures the time from starting a SecretSource to the
// first complete target set in a registry, for clusters of different sizes.
// Building the fake cluster is not timed.
func BenchmarkFirstSync(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			objs := make([]runtime.Object, 0, n)
			for i := range n {
				ns := fmt.Sprintf("team-%d", i%10)
				objs = append(objs, newSecret(ns, fmt.Sprintf("target-%d", i), selected, slackConfig(fmt.Sprintf("target-%d", i))))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				client, _ := fakeClient(objs...)
				reg := target.NewRegistry()
				done := make(chan struct{})
				var once sync.Once
				reg.Watch(func(s target.Snapshot) {
					if len(s.List()) == n {
						once.Do(func() { close(done) })
					}
				})
				src, err := discovery.NewSecretSource(discovery.Config{Client: client, Namespaces: []string{"*"}, Logger: discardLogger})
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan struct{})
				b.StartTimer()

				go func() { _ = src.Run(ctx, reg); close(stopped) }()
				<-done

				b.StopTimer()
				cancel()
				<-stopped
				b.StartTimer()
			}
		})
	}
}

// BenchmarkChangeLatency measures the time from updating one Secret to the
// registry holding the new target, with 1000 target Secrets discovered.
func BenchmarkChangeLatency(b *testing.B) {
	const n = 1000
	objs := make([]runtime.Object, 0, n)
	for i := range n {
		objs = append(objs, newSecret("monitoring", fmt.Sprintf("target-%d", i), selected, slackConfig(fmt.Sprintf("target-%d", i))))
	}
	cfg := discovery.Config{Logger: discardLogger}
	h := start(b, cfg, objs...)
	changed := make(chan string, 1)
	h.reg.Watch(func(s target.Snapshot) {
		if t, ok := s.Get("target-0"); ok {
			select {
			case changed <- t.URL:
			default:
			}
		}
	})
	sec := newSecret("monitoring", "target-0", selected, "")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		url := fmt.Sprintf("https://hooks.example.com/%d", i)
		sec.Data["config"] = []byte(fmt.Sprintf(`{"name": "target-0", "type": "webhook", "url": %q}`, url))
		h.update(b, sec)
		for got := range changed {
			if got == url {
				break
			}
		}
	}
}
