package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/publish"
)

// archivedState is a carried state holding one entry whose alert body sits
// in an archive workflow ("arch") and one plain entry ("plain"); it returns
// the state and the archived entry's full alert body.
func archivedState(t *testing.T, t0 time.Time) ([]byte, activities.ArchivedBody) {
	t.Helper()
	arch := entry("arch", "hook", t0)
	arch.Alert.Annotations = map[string]string{"description": "the full body, read back from the archive"}
	body := activities.ArchivedBody{Alert: arch.Alert}
	arch.Archive, arch.Alert = "herald-dead-letters-archive-1", stub(arch.Alert)
	plain := entry("plain", "hook", t0)
	st := &deadLetterState{Entries: []*DeadLetter{&arch, &plain}, Written: 2, ArchiveSeq: 1, Archives: []string{arch.Archive}}
	state, _, err := writeState(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return state, body
}

// TestDeadLetters_ConcurrentReplayOfArchivedEntryDeliversOnce (issue 17,
// item 9): while the first replay of an archived entry waits for its alert
// to be read back from the archive, a second replay and a drop of it are
// refused as being replayed (the API's 409), and a replay-all started
// meanwhile skips it. The entry is delivered exactly once.
func TestDeadLetters_ConcurrentReplayOfArchivedEntryDeliversOnce(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	state, body := archivedState(t, t0)
	var delivered []publish.Notification
	h.pub.onPublish = func(n publish.Notification) { delivered = append(delivered, n) }
	fetches := 0
	// Reading the archive takes 10 seconds of workflow time.
	h.env.OnActivity("FetchArchived", mock.Anything, mock.Anything).After(10 * time.Second).Return(
		func(_ context.Context, in activities.FetchArchivedInput) (map[string]activities.ArchivedBody, error) {
			fetches++
			out := map[string]activities.ArchivedBody{}
			for _, id := range in.IDs {
				if id == "arch" {
					out[id] = body
				}
			}
			return out, nil
		})
	h.env.OnActivity("CheckDeliveries", mock.Anything, mock.Anything).Return(
		func(_ context.Context, cs []activities.DeliveryCheck) ([]activities.DeliveryVerdict, error) {
			out := make([]activities.DeliveryVerdict, len(cs))
			for i, c := range cs {
				out[i] = activities.DeliveryVerdict{ID: c.ID, Running: true}
			}
			return out, nil
		})
	var first, second, drop, all *pendingUpdate
	h.at(time.Minute, func() { first = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "arch"}) })
	h.at(time.Minute+time.Second, func() {
		second = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "arch"})
		drop = h.update(DeadLetterDropUpdate, DropRequest{ID: "arch"})
		all = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "all"})
	})
	var left ListResponse
	h.at(5*time.Minute, func() {
		left = h.list(ListRequest{})
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{State: state}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	for name, p := range map[string]*pendingUpdate{"first replay": first, "second replay": second, "drop": drop, "replay-all": all} {
		if p == nil || !p.done {
			t.Fatalf("%s did not finish", name)
		}
	}
	if r, _ := first.value.(ReplayResult); first.rejected != nil || !r.Delivered {
		t.Errorf("first replay = %+v (rejected %v), want delivered", first.value, first.rejected)
	}
	for name, p := range map[string]*pendingUpdate{"second replay": second, "drop": drop} {
		if p.rejected == nil || !strings.Contains(p.rejected.Error(), ErrBeingReplayed) {
			t.Errorf("%s during the archive read = %+v (rejected %v), want refused as being replayed", name, p.value, p.rejected)
		}
	}
	// The replay-all takes on the entries not being replayed when it starts.
	res, _ := all.value.(ReplayAllResult)
	if all.rejected != nil || !res.Done || res.Total != 1 || res.Delivered != 1 || len(res.Results) != 1 || res.Results[0].ID != "plain" {
		t.Errorf("replay-all = %+v (rejected %v), want plain delivered and arch left to its own replay", res, all.rejected)
	}
	arch := 0
	for _, n := range delivered {
		if n.Alert.Fingerprint == "fp-arch" {
			arch++
			if n.Alert.Annotations["description"] == "" {
				t.Errorf("archived entry delivered without its body: %+v", n.Alert)
			}
		}
	}
	if arch != 1 || len(delivered) != 2 {
		t.Errorf("archived entry delivered %d times (%d deliveries in all), want exactly once (and plain once)", arch, len(delivered))
	}
	if fetches != 1 {
		t.Errorf("archive read %d times, want once", fetches)
	}
	if left.Total != 0 {
		t.Errorf("left %+v, want no entry", left.Entries)
	}
}

// TestDeadLetters_UpdatesWhileMovingToNewRunAreRefused (issue 17, item 10):
// once the run writes its state for continue-as-new, a drop and a new
// replay-all are refused (ErrMovingToNewRun, the API's 503) instead of
// changing the entries being encoded; the carried state keeps every entry,
// and the drop works on the next run.
func TestDeadLetters_UpdatesWhileMovingToNewRunAreRefused(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := &deadLetterState{Written: 2, Archives: []string{"unused-archive"}}
	for _, id := range []string{"e1", "e2"} {
		e := entry(id, "hook", t0)
		st.Entries = append(st.Entries, &e)
	}
	state, _, err := writeState(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Releasing the archive no entry refers to is the first step of
	// writing the state; it waits here until both updates have an answer.
	answered := make(chan struct{})
	var once sync.Once
	h.env.OnSignalExternalWorkflow(mock.Anything, "unused-archive", "", DeadLetterArchiveReleaseSignal, mock.Anything).Return(
		func(_, _, _, _ string, _ any) error {
			select {
			case <-answered:
			case <-time.After(10 * time.Second):
			}
			return nil
		})
	var mu sync.Mutex
	outcomes := map[string]error{}
	accepted := map[string]bool{}
	callback := func(name string) *testsuite.TestUpdateCallback {
		return &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) {
				mu.Lock()
				defer mu.Unlock()
				outcomes[name] = err
				if len(outcomes) == 2 {
					once.Do(func() { close(answered) })
				}
			},
			OnComplete: func(any, error) {
				mu.Lock()
				defer mu.Unlock()
				outcomes[name], accepted[name] = nil, true
				if len(outcomes) == 2 {
					once.Do(func() { close(answered) })
				}
			},
		}
	}
	// One more entry reaches the signal limit: the run continues as new at
	// once, and these updates arrive (100 ms of wall time later) while it
	// releases the archive.
	h.add(0, entry("e3", "hook", t0))
	h.at(100*time.Millisecond, func() {
		h.env.UpdateWorkflow(DeadLetterDropUpdate, "drop-e1", callback("drop"), DropRequest{ID: "e1"})
		h.env.UpdateWorkflow(DeadLetterReplayAllUpdate, "replay-all", callback("replay-all"), ReplayAllRequest{Key: "k"})
	})
	err = h.run(DeadLetterInput{State: state, SignalLimit: 1})
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	mu.Lock()
	for _, name := range []string{"drop", "replay-all"} {
		err, ok := outcomes[name]
		if !ok || accepted[name] || err == nil || !strings.Contains(err.Error(), ErrMovingToNewRun) {
			t.Errorf("%s while moving to a new run: answered %v, accepted %v, error %v; want refused as moving", name, ok, accepted[name], err)
		}
	}
	mu.Unlock()
	var next DeadLetterInput
	if err := decodeArg(can, &next); err != nil {
		t.Fatal(err)
	}
	carried, err := decodeDeadLetterState(next.State, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(carried.Entries) != 3 || carried.Dropped != 0 || carried.Job != nil || len(carried.Archives) != 0 {
		t.Fatalf("carried %d entries, %d dropped, job %+v, archives %v; want e1-e3, nothing dropped, no job, the archive released",
			len(carried.Entries), carried.Dropped, carried.Job, carried.Archives)
	}

	// The refused drop, tried again, works on the next run.
	h2 := newDLQHarness(t, webhookTarget("hook"))
	var drop *pendingUpdate
	h2.at(time.Second, func() { drop = h2.update(DeadLetterDropUpdate, DropRequest{ID: "e1"}) })
	var left ListResponse
	h2.at(time.Minute, func() {
		left = h2.list(ListRequest{})
		h2.env.CancelWorkflow()
	})
	next.SignalLimit = 0
	if err := h2.run(next); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	if r, _ := drop.value.(DropResult); drop.rejected != nil || r.Dropped != 1 || left.Total != 2 {
		t.Errorf("drop on the next run = %+v (rejected %v), left %d entries; want dropped, 2 left", drop.value, drop.rejected, left.Total)
	}
}

// TestDeadLetters_ReplayDuringReplayAllBatchIsRefused (issue 17, item 9):
// a replay-all batch claims its entries before it reads their archived
// alerts, so a replay or drop of one of them meanwhile is refused as being
// replayed, and each entry is delivered exactly once.
func TestDeadLetters_ReplayDuringReplayAllBatchIsRefused(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	state, body := archivedState(t, t0)
	count := map[string]int{}
	h.pub.onPublish = func(n publish.Notification) { count[n.Alert.Fingerprint]++ }
	h.env.OnActivity("FetchArchived", mock.Anything, mock.Anything).After(10 * time.Second).Return(
		func(_ context.Context, in activities.FetchArchivedInput) (map[string]activities.ArchivedBody, error) {
			return map[string]activities.ArchivedBody{"arch": body}, nil
		})
	var all, replay, drop *pendingUpdate
	h.at(time.Minute, func() { all = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "all"}) })
	h.at(time.Minute+time.Second, func() {
		replay = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "arch"})
		drop = h.update(DeadLetterDropUpdate, DropRequest{ID: "plain"})
	})
	h.at(5*time.Minute, h.env.CancelWorkflow)
	if err := h.run(DeadLetterInput{State: state}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	for name, p := range map[string]*pendingUpdate{"replay": replay, "drop": drop} {
		if p == nil || p.rejected == nil || !strings.Contains(p.rejected.Error(), ErrBeingReplayed) {
			t.Errorf("%s during the replay-all batch = %+v, want refused as being replayed", name, p)
		}
	}
	res, _ := all.value.(ReplayAllResult)
	if !all.done || !res.Done || res.Delivered != 2 {
		t.Errorf("replay-all = %+v, want both delivered", res)
	}
	if count["fp-arch"] != 1 || count["fp-plain"] != 1 {
		t.Errorf("deliveries = %v, want each entry exactly once", count)
	}
}
