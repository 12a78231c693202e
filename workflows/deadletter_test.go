package workflows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

type dlqHarness struct {
	t        *testing.T
	env      *testsuite.TestWorkflowEnvironment
	pub      *scriptedPublisher
	mu       sync.Mutex
	notified []contract.DeliveryReplayed
	// previous is what the PreviousDeadLetterRun activity answers (by
	// default: no previous run, nothing to recover); previousAsked counts
	// its calls.
	previous      activities.PreviousRun
	previousAsked int
}

func newDLQHarness(t *testing.T, targets ...target.Target) *dlqHarness {
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	reg := target.NewRegistry()
	reg.Update("test", targets, nil)
	pub := &scriptedPublisher{fail: map[string][]error{}}
	env.RegisterActivity(&activities.Activities{Registry: reg, Publishers: publish.Publishers{"webhook": pub}})
	env.RegisterWorkflow(DeadLetterWorkflow)
	h := &dlqHarness{t: t, env: env, pub: pub}
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, "", contract.DeliveryReplayedSignal, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.notified = append(h.notified, arg.(contract.DeliveryReplayed))
			return nil
		})
	env.OnActivity("PreviousDeadLetterRun", mock.Anything, mock.Anything).Return(
		func(context.Context, activities.PreviousRunInput) (activities.PreviousRun, error) {
			h.previousAsked++
			return h.previous, nil
		})
	return h
}

func entry(id, targetName string, failedAt time.Time) DeadLetter {
	return DeadLetter{
		ID: id, Fingerprint: "fp-" + id, AlertName: "DiskFull", Target: targetName, TargetType: "webhook",
		Event: publish.EventFiring, ErrorKind: publish.KindHTTPServer, Error: "HTTP 500", StatusCode: 500,
		Attempts: 10, FirstFailure: failedAt, LastFailure: failedAt, AlertWorkflowID: contract.AlertWorkflowID("fp-" + id), Seq: 1,
		Alert: alert.Alert{Fingerprint: "fp-" + id, Status: alert.StatusFiring, Labels: map[string]string{"alertname": "DiskFull"}},
	}
}

func (h *dlqHarness) at(d time.Duration, fn func()) { h.env.RegisterDelayedCallback(fn, d) }

func (h *dlqHarness) add(d time.Duration, e DeadLetter) {
	h.at(d, func() { h.env.SignalWorkflow(DeadLetterAddSignal, e) })
}

func (h *dlqHarness) list(req ListRequest) ListResponse {
	h.t.Helper()
	v, err := h.env.QueryWorkflow(DeadLetterListQuery, req)
	if err != nil {
		h.t.Fatalf("list: %v", err)
	}
	var resp ListResponse
	if err := v.Get(&resp); err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// pendingUpdate collects an update's outcome; it completes after the
// delayed callback that sent it returns (activities run in between).
type pendingUpdate struct {
	done     bool
	rejected error
	err      error
	value    any
}

func (h *dlqHarness) update(name string, arg any) *pendingUpdate {
	p := &pendingUpdate{}
	h.env.UpdateWorkflow(name, fmt.Sprintf("%s-%p", name, p), &testsuite.TestUpdateCallback{
		OnAccept:   func() {},
		OnReject:   func(err error) { p.rejected, p.done = err, true },
		OnComplete: func(v any, err error) { p.value, p.err, p.done = v, err, true },
	}, arg)
	return p
}

func (h *dlqHarness) run(in DeadLetterInput) error {
	h.env.ExecuteWorkflow(DeadLetterWorkflow, in)
	return h.env.GetWorkflowError()
}

func TestDeadLetters_AddListStats(t *testing.T) {
	h := newDLQHarness(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.add(0, entry("a", "slack", t0))
	h.add(time.Second, entry("b", "pager", t0.Add(time.Hour)))
	h.add(2*time.Second, entry("c", "slack", t0.Add(2*time.Hour)))
	// The same failure again updates the entry instead of adding one.
	again := entry("a", "slack", t0.Add(3*time.Hour))
	again.Error = "HTTP 502"
	h.add(3*time.Second, again)
	h.at(time.Minute, func() {
		all := h.list(ListRequest{})
		if all.Total != 3 || len(all.Entries) != 3 {
			t.Errorf("list = %d entries (total %d), want 3", len(all.Entries), all.Total)
		}
		if a := all.Entries[0]; a.ID != "a" || a.Failures != 2 || a.Error != "HTTP 502" {
			t.Errorf("entry a = %+v, want 2 failures and the latest error", a)
		}
		if got := h.list(ListRequest{Target: "slack"}); got.Matched != 2 {
			t.Errorf("target filter matched %d, want 2", got.Matched)
		}
		if got := h.list(ListRequest{Kind: publish.KindHTTPServer, Target: "slack"}); got.Matched != 2 {
			t.Errorf("kind and target filter matched %d, want 2", got.Matched)
		}
		if got := h.list(ListRequest{Kind: publish.KindTimeout}); got.Matched != 0 {
			t.Errorf("kind filter matched %d entries of another kind", got.Matched)
		}
		if got := h.list(ListRequest{Fingerprint: "fp-b"}); got.Matched != 1 || got.Entries[0].ID != "b" {
			t.Errorf("fingerprint filter = %+v", got)
		}
		if got := h.list(ListRequest{FailedBefore: t0.Add(90 * time.Minute)}); got.Matched != 1 || got.Entries[0].ID != "b" {
			t.Errorf("age filter = %+v, want only b", got.Entries)
		}
		page := h.list(ListRequest{Offset: 1, Limit: 1})
		if len(page.Entries) != 1 || page.Entries[0].ID != "b" {
			t.Errorf("page = %+v, want [b]", page.Entries)
		}
		v, err := h.env.QueryWorkflow(DeadLetterStatsQuery)
		if err != nil {
			t.Fatal(err)
		}
		var st Stats
		_ = v.Get(&st)
		if st.Total != 3 || st.ByTarget["slack"] != 2 || st.ByKind[publish.KindHTTPServer] != 3 || st.Written != 4 {
			t.Errorf("stats = %+v", st)
		}
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
}

func TestDeadLetters_ReplayDropPurge(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"), webhookTarget("down"))
	h.pub.fail["down"] = []error{publish.Permanent(publish.KindHTTPClient, "HTTP 404")}
	t0 := h.env.Now()
	h.add(0, entry("ok", "hook", t0))
	h.add(0, entry("bad", "down", t0))
	h.add(0, entry("drop-me", "hook", t0))
	h.add(0, entry("old", "hook", t0.Add(-48*time.Hour)))
	var replayOK, replayUnknown, replayBad, drop, purgeInvalid, purge *pendingUpdate
	h.at(time.Minute, func() {
		replayOK = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "ok"})
		replayUnknown = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "nope"})
		replayBad = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "bad"})
		drop = h.update(DeadLetterDropUpdate, DropRequest{ID: "drop-me"})
		purgeInvalid = h.update(DeadLetterPurgeUpdate, PurgeRequest{})
	})
	var afterReplay ListResponse
	h.at(2*time.Minute, func() {
		afterReplay = h.list(ListRequest{})
		// Entries that failed long ago: "old" (48h) only; "bad" failed again
		// at replay time and stays.
		purge = h.update(DeadLetterPurgeUpdate, PurgeRequest{OlderThan: 24 * time.Hour})
	})
	var afterPurge ListResponse
	h.at(3*time.Minute, func() {
		afterPurge = h.list(ListRequest{})
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	for name, p := range map[string]*pendingUpdate{"replay ok": replayOK, "replay unknown": replayUnknown,
		"replay bad": replayBad, "drop": drop, "purge invalid": purgeInvalid, "purge": purge} {
		if p == nil || !p.done {
			t.Fatalf("%s did not finish", name)
		}
	}
	if r, _ := replayOK.value.(ReplayResult); replayOK.rejected != nil || !r.Delivered || r.Attempts != 1 {
		t.Errorf("replay ok = %+v rejected=%v", replayOK.value, replayOK.rejected)
	}
	if replayUnknown.rejected == nil {
		t.Error("replay of an unknown id was not rejected by the validator")
	}
	if r, _ := replayBad.value.(ReplayResult); r.Delivered || r.Error == "" {
		t.Errorf("replay bad = %+v, want a failure", replayBad.value)
	}
	if r, _ := drop.value.(DropResult); r.Dropped != 1 {
		t.Errorf("drop = %+v rejected=%v", drop.value, drop.rejected)
	}
	if purgeInvalid.rejected == nil {
		t.Error("purge without olderThan was not rejected")
	}
	if afterReplay.Total != 2 {
		t.Errorf("after replay and drop: %+v, want bad and old", afterReplay.Entries)
	}
	if len(afterReplay.Entries) == 2 && (afterReplay.Entries[0].ID != "bad" || afterReplay.Entries[0].Failures != 2 || afterReplay.Entries[0].Replays != 1) {
		t.Errorf("bad after failed replay = %+v, want 2 failures and 1 replay", afterReplay.Entries[0])
	}
	if r, _ := purge.value.(DropResult); r.Dropped != 1 || afterPurge.Total != 1 || afterPurge.Entries[0].ID != "bad" {
		t.Errorf("purge dropped %+v, left %+v; want old purged, bad kept", purge.value, afterPurge.Entries)
	}
	if h.pub.count("hook", publish.EventFiring) != 1 || h.pub.count("down", publish.EventFiring) != 1 {
		t.Errorf("deliveries = %+v", h.pub.calls)
	}
	if len(h.notified) != 1 || h.notified[0].Target != "hook" {
		t.Errorf("alert workflows notified = %+v, want one for hook", h.notified)
	}
}

func TestDeadLetters_ReplayAllByTarget(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("a"), webhookTarget("b"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20; i++ {
		h.add(0, entry(fmt.Sprintf("a%02d", i), "a", t0))
	}
	h.add(0, entry("b1", "b", t0))
	var all *pendingUpdate
	h.at(time.Minute, func() { all = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Target: "a"}) })
	var left ListResponse
	h.at(2*time.Minute, func() {
		left = h.list(ListRequest{})
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	res, _ := all.value.(ReplayAllResult)
	if !all.done || res.Replayed != 20 || res.Delivered != 20 || res.Failed != 0 {
		t.Errorf("replayAll = %+v (done %v, err %v)", all.value, all.done, all.err)
	}
	if left.Total != 1 || left.Entries[0].ID != "b1" {
		t.Errorf("left = %+v, want only b1", left.Entries)
	}
	if got := h.pub.count("a", publish.EventFiring); got != 20 {
		t.Errorf("target a got %d deliveries, want 20 (each exactly once)", got)
	}
}

func TestDeadLetters_ContinueAsNewKeepsEverySignal(t *testing.T) {
	h := newDLQHarness(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 60
	for i := 0; i < n; i++ {
		// Batches of signals arrive together, so some are pending when the
		// history limit is crossed.
		h.add(time.Duration(i/10)*time.Second, entry(fmt.Sprintf("e%03d", i), "hook", t0))
	}
	err := h.run(DeadLetterInput{SignalLimit: 25})
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	var next DeadLetterInput
	if err := decodeArg(can, &next); err != nil {
		t.Fatal(err)
	}
	st, err := decodeDeadLetterState(next.State, nil)
	if err != nil {
		t.Fatal(err)
	}
	if next.SignalLimit != 25 {
		t.Errorf("carried signal limit = %d", next.SignalLimit)
	}
	// Everything signalled before the continue-as-new is in the carried
	// state; signals after it go to the next run (not lost either).
	if len(st.Entries) == 0 || st.Written != len(st.Entries) {
		t.Fatalf("carried %d entries, written %d", len(st.Entries), st.Written)
	}
	for i, e := range st.Entries {
		if want := fmt.Sprintf("e%03d", i); e.ID != want {
			t.Fatalf("entry %d = %s, want %s (order and completeness)", i, e.ID, want)
		}
	}
	// The next run starts from that state.
	h2 := newDLQHarness(t)
	h2.at(time.Second, func() {
		if got := h2.list(ListRequest{Limit: 1000}); got.Total != len(st.Entries) {
			t.Errorf("next run has %d entries, want %d", got.Total, len(st.Entries))
		}
		h2.env.CancelWorkflow()
	})
	if err := h2.run(next); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
}

func TestDeadLetters_BoundedWithOverflowSummary(t *testing.T) {
	h := newDLQHarness(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 5; i++ {
		h.add(time.Duration(i)*time.Second, entry(fmt.Sprintf("e%d", i), fmt.Sprintf("t%d", i%2), t0.Add(time.Duration(i)*time.Hour)))
	}
	h.at(time.Minute, func() {
		got := h.list(ListRequest{})
		if got.Total != 3 || got.Entries[0].ID != "e2" {
			t.Errorf("kept %+v, want the newest 3 (e2..e4)", got.Entries)
		}
		if got.Overflow.Count != 2 || got.Overflow.ByTarget["t0"] != 1 || got.Overflow.ByTarget["t1"] != 1 ||
			!got.Overflow.Oldest.Equal(t0) {
			t.Errorf("overflow = %+v, want 2 summarised", got.Overflow)
		}
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{MaxEntries: 3}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
}

func TestDeadLetterStateCompressesTenThousandEntries(t *testing.T) {
	st := &deadLetterState{}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < DefaultMaxDeadLetters; i++ {
		e := entry(fmt.Sprintf("fp%05d.target-%d.1234abcd.%d", i, i%7, i), fmt.Sprintf("target-%d", i%7), t0.Add(time.Duration(i)*time.Second))
		e.Alert.Labels["instance"] = fmt.Sprintf("host-%05d:9100", i)
		e.Alert.Annotations = map[string]string{"summary": fmt.Sprintf("Disk on host-%05d is %d%% full", i, 90+i%10)}
		st.Entries = append(st.Entries, &e)
	}
	data, err := encodeDeadLetterState(st)
	if err != nil {
		t.Fatal(err)
	}
	// Temporal rejects payloads above 2 MiB by default.
	if len(data) > 1<<20 {
		t.Errorf("10,000 entries encode to %d bytes, want under 1 MiB", len(data))
	}
	back, err := decodeDeadLetterState(data, nil)
	if err != nil || len(back.Entries) != DefaultMaxDeadLetters {
		t.Fatalf("round trip: %v, %d entries", err, len(back.Entries))
	}
	t.Logf("10,000 dead letters carried in %d bytes", len(data))
}

func isCanceled(err error) bool {
	var canceled *temporal.CanceledError
	return errors.As(err, &canceled) || errors.Is(err, context.Canceled)
}

func decodeArg(can *workflow.ContinueAsNewError, into any) error {
	return converter.GetDefaultDataConverter().FromPayloads(can.Input, into)
}
