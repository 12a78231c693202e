package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/workflows"
)

// Replay-all answers 200 with the result when it ends within the request's
// time, 202 with the progress so far when it does not; a retry with the
// same Idempotency-Key joins the same job (the update ID is the key) and
// gets its result.
func TestReplayAllAcceptedThenJoined(t *testing.T) {
	var mu sync.Mutex
	done := false
	var updateIDs []string
	fc := &fakeClient{
		update: func(_ context.Context, opts client.UpdateWorkflowOptions) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			updateIDs = append(updateIDs, opts.UpdateID)
			delivered := 4
			if done {
				delivered = 10
			}
			return workflows.ReplayAllResult{Key: opts.UpdateID, Total: 10, Delivered: delivered, Done: done}, nil
		},
		query: func(name string, args ...any) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, workflows.DeadLetterReplayAllStatusQuery, name)
			delivered := 4
			if done {
				delivered = 10
			}
			return workflows.ReplayAllResult{Key: args[0].(string), Total: 10, Delivered: delivered, Done: done}, nil
		},
	}
	s := newTestServer(t, Config{Client: fc})
	replayAll := func(within time.Duration) (int, workflows.ReplayAllResult) {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/dlq/replay?target=hook", nil)
		req.Header.Set("Idempotency-Key", "nightly-1")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var res workflows.ReplayAllResult
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res), rec.Body.String())
		return rec.Code, res
	}

	code, res := replayAll(700 * time.Millisecond)
	assert.Equal(t, http.StatusAccepted, code, "still running when the request's time is up")
	assert.Equal(t, "nightly-1", res.Key)
	assert.False(t, res.Done)
	assert.Equal(t, 4, res.Delivered, "the progress so far")

	mu.Lock()
	done = true
	mu.Unlock()
	code, res = replayAll(5 * time.Second)
	assert.Equal(t, http.StatusOK, code)
	assert.True(t, res.Done)
	assert.Equal(t, 10, res.Delivered)
	assert.Equal(t, []string{"nightly-1", "nightly-1"}, updateIDs, "the retry is the same update, so the same job")
}

// Refusals of the dead-letter workflow map to statuses: an unknown entry
// 404, an entry being replayed (or a second replay-all) 409, the workflow
// moving to a new run 503 with Retry-After.
func TestDeadLetterRefusalStatuses(t *testing.T) {
	for _, tc := range []struct {
		name, method, path, refusal string
		want                        int
	}{
		{"unknown entry", http.MethodPost, "/api/v1/dlq/x.hook.1/replay", `no dead letter with id "x.hook.1"`, http.StatusNotFound},
		{"replay of an entry being replayed", http.MethodPost, "/api/v1/dlq/x.hook.1/replay", `dead letter "x.hook.1" ` + workflows.ErrBeingReplayed, http.StatusConflict},
		{"drop of an entry being replayed", http.MethodDelete, "/api/v1/dlq/x.hook.1", `dead letter "x.hook.1" ` + workflows.ErrBeingReplayed, http.StatusConflict},
		{"second replay-all", http.MethodPost, "/api/v1/dlq/replay", workflows.ErrReplayAllRunning + " (key other)", http.StatusConflict},
		{"moving to a new run", http.MethodPost, "/api/v1/dlq/x.hook.1/replay", workflows.ErrMovingToNewRun + " (continue-as-new); try again in a moment", http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeClient{update: func(context.Context, client.UpdateWorkflowOptions) (any, error) {
				return nil, temporal.NewApplicationError(tc.refusal, "Rejected")
			}}
			s := newTestServer(t, Config{Client: fc})
			rec := s.do(t, tc.method, tc.path, nil)
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
			var answer struct{ Error string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &answer))
			assert.Contains(t, answer.Error, tc.refusal)
			if tc.want == http.StatusServiceUnavailable {
				assert.Equal(t, "1", rec.Header().Get("Retry-After"))
			}
		})
	}
}
