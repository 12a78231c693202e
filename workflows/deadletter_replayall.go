package workflows

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
)

// Replay-all as a job: the entries it takes on are fixed when it starts
// (in replay order), it works through them in batches, and it survives
// continue-as-new (the job is part of the carried state), so a replay-all
// of thousands of entries never brings one run near Temporal's history
// limits. One job runs at a time; a request with the key of a running or
// earlier job joins it or gets its result.
const (
	// maxJobResults bounds the results a job keeps (the rest are counted).
	maxJobResults = 1000
	// maxJobHistory is how many finished jobs are kept for deduplication.
	maxJobHistory = 20
)

// ErrReplayAllRunning is the start of the message that refuses a second
// replay-all while one runs.
const ErrReplayAllRunning = "a replay-all is already running"

type replayJob struct {
	Key    string `json:"key"`
	Target string `json:"target,omitempty"`
	// Pending holds the entry IDs in replay order; Next is the first not
	// yet handled.
	Pending []string `json:"pending,omitempty"`
	Next    int      `json:"next"`
	// Blocked holds the alert/target pairs whose replay failed in this job:
	// their later events are held back, so order is kept.
	Blocked map[string]bool `json:"blocked,omitempty"`
	Done    bool            `json:"done"`
	Res     ReplayAllResult `json:"result"`
}

func (j *replayJob) result(withResults bool) ReplayAllResult {
	r := j.Res
	r.Key, r.Done = j.Key, j.Done
	r.Results = nil
	if withResults {
		r.Results = append([]ReplayResult{}, j.Res.Results...)
	}
	return r
}

// skip counts an entry the job does not send, and why.
func (j *replayJob) skip(id, why string) {
	j.Res.Skipped++
	j.record(ReplayResult{ID: id, Skipped: why})
}

// Why a job skips an entry that is not its to replay.
const (
	skipGone = "no longer in the dead letters (replayed on its own or dropped meanwhile)"
	skipBusy = "being replayed on its own: not sent twice"
)

func (j *replayJob) record(res ReplayResult) {
	if len(j.Res.Results) < maxJobResults {
		j.Res.Results = append(j.Res.Results, res)
		return
	}
	j.Res.Omitted++
}

// replayOrder sorts entries so that each alert's events reach each target
// in their original order: by first failure (a target's deliveries of an
// alert fail one after another), then delivery sequence.
func replayOrder(entries []*DeadLetter) {
	sort.SliceStable(entries, func(a, b int) bool {
		ea, eb := entries[a], entries[b]
		if !ea.FirstFailure.Equal(eb.FirstFailure) {
			return ea.FirstFailure.Before(eb.FirstFailure)
		}
		if ea.Seq != eb.Seq {
			return ea.Seq < eb.Seq
		}
		return ea.ID < eb.ID
	})
}

func groupKey(e *DeadLetter) string { return e.Fingerprint + "/" + e.Target }

func (d *deadLetters) registerReplayAll(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, DeadLetterReplayAllStatusQuery, func(key string) (ReplayAllResult, error) {
		if d.recovering {
			return ReplayAllResult{}, errors.New(ErrRecovering)
		}
		if j := d.st.Job; j != nil && j.Key == key {
			return j.result(true), nil
		}
		for _, r := range d.st.Jobs {
			if r.Key == key {
				return *r, nil
			}
		}
		return ReplayAllResult{}, fmt.Errorf("no replay-all with key %q", key)
	}); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, DeadLetterReplayAllUpdate,
		func(ctx workflow.Context, r ReplayAllRequest) (ReplayAllResult, error) {
			if !d.bounded {
				return d.replayAllUnbatched(ctx, r)
			}
			return d.replayAllJob(ctx, r)
		},
		workflow.UpdateHandlerOptions{Validator: func(r ReplayAllRequest) error {
			if d.sealing && !d.knownJob(r.Key) {
				// Joining a known job changes nothing; starting one would
				// change the state being written.
				return movingError()
			}
			if !d.bounded {
				return nil
			}
			return d.refuseSecondJob(r.Key)
		}},
	)
}

// knownJob reports whether key names the current or an earlier replay-all.
func (d *deadLetters) knownJob(key string) bool {
	if key == "" {
		return false
	}
	if j := d.st.Job; j != nil && j.Key == key {
		return true
	}
	for _, r := range d.st.Jobs {
		if r.Key == key {
			return true
		}
	}
	return false
}

// refuseSecondJob rejects a replay-all while another one runs.
func (d *deadLetters) refuseSecondJob(key string) error {
	if j := d.st.Job; j != nil && !j.Done && (key == "" || key != j.Key) {
		return temporal.NewApplicationError(fmt.Sprintf("%s (%d of %d entries handled); wait for it to finish",
			ErrReplayAllRunning, j.Next, j.Res.Total), "ReplayAllRunning")
	}
	return nil
}

func (d *deadLetters) replayAllJob(ctx workflow.Context, r ReplayAllRequest) (ReplayAllResult, error) {
	if err := d.awaitLoaded(ctx); err != nil {
		return ReplayAllResult{}, err
	}
	key := r.Key
	if key == "" {
		key = workflow.GetCurrentUpdateInfo(ctx).ID
	}
	if j := d.st.Job; j != nil && j.Key == key {
		return d.awaitJob(ctx, j)
	}
	for _, res := range d.st.Jobs {
		if res.Key == key {
			return *res, nil
		}
	}
	if err := d.refuseSecondJob(key); err != nil {
		return ReplayAllResult{}, err
	}
	var todo []*DeadLetter
	for _, e := range d.st.Entries {
		if (r.Target == "" || e.Target == r.Target) && !d.busy[e.ID] {
			todo = append(todo, e)
		}
	}
	replayOrder(todo)
	j := &replayJob{Key: key, Target: r.Target, Pending: make([]string, len(todo)), Blocked: map[string]bool{}}
	for i, e := range todo {
		j.Pending[i] = e.ID
	}
	j.Res.Total = len(todo)
	if prev := d.st.Job; prev != nil {
		sum := prev.result(false)
		d.st.Jobs = append(d.st.Jobs, &sum)
		if len(d.st.Jobs) > maxJobHistory {
			d.st.Jobs = d.st.Jobs[len(d.st.Jobs)-maxJobHistory:]
		}
	}
	d.st.Job = j
	workflow.GetLogger(ctx).Info("replay-all started", "key", key, "target", r.Target, "entries", len(todo))
	d.startJob(ctx)
	return d.awaitJob(ctx, j)
}

// awaitJob returns the job's result once it is done, or its progress when
// the run is about to continue as new (the job goes on in the next run;
// the caller polls DeadLetterReplayAllStatusQuery).
func (d *deadLetters) awaitJob(ctx workflow.Context, j *replayJob) (ReplayAllResult, error) {
	if err := workflow.Await(ctx, func() bool { return j.Done || d.stopping }); err != nil {
		return ReplayAllResult{}, err
	}
	return j.result(true), nil
}

func (d *deadLetters) startJob(ctx workflow.Context) {
	d.jobRunning = true
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer func() { d.jobRunning = false }()
		j := d.st.Job
		for j.Next < len(j.Pending) {
			if d.stopping || d.shouldContinueAsNew(ctx) {
				return
			}
			end := min(j.Next+d.in.ReplayBatch, len(j.Pending))
			d.runBatch(ctx, j, j.Pending[j.Next:end])
			j.Next = end
		}
		j.Done, j.Pending, j.Blocked = true, nil, nil
		workflow.GetLogger(ctx).Info("replay-all done", "key", j.Key, "delivered", j.Res.Delivered,
			"failed", j.Res.Failed, "skipped", j.Res.Skipped)
	})
}

// runBatch replays one batch: it reads archived alerts, asks the alert
// workflows which entries a later delivery superseded, then replays the
// rest, alert/target pairs in parallel and each pair's events in order.
func (d *deadLetters) runBatch(ctx workflow.Context, j *replayJob, ids []string) {
	var batch []*DeadLetter
	var claimed []string
	for _, id := range ids {
		switch e := d.index[id]; {
		case e == nil:
			j.skip(id, skipGone)
		case d.busy[id]:
			j.skip(id, skipBusy)
		default:
			batch = append(batch, e)
			claimed = append(claimed, id)
		}
	}
	if len(batch) == 0 {
		return
	}
	if d.hardened {
		// The batch claims its entries before reading archives and
		// checking deliveries: a replay or drop of one of them meanwhile
		// is refused as being replayed.
		defer d.claim(claimed...)()
	}
	bodies := d.batchBodies(ctx, batch)
	verdicts := d.checkDeliveries(ctx, batch)
	var order []string
	groups := map[string][]*DeadLetter{}
	for _, e := range batch {
		k := groupKey(e)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], e)
	}
	running, finished := 0, 0
	for _, k := range order {
		if err := workflow.Await(ctx, func() bool { return running < replayConcurrency }); err != nil {
			return
		}
		running++
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer func() { running--; finished++ }()
			for _, e := range groups[k] {
				d.replayInJob(ctx, j, e, bodies, verdicts)
			}
		})
	}
	_ = workflow.Await(ctx, func() bool { return finished == len(order) })
}

func (d *deadLetters) replayInJob(ctx workflow.Context, j *replayJob, e *DeadLetter,
	bodies map[string]activities.ArchivedBody, verdicts map[string]activities.DeliveryVerdict) {
	if d.index[e.ID] != e {
		j.skip(e.ID, skipGone)
		return
	}
	if !d.hardened {
		// Before versionHardened the batch did not claim its entries.
		if d.busy[e.ID] {
			j.skip(e.ID, skipBusy)
			return
		}
		defer d.claim(e.ID)()
	}
	k := groupKey(e)
	if j.Blocked[k] {
		j.Res.Skipped++
		j.record(ReplayResult{ID: e.ID, Skipped: "held back: an earlier event of this alert to this target failed to replay"})
		return
	}
	v, checked := verdicts[e.ID]
	if v.Superseded {
		d.removeID(e.ID)
		d.st.Superseded++
		j.Res.Skipped++
		j.record(ReplayResult{ID: e.ID, Skipped: v.Reason})
		workflow.GetLogger(ctx).Info("dead letter superseded, not replayed", "id", e.ID, "reason", v.Reason)
		return
	}
	res := d.replay(ctx, e, bodies, !checked || v.Running)
	j.Res.Replayed++
	if res.Delivered {
		j.Res.Delivered++
	} else {
		j.Res.Failed++
		j.Blocked[k] = true
	}
	j.record(res)
}

// batchBodies reads the archived alerts of a batch, one activity per
// archive. A failed read leaves those entries without a body: their replay
// fails and they stay.
func (d *deadLetters) batchBodies(ctx workflow.Context, batch []*DeadLetter) map[string]activities.ArchivedBody {
	var archives []string
	ids := map[string][]string{}
	for _, e := range batch {
		if e.Archive == "" {
			continue
		}
		if _, ok := ids[e.Archive]; !ok {
			archives = append(archives, e.Archive)
		}
		ids[e.Archive] = append(ids[e.Archive], e.ID)
	}
	bodies := map[string]activities.ArchivedBody{}
	for _, a := range archives {
		got, err := d.fetchArchived(ctx, a, ids[a])
		if err != nil {
			workflow.GetLogger(ctx).Error("archived dead letters not readable", "archive", a, "error", err)
			continue
		}
		for id, b := range got {
			bodies[id] = b
		}
	}
	return bodies
}

// checkDeliveries asks the alert workflows of a batch about later
// deliveries. If that fails, the batch is replayed as it is (a replay the
// operator asked for is not withheld on a guess).
func (d *deadLetters) checkDeliveries(ctx workflow.Context, batch []*DeadLetter) map[string]activities.DeliveryVerdict {
	checks := make([]activities.DeliveryCheck, len(batch))
	for i, e := range batch {
		checks[i] = activities.DeliveryCheck{ID: e.ID, AlertWorkflowID: e.AlertWorkflowID, Target: e.Target,
			Seq: e.Seq, FirstFailure: e.FirstFailure}
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          fmt.Sprintf("check-deliveries/%d", d.st.ReplaySeq),
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 10 * time.Second, MaximumAttempts: 3},
	})
	d.st.ReplaySeq++
	var acts *activities.Activities
	var out []activities.DeliveryVerdict
	if err := workflow.ExecuteActivity(actx, acts.CheckDeliveries, checks).Get(ctx, &out); err != nil {
		workflow.GetLogger(ctx).Warn("later deliveries not checked; replaying the batch as it is", "error", err)
		return nil
	}
	verdicts := make(map[string]activities.DeliveryVerdict, len(out))
	for _, v := range out {
		verdicts[v.ID] = v
	}
	return verdicts
}
