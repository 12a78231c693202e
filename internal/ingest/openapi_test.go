package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"sigs.k8s.io/yaml"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// specPath is the OpenAPI document of the API.
const specPath = "../../docs/openapi.yaml"

var specMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}

type openAPI struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Unrouted   map[string]json.RawMessage            `json:"x-unrouted-responses"`
	Components struct {
		Schemas map[string]struct {
			GoType     string                     `json:"x-go-type"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

// statuses are the documented statuses of each operation, "POST /webhook".
func (o openAPI) statuses(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for path, item := range o.Paths {
		for method, raw := range item {
			if !slices.Contains(specMethods, method) {
				continue
			}
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			require.NoError(t, json.Unmarshal(raw, &op), "%s %s", method, path)
			codes := make([]string, 0, len(op.Responses))
			for code := range op.Responses {
				codes = append(codes, code)
			}
			sort.Strings(codes)
			out[strings.ToUpper(method)+" "+path] = codes
		}
	}
	return out
}

func loadSpec(t *testing.T) openAPI {
	t.Helper()
	b, err := os.ReadFile(specPath)
	require.NoError(t, err)
	var spec openAPI
	require.NoError(t, yaml.Unmarshal(b, &spec), "docs/openapi.yaml is not valid YAML of the expected shape")
	require.NotEmpty(t, spec.Paths)
	return spec
}

// documented reports whether a route is one the spec covers.
func documented(route string) bool {
	return route == "/webhook" || strings.HasPrefix(route, "/api/v1/")
}

// Every /api/v1 and /webhook route and method the router serves is in the
// spec, and every spec operation is served, with every option that adds
// routes (the dev sink and /codec are outside the spec).
func TestOpenAPIRoutesMatchRouter(t *testing.T) {
	spec := loadSpec(t)
	want := map[string]bool{}
	for op := range spec.statuses(t) {
		want[op] = true
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{}},
		{"admin token", Config{AdminToken: "adm"}},
		{"admin reads", Config{AdminToken: "adm", AdminReads: true}},
		{"webhook token, dev sink and codec", Config{WebhookToken: "hook", DevSink: true, Codec: testCodec(t, "adm")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.cfg)
			served := map[string]bool{}
			require.NoError(t, chi.Walk(s.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
				if documented(route) {
					served[method+" "+route] = true
				}
				return nil
			}))
			for op := range served {
				assert.True(t, want[op], "%s is served but not in docs/openapi.yaml", op)
			}
			for op := range want {
				assert.True(t, served[op], "%s is in docs/openapi.yaml but not served", op)
			}
		})
	}
}

// specClient is the fake Temporal client of the status table: fakeClient
// (signals, updates, queries) plus the calls the alert and target
// handlers make.
type specClient struct {
	*fakeClient
	describe func() (*workflowservice.DescribeWorkflowExecutionResponse, error)
	list     func() (*workflowservice.ListWorkflowExecutionsResponse, error)
	execute  func() ([]health.Observation, error)
}

func (c *specClient) DescribeWorkflowExecution(context.Context, string, string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	if c.describe == nil {
		return nil, serviceerror.NewNotFound("no such workflow")
	}
	return c.describe()
}

func (c *specClient) ListWorkflow(context.Context, *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	if c.list == nil {
		return &workflowservice.ListWorkflowExecutionsResponse{}, nil
	}
	return c.list()
}

func (c *specClient) ExecuteWorkflow(context.Context, client.StartWorkflowOptions, any, ...any) (client.WorkflowRun, error) {
	if c.execute == nil {
		return nil, errors.New("not scripted")
	}
	obs, err := c.execute()
	if err != nil {
		return nil, err
	}
	return checkRun{obs: obs}, nil
}

type checkRun struct {
	client.WorkflowRun
	obs []health.Observation
}

func (r checkRun) Get(_ context.Context, into any) error { return jsonValue{r.obs}.Get(into) }

// statusCase is one real request to the real handler and the status it
// must get.
type statusCase struct {
	name string
	cfg  Config
	c    specClient
	// setup runs on the server before the request (fill a budget).
	setup func(t *testing.T, s *Server)
	req   request
	// within bounds the request's context (replay-all's 202).
	within time.Duration
	// slowBody sends the webhook's headers and no body over a real
	// connection (the 408 needs one).
	slowBody bool
	want     int
}

var (
	errUnavailable = serviceerror.NewUnavailable("connection refused")
	errTemporal    = serviceerror.NewInternal("boom")
)

func refusal(msg string) func(context.Context, client.UpdateWorkflowOptions) (any, error) {
	return func(context.Context, client.UpdateWorkflowOptions) (any, error) {
		return nil, temporal.NewApplicationError(msg, "Rejected")
	}
}

func answer(v any) func(context.Context, client.UpdateWorkflowOptions) (any, error) {
	return func(context.Context, client.UpdateWorkflowOptions) (any, error) { return v, nil }
}

func queryAnswer(v any, err error) func(string, ...any) (any, error) {
	return func(string, ...any) (any, error) { return v, err }
}

// fillAPIGate takes every slot of the API's concurrency bound and makes a
// request over it give up at once.
func fillAPIGate(t *testing.T, s *Server) {
	s.api.wait = 0
	require.True(t, s.api.sem.TryAcquire(int64(s.api.n)))
}

func get(path string, header ...string) request  { return req(http.MethodGet, path, nil, header...) }
func post(path string, header ...string) request { return req(http.MethodPost, path, nil, header...) }
func del(path string, header ...string) request  { return req(http.MethodDelete, path, nil, header...) }
func hook(body []byte, header ...string) request {
	return req(http.MethodPost, "/webhook", body, header...)
}
func onHost(r request, host string) request { r.host = host; return r }
func req(method, path string, body []byte, header ...string) request {
	h := map[string]string{}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return request{method: method, path: path, body: body, header: h}
}

const deadLetterID = "abc123.t1.run00001.1"

func statusCases(t *testing.T) []statusCase {
	okHook := webhookJSON(t, 0, firing("a1", "A"))
	jsonCT := []string{"Content-Type", "application/json"}
	crossSite := []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site"}
	loopback := Config{ListenAddr: "127.0.0.1:8080"}
	admin := Config{AdminToken: "adm"}
	adminReads := Config{AdminToken: "adm", AdminReads: true}
	gate := Config{APIConcurrency: 1}
	state := &contract.AlertState{Fingerprint: "abc123", Name: "A", Status: "firing"}
	described := func() (*workflowservice.DescribeWorkflowExecutionResponse, error) {
		return &workflowservice.DescribeWorkflowExecutionResponse{WorkflowExecutionInfo: &workflowpb.WorkflowExecutionInfo{
			Execution: &commonpb.WorkflowExecution{WorkflowId: "alert-abc123", RunId: "run-1"},
			Status:    enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING}}, nil
	}
	entry := &workflows.DeadLetter{ID: deadLetterID, Fingerprint: "abc123", Target: "t1", Event: "firing",
		LastFailure: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	dlqList := workflows.ListResponse{Entries: []*workflows.DeadLetter{entry}, Total: 1, Matched: 1}
	fc := func(f *fakeClient) *fakeClient { return f }

	cases := []statusCase{
		// POST /webhook
		{name: "webhook accepted", req: hook(okHook, jsonCT...), want: 200},
		{name: "webhook malformed", req: hook([]byte(`{`), jsonCT...), want: 400},
		{name: "webhook without its token", cfg: Config{WebhookToken: "hook"}, req: hook(okHook, jsonCT...), want: 401},
		{name: "webhook from another site", req: hook(okHook, append(jsonCT, crossSite...)...), want: 403},
		{name: "webhook slow body", cfg: Config{BodyReadTimeout: 100 * time.Millisecond}, slowBody: true, want: 408},
		{name: "webhook too large", cfg: Config{MaxBodyBytes: 64}, req: hook(okHook, jsonCT...), want: 413},
		{name: "webhook not JSON", req: hook(okHook), want: 415},
		{name: "webhook, Temporal unavailable", c: specClient{fakeClient: fc(&fakeClient{signal: func(context.Context, contract.Notify) error { return errUnavailable }})},
			req: hook(okHook, jsonCT...), want: 503},

		// GET /api/v1/alerts
		{name: "alerts", req: get("/api/v1/alerts?status=firing"), want: 200},
		{name: "alerts, bad limit", req: get("/api/v1/alerts?limit=0"), want: 400},
		{name: "alerts without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/alerts"), want: 401},
		{name: "alerts with the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/alerts", "Authorization", "Bearer adm"), want: 200},
		{name: "alerts for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/alerts"), "evil.example:8080"), want: 403},
		{name: "alerts, Temporal fails", c: specClient{list: func() (*workflowservice.ListWorkflowExecutionsResponse, error) { return nil, errTemporal }},
			req: get("/api/v1/alerts"), want: 502},
		{name: "alerts, API busy", cfg: gate, setup: fillAPIGate, req: get("/api/v1/alerts"), want: 503},

		// GET /api/v1/alerts/{fingerprint}
		{name: "alert", c: specClient{describe: described, fakeClient: fc(&fakeClient{query: queryAnswer(state, nil)})}, req: get("/api/v1/alerts/abc123"), want: 200},
		{name: "alert, bad fingerprint", req: get("/api/v1/alerts/not-one"), want: 400},
		{name: "alert without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/alerts/abc123"), want: 401},
		{name: "alert for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/alerts/abc123"), "evil.example"), want: 403},
		{name: "alert unknown", req: get("/api/v1/alerts/abc123"), want: 404},
		{name: "alert state undecodable", c: specClient{describe: described, fakeClient: fc(&fakeClient{query: queryAnswer("not a state", nil)})},
			req: get("/api/v1/alerts/abc123"), want: 500},
		{name: "alert, Temporal fails", c: specClient{describe: func() (*workflowservice.DescribeWorkflowExecutionResponse, error) { return nil, errTemporal }},
			req: get("/api/v1/alerts/abc123"), want: 502},
		{name: "alert, Temporal unavailable", c: specClient{describe: func() (*workflowservice.DescribeWorkflowExecutionResponse, error) { return nil, errUnavailable }},
			req: get("/api/v1/alerts/abc123"), want: 503},

		// GET /api/v1/targets, /api/v1/mode, /api/v1/targets/{name}/health
		{name: "targets", req: get("/api/v1/targets"), want: 200},
		{name: "targets without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/targets"), want: 401},
		{name: "targets for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/targets"), "evil.example"), want: 403},
		{name: "targets, API busy", cfg: gate, setup: fillAPIGate, req: get("/api/v1/targets"), want: 503},
		{name: "mode", req: get("/api/v1/mode"), want: 200},
		{name: "mode without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/mode"), want: 401},
		{name: "mode for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/mode"), "evil.example"), want: 403},
		{name: "mode, API busy", cfg: gate, setup: fillAPIGate, req: get("/api/v1/mode"), want: 503},
		{name: "target health", req: get("/api/v1/targets/t1/health"), want: 200},
		{name: "target health without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/targets/t1/health"), want: 401},
		{name: "target health for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/targets/t1/health"), "evil.example"), want: 403},
		{name: "target health, unknown target", req: get("/api/v1/targets/nope/health"), want: 404},
		{name: "target health, API busy", cfg: gate, setup: fillAPIGate, req: get("/api/v1/targets/t1/health"), want: 503},

		// POST /api/v1/targets/{name}/check
		{name: "check", c: specClient{execute: func() ([]health.Observation, error) {
			return []health.Observation{{Target: "t1", At: time.Now(), OK: true, Source: "check"}}, nil
		}}, req: post("/api/v1/targets/t1/check"), want: 200},
		{name: "check without the admin token", cfg: admin, req: post("/api/v1/targets/t1/check"), want: 401},
		{name: "check from another site", req: post("/api/v1/targets/t1/check", crossSite...), want: 403},
		{name: "check, unknown target", req: post("/api/v1/targets/nope/check"), want: 404},
		{name: "check, Temporal fails", c: specClient{execute: func() ([]health.Observation, error) { return nil, errTemporal }},
			req: post("/api/v1/targets/t1/check"), want: 502},
		{name: "check, Temporal unavailable", c: specClient{execute: func() ([]health.Observation, error) { return nil, errUnavailable }},
			req: post("/api/v1/targets/t1/check"), want: 503},

		// GET /api/v1/dlq, /api/v1/dlq/stats, /api/v1/dlq/{id}
		{name: "dead letters, none recorded yet", req: get("/api/v1/dlq"), want: 200},
		{name: "dead letters, bad offset", req: get("/api/v1/dlq?offset=-1"), want: 400},
		{name: "dead letters without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/dlq"), want: 401},
		{name: "dead letters for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/dlq"), "evil.example"), want: 403},
		{name: "dead letters, Temporal fails", c: specClient{fakeClient: fc(&fakeClient{query: queryAnswer(nil, errTemporal)})}, req: get("/api/v1/dlq"), want: 502},
		{name: "dead letters, recovering", c: specClient{fakeClient: fc(&fakeClient{query: queryAnswer(nil, errors.New(workflows.ErrRecovering))})},
			req: get("/api/v1/dlq"), want: 503},
		{name: "dead-letter stats", req: get("/api/v1/dlq/stats"), want: 200},
		{name: "dead-letter stats without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/dlq/stats"), want: 401},
		{name: "dead-letter stats for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/dlq/stats"), "evil.example"), want: 403},
		{name: "dead-letter stats, Temporal fails", c: specClient{fakeClient: fc(&fakeClient{query: queryAnswer(nil, errTemporal)})}, req: get("/api/v1/dlq/stats"), want: 502},
		{name: "dead-letter stats, API busy", cfg: gate, setup: fillAPIGate, req: get("/api/v1/dlq/stats"), want: 503},
		{name: "dead letter", c: specClient{fakeClient: fc(&fakeClient{query: queryAnswer(dlqList, nil)})}, req: get("/api/v1/dlq/" + deadLetterID), want: 200},
		{name: "dead letter without the admin token (admin reads)", cfg: adminReads, req: get("/api/v1/dlq/" + deadLetterID), want: 401},
		{name: "dead letter for an unknown Host", cfg: loopback, req: onHost(get("/api/v1/dlq/"+deadLetterID), "evil.example"), want: 403},
		{name: "dead letter unknown", c: specClient{fakeClient: fc(&fakeClient{query: queryAnswer(dlqList, nil)})}, req: get("/api/v1/dlq/abc123.t1.run00001.2"), want: 404},
		{name: "dead letter, Temporal fails", c: specClient{fakeClient: fc(&fakeClient{query: queryAnswer(nil, errTemporal)})}, req: get("/api/v1/dlq/" + deadLetterID), want: 502},
		{name: "dead letter, API busy", cfg: gate, setup: fillAPIGate, req: get("/api/v1/dlq/" + deadLetterID), want: 503},

		// DELETE /api/v1/dlq (purge)
		{name: "purge, nothing recorded", req: del("/api/v1/dlq?older_than=24h"), want: 200},
		{name: "purge without older_than", req: del("/api/v1/dlq"), want: 400},
		{name: "purge without the admin token", cfg: admin, req: del("/api/v1/dlq?older_than=24h"), want: 401},
		{name: "purge from another site", req: del("/api/v1/dlq?older_than=24h", crossSite...), want: 403},
		{name: "purge, Temporal fails", c: specClient{fakeClient: fc(&fakeClient{update: func(context.Context, client.UpdateWorkflowOptions) (any, error) { return nil, errTemporal }})},
			req: del("/api/v1/dlq?older_than=24h"), want: 502},
		{name: "purge while moving to a new run", c: specClient{fakeClient: fc(&fakeClient{update: refusal(workflows.ErrMovingToNewRun)})},
			req: del("/api/v1/dlq?older_than=24h"), want: 503},

		// DELETE /api/v1/dlq/{id}
		{name: "drop", c: specClient{fakeClient: fc(&fakeClient{update: answer(workflows.DropResult{Dropped: 1})})}, req: del("/api/v1/dlq/" + deadLetterID), want: 200},
		{name: "drop refused", c: specClient{fakeClient: fc(&fakeClient{update: refusal("id is required")})}, req: del("/api/v1/dlq/" + deadLetterID), want: 400},
		{name: "drop without the admin token", cfg: admin, req: del("/api/v1/dlq/" + deadLetterID), want: 401},
		{name: "drop from another site", req: del("/api/v1/dlq/"+deadLetterID, crossSite...), want: 403},
		{name: "drop unknown", c: specClient{fakeClient: fc(&fakeClient{update: refusal(`no dead letter with id "x"`)})}, req: del("/api/v1/dlq/x"), want: 404},
		{name: "drop while replayed", c: specClient{fakeClient: fc(&fakeClient{update: refusal(`dead letter "x" ` + workflows.ErrBeingReplayed)})}, req: del("/api/v1/dlq/x"), want: 409},
		{name: "drop, Temporal fails", c: specClient{fakeClient: fc(&fakeClient{update: func(context.Context, client.UpdateWorkflowOptions) (any, error) { return nil, errTemporal }})},
			req: del("/api/v1/dlq/x"), want: 502},
		{name: "drop while moving to a new run", c: specClient{fakeClient: fc(&fakeClient{update: refusal(workflows.ErrMovingToNewRun)})}, req: del("/api/v1/dlq/x"), want: 503},

		// POST /api/v1/dlq/{id}/replay
		{name: "replay", c: specClient{fakeClient: fc(&fakeClient{update: answer(workflows.ReplayResult{ID: "x", Delivered: true, Attempts: 1})})},
			req: post("/api/v1/dlq/x/replay"), want: 200},
		{name: "replay refused", c: specClient{fakeClient: fc(&fakeClient{update: refusal("id is required")})}, req: post("/api/v1/dlq/x/replay"), want: 400},
		{name: "replay without the admin token", cfg: admin, req: post("/api/v1/dlq/x/replay"), want: 401},
		{name: "replay from another site", req: post("/api/v1/dlq/x/replay", crossSite...), want: 403},
		{name: "replay before any dead letter", req: post("/api/v1/dlq/x/replay"), want: 404},
		{name: "replay while replayed", c: specClient{fakeClient: fc(&fakeClient{update: refusal(`dead letter "x" ` + workflows.ErrBeingReplayed)})}, req: post("/api/v1/dlq/x/replay"), want: 409},
		{name: "replay fails again", c: specClient{fakeClient: fc(&fakeClient{update: answer(workflows.ReplayResult{ID: "x", Error: "HTTP 500", Attempts: 3})})},
			req: post("/api/v1/dlq/x/replay"), want: 502},
		{name: "replay while moving to a new run", c: specClient{fakeClient: fc(&fakeClient{update: refusal(workflows.ErrMovingToNewRun)})}, req: post("/api/v1/dlq/x/replay"), want: 503},

		// POST /api/v1/dlq/replay
		{name: "replay-all", c: specClient{fakeClient: fc(&fakeClient{update: func(_ context.Context, o client.UpdateWorkflowOptions) (any, error) {
			return workflows.ReplayAllResult{Key: o.UpdateID, Done: true}, nil
		}})}, req: post("/api/v1/dlq/replay", "Idempotency-Key", "k1"), want: 200},
		{name: "replay-all still running", c: specClient{fakeClient: fc(&fakeClient{
			update: func(_ context.Context, o client.UpdateWorkflowOptions) (any, error) {
				return workflows.ReplayAllResult{Key: o.UpdateID, Total: 10, Delivered: 4}, nil
			},
			query: queryAnswer(workflows.ReplayAllResult{Key: "k1", Total: 10, Delivered: 4}, nil),
		})}, within: 50 * time.Millisecond, req: post("/api/v1/dlq/replay", "Idempotency-Key", "k1"), want: 202},
		{name: "replay-all, bad Idempotency-Key", req: post("/api/v1/dlq/replay", "Idempotency-Key", "has space"), want: 400},
		{name: "replay-all without the admin token", cfg: admin, req: post("/api/v1/dlq/replay"), want: 401},
		{name: "replay-all from another site", req: post("/api/v1/dlq/replay", crossSite...), want: 403},
		{name: "second replay-all", c: specClient{fakeClient: fc(&fakeClient{update: refusal(workflows.ErrReplayAllRunning + " (key other)")})},
			req: post("/api/v1/dlq/replay"), want: 409},
		{name: "replay-all, Temporal fails", c: specClient{fakeClient: fc(&fakeClient{update: func(context.Context, client.UpdateWorkflowOptions) (any, error) { return nil, errTemporal }})},
			req: post("/api/v1/dlq/replay"), want: 502},
		{name: "replay-all, API busy", cfg: gate, setup: fillAPIGate, req: post("/api/v1/dlq/replay"), want: 503},

		// Outside the routes: x-unrouted-responses.
		{name: "unknown path", req: get("/api/v1/nothing"), want: 404},
		{name: "method not served", req: req(http.MethodPut, "/api/v1/alerts", nil), want: 405},
	}
	return cases
}

// The statuses each operation answers, as a table of real requests to the
// handler New builds: every status a request gets is documented for its
// operation in docs/openapi.yaml, and every documented status is one that
// some request of the table gets.
func TestOpenAPIStatuses(t *testing.T) {
	spec := loadSpec(t)
	documentedStatuses := spec.statuses(t)
	produced := map[string]map[string]bool{}
	for _, tc := range statusCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			s, code := serveStatusCase(t, tc)
			require.Equal(t, tc.want, code, "the table's expectation")
			op := operationOf(s, tc.req)
			status := fmt.Sprint(code)
			if op == "" {
				_, ok := spec.Unrouted[status]
				assert.True(t, ok, "%s %s answers %d outside every route: not in x-unrouted-responses", tc.req.method, tc.req.path, code)
				op = "unrouted"
			} else {
				assert.Contains(t, documentedStatuses[op], status, "%s answers %d: not documented in docs/openapi.yaml", op, code)
			}
			if produced[op] == nil {
				produced[op] = map[string]bool{}
			}
			produced[op][status] = true
		})
	}
	for op, codes := range documentedStatuses {
		for _, code := range codes {
			assert.True(t, produced[op][code], "%s documents %s, which no request of the table produces", op, code)
		}
	}
	for code := range spec.Unrouted {
		assert.True(t, produced["unrouted"][code], "x-unrouted-responses documents %s, which no request produces", code)
	}
}

// operationOf is the spec operation ("GET /api/v1/alerts/{fingerprint}")
// the router routes r to, "" when it routes it to no endpoint (404, 405).
func operationOf(s *Server, r request) string {
	if r.method == "" { // the slow-body case
		return "POST /webhook"
	}
	path, _, _ := strings.Cut(r.path, "?")
	pattern := s.router.Find(chi.NewRouteContext(), r.method, path)
	if pattern == "" {
		return ""
	}
	return r.method + " " + pattern
}

func serveStatusCase(t *testing.T, tc statusCase) (*Server, int) {
	t.Helper()
	c := tc.c
	if c.fakeClient == nil {
		c.fakeClient = &fakeClient{}
	}
	cfg := tc.cfg
	cfg.Client = &c
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Metrics = metrics.New()
	cfg.TaskQueue = "herald"
	cfg.Registry = target.NewRegistry()
	cfg.Registry.Update("test", []target.Target{{Name: "t1", Type: "webhook", URL: "http://sink.test/hook"}}, nil)
	if tc.slowBody {
		srv := httptest.NewUnstartedServer(nil)
		cfg.ListenAddr = srv.Listener.Addr().String()
		s := New(cfg)
		srv.Config.Handler = s
		srv.Start()
		t.Cleanup(srv.Close)
		conn := trickle(t, srv.Listener.Addr().String(), 1000, 0, 0)
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		resp.Body.Close()
		return s, resp.StatusCode
	}
	s := New(cfg)
	if tc.setup != nil {
		tc.setup(t, s)
	}
	r := httptest.NewRequest(tc.req.method, tc.req.path, strings.NewReader(string(tc.req.body)))
	if tc.req.host != "" {
		r.Host = tc.req.host
	}
	for k, v := range tc.req.header {
		r.Header.Set(k, v)
	}
	if tc.within > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), tc.within)
		defer cancel()
		r = r.WithContext(ctx)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if rec.Code >= 400 {
		// Every error answer is the API's error shape (or, for a failed
		// replay and a partly refused webhook, their documented results).
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), "answer %d is not JSON: %q", rec.Code, rec.Body.String())
		assert.NotEmpty(t, body["error"], "answer %d has no error message: %s", rec.Code, rec.Body.String())
	}
	return s, rec.Code
}

// jsonFields are the JSON object keys encoding/json writes for a struct
// type: tagged or exported fields, embedded structs' fields promoted
// unless a shallower field of the same name shadows them.
func jsonFields(t reflect.Type) []string {
	depthOf := map[string]int{}
	var walk func(t reflect.Type, depth int)
	walk = func(t reflect.Type, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					walk(ft, depth+1)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if d, ok := depthOf[name]; !ok || depth < d {
				depthOf[name] = depth
			}
		}
	}
	walk(t, 0)
	out := make([]string, 0, len(depthOf))
	for name := range depthOf {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Every schema bound to a Go type (x-go-type) documents exactly the JSON
// fields of that type: a field added to an answer type and not to the
// spec (or the reverse) fails here.
func TestOpenAPISchemasMatchGoTypes(t *testing.T) {
	spec := loadSpec(t)
	types := map[string]any{
		"ingest.ErrorBody": ErrorBody{}, "ingest.WebhookResponse": WebhookResponse{},
		"ingest.AcceptedAlert": AcceptedAlert{}, "ingest.RejectedAlert": RejectedAlert{},
		"ingest.AlertList": AlertList{}, "ingest.AlertSummary": AlertSummary{}, "ingest.AlertBody": AlertBody{},
		"ingest.AlertView": AlertView{}, "ingest.SettingsView": SettingsView{}, "ingest.TargetStateView": TargetStateView{},
		"ingest.RefView": RefView{}, "ingest.RetryView": RetryView{}, "ingest.InFlightRetry": InFlightRetry{},
		"ingest.TargetList": TargetList{}, "ingest.TargetView": TargetView{}, "ingest.HealthView": HealthView{},
		"ingest.CheckResult": CheckResult{}, "ingest.ObservationView": ObservationView{}, "ingest.ModeState": ModeState{},
		"ingest.DeadLetterList": DeadLetterList{}, "ingest.DeadLetterView": DeadLetterView{},
		"alert.Webhook": alert.Webhook{}, "alert.WebhookAlert": alert.WebhookAlert{}, "alert.Trim": alert.Trim{},
		"contract.DeliveryRecord": contract.DeliveryRecord{}, "publish.Classification": publish.Classification{},
		"target.RetryPolicyView": target.RetryPolicyView{}, "target.RateLimitView": target.RateLimitView{}, "target.Problem": target.Problem{},
		"workflows.Overflow": workflows.Overflow{}, "workflows.Stats": workflows.Stats{}, "workflows.Recovery": workflows.Recovery{},
		"workflows.ReplayResult": workflows.ReplayResult{}, "workflows.ReplayAllResult": workflows.ReplayAllResult{},
		"workflows.DropResult": workflows.DropResult{},
	}
	bound := 0
	for name, schema := range spec.Components.Schemas {
		if schema.GoType == "" {
			continue
		}
		bound++
		v, ok := types[schema.GoType]
		if !assert.True(t, ok, "schema %s: x-go-type %s is not in this test's table", name, schema.GoType) {
			continue
		}
		var props []string
		for p := range schema.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		assert.Equal(t, jsonFields(reflect.TypeOf(v)), props, "schema %s (%s): properties differ from the type's JSON fields", name, schema.GoType)
	}
	assert.Equal(t, len(types), bound, "every type of the table is bound to a schema")
}
