// Package integration runs Herald against a real Temporal server started
// in-process (temporaltest), real HTTP targets (httptest) and, end to end,
// a real Alertmanager. It is the only test package that links the Temporal
// server, to keep test build times down.
package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/server/temporaltest"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

var server *temporaltest.TestServer

func TestMain(m *testing.M) {
	server = temporaltest.NewServer()
	c := server.GetDefaultClient()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := app.EnsureSearchAttributes(ctx, c, server.GetDefaultNamespace()); err != nil {
		fmt.Fprintln(os.Stderr, "register search attributes:", err)
		os.Exit(1)
	}
	cancel()
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

// herald is one Herald (worker + starter HTTP) on its own task queue.
type herald struct {
	t         testing.TB
	client    client.Client
	taskQueue string
	registry  *target.Registry
	metrics   *metrics.Metrics
	http      *httptest.Server
	worker    worker.Worker
	deps      app.WorkerDeps
	logs      *syncBuffer
}

type heraldOption func(*config.Config)

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// startHerald starts a worker and the HTTP server with the given targets.
func startHerald(t testing.TB, targets []target.Target, opts ...heraldOption) *herald {
	t.Helper()
	cfg := config.Config{
		TemporalNamespace: server.GetDefaultNamespace(),
		TaskQueue:         "tq-" + nonWord.ReplaceAllString(t.Name(), "-"),
		AlertInactivity:   time.Hour,
		DeliveryTimeout:   5 * time.Second,
		MaxBodyBytes:      1 << 20,
		// Resolved workflows complete soon after their resolve in tests.
		ResolvedLinger: 2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("herald logs:\n%s", logs.String())
		}
	})
	h := &herald{t: t, taskQueue: cfg.TaskQueue, registry: target.NewRegistry(), metrics: metrics.New(), logs: logs}
	if cfg.TemporalNamespace != server.GetDefaultNamespace() {
		namespaceClient(t, cfg.TemporalNamespace) // registers the namespace
	}
	// The client as the binaries dial it: the SDK's log lines go to the
	// same logger (checked for secrets) and its metrics to the registry.
	c, closeClient, err := app.Dial(cfg, server.GetFrontendHostPort(), h.metrics, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeClient)
	h.client = c
	h.registry.Update("test", targets, nil)
	// The worker's own composition: publishers, guard, classifier and the
	// delivery settings of cfg.
	deps, err := app.NewWorkerDeps(cfg, h.registry, h.metrics, app.NewHealthStore(h.client, cfg.TaskQueue), log)
	if err != nil {
		t.Fatal(err)
	}
	deps.Prober = &health.Prober{Timeout: 2 * time.Second}
	h.deps = deps
	// The health reporter runs beside the worker, as in the binaries.
	rctx, stopReporter := context.WithCancel(context.Background())
	reported := make(chan struct{})
	go func() { deps.HealthReports.Run(rctx); close(reported) }()
	t.Cleanup(func() { stopReporter(); <-reported })
	h.startWorker()
	h.http = httptest.NewServer(app.NewHTTP(cfg, h.client, h.registry, h.metrics, log, nil))
	t.Cleanup(h.http.Close)
	return h
}

func (h *herald) startWorker() {
	h.t.Helper()
	h.worker = app.NewWorker(h.client, h.taskQueue, h.deps, worker.Options{})
	if err := h.worker.Start(); err != nil {
		h.t.Fatalf("start worker: %v", err)
	}
	w := h.worker
	h.t.Cleanup(w.Stop)
}

// post sends a webhook body and returns status and body.
func (h *herald) post(body []byte, header ...string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/webhook", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("POST /webhook: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// get returns status and decoded JSON of a GET.
func (h *herald) get(path string, into any) int {
	h.t.Helper()
	resp, err := http.Get(h.http.URL + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if into != nil {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			h.t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return resp.StatusCode
}

// alertState reads GET /api/v1/alerts/{fp}.
func (h *herald) alertState(fp string) (int, ingest.AlertView) {
	var v ingest.AlertView
	code := h.get("/api/v1/alerts/"+fp, &v)
	return code, v
}

// waitWorkflowDone waits for the alert workflow to complete.
func (h *herald) waitWorkflowDone(fp string) *contract.AlertState {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var st contract.AlertState
	if err := h.client.GetWorkflow(ctx, contract.AlertWorkflowID(fp), "").Get(ctx, &st); err != nil {
		h.t.Fatalf("alert workflow %s: %v", fp, err)
	}
	return &st
}

// webhookBody builds an Alertmanager v4 webhook with the given alerts.
func webhookBody(alerts ...alert.WebhookAlert) []byte {
	status := alert.StatusResolved
	for _, a := range alerts {
		if a.Status == alert.StatusFiring {
			status = alert.StatusFiring
		}
	}
	b, _ := json.Marshal(alert.Webhook{
		Version: "4", GroupKey: "{}:{}", Status: status, Receiver: "herald", Alerts: alerts,
		ExternalURL: "http://alertmanager.test",
	})
	return b
}

func firingAlert(fp, name string) alert.WebhookAlert {
	return alert.WebhookAlert{
		Status:      alert.StatusFiring,
		Labels:      map[string]string{"alertname": name, "severity": "critical", "instance": "host-" + fp},
		Annotations: map[string]string{"summary": name + " on host-" + fp},
		StartsAt:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Fingerprint: fp,
	}
}

func resolvedAlert(a alert.WebhookAlert) alert.WebhookAlert {
	a.Status = alert.StatusResolved
	a.EndsAt = a.StartsAt.Add(time.Hour)
	return a
}

// sink is an HTTP target: the publishers' fake provider
// (publishtest.Server), answering from a script whose last answer repeats.
type sink struct {
	*publishtest.Server
}

// sinkRequest is a recorded request with its JSON body as a map (the first
// element for a list body, as Alertmanager's API takes).
type sinkRequest struct {
	At     time.Time
	Path   string
	Header http.Header
	Body   map[string]any
	Raw    string
}

type response = publishtest.Response

func newSink(t *testing.T, script ...response) *sink {
	s := &sink{Server: publishtest.NewServer(t)}
	if len(script) > 0 {
		s.AnswerFromNowOn(script[len(script)-1])
		s.Script(script...)
	}
	return s
}

// answerWith makes the sink answer every request with answer(request).
func (s *sink) answerWith(answer func(sinkRequest) response) {
	s.Handle(func(r publishtest.Request) (publishtest.Response, bool) { return answer(view(r)), true })
}

func view(r publishtest.Request) sinkRequest {
	body, _ := r.JSON.(map[string]any)
	if list, ok := r.JSON.([]any); ok && len(list) > 0 {
		body, _ = list[0].(map[string]any)
	}
	return sinkRequest{At: r.At, Path: r.Path, Header: r.Header, Body: body, Raw: string(r.Body)}
}

func (s *sink) all() []sinkRequest {
	reqs := s.Requests()
	out := make([]sinkRequest, len(reqs))
	for i, r := range reqs {
		out[i] = view(r)
	}
	return out
}

// count returns how many requests had the given event (webhook payloads).
func (s *sink) count(event string) int {
	n := 0
	for _, r := range s.all() {
		if bodyEvent(r.Body) == event {
			n++
		}
	}
	return n
}

// countFP counts the deliveries of one alert's event.
func (s *sink) countFP(fp, event string) int {
	n := 0
	for _, r := range s.all() {
		if bodyEvent(r.Body) == event && bodyFingerprint(r.Body) == fp {
			n++
		}
	}
	return n
}

// bodyEvent is the event of a webhook target's delivery: Herald's
// extension of the Alertmanager v4 envelope, or the top-level field of the
// older flat body.
func bodyEvent(body map[string]any) string {
	if ext, ok := body["herald"].(map[string]any); ok {
		if e, ok := ext["event"].(string); ok {
			return e
		}
	}
	e, _ := body["event"].(string)
	return e
}

// bodyLabels are the labels of the (one) alert of a delivery.
func bodyLabels(body map[string]any) map[string]any {
	if l, ok := publishtest.Get(body, "alerts.0.labels").(map[string]any); ok {
		return l
	}
	l, _ := body["labels"].(map[string]any)
	return l
}

// bodyFingerprint is the fingerprint of the (one) alert of a delivery.
func bodyFingerprint(body map[string]any) string {
	if alerts, ok := body["alerts"].([]any); ok && len(alerts) > 0 {
		if a, ok := alerts[0].(map[string]any); ok {
			fp, _ := a["fingerprint"].(string)
			return fp
		}
	}
	if a, ok := body["alert"].(map[string]any); ok {
		fp, _ := a["fingerprint"].(string)
		return fp
	}
	fp, _ := body["fingerprint"].(string)
	return fp
}

func webhookTargetFor(name string, s *sink, retry *target.RetrySpec) target.Target {
	return target.Target{Name: name, Type: "webhook", URL: s.URL + "/hook/" + name, Retry: retry}
}

func quickRetry(attempts int32) *target.RetrySpec {
	return &target.RetrySpec{InitialInterval: target.Duration(100 * time.Millisecond), Backoff: 1.5,
		MaxInterval: target.Duration(500 * time.Millisecond), MaxAttempts: attempts}
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for: %s", within, what)
}

// syncBuffer collects logs for secret checks.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func mustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

func newJSONLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }
