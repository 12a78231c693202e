package alertflow

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/publish"
)

// What a notification means to the alert.
type meaning int

const (
	// repeat: the content Herald last acted on, again; nothing to say.
	repeat meaning = iota
	// stale: news of an episode Herald already closed.
	stale
	// newEpisode: the alert fires (again): current targets get it.
	newEpisode
	// update: changed content of the firing alert.
	update
	// resolve: the firing episode ended.
	resolve
	// firstResolve: a resolve of a firing Herald never saw.
	firstResolve
)

// closedKept bounds AlertState.Closed.
const closedKept = 16

// meaningOf decides what notification a means, given what the workflow
// knows. Out-of-order delivery (Alertmanager HA peers, retried webhooks) is
// the rule: a firing that started before the last resolve ended, or a
// resolve of an episode already closed, is old news. A resolve that matches
// no episode Herald has seen resolves the current one: an API client that
// posts only endsAt gets startsAt = endsAt from Alertmanager.
func (r *alertRun) meaningOf(a alert.Alert) meaning {
	s := r.s
	cur := s.Alert
	closed := !a.StartsAt.IsZero() && slices.ContainsFunc(s.Closed, a.StartsAt.Equal)
	switch {
	case s.Status == "" && a.Status == alert.StatusFiring:
		return newEpisode
	case s.Status == "":
		return firstResolve
	case a.Status == alert.StatusResolved && s.Status == alert.StatusFiring:
		if closed && !a.StartsAt.Equal(cur.StartsAt) {
			return stale
		}
		return resolve
	case a.Status == alert.StatusResolved && closed:
		return stale
	case a.Status == alert.StatusResolved:
		return repeat // resolved again: nothing new to say
	case closed:
		return stale
	case s.Status == alert.StatusResolved:
		end := cur.EndsAt
		if end.IsZero() || end.Before(cur.StartsAt) {
			end = cur.StartsAt
		}
		if !a.StartsAt.IsZero() && !end.IsZero() && !a.StartsAt.After(end) {
			return stale
		}
		return newEpisode
	case !cur.StartsAt.IsZero() && a.StartsAt.After(cur.StartsAt):
		// A new episode whose resolve Herald never saw.
		return newEpisode
	case a.ContentHash() == s.LastHash:
		return repeat
	default:
		return update
	}
}

// applyNotifications applies every notification waiting, in order.
func (r *alertRun) applyNotifications(ctx workflow.Context) error {
	for {
		var n contract.Notify
		if !r.notes.ReceiveAsync(&n) {
			return nil
		}
		r.signals++
		if err := r.apply(ctx, n.Alert); err != nil {
			return err
		}
	}
}

// apply acts on one notification.
func (r *alertRun) apply(ctx workflow.Context, a alert.Alert) error {
	s := r.s
	now := workflow.Now(ctx)
	if s.FirstSeen.IsZero() {
		s.FirstSeen = now
	}
	s.LastSeen, r.quietSince = now, now
	s.Notifications++
	m := r.meaningOf(a)
	switch m {
	case repeat:
		s.Suppressed++
		return nil
	case stale:
		s.Stale++
		workflow.GetLogger(ctx).Info("stale notification ignored", "fingerprint", s.Fingerprint,
			"status", a.Status, "startsAt", a.StartsAt, "known", s.Status)
		return nil
	case newEpisode, resolve:
		if s.Status == alert.StatusFiring {
			r.close(s.Alert.StartsAt)
		}
	}
	s.LastHash = a.ContentHash()
	s.Alert, s.Name, s.Status = a, a.Name(), a.Status
	s.LingerUntil = time.Time{}
	if s.Classification.Severity == "" {
		s.Severity = a.Severity()
	}
	in := contract.PrepareInput{}
	switch m {
	case newEpisode:
		s.Episode++
		in.Episode = &a
	case firstResolve:
		in.FirstNews = &a
	default:
		in.Targets = r.activeTargets()
	}
	res, err := r.prepare(ctx, in)
	if err != nil {
		return err
	}
	r.applyPreparation(ctx, res)
	event := publish.EventFiring
	if a.Status == alert.StatusResolved {
		event = publish.EventResolved
	}
	r.enqueueAll(ctx, event, m == update, a)
	return r.upsertSearchAttributes(ctx)
}

// close remembers an episode as closed.
func (r *alertRun) close(startsAt time.Time) {
	if startsAt.IsZero() {
		return
	}
	r.s.Closed = append(r.s.Closed, startsAt)
	if len(r.s.Closed) > closedKept {
		r.s.Closed = r.s.Closed[len(r.s.Closed)-closedKept:]
	}
}

// prepare asks the worker, in one local activity, for what the
// notification needs: settings, and classification, targets and health.
// While target sources are not synced it waits on timers and asks again.
func (r *alertRun) prepare(ctx workflow.Context, in contract.PrepareInput) (contract.PrepareResult, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 2},
	})
	var acts *activities.Activities
	wait := time.Second
	for {
		var res contract.PrepareResult
		err := workflow.ExecuteLocalActivity(lctx, acts.Prepare, in).Get(ctx, &res)
		switch {
		case err == nil && res.Waiting == "":
			return res, nil
		case err == nil:
			r.s.ModeReason = "waiting for targets: " + res.Waiting
		default:
			r.s.ModeReason = "waiting for targets: " + err.Error()
		}
		workflow.GetLogger(ctx).Warn("alert not prepared yet; it waits", "reason", r.s.ModeReason, "retry_in", wait)
		if err := workflow.Sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("prepare: %w", err)
		}
		wait = min(wait*2, 30*time.Second)
	}
}

// applyPreparation takes the worker's answer: settings always; the
// classification and the targets of a new episode (opening lanes for new
// targets); the health and enabled state of the episode's targets.
func (r *alertRun) applyPreparation(ctx workflow.Context, res contract.PrepareResult) {
	s := r.s
	s.Settings, r.set = res.Settings, res.Settings.WithDefaults()
	if res.Strategy != "" {
		s.Strategy = res.Strategy
	}
	if c := res.Classification; c != nil {
		s.Classification, s.Severity = *c, c.Severity
	}
	if res.Resolved {
		s.Mode, s.ModeReason, s.Filtered = res.Mode, res.Reason, res.Filtered
		current := map[string]bool{}
		for _, ref := range res.Targets {
			current[ref.Name] = true
			if ts := s.Target(ref.Name); ts != nil {
				ts.Ref, ts.Type = ref, ref.Type
				continue
			}
			ts := &contract.TargetState{Name: ref.Name, Type: ref.Type, Status: contract.DeliveryPending, Ref: ref}
			s.Targets = append(s.Targets, ts)
			r.openLane(ctx, ts)
		}
		sort.Slice(s.Targets, func(i, j int) bool { return s.Targets[i].Name < s.Targets[j].Name })
		for _, ts := range s.Targets {
			ts.Active = current[ts.Name]
			if ts.Active {
				ts.SkipReason = ""
			}
		}
	}
	for _, ts := range s.Targets {
		if h, ok := res.Health[ts.Name]; ok && ts.Active {
			ts.Health = h
		}
		if why, ok := res.Disabled[ts.Name]; ok && ts.Active {
			ts.SkipReason = why
		}
	}
}

// activeTargets names the targets of the current episode.
func (r *alertRun) activeTargets() []string {
	var names []string
	for _, ts := range r.s.Targets {
		if ts.Active {
			names = append(names, ts.Name)
		}
	}
	return names
}

// upsertSearchAttributes keeps the Web UI's view of the alert current,
// writing only the values that changed (the starter sets fingerprint,
// name, severity and status at start).
func (r *alertRun) upsertSearchAttributes(ctx workflow.Context) error {
	have := workflow.GetTypedSearchAttributes(ctx)
	var updates []temporal.SearchAttributeUpdate
	keyword := func(key temporal.SearchAttributeKeyKeyword, v string) {
		if v = contract.BoundKeyword(v); v == "" {
			return
		}
		if cur, ok := have.GetKeyword(key); !ok || cur != v {
			updates = append(updates, key.ValueSet(v))
		}
	}
	keyword(contract.AttrFingerprint, r.s.Fingerprint)
	keyword(contract.AttrAlertName, r.s.Name)
	keyword(contract.AttrSeverity, r.s.Severity)
	keyword(contract.AttrStatus, r.s.Status)
	names := contract.BoundKeywordList(r.activeTargets())
	if cur, _ := have.GetKeywordList(contract.AttrTargets); !slices.Equal(cur, names) && (len(cur) > 0 || len(names) > 0) {
		updates = append(updates, contract.AttrTargets.ValueSet(names))
	}
	if len(updates) == 0 {
		return nil
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}
