package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// fakeClient answers the Temporal calls the server makes; calls it does not
// implement panic (the embedded nil interface).
type fakeClient struct {
	client.Client
	// signal decides the outcome of one SignalWithStart; nil accepts.
	signal func(ctx context.Context, n contract.Notify) error
	// update answers UpdateWorkflow (the value is its result); query
	// answers QueryWorkflow. Nil: the workflow does not exist.
	update func(ctx context.Context, opts client.UpdateWorkflowOptions) (any, error)
	query  func(name string, args ...any) (any, error)

	mu    sync.Mutex
	calls []signalCall
}

type signalCall struct {
	notify   contract.Notify
	opts     client.StartWorkflowOptions
	deadline time.Duration // of the call's context, from the call's start
}

type fakeRun struct {
	client.WorkflowRun
	id string
}

func (r fakeRun) GetID() string    { return r.id }
func (r fakeRun) GetRunID() string { return "run-" + r.id }

func (f *fakeClient) SignalWithStartWorkflow(ctx context.Context, workflowID, _ string, arg any,
	opts client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	n := arg.(contract.Notify)
	call := signalCall{notify: n, opts: opts, deadline: -1}
	if d, ok := ctx.Deadline(); ok {
		call.deadline = time.Until(d)
	}
	f.mu.Lock()
	f.calls = append(f.calls, call)
	f.mu.Unlock()
	if f.signal != nil {
		if err := f.signal(ctx, n); err != nil {
			return nil, err
		}
	}
	return fakeRun{id: workflowID}, nil
}

func (f *fakeClient) signalled() []signalCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]signalCall(nil), f.calls...)
}

func (f *fakeClient) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	return &workflowservice.ListWorkflowExecutionsResponse{}, nil
}

func (f *fakeClient) CountWorkflow(context.Context, *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	return &workflowservice.CountWorkflowExecutionsResponse{}, nil
}

func (f *fakeClient) QueryWorkflow(_ context.Context, _, _ string, name string, args ...any) (converter.EncodedValue, error) {
	if f.query == nil {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	v, err := f.query(name, args...)
	if err != nil {
		return nil, err
	}
	return jsonValue{v}, nil
}

func (f *fakeClient) UpdateWorkflow(ctx context.Context, opts client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	if f.update == nil {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	v, err := f.update(ctx, opts)
	return updateHandle{value: v, err: err, id: opts.UpdateID}, nil
}

type updateHandle struct {
	value any
	err   error
	id    string
}

func (u updateHandle) WorkflowID() string { return "herald-dead-letters" }
func (u updateHandle) RunID() string      { return "run" }
func (u updateHandle) UpdateID() string   { return u.id }
func (u updateHandle) Get(_ context.Context, into any) error {
	if u.err != nil {
		return u.err
	}
	return jsonValue{u.value}.Get(into)
}

func (f *fakeClient) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	return nil, serviceerror.NewNotFound("no such workflow")
}

// testServer is a Server on a fake client with a captured log.
type testServer struct {
	*Server
	client  *fakeClient
	metrics *metrics.Metrics
	logs    *syncBuffer
}

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

func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	fc, _ := cfg.Client.(*fakeClient)
	if fc == nil {
		fc = &fakeClient{}
		cfg.Client = fc
	}
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Metrics = metrics.New()
	if cfg.Registry == nil {
		cfg.Registry = target.NewRegistry()
	}
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = "herald"
	}
	return &testServer{Server: New(cfg), client: fc, metrics: cfg.Metrics, logs: logs}
}

// webhookJSON builds a version 4 webhook body of the alerts.
func webhookJSON(t *testing.T, truncated int, alerts ...alert.WebhookAlert) []byte {
	t.Helper()
	b, err := json.Marshal(alert.Webhook{Version: "4", Status: "firing", Receiver: "team-a", GroupKey: "{}:{alertname=\"X\"}",
		TruncatedAlerts: truncated, Alerts: alerts})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firing(fp, name string) alert.WebhookAlert {
	return alert.WebhookAlert{Status: "firing", Fingerprint: fp, StartsAt: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
		Labels: map[string]string{"alertname": name, "severity": "critical"}}
}

// post sends body to POST /webhook with a JSON content type.
func (s *testServer) post(t *testing.T, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	return s.do(t, http.MethodPost, "/webhook", body, "Content-Type", "application/json")
}

func (s *testServer) do(t *testing.T, method, path string, body []byte, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %q: %v", rec.Body.String(), err)
	}
	return v
}

func counterValue(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, mt := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if g := mt.GetGauge(); g != nil {
				return g.GetValue()
			}
			return mt.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func contains(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}
