package integration

import (
	"bytes"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/target"
)

// BenchmarkWebhook10Alerts measures POST /webhook with 10 new alerts on a
// real in-process Temporal server: the time until all 10 alert workflows
// have accepted their signal (what Alertmanager waits for). It reports the
// p50 and p99 of the request latency.
//
//	go test -run '^$' -bench Webhook10Alerts -benchtime 200x ./internal/integration/
func BenchmarkWebhook10Alerts(b *testing.B) {
	sinkSrv := newBenchSink(b)
	h := startHerald(b, []target.Target{{Name: "bench", Type: "webhook", URL: sinkSrv + "/hook"}})
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		alerts := make([]alert.WebhookAlert, 10)
		for j := range alerts {
			alerts[j] = firingAlert(fmt.Sprintf("bench%06d%02d", i, j), "Bench")
		}
		body := webhookBody(alerts...)
		start := time.Now()
		resp, err := http.Post(h.http.URL+"/webhook", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

func newBenchSink(b *testing.B) string {
	s := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })}
	ln := mustListen(b)
	go func() { _ = s.Serve(ln) }()
	b.Cleanup(func() { _ = s.Close() })
	return "http://" + ln.Addr().String()
}
