package workflows

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/publish"
)

// Names of the dead-letter workflow and its operations (usable from the
// Temporal Web UI and CLI as well as through Herald's API).
const (
	DeadLetterWorkflowName = contract.DeadLetterWorkflow
	// DeadLetterWorkflowID is the one dead-letter workflow of a namespace
	// (for the default task queue; see DeadLetterWorkflowIDFor).
	DeadLetterWorkflowID = "herald-dead-letters"
	// DeadLetterAddSignal carries a DeadLetter to record.
	DeadLetterAddSignal = contract.DeadLetterAddSignal
	// DeadLetterListQuery takes a ListRequest and returns a ListResponse.
	DeadLetterListQuery = "list"
	// DeadLetterStatsQuery returns Stats.
	DeadLetterStatsQuery = "stats"
	// Updates (each with a validator).
	DeadLetterReplayUpdate    = "replay"    // ReplayRequest -> ReplayResult
	DeadLetterReplayAllUpdate = "replayAll" // ReplayAllRequest -> ReplayAllResult
	DeadLetterDropUpdate      = "drop"      // DropRequest -> DropResult
	DeadLetterPurgeUpdate     = "purge"     // PurgeRequest -> DropResult
	// DeadLetterReplayAllStatusQuery takes a replay-all key and returns
	// its ReplayAllResult (running or finished).
	DeadLetterReplayAllStatusQuery = "replayAllStatus"
	// DeadLetterExportQuery takes an activities.ExportRequest and returns
	// one page of the state (see deadletter_recover.go).
	DeadLetterExportQuery = contract.DeadLetterExportQuery
)

// Messages of refusals the API maps to a status (the start of the text).
const (
	// ErrBeingReplayed: the entry is being replayed (by a replay of its
	// own or a replay-all batch); the API answers 409.
	ErrBeingReplayed = "is being replayed"
	// ErrMovingToNewRun: the run is writing its state for continue-as-new
	// and takes no change; the API answers 503, to be retried.
	ErrMovingToNewRun = "the dead letters are moving to a new run"
	// ErrRecovering: a run that started without carried state is still
	// reading the entries of the previous run; queries answer this error
	// (never an incomplete list) and the API answers 503.
	ErrRecovering = "dead letters temporarily unavailable: recovering the entries of the previous run"
)

// Limits of the dead-letter workflow (documented in docs/dead-letters.md).
const (
	// DefaultMaxDeadLetters bounds the entries kept; past it the oldest are
	// summarised (counted by target and kind) in Overflow, never silently
	// dropped.
	DefaultMaxDeadLetters = 10000
	// deadLetterHistoryLimit: continue as new past this many events.
	deadLetterHistoryLimit = 4000
	deadLetterSignalLimit  = 1000
	// maxListPage bounds one list query.
	maxListPage = 1000
	// replayConcurrency bounds parallel deliveries of a replay-all.
	replayConcurrency = 8
	maxErrorLen       = 512
	// DefaultStateBudget bounds the carried state (the JSON of the
	// continue-as-new input, Temporal's payload limit being 2 MiB): past it
	// the alert bodies of the oldest entries move to archive workflows.
	DefaultStateBudget = 1536 << 10
	// DefaultReplayBatch is how many entries a replay-all takes at a time;
	// between batches the workflow may continue as new.
	DefaultReplayBatch = 100
	// deadLetterHistoryBytes: continue as new past this history size.
	deadLetterHistoryBytes = 8 << 20
)

// versionBounded marks the dead-letter workflow whose carried state is
// bounded in bytes (alert bodies archived) and whose replay-all runs as a
// batched, deduplicated job across continue-as-new.
const versionBounded = "dlq-bounded"

// versionHardened marks the dead-letter workflow that claims an entry
// before any blocking step of its replay (a second replay, a replay-all
// batch or a drop meanwhile is refused or skips it), and that, when a run
// starts without carried state, recovers the entries of the previous
// (terminated, failed or cancelled) run before it serves updates.
const versionHardened = "dlq-hardened"

// DeadLetter is a delivery that failed for good (see activities.DeadLetter).
type DeadLetter = activities.DeadLetter

// Overflow summarises entries evicted because MaxEntries was reached.
type Overflow struct {
	Count    int            `json:"count"`
	ByTarget map[string]int `json:"byTarget,omitempty"`
	ByKind   map[string]int `json:"byKind,omitempty"`
	Oldest   time.Time      `json:"oldest,omitzero"`
	Newest   time.Time      `json:"newest,omitzero"`
}

// DeadLetterInput starts or continues the dead-letter workflow.
type DeadLetterInput struct {
	MaxEntries int `json:"maxEntries,omitempty"`
	// HistoryLimit is the history length past which the workflow continues
	// as new (default 4000 events).
	HistoryLimit int `json:"historyLimit,omitempty"`
	// SignalLimit: the workflow also continues as new after this many
	// entries were signalled to one run (default 1000).
	SignalLimit int `json:"signalLimit,omitempty"`
	// State is the gzip-compressed JSON of the entries carried across
	// continue-as-new (compression keeps 10,000 entries well inside
	// Temporal's payload limit).
	State []byte `json:"state,omitempty"`
	// StateBudget bounds the carried state in bytes (default 1.5 MiB).
	StateBudget int `json:"stateBudget,omitempty"`
	// ReplayBatch is the batch size of replay-all (default 100).
	ReplayBatch int `json:"replayBatch,omitempty"`
	// Fresh starts a run without carried state that does not recover the
	// entries of the previous run (only for a deliberate fresh start; a
	// terminated run's entries are otherwise recovered).
	Fresh bool `json:"fresh,omitempty"`
}

type deadLetterState struct {
	Entries  []*DeadLetter `json:"entries"`
	Overflow Overflow      `json:"overflow"`
	Written  int           `json:"written"`
	Replayed int           `json:"replayed"`
	Dropped  int           `json:"dropped"`
	// ReplaySeq numbers replay deliveries for their activity IDs.
	ReplaySeq int `json:"replaySeq"`
	// Superseded counts entries a replay-all removed because a later
	// delivery of the same alert to the same target had succeeded.
	Superseded int `json:"superseded,omitempty"`
	// ArchiveSeq numbers archive workflows; Archives lists the open ones.
	ArchiveSeq int      `json:"archiveSeq,omitempty"`
	Archives   []string `json:"archives,omitempty"`
	// Job is the current (or last) replay-all; Jobs the results of earlier
	// ones (counts only), for deduplication of retried requests.
	Job  *replayJob         `json:"job,omitempty"`
	Jobs []*ReplayAllResult `json:"jobs,omitempty"`
	// Recovery tells where the entries of a run that started without
	// carried state came from (see deadletter_recover.go).
	Recovery *Recovery `json:"recovery,omitempty"`
}

// ListRequest filters and pages the entries (oldest first).
type ListRequest struct {
	Target      string `json:"target,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
	// Kind keeps entries whose last failure has this error kind
	// (publish.Kind*: http_5xx, timeout, ...).
	Kind string `json:"kind,omitempty"`
	// FailedBefore keeps entries whose last failure is before this time.
	FailedBefore time.Time `json:"failedBefore,omitzero"`
	Offset       int       `json:"offset,omitempty"`
	Limit        int       `json:"limit,omitempty"`
}

// ListResponse is one page of entries.
type ListResponse struct {
	Entries  []*DeadLetter `json:"entries"`
	Total    int           `json:"total"`
	Matched  int           `json:"matched"`
	Offset   int           `json:"offset"`
	Overflow Overflow      `json:"overflow"`
}

// Stats counts entries.
type Stats struct {
	Total    int            `json:"total"`
	ByTarget map[string]int `json:"byTarget"`
	ByKind   map[string]int `json:"byKind"`
	Overflow Overflow       `json:"overflow"`
	Written  int            `json:"written"`
	Replayed int            `json:"replayed"`
	Dropped  int            `json:"dropped"`
	// Superseded: removed by a replay-all as superseded by a later delivery.
	Superseded int `json:"superseded"`
	// Archived entries keep only a stub of their alert in the dead-letter
	// workflow; the full alert is in one of ArchiveWorkflows.
	Archived         int `json:"archived"`
	ArchiveWorkflows int `json:"archiveWorkflows"`
	// ReplayAll is the running replay-all, if any.
	ReplayAll *ReplayAllResult `json:"replayAll,omitempty"`
	// Recovery: the entries were recovered from a terminated, failed or
	// cancelled run.
	Recovery *Recovery `json:"recovery,omitempty"`
}

// ReplayRequest names one entry.
type ReplayRequest struct {
	ID string `json:"id"`
}

// ReplayResult is the outcome of replaying one entry.
type ReplayResult struct {
	ID        string `json:"id"`
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
	Attempts  int32  `json:"attempts"`
	// Skipped says why a replay-all did not send this entry.
	Skipped string `json:"skipped,omitempty"`
}

// ReplayAllRequest replays every entry, or those of one target.
type ReplayAllRequest struct {
	Target string `json:"target,omitempty"`
	// Key identifies the request (Herald's API sets it to the update ID): a
	// retry with the same key joins or returns the same replay-all instead
	// of starting another.
	Key string `json:"key,omitempty"`
}

// ReplayAllResult counts a replay-all.
type ReplayAllResult struct {
	// Key of the replay-all; Done once every entry was handled; Total
	// entries it took on.
	Key   string `json:"key,omitempty"`
	Done  bool   `json:"done"`
	Total int    `json:"total"`
	// Replayed entries were sent again (Delivered + Failed); Skipped were
	// not: superseded by a later delivery (removed), or held back because
	// an earlier event of the same alert and target failed (kept).
	Replayed  int `json:"replayed"`
	Delivered int `json:"delivered"`
	Failed    int `json:"failed"`
	Skipped   int `json:"skipped"`
	// Results lists outcomes (the first maxJobResults; Omitted counts the
	// rest).
	Results []ReplayResult `json:"results"`
	Omitted int            `json:"omitted,omitempty"`
	// Interrupted: the run of the dead-letter workflow that ran this
	// replay-all was terminated or failed; the entries it had not handled
	// are still in the dead letters (a new replay-all takes them on).
	Interrupted bool `json:"interrupted,omitempty"`
}

// DropRequest names one entry.
type DropRequest struct {
	ID string `json:"id"`
}

// PurgeRequest drops entries whose last failure is older than OlderThan.
type PurgeRequest struct {
	OlderThan time.Duration `json:"olderThan"`
}

// DropResult counts dropped entries.
type DropResult struct {
	Dropped int `json:"dropped"`
}

type deadLetters struct {
	in    DeadLetterInput
	st    *deadLetterState
	index map[string]*DeadLetter
	busy  map[string]bool // entries being replayed
	// signals counts entries received by this run.
	signals int
	// bounded is true from versionBounded on, hardened from
	// versionHardened on.
	bounded  bool
	hardened bool
	// stopping is set when the run is about to continue as new: a running
	// replay-all stops after its current batch. jobRunning is true while
	// it runs in this run.
	stopping   bool
	jobRunning bool
	// sealing is set once handlers and the replay-all have finished and
	// the state is being written for continue-as-new: validators refuse
	// every change from then on (see ErrMovingToNewRun).
	sealing bool
	// loaded is set once the carried state is decoded and, in a run that
	// recovers the previous run's entries, once they are recovered.
	loaded bool
	// recovering is true while the previous run's entries are read;
	// recovered counts those placed at the front of the entries.
	recovering bool
	recovered  int
}

// DeadLetterWorkflow keeps every delivery that failed for good until it is
// replayed or dropped. Entries arrive by signal; list and stats are
// queries; replay, replay-all, drop and purge are updates with validators.
// It continues as new before its history grows large, after running
// handlers finish and pending signals are taken in.
func DeadLetterWorkflow(ctx workflow.Context, in DeadLetterInput) error {
	d := &deadLetters{in: in, st: &deadLetterState{}, index: map[string]*DeadLetter{}, busy: map[string]bool{}}
	if d.in.MaxEntries <= 0 {
		d.in.MaxEntries = DefaultMaxDeadLetters
	}
	if d.in.HistoryLimit <= 0 {
		d.in.HistoryLimit = deadLetterHistoryLimit
	}
	if d.in.SignalLimit <= 0 {
		d.in.SignalLimit = deadLetterSignalLimit
	}
	if d.in.StateBudget <= 0 {
		d.in.StateBudget = DefaultStateBudget
	}
	if d.in.ReplayBatch <= 0 {
		d.in.ReplayBatch = DefaultReplayBatch
	}
	d.bounded = workflow.GetVersion(ctx, versionBounded, workflow.DefaultVersion, 1) >= 1
	d.hardened = d.bounded && workflow.GetVersion(ctx, versionHardened, workflow.DefaultVersion, 1) >= 1
	if d.bounded {
		// Handlers first: decoding thousands of entries yields (see
		// loadState), and updates that arrive meanwhile wait for it.
		if err := d.registerHandlers(ctx); err != nil {
			return err
		}
	}
	if err := d.loadState(ctx, in.State); err != nil {
		return err
	}
	if d.hardened && len(in.State) == 0 && !in.Fresh && workflow.GetInfo(ctx).ContinuedExecutionRunID == "" {
		// A start without carried state (the first dead letter, or the
		// first after a run was terminated or failed): entries arriving
		// meanwhile are taken in, updates wait, queries answer
		// ErrRecovering until the previous run's entries are back.
		d.recovering = true
		workflow.Go(ctx, d.recoverPrevious)
	} else {
		d.loaded = true
	}
	if !d.bounded {
		if err := d.registerHandlers(ctx); err != nil {
			return err
		}
	}
	if d.bounded && d.st.Job != nil && !d.st.Job.Done {
		// A replay-all carried over from the previous run goes on.
		d.startJob(ctx)
	}
	addCh := workflow.GetSignalChannel(ctx, DeadLetterAddSignal)
	for {
		if err := workflow.Await(ctx, func() bool { return addCh.Len() > 0 || d.shouldContinueAsNew(ctx) }); err != nil {
			return err
		}
		d.drain(ctx, addCh)
		if d.shouldContinueAsNew(ctx) {
			d.stopping = true
			if err := workflow.Await(ctx, func() bool {
				return workflow.AllHandlersFinished(ctx) && !d.jobRunning && !d.recovering
			}); err != nil {
				return err
			}
			// From here on the state is written out; validators refuse
			// changes (a drop now would shift the entries being encoded).
			d.sealing = true
			d.drain(ctx, addCh)
			var state []byte
			var err error
			if d.bounded {
				// Releasing and archiving wait for Temporal, and signals
				// delivered meanwhile must be in the state, not left behind.
				for {
					d.releaseArchives(ctx)
					if state, err = d.fitState(ctx); err != nil || addCh.Len() == 0 {
						break
					}
					d.drain(ctx, addCh)
				}
			} else {
				state, err = encodeDeadLetterState(d.st)
			}
			if err != nil {
				return err
			}
			next := d.in
			next.State = state
			return workflow.NewContinueAsNewError(ctx, DeadLetterWorkflow, next)
		}
	}
}

// loadState decodes the carried state; from versionBounded on it yields
// every stateChunk entries, so a large state never trips the SDK's deadlock
// detection.
func (d *deadLetters) loadState(ctx workflow.Context, state []byte) error {
	if len(state) == 0 {
		return nil
	}
	var every func()
	if d.bounded {
		every = func() { yield(ctx) }
	}
	st, err := decodeDeadLetterState(state, every)
	if err != nil {
		return fmt.Errorf("decode carried-over dead letters: %w", err)
	}
	d.st = st
	for _, e := range d.st.Entries {
		d.index[e.ID] = e
	}
	return nil
}

// awaitLoaded waits until the carried state is decoded (only in the first
// workflow task of a run; otherwise it returns at once).
func (d *deadLetters) awaitLoaded(ctx workflow.Context) error {
	if d.loaded {
		return nil
	}
	return workflow.Await(ctx, func() bool { return d.loaded })
}

func (d *deadLetters) shouldContinueAsNew(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	if d.bounded && info.GetCurrentHistorySize() > deadLetterHistoryBytes {
		return true
	}
	return d.signals >= d.in.SignalLimit || info.GetCurrentHistoryLength() > d.in.HistoryLimit ||
		info.GetContinueAsNewSuggested()
}

func (d *deadLetters) drain(ctx workflow.Context, ch workflow.ReceiveChannel) {
	for {
		var e DeadLetter
		if !ch.ReceiveAsync(&e) {
			return
		}
		d.signals++
		d.add(ctx, &e)
	}
}

// add records an entry; a repeat of the same delivery updates it.
func (d *deadLetters) add(ctx workflow.Context, e *DeadLetter) {
	if len(e.Error) > maxErrorLen {
		e.Error = e.Error[:maxErrorLen] + "…"
	}
	d.st.Written++
	if prev, ok := d.index[e.ID]; ok {
		prev.LastFailure, prev.Error, prev.ErrorKind = e.LastFailure, e.Error, e.ErrorKind
		prev.StatusCode, prev.Attempts = e.StatusCode, e.Attempts
		prev.Failures++
		return
	}
	if e.Failures == 0 {
		e.Failures = 1
	}
	d.st.Entries = append(d.st.Entries, e)
	d.index[e.ID] = e
	for len(d.st.Entries) > d.in.MaxEntries {
		if !d.evictOldest(ctx) {
			break // every entry is being replayed: evicted later
		}
	}
}

// evictOldest moves the oldest entry (not being replayed) into Overflow; it
// reports false if every entry is being replayed.
func (d *deadLetters) evictOldest(ctx workflow.Context) bool {
	for i, e := range d.st.Entries {
		if d.busy[e.ID] {
			continue
		}
		o := &d.st.Overflow
		o.Count++
		if o.ByTarget == nil {
			o.ByTarget, o.ByKind = map[string]int{}, map[string]int{}
		}
		o.ByTarget[e.Target]++
		o.ByKind[e.ErrorKind]++
		if o.Oldest.IsZero() || e.FirstFailure.Before(o.Oldest) {
			o.Oldest = e.FirstFailure
		}
		if e.LastFailure.After(o.Newest) {
			o.Newest = e.LastFailure
		}
		workflow.GetLogger(ctx).Warn("dead letters full: oldest entry summarised", "id", e.ID,
			"target", e.Target, "max", d.in.MaxEntries)
		d.remove(i)
		return true
	}
	return false
}

func (d *deadLetters) remove(i int) {
	e := d.st.Entries[i]
	delete(d.index, e.ID)
	d.st.Entries = append(d.st.Entries[:i], d.st.Entries[i+1:]...)
	if i < d.recovered {
		d.recovered--
	}
}

func (d *deadLetters) removeID(id string) bool {
	for i, e := range d.st.Entries {
		if e.ID == id {
			d.remove(i)
			return true
		}
	}
	return false
}

func (d *deadLetters) registerHandlers(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, DeadLetterListQuery, d.list); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, DeadLetterStatsQuery, d.stats); err != nil {
		return err
	}
	// Registered in runs of every version: queries add no command, and a
	// closed run of any version is read by the run after it.
	if err := workflow.SetQueryHandler(ctx, DeadLetterExportQuery, d.export); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DeadLetterReplayUpdate,
		func(ctx workflow.Context, r ReplayRequest) (ReplayResult, error) {
			if !d.loaded {
				if err := d.awaitLoaded(ctx); err != nil {
					return ReplayResult{}, err
				}
				if err := d.checkEntry(r.ID); err != nil {
					return ReplayResult{}, temporal.NewApplicationError(err.Error(), "Rejected")
				}
			}
			e := d.index[r.ID]
			if d.hardened {
				// Claimed before anything blocks (the validator ran just
				// before, in this coroutine): a second replay, a drop or a
				// replay-all batch meanwhile sees the entry busy.
				defer d.claim(e.ID)()
				return d.replayOne(ctx, e), nil
			}
			// Before versionHardened the entry was claimed only once its
			// archived alert was read back.
			if e.Archive == "" {
				defer d.claim(e.ID)()
				return d.replay(ctx, e, nil, true), nil
			}
			bodies, err := d.fetchArchived(ctx, e.Archive, []string{e.ID})
			if err != nil {
				return ReplayResult{ID: e.ID, Error: err.Error()}, nil
			}
			defer d.claim(e.ID)()
			return d.replay(ctx, e, bodies, true), nil
		},
		workflow.UpdateHandlerOptions{Validator: func(r ReplayRequest) error { return d.checkEntry(r.ID) }},
	); err != nil {
		return err
	}
	if err := d.registerReplayAll(ctx); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, DeadLetterDropUpdate,
		func(ctx workflow.Context, r DropRequest) (DropResult, error) {
			if !d.loaded {
				if err := d.awaitLoaded(ctx); err != nil {
					return DropResult{}, err
				}
				if d.hardened && d.busy[r.ID] {
					return DropResult{}, temporal.NewApplicationError(busyError(r.ID).Error(), "Rejected")
				}
			}
			if d.removeID(r.ID) {
				d.st.Dropped++
				return DropResult{Dropped: 1}, nil
			}
			return DropResult{}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(r DropRequest) error { return d.checkEntry(r.ID) }},
	); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, DeadLetterPurgeUpdate,
		func(ctx workflow.Context, r PurgeRequest) (DropResult, error) {
			if err := d.awaitLoaded(ctx); err != nil {
				return DropResult{}, err
			}
			cutoff := workflow.Now(ctx).Add(-r.OlderThan)
			kept := d.st.Entries[:0]
			n := 0
			for _, e := range d.st.Entries {
				if e.LastFailure.Before(cutoff) && !d.busy[e.ID] {
					delete(d.index, e.ID)
					n++
					continue
				}
				kept = append(kept, e)
			}
			d.st.Entries = kept
			d.st.Dropped += n
			return DropResult{Dropped: n}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(r PurgeRequest) error {
			if d.sealing {
				return movingError()
			}
			if r.OlderThan <= 0 {
				return errors.New("olderThan must be a positive duration")
			}
			return nil
		}},
	)
}

// checkEntry is the validation of an update on one entry (replay, drop):
// it exists and is not being replayed, and the run is not sealing. Before
// the state is loaded (or recovered) it passes, and the handler checks
// again once it is.
func (d *deadLetters) checkEntry(id string) error {
	if id == "" {
		return errors.New("id is required")
	}
	if d.sealing {
		return movingError()
	}
	if !d.loaded {
		return nil
	}
	if _, ok := d.index[id]; !ok {
		return fmt.Errorf("no dead letter with id %q", id)
	}
	if d.busy[id] {
		return busyError(id)
	}
	return nil
}

func busyError(id string) error {
	return fmt.Errorf("dead letter %q %s", id, ErrBeingReplayed)
}

func movingError() error {
	return temporal.NewApplicationError(ErrMovingToNewRun+" (continue-as-new); try again in a moment", "MovingToNewRun")
}

// claim marks entries busy (being replayed) and returns the release. A busy
// entry is refused by the replay and drop validators, skipped by replay-all,
// purge, eviction and archiving.
func (d *deadLetters) claim(ids ...string) func() {
	for _, id := range ids {
		d.busy[id] = true
	}
	return func() {
		for _, id := range ids {
			delete(d.busy, id)
		}
	}
}

// replayOne replays one entry, reading its alert back from its archive
// first if it was archived. The caller has claimed it.
func (d *deadLetters) replayOne(ctx workflow.Context, e *DeadLetter) ReplayResult {
	if e.Archive == "" {
		return d.replay(ctx, e, nil, true)
	}
	bodies, err := d.fetchArchived(ctx, e.Archive, []string{e.ID})
	if err != nil {
		return ReplayResult{ID: e.ID, Error: err.Error()}
	}
	return d.replay(ctx, e, bodies, true)
}

func (d *deadLetters) list(r ListRequest) (ListResponse, error) {
	if d.recovering {
		return ListResponse{}, errors.New(ErrRecovering)
	}
	limit := r.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > maxListPage {
		limit = maxListPage
	}
	var matched []*DeadLetter
	for _, e := range d.st.Entries {
		if r.Target != "" && e.Target != r.Target {
			continue
		}
		if r.Fingerprint != "" && e.Fingerprint != r.Fingerprint {
			continue
		}
		if r.Kind != "" && e.ErrorKind != r.Kind {
			continue
		}
		if !r.FailedBefore.IsZero() && !e.LastFailure.Before(r.FailedBefore) {
			continue
		}
		matched = append(matched, e)
	}
	resp := ListResponse{Total: len(d.st.Entries), Matched: len(matched), Offset: r.Offset, Overflow: d.st.Overflow,
		Entries: []*DeadLetter{}}
	if r.Offset < len(matched) {
		end := min(r.Offset+limit, len(matched))
		resp.Entries = matched[r.Offset:end]
	}
	return resp, nil
}

func (d *deadLetters) stats() (Stats, error) {
	if d.recovering {
		return Stats{}, errors.New(ErrRecovering)
	}
	s := Stats{Total: len(d.st.Entries), ByTarget: map[string]int{}, ByKind: map[string]int{},
		Overflow: d.st.Overflow, Written: d.st.Written, Replayed: d.st.Replayed, Dropped: d.st.Dropped,
		Superseded: d.st.Superseded, ArchiveWorkflows: len(d.st.Archives), Recovery: d.st.Recovery}
	for _, e := range d.st.Entries {
		s.ByTarget[e.Target]++
		s.ByKind[e.ErrorKind]++
		if e.Archive != "" {
			s.Archived++
		}
	}
	if j := d.st.Job; j != nil && !j.Done {
		res := j.result(false)
		s.ReplayAll = &res
	}
	return s, nil
}

// replay runs the delivery of e again with the target's current
// credentials. Success removes the entry and, when notify is set, tells the
// alert workflow; failure keeps it with the new error. bodies holds the
// alert of an archived entry. The caller has claimed e.
func (d *deadLetters) replay(ctx workflow.Context, e *DeadLetter, bodies map[string]activities.ArchivedBody, notify bool) ReplayResult {
	d.st.ReplaySeq++
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          fmt.Sprintf("replay/%s/%d", e.Target, d.st.ReplaySeq),
		StartToCloseTimeout: contract.DefaultDeliveryTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 3,
		},
	})
	a, provider, class, episode := e.Alert, e.Provider, e.Classification, e.Episode
	if e.Archive != "" {
		b, ok := bodies[e.ID]
		if !ok {
			e.Replays++
			return ReplayResult{ID: e.ID, Error: fmt.Sprintf("alert not found in archive %s", e.Archive)}
		}
		a, provider, class, episode = b.Alert, b.Provider, b.Classification, b.Episode
	}
	// As the original delivery: its classification and episode (entries
	// from before they were kept: the alert's labels, no episode).
	c := publish.Classification{Severity: a.Severity(), Source: "labels"}
	if class != nil && class.Severity != "" {
		c = *class
	}
	in := activities.PublishInput{
		Target: e.Target,
		Replay: true,
		Notification: publish.Notification{
			Alert: a, Event: e.Event, Update: e.Update, State: provider.Clone(),
			Classification: c, Episode: episode,
		},
	}
	var acts *activities.Activities
	var out activities.PublishOutput
	e.Replays++
	err := workflow.ExecuteActivity(actx, acts.Publish, in).Get(ctx, &out)
	res := ReplayResult{ID: e.ID}
	if err != nil {
		det, msg := activities.FailureFrom(err)
		e.LastFailure, e.Error, e.ErrorKind, e.StatusCode = workflow.Now(ctx), msg, det.Kind, det.StatusCode
		e.Failures++
		res.Error, res.Attempts = msg, det.Attempt
		return res
	}
	res.Delivered, res.Attempts = true, out.Attempt
	d.removeID(e.ID)
	d.st.Replayed++
	if !notify {
		return res
	}
	// Best effort: the alert workflow may have completed already.
	_ = workflow.SignalExternalWorkflow(ctx, e.AlertWorkflowID, "", contract.DeliveryReplayedSignal, contract.DeliveryReplayed{
		Target: e.Target, Seq: e.Seq, Event: e.Event, Attempts: out.Attempt, DeliveredAt: out.DeliveredAt,
		Provider: out.State,
	}).Get(ctx, nil)
	return res
}

// replayAllUnbatched is replay-all of runs from before versionBounded: all
// entries in one update, inside one run.
func (d *deadLetters) replayAllUnbatched(ctx workflow.Context, r ReplayAllRequest) (ReplayAllResult, error) {
	var todo []*DeadLetter
	for _, e := range d.st.Entries {
		if (r.Target == "" || e.Target == r.Target) && !d.busy[e.ID] {
			todo = append(todo, e)
		}
	}
	results := make([]ReplayResult, len(todo))
	next := 0
	running := 0
	for i := range todo {
		if err := workflow.Await(ctx, func() bool { return running < replayConcurrency }); err != nil {
			return ReplayAllResult{}, err
		}
		running++
		workflow.Go(ctx, func(ctx workflow.Context) {
			release := d.claim(todo[i].ID)
			results[i] = d.replay(ctx, todo[i], nil, true)
			release()
			running--
			next++
		})
	}
	if err := workflow.Await(ctx, func() bool { return next == len(todo) }); err != nil {
		return ReplayAllResult{}, err
	}
	out := ReplayAllResult{Replayed: len(todo), Results: results}
	for _, res := range results {
		if res.Delivered {
			out.Delivered++
		} else {
			out.Failed++
		}
	}
	sort.Slice(out.Results, func(i, j int) bool { return out.Results[i].ID < out.Results[j].ID })
	return out, nil
}

func encodeDeadLetterState(st *deadLetterState) ([]byte, error) {
	// The form before versionBounded: one JSON object with the entries.
	data, _, err := writeStream(nil, st, 0, nil)
	return data, err
}

// decodeDeadLetterState reads both forms of the carried state: one JSON
// object holding the entries (before versionBounded), or that object
// without them followed by one JSON value per entry (streamState). every,
// if set, is called between chunks of entries.
func decodeDeadLetterState(data []byte, every func()) (*deadLetterState, error) {
	var st deadLetterState
	err := readStream(data, every, &st, func(dec *json.Decoder) error {
		var e DeadLetter
		if err := dec.Decode(&e); err != nil {
			return err
		}
		st.Entries = append(st.Entries, &e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// streamState encodes the state for continue-as-new: the state without
// its entries, then each entry. It yields to the workflow's other
// goroutines every stateChunk entries, so that encoding thousands of
// entries never holds one goroutine past the SDK's deadlock detection.
// It returns the compressed bytes and the uncompressed length.
func streamState(ctx workflow.Context, st *deadLetterState) ([]byte, int, error) {
	return writeState(st, func() { yield(ctx) })
}

// writeState is streamState calling every (if set) between chunks.
func writeState(st *deadLetterState, every func()) ([]byte, int, error) {
	head := *st
	head.Entries = nil
	return writeStream(every, head, len(st.Entries), func(i int) any { return st.Entries[i] })
}

// writeStream writes gzip-compressed JSON values: head, then n items,
// calling every (if set) between chunks of stateChunk items. It returns the
// compressed bytes and the uncompressed length.
func writeStream(every func(), head any, n int, item func(int) any) ([]byte, int, error) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	cw := &countingWriter{w: zw}
	enc := json.NewEncoder(cw)
	if err := enc.Encode(head); err != nil {
		return nil, 0, fmt.Errorf("encode dead letters: %w", err)
	}
	for i := 0; i < n; i++ {
		if i > 0 && i%stateChunk == 0 && every != nil {
			every()
		}
		if err := enc.Encode(item(i)); err != nil {
			return nil, 0, fmt.Errorf("encode dead letter %d: %w", i, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, 0, fmt.Errorf("compress dead letters: %w", err)
	}
	return b.Bytes(), cw.n, nil
}

// readStream reads what writeStream wrote: head, then next for every
// further value, calling every (if set) between chunks.
func readStream(data []byte, every func(), head any, next func(*json.Decoder) error) error {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(zr)
	if err := dec.Decode(head); err != nil {
		return err
	}
	for i := 1; dec.More(); i++ {
		if every != nil && i%stateChunk == 0 {
			every()
		}
		if err := next(dec); err != nil {
			return err
		}
	}
	return nil
}

// stateChunk is how many entries streamState encodes between yields.
const stateChunk = 25

// yield lets the workflow's other goroutines run (and resets the deadlock
// detection) without a command or event: a goroutine wakes this one.
func yield(ctx workflow.Context) {
	ch := workflow.NewChannel(ctx)
	workflow.Go(ctx, func(ctx workflow.Context) { ch.Send(ctx, struct{}{}) })
	ch.Receive(ctx, nil)
}

// DeadLetterWorkflowIDFor returns the dead-letter workflow ID of the Herald
// deployment on taskQueue: "herald-dead-letters" for the default queue
// "herald", suffixed with the queue otherwise, so deployments sharing a
// namespace keep separate dead letters.
func DeadLetterWorkflowIDFor(taskQueue string) string {
	if taskQueue == "" || taskQueue == "herald" {
		return DeadLetterWorkflowID
	}
	return DeadLetterWorkflowID + "-" + taskQueue
}
