package target_test

import (
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"strings"
	"sync"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

func regTarget(name, typ, origin string) target.Target {
	t := target.Target{Name: name, Type: typ, Origin: origin}
	switch typ {
	case "pagerduty":
		t.Config = &pagerduty.Config{RoutingKey: "k"}
	default:
		t.URL = "https://example.com/" + name
	}
	return t
}

func regNames(ts []target.Target) string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Name)
	}
	return strings.Join(out, ",")
}

func TestRegistryMergesSourcesDeterministically(t *testing.T) {
	fileTargets := []target.Target{
		regTarget("shared", "webhook", "file:t.yaml#0"),
		regTarget("only-file", "webhook", "file:t.yaml#1"),
	}
	k8sTargets := []target.Target{
		regTarget("shared", "pagerduty", "secret:ns/shared"),
		regTarget("only-k8s", "webhook", "secret:ns/only"),
	}
	k8sProblems := []target.Problem{{Origin: "secret:ns/bad", Reason: "invalid_json", Message: "malformed target object: x"}}

	// Whatever order the sources report in, the source whose name sorts
	// first ("file:..." before "kubernetes") keeps the name.
	for _, order := range []string{"file first", "kubernetes first"} {
		t.Run(order, func(t *testing.T) {
			reg := target.NewRegistry()
			if order == "file first" {
				reg.Update("file:t.yaml", fileTargets, nil)
				reg.Update("kubernetes", k8sTargets, k8sProblems)
			} else {
				reg.Update("kubernetes", k8sTargets, k8sProblems)
				reg.Update("file:t.yaml", fileTargets, nil)
			}
			snap := reg.Snapshot()
			if got := regNames(snap.List()); got != "only-file,only-k8s,shared" {
				t.Fatalf("targets = %s", got)
			}
			shared, _ := reg.Get("shared")
			if shared.Origin != "file:t.yaml#0" || shared.Type != "webhook" {
				t.Errorf("shared won by %q", shared.Origin)
			}
			if len(snap.Problems) != 2 {
				t.Fatalf("problems = %+v", snap.Problems)
			}
			var dup *target.Problem
			for i, p := range snap.Problems {
				if p.Reason == "duplicate_name" {
					dup = &snap.Problems[i]
				}
			}
			if dup == nil || dup.Origin != "secret:ns/shared" || dup.Target != "shared" || !strings.Contains(dup.Message, "file:t.yaml#0") {
				t.Errorf("duplicate problem = %+v", dup)
			}
			if len(snap.Synced) != 2 {
				t.Errorf("synced = %v", snap.Synced)
			}
		})
	}

	t.Run("loser takes over", func(t *testing.T) {
		reg := target.NewRegistry()
		reg.Update("file:t.yaml", fileTargets, nil)
		reg.Update("kubernetes", k8sTargets, nil)
		reg.Update("file:t.yaml", fileTargets[1:], nil)
		shared, ok := reg.Get("shared")
		if !ok || shared.Origin != "secret:ns/shared" {
			t.Errorf("shared = %+v", shared)
		}
		if n := len(reg.Snapshot().Problems); n != 0 {
			t.Errorf("%d problems left", n)
		}
	})
}

func TestRegistrySnapshotsAreImmutable(t *testing.T) {
	reg := target.NewRegistry()
	in := []target.Target{regTarget("a", "webhook", "o"), regTarget("b", "webhook", "o")}
	reg.Update("s", in, nil)
	before := reg.Snapshot()

	in[0].Name = "mutated" // the caller's slice is not the registry's
	list := reg.List()
	list[1].Name = "mutated-too"
	reg.Update("s", []target.Target{regTarget("c", "webhook", "o")}, nil)

	if got := regNames(before.List()); got != "a,b" {
		t.Errorf("old snapshot changed: %s", got)
	}
	if _, ok := before.Get("a"); !ok {
		t.Errorf("old snapshot lost a")
	}
	if got := regNames(reg.List()); got != "c" {
		t.Errorf("registry = %s", got)
	}
	if after := reg.Snapshot(); after.Generation != before.Generation+1 {
		t.Errorf("generation %d -> %d", before.Generation, after.Generation)
	}
}

func TestRegistryEnabled(t *testing.T) {
	off := false
	d := regTarget("disabled", "webhook", "o")
	d.Enabled = &off
	reg := target.NewRegistry()
	reg.Update("s", []target.Target{regTarget("z", "webhook", "o"), d, regTarget("a", "webhook", "o")}, nil)
	if got := regNames(reg.List()); got != "a,disabled,z" {
		t.Errorf("list = %s", got)
	}
	if got := regNames(reg.Enabled()); got != "a,z" {
		t.Errorf("enabled = %s", got)
	}
	if got, ok := reg.Get("disabled"); !ok || got.IsEnabled() {
		t.Errorf("a disabled target stays known: %+v %v", got, ok)
	}
}

// TestRegistryWatchersSeeGenerationsInOrder updates from many goroutines at
// once; every watcher call must carry a newer snapshot than the last.
func TestRegistryWatchersSeeGenerationsInOrder(t *testing.T) {
	reg := target.NewRegistry()
	var (
		mu    sync.Mutex
		last  uint64
		calls int
	)
	reg.Watch(func(s target.Snapshot) {
		mu.Lock()
		defer mu.Unlock()
		if s.Generation <= last {
			t.Errorf("watcher got generation %d after %d", s.Generation, last)
		}
		last = s.Generation
		calls++
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				reg.Update(fmt.Sprintf("src-%d", g), []target.Target{regTarget(fmt.Sprintf("t-%d-%d", g, i), "webhook", "o")}, nil)
			}
		}()
	}
	wg.Wait()
	if calls != 400 || last != 400 {
		t.Errorf("calls = %d, last generation = %d, want 400", calls, last)
	}
	if n := len(reg.List()); n != 8 {
		t.Errorf("%d targets, want one per source", n)
	}
}

// TestRegistryConcurrentLookups is meant for -race.
func TestRegistryConcurrentLookups(t *testing.T) {
	reg := target.NewRegistry()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("t%d", (i+r)%20)
				if tg, ok := reg.Get(name); ok && tg.Name != name {
					t.Errorf("Get(%s) = %s", name, tg.Name)
				}
				s := reg.Snapshot()
				_, _ = s.Get(name)
				_ = s.Enabled()
				_ = reg.List()
				_ = len(s.Problems) + len(s.Synced)
			}
		}()
	}
	for i := range 500 {
		var ts []target.Target
		for j := range i % 20 {
			ts = append(ts, regTarget(fmt.Sprintf("t%d", j), "webhook", "o"))
		}
		reg.Update(fmt.Sprintf("s%d", i%3), ts, []target.Problem{{Origin: "x", Reason: "invalid_json"}})
	}
	close(stop)
	wg.Wait()
}

func BenchmarkRegistryLookupParallel(b *testing.B) {
	for _, n := range []int{10, 1000} {
		reg := target.NewRegistry()
		ts := make([]target.Target, n)
		names := make([]string, n)
		for i := range ts {
			names[i] = fmt.Sprintf("target-%d", i)
			ts[i] = regTarget(names[i], "webhook", "o")
		}
		reg.Update("bench", ts, nil)
		b.Run(fmt.Sprintf("Get/targets=%d", n), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, ok := reg.Get(names[i%n]); !ok {
						b.Fatal("missing target")
					}
					i++
				}
			})
		})
		b.Run(fmt.Sprintf("Get-while-updating/targets=%d", n), func(b *testing.B) {
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-stop:
						return
					default:
						reg.Update("bench", ts, nil)
					}
				}
			}()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					if _, ok := reg.Get(names[i%n]); !ok {
						b.Fatal("missing target")
					}
					i++
				}
			})
			b.StopTimer()
			close(stop)
			<-done
		})
		b.Run(fmt.Sprintf("Enabled/targets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if len(reg.Enabled()) != n {
						b.Fatal("wrong count")
					}
				}
			})
		})
	}
}

func BenchmarkRegistryUpdate(b *testing.B) {
	ts := make([]target.Target, 1000)
	for i := range ts {
		ts[i] = regTarget(fmt.Sprintf("target-%d", i), "webhook", "o")
	}
	reg := target.NewRegistry()
	b.ReportAllocs()
	for range b.N {
		reg.Update("bench", ts, nil)
	}
}
