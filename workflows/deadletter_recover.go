package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
)

// Recovery of a run that starts without carried state. Continue-as-new
// carries the entries from run to run; a run that was terminated, failed or
// cancelled carries nothing, and the next dead letter starts a new run
// (SignalWithStart). From versionHardened on, such a run first finds the
// previous run of its workflow ID (activity PreviousDeadLetterRun) and
// reads that run's state page by page through the export query (activity
// ExportDeadLetters): Temporal answers queries of closed runs, a worker
// replaying their history, so the recovered state is exactly the state the
// run had when it ended (drops, replays and purges included). Archived
// bodies are not copied: their archive workflows outlive the run (parent
// close policy abandon), and the entries keep their references. Each page
// is at most exportPageBytes of uncompressed JSON, so neither the query
// answer nor the activity result comes near Temporal's 2 MiB payload limit,
// however many entries there are.
//
// Meanwhile the run takes in new entries (so a run that ends while
// recovering can itself be recovered from), updates wait and queries
// answer ErrRecovering rather than an incomplete list. A run that ends
// while recovering exports where it was (Recovery.Sources), and the run
// after it goes on from there. Activities are retried without limit: a
// previous run that cannot be read (no worker, or its history no longer
// replays on the current code) keeps the dead letters unavailable, loudly
// (the failing activity in the Web UI, errors in the worker log), instead
// of showing them empty.
const (
	// exportPageBytes bounds one page of the export query (uncompressed).
	exportPageBytes = 1 << 20
	// minExportPageBytes is the smallest page the export query makes.
	minExportPageBytes = 64 << 10
	// recoverRetryInterval is the longest wait between two attempts to
	// read the previous run.
	recoverRetryInterval = time.Minute
)

// Recovery tells where the entries of a run came from when it started
// without carried state.
type Recovery struct {
	// From is the previous run and Status how it ended (Terminated,
	// Failed, Canceled, ...); empty when there was none.
	From   string `json:"from,omitempty"`
	Status string `json:"status,omitempty"`
	// Entries counts the entries recovered.
	Entries int `json:"entries"`
	// Sources are the runs still to read, the first from Next on: the
	// previous run, then runs it had not finished recovering from itself.
	Sources []RecoverySource `json:"sources,omitempty"`
	Done    bool             `json:"done"`
	// Error is set when a page could not be decoded: the entries of the
	// remaining pages of that run were not recovered.
	Error string `json:"error,omitempty"`
}

// RecoverySource is a run being recovered from, and the offset of its next
// entry.
type RecoverySource struct {
	Run  string `json:"run"`
	Next int    `json:"next"`
}

// exportHead opens an export page: the entries of the run, the offset after
// this page, and (on the page at offset 0 only) the state without its
// entries.
type exportHead struct {
	Total int              `json:"total"`
	Next  int              `json:"next"`
	State *deadLetterState `json:"state,omitempty"`
}

// export answers the export query: gzip-compressed JSON values, an
// exportHead, then the entries from r.Offset on, as many as fit in
// r.MaxBytes (at least one).
func (d *deadLetters) export(r activities.ExportRequest) ([]byte, error) {
	budget := r.MaxBytes
	if budget <= 0 {
		budget = exportPageBytes
	}
	budget = max(budget, minExportPageBytes)
	off := min(max(r.Offset, 0), len(d.st.Entries))
	head := exportHead{Total: len(d.st.Entries)}
	if off == 0 {
		h := *d.st
		h.Entries = nil
		head.State = &h
	}
	size := 0
	var raw []json.RawMessage
	for i := off; i < len(d.st.Entries); i++ {
		b, err := json.Marshal(d.st.Entries[i])
		if err != nil {
			return nil, fmt.Errorf("encode dead letter %s: %w", d.st.Entries[i].ID, err)
		}
		if len(raw) > 0 && size+len(b) > budget {
			break
		}
		size += len(b)
		raw = append(raw, b)
	}
	head.Next = off + len(raw)
	data, _, err := writeStream(nil, head, len(raw), func(i int) any { return raw[i] })
	return data, err
}

// decodeExport reads an export page, calling every (if set) between chunks.
func decodeExport(data []byte, every func()) (exportHead, []*DeadLetter, error) {
	var head exportHead
	var entries []*DeadLetter
	err := readStream(data, every, &head, func(dec *json.Decoder) error {
		var e DeadLetter
		if err := dec.Decode(&e); err != nil {
			return err
		}
		entries = append(entries, &e)
		return nil
	})
	return head, entries, err
}

// recoverPrevious reads the previous run's entries into this run (see
// above), then lets updates and queries in.
func (d *deadLetters) recoverPrevious(ctx workflow.Context) {
	defer func() { d.recovering, d.loaded = false, true }()
	log := workflow.GetLogger(ctx)
	info := workflow.GetInfo(ctx)
	var prev activities.PreviousRun
	var acts *activities.Activities
	err := d.untilDone(ctx, "find the previous run", func() error {
		actx := workflow.WithActivityOptions(ctx, recoverActivity("recover/previous-run", 30*time.Second))
		return workflow.ExecuteActivity(actx, acts.PreviousDeadLetterRun,
			activities.PreviousRunInput{WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID}).Get(ctx, &prev)
	})
	if err != nil {
		return // cancelled
	}
	rec := &Recovery{From: prev.RunID, Status: prev.Status}
	d.st.Recovery = rec
	if prev.RunID != "" {
		rec.Sources = []RecoverySource{{Run: prev.RunID}}
		log.Info("recovering dead letters of the previous run", "run", prev.RunID, "status", prev.Status)
	}
	for len(rec.Sources) > 0 {
		src := &rec.Sources[0]
		var page []byte
		err := d.untilDone(ctx, "read the previous run", func() error {
			actx := workflow.WithActivityOptions(ctx, recoverActivity(fmt.Sprintf("recover/%s/%d", src.Run, src.Next), 2*time.Minute))
			return workflow.ExecuteActivity(actx, acts.ExportDeadLetters, activities.ExportInput{
				WorkflowID: info.WorkflowExecution.ID, RunID: src.Run, Offset: src.Next, MaxBytes: exportPageBytes,
			}).Get(ctx, &page)
		})
		if err != nil {
			return // cancelled
		}
		head, entries, err := decodeExport(page, func() { yield(ctx) })
		if err == nil && head.Next <= src.Next && head.Next < head.Total {
			err = fmt.Errorf("page at %d of run %s makes no progress", src.Next, src.Run)
		}
		if err != nil {
			// The same page would fail again: go on with what there is.
			log.Error("dead letters of a previous run not recovered", "run", src.Run, "offset", src.Next, "error", err)
			rec.Error = fmt.Sprintf("run %s from entry %d: %v", src.Run, src.Next, err)
			rec.Sources = rec.Sources[1:]
			continue
		}
		if head.State != nil {
			d.mergeHead(head.State)
			if r := head.State.Recovery; r != nil && !r.Done {
				// That run ended while recovering itself: go on where it was.
				rec.Sources = append(rec.Sources, r.Sources...)
				src = &rec.Sources[0]
			}
		}
		d.mergeEntries(ctx, entries)
		rec.Entries += len(entries)
		src.Next = head.Next
		if head.Next >= head.Total {
			rec.Sources = rec.Sources[1:]
		}
	}
	rec.Done = true
	if rec.From != "" {
		log.Info("dead letters recovered", "run", rec.From, "status", rec.Status, "entries", rec.Entries,
			"total", len(d.st.Entries))
	}
}

// untilDone runs fn (an activity retried without limit) until it succeeds;
// after a non-retryable failure it waits recoverRetryInterval and runs it
// again. It fails only when the workflow is cancelled.
func (d *deadLetters) untilDone(ctx workflow.Context, what string, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) || ctx.Err() != nil {
			return err
		}
		workflow.GetLogger(ctx).Error("dead-letter recovery: could not "+what+"; trying again", "error", err)
		if err := workflow.Sleep(ctx, recoverRetryInterval); err != nil {
			return err
		}
	}
}

func recoverActivity(id string, timeout time.Duration) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		ActivityID:          id,
		StartToCloseTimeout: timeout,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: recoverRetryInterval},
	}
}

// mergeHead adds the previous run's counters, archives and replay-all
// history to this run's.
func (d *deadLetters) mergeHead(old *deadLetterState) {
	st := d.st
	st.Written += old.Written
	st.Replayed += old.Replayed
	st.Dropped += old.Dropped
	st.Superseded += old.Superseded
	// Archive workflow IDs are numbered: never reuse one that may still run.
	st.ReplaySeq = max(st.ReplaySeq, old.ReplaySeq)
	st.ArchiveSeq = max(st.ArchiveSeq, old.ArchiveSeq)
	have := map[string]bool{}
	for _, a := range st.Archives {
		have[a] = true
	}
	var archives []string
	for _, a := range old.Archives {
		if !have[a] {
			archives = append(archives, a)
			have[a] = true
		}
	}
	st.Archives = append(archives, st.Archives...)
	mergeOverflow(&st.Overflow, old.Overflow)
	jobs := append([]*ReplayAllResult{}, old.Jobs...)
	if j := old.Job; j != nil {
		// A replay-all does not go on by itself after its run was
		// terminated or failed: it is closed as interrupted, a retry with
		// its key gets that answer, and a new replay-all takes on the
		// entries it had not handled.
		res := j.result(false)
		if !j.Done {
			res.Done, res.Interrupted = true, true
		}
		jobs = append(jobs, &res)
	}
	st.Jobs = append(jobs, st.Jobs...)
	if len(st.Jobs) > maxJobHistory {
		st.Jobs = st.Jobs[len(st.Jobs)-maxJobHistory:]
	}
}

func mergeOverflow(o *Overflow, old Overflow) {
	if old.Count == 0 {
		return
	}
	o.Count += old.Count
	if o.ByTarget == nil {
		o.ByTarget, o.ByKind = map[string]int{}, map[string]int{}
	}
	for k, n := range old.ByTarget {
		o.ByTarget[k] += n
	}
	for k, n := range old.ByKind {
		o.ByKind[k] += n
	}
	if !old.Oldest.IsZero() && (o.Oldest.IsZero() || old.Oldest.Before(o.Oldest)) {
		o.Oldest = old.Oldest
	}
	if old.Newest.After(o.Newest) {
		o.Newest = old.Newest
	}
}

// mergeEntries places recovered entries after those recovered before and
// ahead of the entries this run received (they are older). An entry that
// failed again in this run is one entry: the recovered one with the latest
// failure (and the full alert, if the recovered one was archived).
func (d *deadLetters) mergeEntries(ctx workflow.Context, entries []*DeadLetter) {
	if len(entries) == 0 {
		return
	}
	for _, e := range entries {
		if cur, ok := d.index[e.ID]; ok && cur != e {
			e.LastFailure, e.Error, e.ErrorKind = cur.LastFailure, cur.Error, cur.ErrorKind
			e.StatusCode, e.Attempts = cur.StatusCode, cur.Attempts
			e.Failures += cur.Failures
			if e.Archive != "" && cur.Archive == "" {
				e.Alert, e.Provider, e.Archive = cur.Alert, cur.Provider, ""
			}
			d.removeID(cur.ID)
		}
	}
	at := min(d.recovered, len(d.st.Entries))
	merged := make([]*DeadLetter, 0, len(d.st.Entries)+len(entries))
	merged = append(merged, d.st.Entries[:at]...)
	merged = append(merged, entries...)
	merged = append(merged, d.st.Entries[at:]...)
	d.st.Entries = merged
	for _, e := range entries {
		d.index[e.ID] = e
	}
	d.recovered = at + len(entries)
	for len(d.st.Entries) > d.in.MaxEntries {
		if !d.evictOldest(ctx) {
			break // every entry is being replayed: evicted later
		}
	}
}
