package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// TestWorkerHandlerServesOnlyOps: a worker pod answers health, readiness
// and metrics, and nothing that takes alerts or changes state.
func TestWorkerHandlerServesOnlyOps(t *testing.T) {
	m := metrics.New()
	m.SetMode("normal")
	rt := &Runtime{
		Config:   config.Config{TemporalNamespace: "default", TaskQueue: "herald"},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:  m,
		Registry: target.NewRegistry(),
	}
	h := workerHandler(rt)
	tests := []struct {
		method, path string
		want         int
		body         string
	}{
		{http.MethodGet, "/healthz", http.StatusOK, `"ok"`},
		// No Temporal client here, so not ready; the endpoint exists.
		{http.MethodGet, "/readyz", http.StatusServiceUnavailable, "not ready"},
		{http.MethodGet, "/metrics", http.StatusOK, "herald_mode"},
		{http.MethodPost, "/webhook", http.StatusNotFound, "no such endpoint"},
		{http.MethodGet, "/api/v1/dlq", http.StatusNotFound, "no such endpoint"},
		{http.MethodPost, "/api/v1/dlq/replay", http.StatusNotFound, "no such endpoint"},
		{http.MethodDelete, "/api/v1/dlq", http.StatusNotFound, "no such endpoint"},
		{http.MethodGet, "/api/v1/targets", http.StatusNotFound, "no such endpoint"},
		{http.MethodPost, "/api/v1/targets/x/check", http.StatusNotFound, "no such endpoint"},
		{http.MethodGet, "/api/v1/alerts/abc", http.StatusNotFound, "no such endpoint"},
		{http.MethodPost, "/dev/sink/x", http.StatusNotFound, "no such endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}")))
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, rec.Code, rec.Body.String(), tc.want, tc.body)
			}
		})
	}
}

// herald_mode follows the registry: waiting for discovery while a source
// has not synced (alerts wait, they are not metrics-only), then normal or
// metrics-only.
func TestModeGaugeFollowsDiscovery(t *testing.T) {
	hook := target.Target{Name: "hook", Type: "webhook", URL: "https://example.com/hook"}
	tests := []struct {
		name    string
		prepare func(r *target.Registry)
		want    string
	}{
		{"a source expected, not synced", func(r *target.Registry) { r.Expect("kubernetes") }, metrics.ModeWaitingForDiscovery},
		{"targets from a file, kubernetes not synced", func(r *target.Registry) {
			r.Expect("kubernetes")
			r.Update("file", []target.Target{hook}, nil)
		}, metrics.ModeWaitingForDiscovery},
		{"synced, no target", func(r *target.Registry) {
			r.Expect("kubernetes")
			r.Update("kubernetes", nil, nil)
		}, metrics.ModeMetricsOnly},
		{"synced with a target", func(r *target.Registry) {
			r.Expect("kubernetes")
			r.Update("kubernetes", []target.Target{hook}, nil)
		}, metrics.ModeNormal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.New()
			r := target.NewRegistry()
			tc.prepare(r)
			observeMode(m, r.Snapshot())
			for _, mode := range metrics.Modes {
				want := 0.0
				if mode == tc.want {
					want = 1
				}
				var g dto.Metric
				if err := m.Mode.WithLabelValues(mode).Write(&g); err != nil {
					t.Fatal(err)
				}
				if got := g.GetGauge().GetValue(); got != want {
					t.Errorf("herald_mode{mode=%q} = %v, want %v", mode, got, want)
				}
			}
		})
	}
}

// TestTargetWarningsAreLogged: a target whose http_config skips certificate
// verification is logged once as a warning when it is loaded, with the
// sentence the API shows, and again only when its definition changes.
func TestTargetWarningsAreLogged(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, nil))
	reg := target.NewRegistry()
	reg.Watch(targetWarnings(log))
	insecure, err := target.ParseOne([]byte(`{"name":"w","type":"webhook","url":"https://h.example/x",
		"http_config":{"tls_config":{"insecure_skip_verify":true}}}`), "file:x#0")
	if err != nil {
		t.Fatal(err)
	}
	plain := target.Target{Name: "p", Type: "webhook", URL: "https://h.example/y"}
	reg.Update("file:x", []target.Target{insecure, plain}, nil)
	reg.Update("file:x", []target.Target{insecure, plain}, nil) // unchanged: no new line
	if n := strings.Count(buf.String(), "insecure_skip_verify"); n != 1 {
		t.Fatalf("warning logged %d times, want once:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "target=w") || strings.Contains(buf.String(), "target=p") {
		t.Errorf("log = %s", buf.String())
	}
}
