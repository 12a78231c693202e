package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// apiClient answers the API's reads (alert state, health, dead letters)
// from fixed values; updates find no dead-letter workflow, so a purge
// answers {"dropped": 0}. block, when set, holds ListWorkflow until it is
// closed.
type apiClient struct {
	*fakeClient
	state   *contract.AlertState
	pending []*workflowpb.PendingActivityInfo
	health  []health.Status
	dlq     *workflows.ListResponse
	block   chan struct{}
}

// jsonValue is an encoded query result.
type jsonValue struct{ v any }

func (j jsonValue) HasValue() bool { return j.v != nil }
func (j jsonValue) Get(ptr any) error {
	b, err := json.Marshal(j.v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, ptr)
}

func (c *apiClient) QueryWorkflow(_ context.Context, _, _, query string, _ ...any) (converter.EncodedValue, error) {
	switch {
	case query == contract.StateQuery && c.state != nil:
		return jsonValue{c.state}, nil
	case query == "health" && c.health != nil:
		return jsonValue{c.health}, nil
	case query == workflows.DeadLetterListQuery && c.dlq != nil:
		return jsonValue{c.dlq}, nil
	}
	return nil, serviceerror.NewNotFound("no such workflow")
}

func (c *apiClient) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if c.state == nil {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	return &workflowservice.DescribeWorkflowExecutionResponse{
		WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: id, RunId: "run-1"},
			Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		},
		PendingActivities: c.pending,
	}, nil
}

func (c *apiClient) UpdateWorkflow(context.Context, client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error) {
	return nil, serviceerror.NewNotFound("no dead-letter workflow")
}

func (c *apiClient) ListWorkflow(ctx context.Context, _ *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &workflowservice.ListWorkflowExecutionsResponse{}, nil
}

// apiServer is a Server built by New on an apiClient, with a registry of
// one target ("t1") and a captured log.
type apiServer struct {
	*Server
	client *apiClient
	logs   *syncBuffer
}

func newAPIServer(t *testing.T, cfg Config, c *apiClient) *apiServer {
	t.Helper()
	if c == nil {
		c = &apiClient{}
	}
	if c.fakeClient == nil {
		c.fakeClient = &fakeClient{}
	}
	logs := &syncBuffer{}
	cfg.Client = c
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Metrics = metrics.New()
	if cfg.TaskQueue == "" {
		cfg.TaskQueue = "herald"
	}
	if cfg.Registry == nil {
		cfg.Registry = target.NewRegistry()
		cfg.Registry.Update("test", []target.Target{{Name: "t1", Type: "webhook", URL: "http://sink.test/hook"}}, nil)
	}
	if cfg.Health == nil {
		cfg.Health = &activities.HealthStore{Client: c, TaskQueue: cfg.TaskQueue, WorkflowID: "herald-health"}
	}
	return &apiServer{Server: New(cfg), client: c, logs: logs}
}

// request is one request to a server's handler.
type request struct {
	method, path, host string
	body               []byte
	header             map[string]string
}

func (s *apiServer) serve(r request) *httptest.ResponseRecorder {
	req := httptest.NewRequest(r.method, r.path, bytes.NewReader(r.body))
	if r.body == nil {
		req = httptest.NewRequest(r.method, r.path, nil)
	}
	if r.host != "" {
		req.Host = r.host
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

// jsonHeader is a JSON content type plus extra header pairs.
func jsonHeader(kv ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	return h
}
