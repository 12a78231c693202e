package workflows

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// dlqWith1000 runs fn against a dead-letter workflow holding 1,000 entries
// (in the SDK's test environment: workflow logic and data handling, no
// server round trips).
func dlqWith1000(b *testing.B, fn func(h *dlqHarness)) {
	b.Helper()
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(quietLogger{})
	env := suite.NewTestWorkflowEnvironment()
	reg := target.NewRegistry()
	reg.Update("bench", []target.Target{webhookTarget("hook")}, nil)
	pub := &scriptedPublisher{fail: map[string][]error{}}
	env.RegisterActivity(&activities.Activities{Registry: reg, Publishers: publish.Publishers{"webhook": pub},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	env.RegisterWorkflow(DeadLetterWorkflow)
	h := &dlqHarness{env: env, pub: pub}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(nil)
	// The 1,000 entries arrive as carried-over state, as after a
	// continue-as-new.
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &deadLetterState{}
	for i := 0; i < 1000; i++ {
		e := entry(fmt.Sprintf("e%04d", i), "hook", t0)
		st.Entries = append(st.Entries, &e)
	}
	state, err := encodeDeadLetterState(st)
	if err != nil {
		b.Fatal(err)
	}
	env.RegisterDelayedCallback(func() { fn(h) }, time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(DeadLetterWorkflow, DeadLetterInput{State: state})
}

func BenchmarkDeadLetterList1000(b *testing.B) {
	dlqWith1000(b, func(h *dlqHarness) {
		h.t = nil
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v, err := h.env.QueryWorkflow(DeadLetterListQuery, ListRequest{Target: "hook", Limit: 100, Offset: 500})
			if err != nil {
				b.Fatal(err)
			}
			var resp ListResponse
			if err := v.Get(&resp); err != nil || resp.Matched != 1000 || len(resp.Entries) != 100 {
				b.Fatalf("list: %v matched=%d", err, resp.Matched)
			}
		}
		b.StopTimer()
	})
}

// BenchmarkDeadLetterReplayAll1000: one op is loading 1,000 entries and
// replaying all of them (8 at a time) through the Publish activity.
func BenchmarkDeadLetterReplayAll1000(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var done *pendingUpdate
		dlqWith1000(b, func(h *dlqHarness) {
			done = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{})
		})
		if done == nil || !done.done {
			b.Fatal("replay-all did not finish")
		}
		if res := done.value.(ReplayAllResult); res.Delivered != 1000 {
			b.Fatalf("delivered %d of 1000", res.Delivered)
		}
	}
}

func BenchmarkDeadLetterStats1000(b *testing.B) {
	dlqWith1000(b, func(h *dlqHarness) {
		h.t = nil
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v, err := h.env.QueryWorkflow(DeadLetterStatsQuery)
			if err != nil {
				b.Fatal(err)
			}
			var st Stats
			if err := v.Get(&st); err != nil || st.Total != 1000 || st.ByTarget["hook"] != 1000 {
				b.Fatalf("stats: %v %+v", err, st)
			}
		}
		b.StopTimer()
	})
}

// benchDeadLetterState is 1,000 entries as carried across continue-as-new.
func benchDeadLetterState() *deadLetterState {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &deadLetterState{Written: 1000}
	for i := 0; i < 1000; i++ {
		e := entry(fmt.Sprintf("e%04d", i), "hook", t0.Add(time.Duration(i)*time.Second))
		st.Entries = append(st.Entries, &e)
	}
	return st
}

// BenchmarkDeadLetterStateEncode1000 and Decode1000: the compressed state
// a continue-as-new carries, written and read back.
func BenchmarkDeadLetterStateEncode1000(b *testing.B) {
	st := benchDeadLetterState()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		data, err := encodeDeadLetterState(st)
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "bytes/state")
}

func BenchmarkDeadLetterStateDecode1000(b *testing.B) {
	data, err := encodeDeadLetterState(benchDeadLetterState())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := decodeDeadLetterState(data, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Entries) != 1000 {
			b.Fatalf("%d entries", len(st.Entries))
		}
	}
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
