package guard

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

// unlimited is a rate no benchmark reaches: Acquire never waits.
var unlimited = Limit{PerSecond: 1e12, Burst: 1 << 30}

// BenchmarkAcquire_NoLimit: breaker admission and a rate-limit slot that is
// always free, then recording the outcome: the guard's fixed cost per
// delivery.
func BenchmarkAcquire_NoLimit(b *testing.B) {
	g := New(Options{Limits: map[string]Limit{"webhook": unlimited}})
	benchAcquire(b, g, target.Target{Name: "ops-hook", Type: "webhook", URL: "https://example.com/hook"})
}

// BenchmarkAcquire_Limited: the target's own rate_limit of 1000/s; each op
// waits for its slot, so ns/op stays near 1 ms.
func BenchmarkAcquire_Limited(b *testing.B) {
	benchAcquire(b, New(Options{}), target.Target{Name: "ops-hook", Type: "webhook", URL: "https://example.com/hook",
		RateLimit: &target.RateLimitSpec{PerSecond: 1000, Burst: 1}})
}

// benchAcquire acquires a slot for t and reports a success, per op.
func benchAcquire(b *testing.B, g *Guard, t target.Target) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		done, err := g.Acquire(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		done(nil)
	}
}

// BenchmarkAcquire_Parallel10Targets: concurrent deliveries spread over ten
// targets, contending for the guard's maps.
func BenchmarkAcquire_Parallel10Targets(b *testing.B) {
	g := New(Options{Limits: map[string]Limit{"webhook": unlimited}})
	ts := make([]target.Target, 10)
	for i := range ts {
		ts[i] = target.Target{Name: fmt.Sprintf("hook-%d", i), Type: "webhook", URL: fmt.Sprintf("https://example.com/%d", i)}
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			done, err := g.Acquire(ctx, ts[i%len(ts)])
			if err != nil {
				b.Error(err)
				return
			}
			done(nil)
			i++
		}
	})
}

// BenchmarkAcquire_BreakerOpen: a dead target's breaker refuses at once
// with a retryable error (no wait, no send).
func BenchmarkAcquire_BreakerOpen(b *testing.B) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := New(Options{Limits: map[string]Limit{"webhook": unlimited}, Now: func() time.Time { return now }})
	t := target.Target{Name: "dead-hook", Type: "webhook", URL: "https://example.com/dead"}
	ctx := context.Background()
	for range DefaultFailureThreshold {
		done, err := g.Acquire(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		done(errors.New("connection refused"))
	}
	if g.State(t.Name) != Open {
		b.Fatalf("breaker %v, want open", g.State(t.Name))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Acquire(ctx, t); err == nil {
			b.Fatal("open breaker admitted a delivery")
		}
	}
}
