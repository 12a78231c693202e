package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/publish"
)

// alertEntry is a dead letter of one event of alert fp at targetName.
func alertEntry(fp, targetName, event string, seq int, failedAt time.Time) DeadLetter {
	e := entry(fmt.Sprintf("%s.%s.run.%d", fp, targetName, seq), targetName, failedAt)
	e.Fingerprint, e.AlertWorkflowID, e.Alert.Fingerprint = fp, contract.AlertWorkflowID(fp), fp
	e.Event, e.Seq = event, seq
	return e
}

// deliveryLog records the order in which notifications are published.
type deliveryLog struct {
	mu  sync.Mutex
	got []string
}

func (l *deliveryLog) add(n publish.Notification) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, n.Alert.Fingerprint+":"+n.Event)
}

func (l *deliveryLog) index(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, g := range l.got {
		if g == s {
			return i
		}
	}
	return -1
}

// TestReplayAll_KeepsOrderSkipsSuperseded: for each alert and target the
// firing is replayed before the resolve (whatever order the entries
// arrived in), a firing superseded by a later delivery is skipped and
// removed, and a resolve whose firing failed to replay is held back.
func TestReplayAll_KeepsOrderSkipsSuperseded(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"), webhookTarget("down"))
	log := &deliveryLog{}
	h.pub.onPublish = log.add
	h.pub.fail["down"] = []error{publish.Permanent(publish.KindHTTPClient, "HTTP 404")}
	var checked []activities.DeliveryCheck
	h.env.OnActivity("CheckDeliveries", mock.Anything, mock.Anything).Return(
		func(_ context.Context, cs []activities.DeliveryCheck) ([]activities.DeliveryVerdict, error) {
			checked = append(checked, cs...)
			out := make([]activities.DeliveryVerdict, len(cs))
			for i, c := range cs {
				out[i] = activities.DeliveryVerdict{ID: c.ID, Running: true}
				if strings.HasPrefix(c.ID, "fp2.") {
					out[i].Superseded, out[i].Reason = true, "superseded: resolved (seq 2) was delivered"
				}
			}
			return out, nil
		})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The resolve arrives first: order comes from the failures, not arrival.
	h.add(0, alertEntry("fp1", "hook", publish.EventResolved, 2, t0.Add(time.Minute)))
	h.add(0, alertEntry("fp1", "hook", publish.EventFiring, 1, t0))
	h.add(0, alertEntry("fp2", "hook", publish.EventFiring, 1, t0))
	h.add(0, alertEntry("fp3", "down", publish.EventFiring, 1, t0))
	h.add(0, alertEntry("fp3", "down", publish.EventResolved, 2, t0.Add(time.Minute)))
	var all *pendingUpdate
	h.at(time.Minute, func() { all = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "k1"}) })
	var left ListResponse
	var st Stats
	h.at(2*time.Minute, func() {
		left = h.list(ListRequest{})
		v, err := h.env.QueryWorkflow(DeadLetterStatsQuery)
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Get(&st)
		h.env.CancelWorkflow()
	})
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	res, _ := all.value.(ReplayAllResult)
	if !all.done || all.err != nil || !res.Done || res.Total != 5 || res.Delivered != 2 || res.Failed != 1 || res.Skipped != 2 {
		t.Fatalf("replayAll = %+v (err %v)", res, all.err)
	}
	if f, r := log.index("fp1:firing"), log.index("fp1:resolved"); f < 0 || r < 0 || f > r {
		t.Errorf("deliveries %v: fp1 firing must come before its resolve", log.got)
	}
	if log.index("fp2:firing") >= 0 {
		t.Errorf("superseded fp2 firing was replayed: %v", log.got)
	}
	if log.index("fp3:resolved") >= 0 {
		t.Errorf("fp3 resolve replayed although its firing failed: %v", log.got)
	}
	skipped := map[string]string{}
	for _, r := range res.Results {
		if r.Skipped != "" {
			skipped[r.ID] = r.Skipped
		}
	}
	if !strings.Contains(skipped["fp2.hook.run.1"], "superseded") || !strings.Contains(skipped["fp3.down.run.2"], "held back") {
		t.Errorf("skipped = %v", skipped)
	}
	// Left: fp3's failed firing and its held-back resolve.
	if left.Total != 2 || st.Superseded != 1 || st.Replayed != 2 {
		t.Errorf("left %d entries, stats %+v", left.Total, st)
	}
	if len(checked) != 5 || checked[0].ID != "fp1.hook.run.1" {
		t.Errorf("checks = %+v, want all 5 in replay order", checked)
	}
}

// TestReplayAll_RefusesSecondAndDeduplicatesRetry: while a replay-all runs
// another one is refused; a retry with the same key joins it, and after it
// finished gets its result without replaying anything again.
func TestReplayAll_RefusesSecondAndDeduplicatesRetry(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		h.add(0, alertEntry(fmt.Sprintf("fp%02d", i), "hook", publish.EventFiring, 1, t0))
	}
	var first, second, retry, later *pendingUpdate
	h.at(time.Minute, func() {
		first = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "k1"})
		second = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "k2"})
		retry = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "k1"})
	})
	var status ReplayAllResult
	h.at(2*time.Minute, func() {
		later = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "k1"})
		v, err := h.env.QueryWorkflow(DeadLetterReplayAllStatusQuery, "k1")
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Get(&status)
	})
	h.at(3*time.Minute, h.env.CancelWorkflow)
	if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	if second == nil || second.rejected == nil || !strings.Contains(second.rejected.Error(), ErrReplayAllRunning) {
		t.Errorf("second replay-all = %+v, want refused as already running", second)
	}
	for name, p := range map[string]*pendingUpdate{"first": first, "retry": retry, "later": later} {
		res, _ := p.value.(ReplayAllResult)
		if !p.done || p.rejected != nil || p.err != nil || !res.Done || res.Delivered != 30 || res.Key != "k1" {
			t.Errorf("%s = %+v (rejected %v, err %v), want the one job's result", name, res, p.rejected, p.err)
		}
	}
	if status.Delivered != 30 || !status.Done {
		t.Errorf("status query = %+v", status)
	}
	if got := h.pub.count("hook", publish.EventFiring); got != 30 {
		t.Errorf("%d deliveries, want each of the 30 entries exactly once", got)
	}
}

// TestReplayAll_ContinuesAsNewBetweenBatches: a replay-all larger than one
// run allows goes on in the next run from where it stopped, and every entry
// is replayed exactly once over both runs.
func TestReplayAll_ContinuesAsNewBetweenBatches(t *testing.T) {
	const n = 60
	h := newDLQHarness(t, webhookTarget("hook"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		h.add(0, alertEntry(fmt.Sprintf("fp%02d", i), "hook", publish.EventFiring, 1, t0.Add(time.Duration(i)*time.Second)))
	}
	var first *pendingUpdate
	// Each batch's check takes a second of workflow time, so the run can be
	// made to continue as new while the job is between its batches.
	h.env.OnActivity("CheckDeliveries", mock.Anything, mock.Anything).After(time.Second).Return(
		func(_ context.Context, cs []activities.DeliveryCheck) ([]activities.DeliveryVerdict, error) {
			return nil, nil
		})
	h.at(time.Minute, func() { first = h.update(DeadLetterReplayAllUpdate, ReplayAllRequest{Key: "big"}) })
	// One more entry reaches the signal limit during the second batch (the
	// test environment does not count history events).
	h.add(time.Minute+1500*time.Millisecond, alertEntry("late", "hook", publish.EventFiring, 1, t0))
	err := h.run(DeadLetterInput{SignalLimit: n + 1, ReplayBatch: 10})
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new during the replay-all", err)
	}
	res, _ := first.value.(ReplayAllResult)
	if !first.done || res.Done || res.Delivered == 0 || res.Delivered >= n || res.Total != n {
		t.Fatalf("update answer before continue-as-new = %+v, want partial progress", res)
	}
	var next DeadLetterInput
	if err := decodeArg(can, &next); err != nil {
		t.Fatal(err)
	}
	st, err := decodeDeadLetterState(next.State, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j := st.Job; j == nil || j.Done || j.Next < res.Delivered || j.Next >= n || j.Next%10 != 0 || j.Res.Delivered != j.Next {
		t.Fatalf("carried job = %+v, want it stopped between two batches", st.Job)
	}
	firstRun := h.pub.count("hook", publish.EventFiring)

	h2 := newDLQHarness(t, webhookTarget("hook"))
	var status ReplayAllResult
	h2.at(time.Minute, func() {
		v, err := h2.env.QueryWorkflow(DeadLetterReplayAllStatusQuery, "big")
		if err != nil {
			t.Fatal(err)
		}
		_ = v.Get(&status)
		h2.env.CancelWorkflow()
	})
	next.SignalLimit = 0
	if err := h2.run(next); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	if !status.Done || status.Delivered != n || status.Replayed != n {
		t.Errorf("final status = %+v, want all %d delivered", status, n)
	}
	if got := firstRun + h2.pub.count("hook", publish.EventFiring); got != n {
		t.Errorf("%d deliveries over both runs, want exactly %d", got, n)
	}
}

// TestDeadLetters_CarriedStateBoundedInBytes: realistic entries carried
// across continue-as-new stay within the byte budget; the bodies of the
// oldest move to archive workflows, no entry is lost, and the archive can
// give every body back. (1,500 entries against a 512 KiB budget here, so it
// runs under -race within the SDK's deadlock detection; the 10,000-entry,
// 1.5 MiB measurement runs on a real server in internal/integration.)
func TestDeadLetters_CarriedStateBoundedInBytes(t *testing.T) {
	const n, budget = 1500, 512 << 10
	h := newDLQHarness(t)
	var archived []DeadLetterArchiveInput
	h.env.RegisterWorkflow(DeadLetterArchiveWorkflow)
	h.env.OnWorkflow(DeadLetterArchiveWorkflowName, mock.Anything, mock.Anything).Return(
		func(_ workflow.Context, in DeadLetterArchiveInput) error {
			archived = append(archived, in)
			return nil
		})
	st := &deadLetterState{}
	samples := SampleDeadLetters(n, 1, []string{"team-slack", "oncall-pd", "audit-hook"}, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range samples {
		st.Entries = append(st.Entries, &samples[i])
	}
	state, _, err := writeState(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := len(state)
	h.add(time.Second, entry("one-more", "team-slack", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)))
	err = h.run(DeadLetterInput{State: state, SignalLimit: 1, StateBudget: budget})
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("workflow ended with %v, want continue-as-new", err)
	}
	carried := len(can.Input.GetPayloads()[0].GetData())
	var next DeadLetterInput
	if err := decodeArg(can, &next); err != nil {
		t.Fatal(err)
	}
	back, err := decodeDeadLetterState(next.State, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d entries: %d bytes compressed before, carried payload %d bytes; %d archive workflows, %d entries archived",
		n+1, before, carried, len(back.Archives), countArchived(back))
	if carried > budget {
		t.Errorf("carried %d bytes, want at most the budget %d", carried, budget)
	}
	if len(back.Entries) != n+1 || back.Overflow.Count != 0 {
		t.Fatalf("carried %d entries (overflow %d), want all %d", len(back.Entries), back.Overflow.Count, n+1)
	}
	bodies := map[string]activities.ArchivedBody{}
	for _, a := range archived {
		m, err := decodeArchive(a.Bodies, nil)
		if err != nil {
			t.Fatal(err)
		}
		for id, b := range m {
			bodies[id] = b
		}
	}
	for i, e := range back.Entries[:n] {
		orig := samples[i]
		if e.ID != orig.ID || e.Target != orig.Target || e.Error != orig.Error {
			t.Fatalf("entry %d = %s, want %s with its metadata", i, e.ID, orig.ID)
		}
		if e.Archive == "" {
			if len(e.Alert.Annotations) != len(orig.Alert.Annotations) {
				t.Fatalf("resident entry %s lost its annotations", e.ID)
			}
			continue
		}
		b, ok := bodies[e.ID]
		if !ok || b.Alert.Annotations["description"] != orig.Alert.Annotations["description"] || b.Alert.GeneratorURL != orig.Alert.GeneratorURL {
			t.Fatalf("archived entry %s: body not in its archive", e.ID)
		}
		if e.Alert.Name() != orig.AlertName || len(e.Alert.Annotations) != 0 {
			t.Fatalf("archived entry %s keeps %+v, want a stub with its name", e.ID, e.Alert)
		}
	}
	// Only as many bodies move as the budget needs: the newest stay.
	if a := countArchived(back); a == 0 || a > n || len(back.Archives) != len(archived) {
		t.Errorf("archives listed %d, started %d", len(back.Archives), len(archived))
	}
}

func countArchived(st *deadLetterState) int {
	n := 0
	for _, e := range st.Entries {
		if e.Archive != "" {
			n++
		}
	}
	return n
}
