package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/herald-alerts/herald/activities"
)

// closedRun is the state of an ended run, as its export query answers it.
func closedRun(st *deadLetterState) *deadLetters {
	d := &deadLetters{st: st, index: map[string]*DeadLetter{}, busy: map[string]bool{}, loaded: true}
	for _, e := range st.Entries {
		d.index[e.ID] = e
	}
	return d
}

// serveExports answers ExportDeadLetters from the given closed runs, in
// pages of the smallest size (so a few dozen realistic entries take
// several pages), each taking a second of workflow time.
func (h *dlqHarness) serveExports(runs map[string]*deadLetters, calls *[]activities.ExportInput) {
	h.env.OnActivity("ExportDeadLetters", mock.Anything, mock.Anything).After(time.Second).Return(
		func(_ context.Context, in activities.ExportInput) ([]byte, error) {
			*calls = append(*calls, in)
			d, ok := runs[in.RunID]
			if !ok {
				return nil, fmt.Errorf("no run %s", in.RunID)
			}
			return d.export(activities.ExportRequest{Offset: in.Offset, MaxBytes: minExportPageBytes})
		})
}

// TestDeadLetters_RecoversPreviousRun (issue 17, item 10): a run started
// without carried state reads the previous run's state page by page and
// holds its entries (archive references, counters, overflow included)
// ahead of those that arrived meanwhile; a repeat of an old failure stays
// one entry; queries answer "recovering" rather than an incomplete list;
// an update sent meanwhile waits and then applies; the replay-all the old
// run was running is closed as interrupted.
func TestDeadLetters_RecoversPreviousRun(t *testing.T) {
	const n = 60
	h := newDLQHarness(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	samples := SampleDeadLetters(n, 3, []string{"team-slack", "oncall-pd"}, t0)
	old := &deadLetterState{Written: 75, Replayed: 10, Dropped: 5, ReplaySeq: 40, ArchiveSeq: 3,
		Archives: []string{"herald-dead-letters-archive-3"},
		Overflow: Overflow{Count: 2, ByTarget: map[string]int{"team-slack": 2}, ByKind: map[string]int{"http_5xx": 2}, Oldest: t0.Add(-time.Hour), Newest: t0},
		Job:      &replayJob{Key: "big", Pending: []string{samples[0].ID}, Res: ReplayAllResult{Total: 30, Replayed: 29, Delivered: 29}},
		Jobs:     []*ReplayAllResult{{Key: "earlier", Done: true, Total: 3, Delivered: 3}}}
	// The same delivery failed again, as the alert workflow sends it (full
	// alert), while the old run holds it archived.
	repeat := samples[5]
	repeat.LastFailure, repeat.Error, repeat.Failures = t0.Add(2*time.Hour), "HTTP 503 again", 1
	for i := range samples {
		if i < 10 {
			samples[i].Archive, samples[i].Alert = "herald-dead-letters-archive-3", stub(samples[i].Alert)
		}
		old.Entries = append(old.Entries, &samples[i])
	}
	h.previous = activities.PreviousRun{RunID: "run-1", Status: "Terminated"}
	var calls []activities.ExportInput
	h.serveExports(map[string]*deadLetters{"run-1": closedRun(old)}, &calls)

	// While the pages are read: a new entry, a repeat of an old one, a
	// list (refused), a drop (waits).
	fresh := entry("new-1", "team-slack", t0.Add(time.Hour))
	h.add(500*time.Millisecond, fresh)
	h.add(500*time.Millisecond, repeat)
	var duringErr error
	var drop *pendingUpdate
	h.at(1500*time.Millisecond, func() {
		_, duringErr = h.env.QueryWorkflow(DeadLetterListQuery, ListRequest{})
		drop = h.update(DeadLetterDropUpdate, DropRequest{ID: samples[59].ID})
	})
	var after ListResponse
	var st Stats
	var oldJob *pendingUpdate
	h.at(time.Minute, func() {
		after = h.list(ListRequest{Limit: 1000})
		v, err := h.env.QueryWorkflow(DeadLetterStatsQuery)
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Get(&st)
		oldJob = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "big"})
	})
	h.at(2*time.Minute, h.env.CancelWorkflow)
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}

	if len(calls) < 3 || calls[0].Offset != 0 || calls[0].RunID != "run-1" {
		t.Errorf("export calls = %+v, want several pages of run-1 from offset 0", calls)
	}
	if duringErr == nil || !strings.Contains(duringErr.Error(), ErrRecovering) {
		t.Errorf("list during recovery = %v, want %q", duringErr, ErrRecovering)
	}
	if r, _ := drop.value.(DropResult); drop.rejected != nil || r.Dropped != 1 {
		t.Errorf("drop sent during recovery = %+v (rejected %v), want applied after it", drop.value, drop.rejected)
	}
	// 60 old - 1 dropped + 1 new; the repeat is the old entry.
	if after.Total != n {
		t.Fatalf("after recovery: %d entries, want %d", after.Total, n)
	}
	for i := 0; i < n-1; i++ {
		if got := after.Entries[i].ID; got != samples[i].ID {
			t.Fatalf("entry %d = %s, want %s (old entries first, in their order)", i, got, samples[i].ID)
		}
	}
	if last := after.Entries[n-1]; last.ID != "new-1" {
		t.Errorf("last entry = %s, want the one that arrived during recovery", last.ID)
	}
	if e := after.Entries[5]; e.Failures != 2 || e.Error != "HTTP 503 again" || e.Archive != "" || len(e.Alert.Annotations) == 0 {
		t.Errorf("repeated entry = failures %d, error %q, archive %q; want one entry with the latest failure and the full alert",
			e.Failures, e.Error, e.Archive)
	}
	if e := after.Entries[0]; e.Archive != "herald-dead-letters-archive-3" {
		t.Errorf("archived entry lost its archive reference: %+v", e)
	}
	if st.Written != 77 || st.Replayed != 10 || st.Dropped != 6 || st.Overflow.Count != 2 || st.Archived != 9 ||
		st.ArchiveWorkflows != 1 {
		t.Errorf("stats = %+v, want the old counters plus this run's", st)
	}
	if r := st.Recovery; r == nil || !r.Done || r.From != "run-1" || r.Status != "Terminated" || r.Entries != n || len(r.Sources) != 0 {
		t.Errorf("recovery = %+v", st.Recovery)
	}
	if res, _ := oldJob.value.(ReplayAllResult); oldJob.rejected != nil || !res.Done || !res.Interrupted || res.Delivered != 29 {
		t.Errorf("retry of the interrupted replay-all = %+v (rejected %v), want its result, done and interrupted", res, oldJob.rejected)
	}
}

// TestDeadLetters_RecoveryGoesOnWhereAnEndedRecoveryStopped: the previous
// run itself ended while recovering (from run-0, at entry 10); the new run
// takes that run's entries, then run-0's from entry 10 on.
func TestDeadLetters_RecoveryGoesOnWhereAnEndedRecoveryStopped(t *testing.T) {
	h := newDLQHarness(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	samples := SampleDeadLetters(30, 4, []string{"hook"}, t0)
	run0 := &deadLetterState{Written: 30}
	for i := range samples {
		run0.Entries = append(run0.Entries, &samples[i])
	}
	// run-1 had read run-0's first 10 entries and received one of its own.
	own := entry("own", "hook", t0.Add(time.Hour))
	run1 := &deadLetterState{Written: 31, Entries: append(append([]*DeadLetter{}, run0.Entries[:10]...), &own),
		Recovery: &Recovery{From: "run-0", Status: "Terminated", Entries: 10, Sources: []RecoverySource{{Run: "run-0", Next: 10}}}}
	h.previous = activities.PreviousRun{RunID: "run-1", Status: "Failed"}
	var calls []activities.ExportInput
	h.serveExports(map[string]*deadLetters{"run-0": closedRun(run0), "run-1": closedRun(run1)}, &calls)
	var after ListResponse
	h.at(time.Minute, func() {
		after = h.list(ListRequest{Limit: 1000})
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	if after.Total != 31 {
		t.Fatalf("recovered %d entries, want run-0's 30 and run-1's own", after.Total)
	}
	seen := map[string]bool{}
	for _, e := range after.Entries {
		seen[e.ID] = true
	}
	for _, e := range samples {
		if !seen[e.ID] {
			t.Errorf("entry %s of run-0 not recovered", e.ID)
		}
	}
	if !seen["own"] {
		t.Error("run-1's own entry not recovered")
	}
	for _, c := range calls {
		if c.RunID == "run-0" && c.Offset < 10 {
			t.Errorf("run-0 read again from %d, want from 10 on", c.Offset)
		}
	}
}

// TestDeadLetters_NoRecoveryWhenFreshOrCarried: a run started with
// fresh:true, or continued as new with its state, does not look for a
// previous run.
func TestDeadLetters_NoRecoveryWhenFreshOrCarried(t *testing.T) {
	for name, in := range map[string]DeadLetterInput{"fresh": {Fresh: true}, "carried": {State: mustState(t, &deadLetterState{})}} {
		t.Run(name, func(t *testing.T) {
			h := newDLQHarness(t)
			var got ListResponse
			h.at(time.Second, func() {
				got = h.list(ListRequest{})
				h.env.CancelWorkflow()
			})
			if err := h.run(in); err != nil && !isCanceled(err) {
				t.Fatal(err)
			}
			if h.previousAsked != 0 || got.Total != 0 {
				t.Errorf("previous run looked up %d times (list %+v), want never", h.previousAsked, got)
			}
		})
	}
}

func mustState(t *testing.T, st *deadLetterState) []byte {
	t.Helper()
	b, _, err := writeState(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeadLetterExportPages: the export pages a state within the byte
// budget (at least one entry per page), the head only on the first page,
// and the pages together give back every entry.
func TestDeadLetterExportPages(t *testing.T) {
	samples := SampleDeadLetters(200, 5, []string{"hook"}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &deadLetterState{Written: 200, ArchiveSeq: 2}
	for i := range samples {
		st.Entries = append(st.Entries, &samples[i])
	}
	d := closedRun(st)
	var got []*DeadLetter
	pages := 0
	for off := 0; ; {
		data, err := d.export(activities.ExportRequest{Offset: off, MaxBytes: minExportPageBytes})
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > minExportPageBytes {
			t.Fatalf("page of %d bytes, over the %d budget", len(data), minExportPageBytes)
		}
		head, entries, err := decodeExport(data, nil)
		if err != nil {
			t.Fatal(err)
		}
		if (off == 0) != (head.State != nil) || (head.State != nil && (head.State.Written != 200 || len(head.State.Entries) != 0)) {
			t.Fatalf("page at %d: head state %+v, want it (without entries) on the first page only", off, head.State)
		}
		pages++
		got = append(got, entries...)
		if head.Next != off+len(entries) || head.Total != 200 || len(entries) == 0 {
			t.Fatalf("page at %d: next %d, total %d, %d entries", off, head.Next, head.Total, len(entries))
		}
		off = head.Next
		if off == head.Total {
			break
		}
	}
	if pages < 5 || len(got) != 200 {
		t.Fatalf("%d pages, %d entries; want several pages with all 200", pages, len(got))
	}
	for i, e := range got {
		if e.ID != samples[i].ID || e.Alert.Annotations["description"] != samples[i].Alert.Annotations["description"] {
			t.Fatalf("entry %d = %s, want %s with its alert", i, e.ID, samples[i].ID)
		}
	}
}
