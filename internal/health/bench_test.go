package health

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

// benchmarkHealthCheck probes n alertmanager targets (each its own httptest
// server) in parallel, one goroutine per target, per iteration.
func benchmarkHealthCheck(b *testing.B, n int) {
	targets := make([]target.Target, n)
	for i := range targets {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusOK)
		}))
		b.Cleanup(srv.Close)
		targets[i] = target.Target{Name: fmt.Sprintf("am-%d", i), Type: target.TypeAlertmanager, URL: srv.URL}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2
	b.Cleanup(tr.CloseIdleConnections)
	p := &Prober{Client: &http.Client{Transport: tr}, Timeout: 5 * time.Second}
	obs := make([]Observation, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range targets {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				obs[i] = p.Probe(context.Background(), targets[i])
			}(i)
		}
		wg.Wait()
		for _, o := range obs {
			if !o.OK {
				b.Fatalf("probe failed: %+v", o)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/target")
}

func BenchmarkHealthCheck_1(b *testing.B)   { benchmarkHealthCheck(b, 1) }
func BenchmarkHealthCheck_10(b *testing.B)  { benchmarkHealthCheck(b, 10) }
func BenchmarkHealthCheck_100(b *testing.B) { benchmarkHealthCheck(b, 100) }

func BenchmarkApply(b *testing.B) {
	p := DefaultPolicy
	var s Status
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		o := Observation{Target: "tg", At: at.Add(time.Duration(i) * time.Second), OK: i%4 != 0,
			Latency: 20 * time.Millisecond, Class: ClassTimeout, Source: SourceProbe}
		if !o.OK {
			o.Message = "timeout"
		} else {
			o.Class = ""
		}
		s = p.Apply(s, o)
	}
	if s.Checks == 0 {
		b.Fatal("no checks applied")
	}
}
