package health

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
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
		targets[i] = target.Target{Name: fmt.Sprintf("am-%d", i), Type: "alertmanager", URL: srv.URL}
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

// BenchmarkProbe_Webhook: one probe of a webhook target whose receiver only
// accepts POST (HEAD gets 405, which still proves it answers).
func BenchmarkProbe_Webhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	b.Cleanup(srv.Close)
	t := target.Target{Name: "hook", Type: "webhook", URL: srv.URL + "/hook"}
	p := &Prober{Client: srv.Client(), Timeout: 5 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		if o := p.Probe(context.Background(), t); !o.OK {
			b.Fatalf("probe failed: %+v", o)
		}
	}
}

// BenchmarkProbe_Refused: one probe of a target nothing listens on, down to
// the refused classification.
func BenchmarkProbe_Refused(b *testing.B) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	t := target.Target{Name: "gone", Type: "webhook", URL: url + "/hook"}
	p := &Prober{Timeout: 5 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		if o := p.Probe(context.Background(), t); o.OK || o.Class != ClassRefused {
			b.Fatalf("probe of a closed port: %+v", o)
		}
	}
}

// BenchmarkObserveDelivery: turning a delivery outcome into a health
// observation (success, a 503 and a network failure in turn).
func BenchmarkObserveDelivery(b *testing.B) {
	outcomes := []error{nil,
		publish.Retryable(publish.KindHTTPServer, 0, "HTTP 503 from https://example.com"),
		publish.Retryable(publish.KindNetwork, 0, "dial tcp 10.0.0.1:443: connect: connection refused")}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		err := outcomes[i%len(outcomes)]
		if o := ObserveDelivery("tg", at, 20*time.Millisecond, err); o.OK != (err == nil) {
			b.Fatalf("outcome %v observed as %+v", err, o)
		}
		i++
	}
}

// BenchmarkApply_Outage: a target that fails every check, through degraded
// to unhealthy and staying there.
func BenchmarkApply_Outage(b *testing.B) {
	p := DefaultPolicy
	var s Status
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		s = p.Apply(s, Observation{Target: "tg", At: at.Add(time.Duration(i) * time.Second), Class: ClassRefused,
			Message: "connection refused", Source: SourceProbe})
	}
	if s.State != StateUnhealthy {
		b.Fatalf("state %q after %d failures, want unhealthy", s.State, i)
	}
}
