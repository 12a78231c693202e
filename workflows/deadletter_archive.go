package workflows

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
)

// The dead-letter archive: when the dead-letter workflow's carried state
// would pass its byte budget, the alert bodies (labels, annotations,
// provider IDs) of the oldest entries move into an archive workflow, one
// sealed segment per move. The entry itself (ID, target, error, times,
// alert name) stays in the dead-letter workflow, so listing, stats, drop,
// purge and replay keep working on every entry; a replay reads the body
// back from the archive through an activity. An archive workflow completes
// when no entry refers to it any more.
const (
	DeadLetterArchiveWorkflowName = "DeadLetterArchiveWorkflow"
	// DeadLetterArchiveBodiesQuery takes entry IDs and returns their
	// bodies (map of ID to activities.ArchivedBody).
	DeadLetterArchiveBodiesQuery = contract.DeadLetterArchiveBodiesQuery
	// DeadLetterArchiveReleaseSignal ends an archive workflow.
	DeadLetterArchiveReleaseSignal = "release"
	// archiveSegmentBytes bounds the bodies of one archive segment
	// (uncompressed JSON, so the segment's input stays below Temporal's
	// payload limit even if nothing compresses).
	archiveSegmentBytes = 1 << 20
)

// DeadLetterArchiveInput is the sealed content of one archive workflow:
// gzip-compressed JSON values, a count, then one archivedRecord per entry.
type DeadLetterArchiveInput struct {
	Bodies []byte `json:"bodies"`
}

type archivedRecord struct {
	ID string `json:"id"`
	activities.ArchivedBody
}

// decodeArchive reads an archive's bodies, calling every (if set) between
// chunks.
func decodeArchive(data []byte, every func()) (map[string]activities.ArchivedBody, error) {
	var count int
	bodies := map[string]activities.ArchivedBody{}
	err := readStream(data, every, &count, func(dec *json.Decoder) error {
		var r archivedRecord
		if err := dec.Decode(&r); err != nil {
			return err
		}
		bodies[r.ID] = r.ArchivedBody
		return nil
	})
	return bodies, err
}

// DeadLetterArchiveWorkflow keeps the alert bodies of archived dead letters
// until the dead-letter workflow releases it.
func DeadLetterArchiveWorkflow(ctx workflow.Context, in DeadLetterArchiveInput) error {
	bodies, err := decodeArchive(in.Bodies, func() { yield(ctx) })
	if err != nil {
		return fmt.Errorf("decode archived dead letters: %w", err)
	}
	if err := workflow.SetQueryHandler(ctx, DeadLetterArchiveBodiesQuery, func(ids []string) (map[string]activities.ArchivedBody, error) {
		out := make(map[string]activities.ArchivedBody, len(ids))
		for _, id := range ids {
			if b, ok := bodies[id]; ok {
				out[id] = b
			}
		}
		return out, nil
	}); err != nil {
		return err
	}
	workflow.GetSignalChannel(ctx, DeadLetterArchiveReleaseSignal).Receive(ctx, nil)
	return nil
}

// stub is what an archived entry keeps of its alert.
func stub(a alert.Alert) alert.Alert {
	s := alert.Alert{Fingerprint: a.Fingerprint, Status: a.Status, StartsAt: a.StartsAt}
	if n := a.Name(); n != "" {
		s.Labels = map[string]string{"alertname": n}
	}
	return s
}

// carriedSize is the size of the continue-as-new input with this state:
// the JSON Temporal stores as the payload.
func (d *deadLetters) carriedSize(state []byte) int {
	next := d.in
	next.State = state
	b, err := json.Marshal(next)
	if err != nil {
		return 0
	}
	return len(b)
}

// fitState encodes the state for continue-as-new and, while it is over the
// byte budget, archives the bodies of the oldest entries: as many as the
// excess suggests (scaled from compressed to uncompressed bytes), then it
// measures again. The measured size is recorded as a side effect, so
// replays take the same decisions.
func (d *deadLetters) fitState(ctx workflow.Context) ([]byte, error) {
	for {
		state, raw, err := streamState(ctx, d.st)
		if err != nil {
			return nil, err
		}
		size := d.carriedSize(state)
		if err := workflow.SideEffect(ctx, func(workflow.Context) any { return size }).Get(&size); err != nil {
			return nil, fmt.Errorf("record carried size: %w", err)
		}
		if size <= d.in.StateBudget {
			return state, nil
		}
		// The excess in uncompressed bytes, as if everything compressed
		// alike; metadata (IDs, times) compresses worse than alert bodies,
		// so move half of that and measure again.
		need := int(int64(size-d.in.StateBudget)*int64(raw)/int64(size)) / 2
		for moved := 0; moved < need; {
			n, bytes, err := d.archiveOldest(ctx)
			if err != nil || n == 0 {
				// Nothing more to move (or the archive could not be
				// started): carry what there is; entries are never dropped
				// for size.
				workflow.GetLogger(ctx).Warn("dead letters over their state budget", "bytes", size,
					"budget", d.in.StateBudget, "error", err)
				return state, nil
			}
			moved += bytes
		}
	}
}

// archiveOldest moves the bodies of the oldest entries that still hold
// theirs (up to archiveSegmentBytes) into a new archive workflow. It
// returns how many entries and uncompressed bytes it moved.
func (d *deadLetters) archiveOldest(ctx workflow.Context) (int, int, error) {
	var records []archivedRecord
	var picked []*DeadLetter
	total := 0
	for _, e := range d.st.Entries {
		if e.Archive != "" || d.busy[e.ID] {
			continue
		}
		if len(picked) > 0 && len(picked)%stateChunk == 0 {
			yield(ctx)
		}
		b := activities.ArchivedBody{Alert: e.Alert, Provider: e.Provider, Classification: e.Classification, Episode: e.Episode}
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, 0, fmt.Errorf("encode dead letter %s: %w", e.ID, err)
		}
		if total+len(raw) > archiveSegmentBytes && len(picked) > 0 {
			break
		}
		total += len(raw)
		records = append(records, archivedRecord{ID: e.ID, ArchivedBody: b})
		picked = append(picked, e)
	}
	if len(picked) == 0 {
		return 0, 0, nil
	}
	data, _, err := writeStream(func() { yield(ctx) }, len(records), len(records), func(i int) any { return records[i] })
	if err != nil {
		return 0, 0, err
	}
	d.st.ArchiveSeq++
	id := fmt.Sprintf("%s-archive-%d", workflow.GetInfo(ctx).WorkflowExecution.ID, d.st.ArchiveSeq)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:         fmt.Sprintf("Herald dead letters: %d archived alerts", len(picked)),
	})
	f := workflow.ExecuteChildWorkflow(cctx, DeadLetterArchiveWorkflowName, DeadLetterArchiveInput{Bodies: data})
	if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
		return 0, 0, fmt.Errorf("start dead-letter archive %s: %w", id, err)
	}
	for _, e := range picked {
		e.Archive, e.Alert, e.Provider = id, stub(e.Alert), nil
		e.Classification, e.Episode = nil, 0
	}
	d.st.Archives = append(d.st.Archives, id)
	workflow.GetLogger(ctx).Info("dead-letter bodies archived", "archive", id, "entries", len(picked), "bytes", total)
	return len(picked), total, nil
}

// releaseArchives ends the archive workflows no entry refers to any more.
func (d *deadLetters) releaseArchives(ctx workflow.Context) {
	used := map[string]bool{}
	for _, e := range d.st.Entries {
		if e.Archive != "" {
			used[e.Archive] = true
		}
	}
	kept := d.st.Archives[:0]
	for _, id := range d.st.Archives {
		if used[id] {
			kept = append(kept, id)
			continue
		}
		// Best effort: an archive that is gone already needs no release.
		_ = workflow.SignalExternalWorkflow(ctx, id, "", DeadLetterArchiveReleaseSignal, nil).Get(ctx, nil)
	}
	d.st.Archives = kept
}

// fetchArchived reads bodies of archived entries for a replay.
func (d *deadLetters) fetchArchived(ctx workflow.Context, archive string, ids []string) (map[string]activities.ArchivedBody, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          fmt.Sprintf("fetch-archived/%s/%d", archive, d.st.ReplaySeq),
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second, MaximumAttempts: 5},
	})
	d.st.ReplaySeq++
	var acts *activities.Activities
	var out map[string]activities.ArchivedBody
	if err := workflow.ExecuteActivity(actx, acts.FetchArchived, activities.FetchArchivedInput{Archive: archive, IDs: ids}).Get(ctx, &out); err != nil {
		return nil, fmt.Errorf("read archived alerts: %w", err)
	}
	return out, nil
}

type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}
