package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/target"
)

// acceptingClient answers every SignalWithStart at once: the benchmarks
// measure Herald's side of POST /webhook (read, decode, validate, build the
// start options and search attributes, answer), not Temporal's.
type acceptingClient struct {
	client.Client
	signals atomic.Int64
}

type acceptedRun struct {
	client.WorkflowRun
	id string
}

func (r acceptedRun) GetID() string    { return r.id }
func (r acceptedRun) GetRunID() string { return "run-1" }

func (c *acceptingClient) SignalWithStartWorkflow(_ context.Context, id, _ string, _ any,
	_ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	c.signals.Add(1)
	return acceptedRun{id: id}, nil
}

func benchWebhookBody(b *testing.B, n int) []byte {
	b.Helper()
	w := alert.Webhook{Version: alert.SupportedWebhookVersion, Status: alert.StatusFiring, Receiver: "herald",
		GroupKey: `{}:{alertname="HighErrorRate"}`}
	for i := range n {
		w.Alerts = append(w.Alerts, alert.WebhookAlert{Status: alert.StatusFiring, Fingerprint: fmt.Sprintf("%016x", i+1),
			StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Labels: map[string]string{"alertname": "HighErrorRate", "severity": "critical", "service": "checkout",
				"instance": fmt.Sprintf("checkout-%d:8080", i), "team": "payments"},
			Annotations: map[string]string{"summary": "Checkout error rate above 5%"}})
	}
	body, err := json.Marshal(w)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func benchmarkWebhookHandler(b *testing.B, n int) {
	c := &acceptingClient{}
	reg := target.NewRegistry()
	srv := New(Config{Client: c, Namespace: "default", TaskQueue: "herald", Registry: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	body := benchWebhookBody(b, n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
	if c.signals.Load() < int64(n) {
		b.Fatalf("%d signals", c.signals.Load())
	}
}

// BenchmarkWebhookHandler_1, _10 and _100: POST /webhook in process, with
// a Temporal client that accepts every signal at once.
func BenchmarkWebhookHandler_1(b *testing.B)   { benchmarkWebhookHandler(b, 1) }
func BenchmarkWebhookHandler_10(b *testing.B)  { benchmarkWebhookHandler(b, 10) }
func BenchmarkWebhookHandler_100(b *testing.B) { benchmarkWebhookHandler(b, 100) }
