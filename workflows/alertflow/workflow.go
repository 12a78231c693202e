// Package alertflow is the alert workflow: one run per alert lifecycle,
// from its first notification to its resolve. Each notification arrives as
// a signal; what it means (a new episode, an update, a resolve, old news)
// is decided in episode.go; every target has a lane (lane.go) that
// delivers its jobs in order, the first attempt of each as a local
// activity inside the workflow task; outcome.go records what became of
// them.
package alertflow

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/internal/contract"
)

// signalsPerRun bounds a run's history: past this many notifications the
// workflow continues as new with its state.
var signalsPerRun = 500

// Workflow follows one alert. It waits for news, applies it (delivering
// through the lanes), and when the alert is resolved and every resolve is
// out it lingers for late notifications, then completes. It also completes
// after the worker's inactivity timeout without news of a firing alert,
// and continues as new when its history grows.
func Workflow(ctx workflow.Context, in contract.AlertInput) (*contract.AlertState, error) {
	r, err := newRun(ctx, in)
	if err != nil {
		return nil, err
	}
	for {
		expired := r.waitForNews(ctx)
		r.applyReplays(ctx)
		if err := r.applyNotifications(ctx); err != nil {
			return r.s, err
		}
		switch {
		case r.resolvedAndDone():
			if r.linger(ctx) {
				continue
			}
			return r.finish(ctx, contract.CompletedResolved), nil
		case expired:
			return r.finish(ctx, contract.CompletedInactive), nil
		case r.tooLong(ctx):
			r.applyReplays(ctx)
			return r.s, workflow.NewContinueAsNewError(ctx, contract.AlertWorkflow, contract.AlertInput{Fingerprint: r.s.Fingerprint, State: r.s})
		}
	}
}

// alertRun is the state of one run: the carried AlertState plus what
// lives only in this run (lanes, channels, timers).
type alertRun struct {
	s     *contract.AlertState
	set   contract.Settings
	lanes map[string]*lane
	// notes carries Notify signals; replays DeliveryReplayed signals.
	notes, replays workflow.ReceiveChannel
	signals        int
	// quietSince is when the alert last had news or a delivery finished:
	// the inactivity timeout counts from it.
	quietSince time.Time
	// changes counts finished deliveries, to wake the main loop.
	changes int
	alarm   alarm
}

func newRun(ctx workflow.Context, in contract.AlertInput) (*alertRun, error) {
	r := &alertRun{
		s:          in.State,
		lanes:      map[string]*lane{},
		notes:      workflow.GetSignalChannel(ctx, contract.AlertSignal),
		replays:    workflow.GetSignalChannel(ctx, contract.DeliveryReplayedSignal),
		quietSince: workflow.Now(ctx),
	}
	if r.s == nil {
		r.s = &contract.AlertState{Fingerprint: in.Fingerprint, Targets: []*contract.TargetState{}}
	}
	r.set = r.s.Settings.WithDefaults()
	for _, ts := range r.s.Targets {
		r.openLane(ctx, ts)
	}
	if err := workflow.SetQueryHandler(ctx, contract.StateQuery, func() (*contract.AlertState, error) { return r.s, nil }); err != nil {
		return nil, fmt.Errorf("register query: %w", err)
	}
	return r, nil
}

// waitForNews blocks until a notification or a replay arrives, the
// resolved alert is ready to linger, the run is ready to continue as new,
// or the deadline passes: the end of
// the linger, or the inactivity timeout of an idle firing alert. It
// reports whether the deadline passed. Timers are never cancelled (a
// cancellation is a history event too): a timer that rings early is
// followed by one for the rest.
func (r *alertRun) waitForNews(ctx workflow.Context) (expired bool) {
	news := func() bool {
		return r.notes.Len() > 0 || r.replays.Len() > 0 || (r.resolvedAndDone() && r.s.LingerUntil.IsZero()) || r.tooLong(ctx)
	}
	for !news() {
		at := r.deadline()
		if !at.IsZero() && !workflow.Now(ctx).Before(at) {
			return true
		}
		r.alarm.set(ctx, at)
		changes := r.changes
		if err := workflow.Await(ctx, func() bool { return news() || r.alarm.rang() || r.changes != changes }); err != nil {
			return false
		}
	}
	return false
}

// deadline is when the workflow ends without news: the end of the linger
// of a resolved alert, the inactivity timeout of an idle one; zero while
// deliveries run.
func (r *alertRun) deadline() time.Time {
	switch {
	case !r.idle():
		return time.Time{}
	case r.resolvedAndDone():
		return r.s.LingerUntil
	default:
		return r.quietSince.Add(r.set.InactivityTimeout)
	}
}

// linger keeps a resolved alert's workflow open for ResolvedLinger, so a
// stale firing delivered late (an Alertmanager HA peer, a retried webhook)
// is recognised instead of paging again. It reports whether to go on
// waiting.
func (r *alertRun) linger(ctx workflow.Context) bool {
	now := workflow.Now(ctx)
	if r.s.LingerUntil.IsZero() {
		r.s.LingerUntil = now.Add(r.set.ResolvedLinger)
	}
	return now.Before(r.s.LingerUntil)
}

// tooLong reports whether the run should continue as new: idle, with no
// notification waiting, and a history past its budget.
func (r *alertRun) tooLong(ctx workflow.Context) bool {
	return r.idle() && r.notes.Len() == 0 &&
		(r.signals >= signalsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested())
}

func (r *alertRun) finish(ctx workflow.Context, why string) *contract.AlertState {
	r.s.Completed = why
	workflow.GetLogger(ctx).Info("alert workflow complete", "fingerprint", r.s.Fingerprint, "why", why)
	return r.s
}

// alarm is the workflow's wake-up timer.
type alarm struct {
	timers []pendingTimer
}

type pendingTimer struct {
	at time.Time
	f  workflow.Future
}

// set makes sure a timer rings at or before at (zero: no need).
func (a *alarm) set(ctx workflow.Context, at time.Time) {
	if at.IsZero() {
		return
	}
	for _, t := range a.timers {
		if !t.at.After(at) {
			return
		}
	}
	a.timers = append(a.timers, pendingTimer{at: at, f: workflow.NewTimer(ctx, at.Sub(workflow.Now(ctx)))})
}

// rang reports (and forgets) timers that fired.
func (a *alarm) rang() bool {
	kept := a.timers[:0]
	rang := false
	for _, t := range a.timers {
		if t.f.IsReady() {
			rang = true
			continue
		}
		kept = append(kept, t)
	}
	a.timers = kept
	return rang
}
