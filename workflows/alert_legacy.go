// Package workflows holds Herald's Temporal workflows: the dead-letter
// workflow, the health-check workflows and the first-generation alert
// workflow (this file). New alerts start on the alert workflow of package
// workflows/alertflow.
//
// Deprecated: this file is the first-generation alert workflow type
// ("AlertWorkflow"), kept registered and unchanged so that runs opened on it
// finish on it and its recorded histories keep replaying. Remove it (and its
// tests and testdata/alert_v*.json) once no run of type AlertWorkflow is
// open: after HERALD_ALERT_INACTIVITY (24h) plus HERALD_RESOLVED_LINGER past
// the release that introduced AlertLifecycle, check with
// `WorkflowType = "AlertWorkflow" AND ExecutionStatus = "Running"`.
package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limits of the first-generation alert workflow.
const (
	// maxSignalsPerRun bounds history: after this many notifications the
	// workflow continues as new with its state.
	maxSignalsPerRun = 500
)

// AlertInput starts (or continues) an alert workflow.
type AlertInput struct {
	Fingerprint       string        `json:"fingerprint"`
	InactivityTimeout time.Duration `json:"inactivityTimeout,omitempty"`
	DeliveryTimeout   time.Duration `json:"deliveryTimeout,omitempty"`
	// MaxHealthWait bounds how long a delivery waits for an unhealthy
	// target (default 24h).
	MaxHealthWait time.Duration `json:"maxHealthWait,omitempty"`
	// HealthRecheck is the first interval between health checks of a
	// held-back delivery (default 30s; doubles up to 10m).
	HealthRecheck time.Duration `json:"healthRecheck,omitempty"`
	// ResolvedLinger is how long a resolved alert's workflow stays open to
	// recognise late, stale notifications (default 10m).
	ResolvedLinger time.Duration `json:"resolvedLinger,omitempty"`
	// State is carried over by continue-as-new.
	State *AlertState `json:"state,omitempty"`
}

// Version markers of changes to the alert workflow's command sequence.
const (
	// versionDeadLetters: failed deliveries are written to the dead letters.
	versionDeadLetters = "dead-letters"
	// versionRouting: alerts are classified (severity, priority) and
	// deliveries to unhealthy targets wait for their recovery.
	versionRouting = "health-routing"
	// versionDeferrals: Herald's own throttling defers a delivery (a timer,
	// then a new activity with the attempts left) instead of failing it;
	// a held-back delivery is tried for real (a canary) at every re-check;
	// notifications are ordered by StartsAt/EndsAt; search attribute values
	// are bounded.
	versionDeferrals = "deferrals-canary-order"
	// versionLocalPrepare: classification, target resolution and health
	// reads run as local activities inside the workflow task, instead of
	// two activity round trips (and their workflow tasks) before the first
	// delivery starts.
	versionLocalPrepare = "local-prepare"
	// versionForwardResend: a firing alert is re-sent to alertmanager
	// targets every ForwardTTL/3 (a lane timer), so the receiving
	// Alertmanager never expires an alert that still fires; notifications
	// carry the episode number.
	versionForwardResend = "forward-resend"
)

// Health-aware routing limits (documented in docs/health.md).
const (
	// healthRecheckFirst and healthRecheckMax bound the backoff between
	// health checks of a held-back delivery.
	healthRecheckFirst = contract.DefaultHealthRecheck
	healthRecheckMax   = contract.HealthRecheckMax
)

// AlertState is what the alert workflow knows; contract.StateQuery returns it.
type AlertState struct {
	Fingerprint string      `json:"fingerprint"`
	Alert       alert.Alert `json:"alert"`
	Name        string      `json:"name"`
	Severity    string      `json:"severity"`
	// Status is the alert's last known status: firing or resolved.
	Status string `json:"status"`
	// Mode is normal, or metrics_only when no target was enabled.
	Mode       string `json:"mode"`
	ModeReason string `json:"modeReason,omitempty"`
	// Episode counts firing episodes (a re-fire after resolve starts a new one).
	Episode       int       `json:"episode"`
	FirstSeen     time.Time `json:"firstSeen"`
	LastSeen      time.Time `json:"lastSeen"`
	Notifications int       `json:"notifications"`
	// Suppressed counts repeats of unchanged content that published nothing.
	Suppressed int `json:"suppressed"`
	// Stale counts notifications older than what the workflow already
	// knows (a firing that started before the last resolve ended, a resolve
	// of an earlier episode); they publish nothing.
	Stale int `json:"stale,omitempty"`
	// Classification is Herald's severity decision (rules or LLM).
	Classification publish.Classification `json:"classification"`
	// Strategy is the routing strategy of the current episode.
	Strategy string `json:"strategy,omitempty"`
	// Filtered lists enabled targets whose filter excluded this alert.
	Filtered []string       `json:"filtered,omitempty"`
	Targets  []*TargetState `json:"targets"`
	// Completed says why the workflow ended (resolved, inactive), if it has.
	Completed string `json:"completed,omitempty"`

	// LastHash identifies the content last acted on (see alert.ContentHash).
	LastHash string `json:"lastHash,omitempty"`
	// Seq numbers deliveries for activity IDs.
	Seq int `json:"seq"`
}

// TargetState is the delivery state of the alert at one target.
type TargetState struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Status of the latest delivery: pending, delivering, delivered, failed.
	Status string `json:"status"`
	// Event of the latest delivery: firing or resolved.
	Event string `json:"event"`
	// Attempts of the latest delivery; TotalAttempts over all deliveries.
	Attempts      int32                 `json:"attempts"`
	TotalAttempts int32                 `json:"totalAttempts"`
	LastError     string                `json:"lastError,omitempty"`
	LastErrorKind string                `json:"lastErrorKind,omitempty"`
	StatusCode    int                   `json:"statusCode,omitempty"`
	QueuedAt      time.Time             `json:"queuedAt,omitempty"`
	DeliveredAt   time.Time             `json:"deliveredAt,omitempty"`
	FailedAt      time.Time             `json:"failedAt,omitempty"`
	Provider      publish.ProviderState `json:"provider,omitempty"`
	// DeadLetterID names the dead-letter entry of the latest failure.
	DeadLetterID string           `json:"deadLetterId,omitempty"`
	Records      []DeliveryRecord `json:"records,omitempty"`
	// Health is the target's health state when last looked at.
	Health string `json:"health,omitempty"`
	// WaitingSince is set while a delivery waits for the target to recover.
	WaitingSince time.Time `json:"waitingSince,omitzero"`
	// Canaries counts real tries of held-back deliveries; Deferrals the
	// times Herald's own throttling deferred a delivery.
	Canaries  int `json:"canaries,omitempty"`
	Deferrals int `json:"deferrals,omitempty"`
	// Resends counts re-sends of a firing alert to an alertmanager target
	// (every forward TTL / 3).
	Resends int `json:"resends,omitempty"`
	// Active is true when the target takes part in the current episode;
	// targets that left (deleted, filtered) keep their state but get no
	// new deliveries.
	Active bool `json:"active"`
	// Ref is the credential-free target reference deliveries use.
	Ref target.Ref `json:"ref"`

	queue []job
	busy  bool
}

// DeliveryRecord is one finished delivery (bounded history per target).
type DeliveryRecord struct {
	Seq      int       `json:"seq"`
	Event    string    `json:"event"`
	Update   bool      `json:"update,omitempty"`
	Outcome  string    `json:"outcome"`
	Attempts int32     `json:"attempts"`
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

type job struct {
	seq    int
	event  string
	update bool
	alert  alert.Alert
	queued time.Time
}

// alertRun is the in-memory state of one run of the alert workflow.
type alertRun struct {
	in      AlertInput
	s       *AlertState
	signals int
	// routing is true from versionRouting on; deferrals from
	// versionDeferrals on.
	routing   bool
	deferrals bool
	// local is true from versionLocalPrepare on; resend from
	// versionForwardResend on.
	local  bool
	resend bool
}

// AlertWorkflow follows one alert from its first notification to its
// resolve. Each notification arrives as an contract.AlertSignal. A new firing episode
// resolves the current targets (through an activity, so replay is
// deterministic) and queues one delivery per target; every target has its
// own lane, so a slow or failing target never delays the others, and a
// target's resolve always follows its firing. Repeats of unchanged content
// publish nothing. The workflow completes when the resolve is delivered
// everywhere, or after InactivityTimeout without news while firing.
func AlertWorkflow(ctx workflow.Context, in AlertInput) (*AlertState, error) {
	r := &alertRun{in: in, s: in.State}
	if r.in.InactivityTimeout <= 0 {
		r.in.InactivityTimeout = contract.DefaultInactivityTimeout
	}
	if r.in.DeliveryTimeout <= 0 {
		r.in.DeliveryTimeout = contract.DefaultDeliveryTimeout
	}
	if r.in.MaxHealthWait <= 0 {
		r.in.MaxHealthWait = contract.DefaultMaxHealthWait
	}
	if r.in.HealthRecheck <= 0 {
		r.in.HealthRecheck = healthRecheckFirst
	}
	if r.in.ResolvedLinger <= 0 {
		r.in.ResolvedLinger = contract.DefaultResolvedLinger
	}
	r.routing = workflow.GetVersion(ctx, versionRouting, workflow.DefaultVersion, 1) >= 1
	r.deferrals = workflow.GetVersion(ctx, versionDeferrals, workflow.DefaultVersion, 1) >= 1
	r.local = workflow.GetVersion(ctx, versionLocalPrepare, workflow.DefaultVersion, 1) >= 1
	r.resend = workflow.GetVersion(ctx, versionForwardResend, workflow.DefaultVersion, 1) >= 1
	if r.s == nil {
		r.s = &AlertState{Fingerprint: in.Fingerprint, Targets: []*TargetState{}}
	}
	for _, ts := range r.s.Targets {
		workflow.Go(ctx, func(ctx workflow.Context) { r.runLane(ctx, ts) })
	}
	if err := workflow.SetQueryHandler(ctx, contract.StateQuery, func() (*AlertState, error) { return r.s, nil }); err != nil {
		return nil, fmt.Errorf("register query: %w", err)
	}
	ch := workflow.GetSignalChannel(ctx, contract.AlertSignal)
	replayed := workflow.GetSignalChannel(ctx, contract.DeliveryReplayedSignal)
	log := workflow.GetLogger(ctx)

	// From versionDeferrals on, a resolved alert's workflow stays open for
	// ResolvedLinger before it completes, so a stale firing delivered late
	// (an Alertmanager HA peer, a retried webhook) reaches this state and is
	// recognised as stale, instead of starting a fresh run that pages again.
	var lingerStart time.Time
	lingering := func() bool { return r.deferrals && r.finished() && !lingerStart.IsZero() }
	for {
		ready := func() bool {
			if ch.Len() > 0 || replayed.Len() > 0 {
				return true
			}
			if r.deferrals {
				return r.finished() && lingerStart.IsZero()
			}
			return r.finished()
		}
		ok := true
		if !ready() {
			// Only a real wait starts the inactivity timer.
			timeout := r.in.InactivityTimeout
			if lingering() {
				timeout = max(time.Millisecond, r.in.ResolvedLinger-workflow.Now(ctx).Sub(lingerStart))
			}
			var err error
			if ok, err = workflow.AwaitWithTimeout(ctx, timeout, ready); err != nil {
				return r.s, err
			}
		}
		for {
			var dr contract.DeliveryReplayed
			if !replayed.ReceiveAsync(&dr) {
				break
			}
			r.recordReplay(ctx, dr)
		}
		for {
			var n contract.Notify
			if !ch.ReceiveAsync(&n) {
				break
			}
			r.signals++
			if err := r.handle(ctx, n); err != nil {
				return r.s, err
			}
		}
		if r.finished() {
			if r.deferrals && (lingerStart.IsZero() || workflow.Now(ctx).Sub(lingerStart) < r.in.ResolvedLinger) {
				if lingerStart.IsZero() {
					lingerStart = workflow.Now(ctx)
				}
				continue
			}
			r.s.Completed = "resolved"
			log.Info("alert workflow complete", "fingerprint", r.s.Fingerprint)
			return r.s, nil
		}
		lingerStart = time.Time{}
		if !ok && r.idle() {
			r.s.Completed = "inactive"
			log.Info("alert workflow ends after inactivity", "fingerprint", r.s.Fingerprint,
				"timeout", r.in.InactivityTimeout)
			return r.s, nil
		}
		if r.idle() && ch.Len() == 0 && (r.signals >= maxSignalsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()) {
			next := r.in
			next.State = r.s
			return r.s, workflow.NewContinueAsNewError(ctx, AlertWorkflow, next)
		}
	}
}

// finished reports whether the alert is resolved and every resolve is done.
func (r *alertRun) finished() bool {
	return r.s.Status == alert.StatusResolved && r.idle()
}

// idle reports whether no delivery is queued or running.
func (r *alertRun) idle() bool {
	for _, ts := range r.s.Targets {
		if ts.busy || len(ts.queue) > 0 {
			return false
		}
	}
	return true
}

// handle applies one notification.
func (r *alertRun) handle(ctx workflow.Context, n contract.Notify) error {
	s := r.s
	now := workflow.Now(ctx)
	if s.FirstSeen.IsZero() {
		s.FirstSeen = now
	}
	s.LastSeen = now
	s.Notifications++
	if r.deferrals && r.stale(n.Alert) {
		s.Stale++
		workflow.GetLogger(ctx).Info("stale notification ignored", "fingerprint", s.Fingerprint,
			"status", n.Alert.Status, "startsAt", n.Alert.StartsAt, "known", s.Status)
		return nil
	}
	hash := n.Alert.ContentHash()
	refire := r.deferrals && r.refire(n.Alert)
	if hash == s.LastHash && !refire {
		s.Suppressed++
		return nil
	}
	prevStatus := s.Status
	if refire {
		// A new episode whose resolve Herald never saw: the firing is news.
		prevStatus = alert.StatusResolved
	}
	s.LastHash = hash
	s.Alert = n.Alert
	s.Name = n.Alert.Name()
	s.Severity = n.Alert.Severity()
	s.Status = n.Alert.Status
	if r.routing && s.Classification.Severity != "" {
		s.Severity = s.Classification.Severity
	}

	switch {
	case n.Alert.Status == alert.StatusFiring && prevStatus != alert.StatusFiring:
		// A new firing episode: current targets get the alert.
		s.Episode++
		if r.routing {
			if err := r.classify(ctx, n.Alert); err != nil {
				return err
			}
		}
		if err := r.resolveTargets(ctx, n.Alert); err != nil {
			return err
		}
		r.enqueueAll(ctx, publish.EventFiring, false, n.Alert)
	case n.Alert.Status == alert.StatusFiring:
		// Changed content while firing: an update to the same targets.
		r.enqueueAll(ctx, publish.EventFiring, true, n.Alert)
	case prevStatus == alert.StatusFiring:
		// Resolved: the same targets the firing went to.
		if r.routing {
			if err := r.refreshHealth(ctx); err != nil {
				return err
			}
		}
		r.enqueueAll(ctx, publish.EventResolved, false, n.Alert)
	case prevStatus == "":
		// First news is a resolve (Herald did not see the firing): tell the
		// current targets, so incidents opened elsewhere close.
		if err := r.resolveTargets(ctx, n.Alert); err != nil {
			return err
		}
		r.enqueueAll(ctx, publish.EventResolved, false, n.Alert)
	default:
		// Resolved again with other content: nothing new to say.
		s.Suppressed++
	}
	return r.upsertSearchAttributes(ctx)
}

// stale reports whether a notification is older than what the workflow
// knows. Alertmanager HA peers and retried webhooks deliver out of order: a
// firing that started before the last resolve ended belongs to the
// resolved episode, and a resolve of an episode that started before the
// current one is old news.
func (r *alertRun) stale(a alert.Alert) bool {
	cur := r.s.Alert
	if r.s.Status == "" || a.StartsAt.IsZero() || cur.StartsAt.IsZero() {
		return false
	}
	switch {
	case a.Status == alert.StatusFiring && r.s.Status == alert.StatusResolved:
		end := cur.EndsAt
		if end.IsZero() || end.Before(cur.StartsAt) {
			end = cur.StartsAt
		}
		return !a.StartsAt.After(end)
	case a.Status == alert.StatusResolved:
		return a.StartsAt.Before(cur.StartsAt)
	}
	return false
}

// refire reports whether a firing notification starts a new episode while
// the workflow still thinks the previous one fires (its resolve was lost):
// it started after the current episode.
func (r *alertRun) refire(a alert.Alert) bool {
	cur := r.s.Alert
	return a.Status == alert.StatusFiring && r.s.Status == alert.StatusFiring &&
		!cur.StartsAt.IsZero() && a.StartsAt.After(cur.StartsAt)
}

// resolveTargets asks the worker for the targets of this alert and opens a
// lane for each new one.
func (r *alertRun) resolveTargets(ctx workflow.Context, a alert.Alert) error {
	var acts *activities.Activities
	var res activities.ResolveTargetsResult
	if r.local {
		// A local activity retries inside the workflow task; a long wait
		// (target discovery not synced, the worker's registry not ready)
		// waits on workflow timers instead, re-asking with backoff.
		wait := time.Second
		for {
			err := r.prepare(ctx, 10*time.Second, &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 2},
				acts.ResolveTargets, activities.ResolveTargetsInput{Labels: a.Labels}).Get(ctx, &res)
			if err == nil {
				break
			}
			r.s.ModeReason = "waiting for targets: " + err.Error()
			workflow.GetLogger(ctx).Warn("targets not resolved yet; the alert waits", "error", err, "retry_in", wait)
			if err := workflow.Sleep(ctx, wait); err != nil {
				return fmt.Errorf("resolve targets: %w", err)
			}
			wait = min(wait*2, 30*time.Second)
		}
	} else if err := r.prepare(ctx, 10*time.Second, &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
		acts.ResolveTargets, activities.ResolveTargetsInput{Labels: a.Labels}).Get(ctx, &res); err != nil {
		return fmt.Errorf("resolve targets: %w", err)
	}
	r.s.Mode, r.s.ModeReason, r.s.Filtered = res.Mode, res.Reason, res.Filtered
	if r.routing {
		r.s.Strategy = res.Strategy
	}
	// The episode's targets: lanes of targets no longer current stay (for
	// state) but get no new jobs.
	current := map[string]bool{}
	for _, ref := range res.Targets {
		current[ref.Name] = true
		if ts := r.lane(ref.Name); ts != nil {
			ts.Ref, ts.Type = ref, ref.Type
			continue
		}
		ts := &TargetState{Name: ref.Name, Type: ref.Type, Status: contract.DeliveryPending, Ref: ref}
		r.s.Targets = append(r.s.Targets, ts)
		workflow.Go(ctx, func(ctx workflow.Context) { r.runLane(ctx, ts) })
	}
	sort.Slice(r.s.Targets, func(i, j int) bool { return r.s.Targets[i].Name < r.s.Targets[j].Name })
	for _, ts := range r.s.Targets {
		ts.Active = current[ts.Name]
		if r.routing && ts.Active {
			ts.Health = res.Health[ts.Name]
		}
	}
	return nil
}

// classify decides the alert's severity (and so the priority of its
// deliveries) once per firing episode.
func (r *alertRun) classify(ctx workflow.Context, a alert.Alert) error {
	var acts *activities.Activities
	var c publish.Classification
	if err := r.prepare(ctx, 30*time.Second, &temporal.RetryPolicy{MaximumAttempts: 3}, acts.ClassifyAlert, a).Get(ctx, &c); err != nil {
		// Classification is an improvement, never a blocker.
		c = publish.Classification{Severity: a.Severity(), Source: "labels", Reason: "classifier failed: " + err.Error()}
	}
	r.s.Classification = c
	r.s.Severity = c.Severity
	return nil
}

// prepare runs one of the worker-side lookups (classify, resolve targets,
// health): a local activity from versionLocalPrepare on (it runs inside the
// workflow task and is recorded as a marker), a regular activity before.
func (r *alertRun) prepare(ctx workflow.Context, timeout time.Duration, retry *temporal.RetryPolicy, fn any, arg any) workflow.Future {
	if r.local {
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: timeout,
			RetryPolicy:         retry,
		})
		return workflow.ExecuteLocalActivity(lctx, fn, arg)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: timeout, RetryPolicy: retry})
	return workflow.ExecuteActivity(actx, fn, arg)
}

// refreshHealth reads the current health of the episode's targets.
func (r *alertRun) refreshHealth(ctx workflow.Context) error {
	var names []string
	for _, ts := range r.s.Targets {
		if ts.Active {
			names = append(names, ts.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	states, err := r.healthOf(ctx, names)
	if err != nil {
		return err
	}
	for _, ts := range r.s.Targets {
		if st, ok := states[ts.Name]; ok {
			ts.Health = st
		}
	}
	return nil
}

func (r *alertRun) healthOf(ctx workflow.Context, names []string) (map[string]string, error) {
	var acts *activities.Activities
	var states map[string]string
	if err := r.prepare(ctx, 10*time.Second, &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
		acts.TargetHealth, names).Get(ctx, &states); err != nil {
		return nil, fmt.Errorf("target health: %w", err)
	}
	return states, nil
}

// awaitHealthy holds a delivery back while the routing strategy excludes
// its target, re-checking with backoff. It returns false when the wait
// exceeded MaxHealthWait (the delivery then goes to the dead letters).
func (r *alertRun) awaitHealthy(ctx workflow.Context, ts *TargetState) bool {
	if health.Usable(ts.Health, r.s.Strategy) {
		return true
	}
	start := workflow.Now(ctx)
	ts.Status, ts.WaitingSince = contract.DeliveryWaiting, start
	// Held-back deliveries are counted (herald_deliveries_skipped_total) by
	// the worker when it resolves the targets, never from workflow code.
	workflow.GetLogger(ctx).Info("delivery held back: target not usable", "target", ts.Name,
		"health", ts.Health, "strategy", r.s.Strategy)
	wait := r.in.HealthRecheck
	for {
		if workflow.Now(ctx).Sub(start) >= r.in.MaxHealthWait {
			return false
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return false
		}
		wait = min(wait*2, healthRecheckMax)
		states, err := r.healthOf(ctx, []string{ts.Name})
		if err != nil {
			continue
		}
		ts.Health = states[ts.Name]
		if health.Usable(ts.Health, r.s.Strategy) {
			ts.WaitingSince = time.Time{}
			return true
		}
	}
}

func (r *alertRun) lane(name string) *TargetState {
	for _, ts := range r.s.Targets {
		if ts.Name == name {
			return ts
		}
	}
	return nil
}

// enqueueAll queues a delivery of event to every target of the episode.
func (r *alertRun) enqueueAll(ctx workflow.Context, event string, update bool, a alert.Alert) {
	now := workflow.Now(ctx)
	for _, ts := range r.s.Targets {
		if !ts.Active {
			continue
		}
		r.s.Seq++
		j := job{seq: r.s.Seq, event: event, update: update, alert: a, queued: now}
		// A queued firing update that has not started is superseded.
		if n := len(ts.queue); n > 0 && ts.queue[n-1].event == publish.EventFiring && event == publish.EventFiring {
			j.update = ts.queue[n-1].update && update
			ts.queue[n-1] = j
			continue
		}
		ts.queue = append(ts.queue, j)
		if !ts.busy {
			ts.Status = contract.DeliveryPending
			ts.QueuedAt = now
		}
	}
}

// runLane delivers a target's jobs one after another. For a target whose
// Ref has a ForwardTTL (alertmanager), an idle lane of a firing alert
// re-sends the alert every ForwardTTL/3, well inside the expiry the
// receiving Alertmanager applies (Alertmanager's client contract: active
// alerts are sent again and again).
func (r *alertRun) runLane(ctx workflow.Context, ts *TargetState) {
	for {
		if every := ts.Ref.ForwardTTL / 3; r.resend && every > 0 && len(ts.queue) == 0 {
			got, err := workflow.AwaitWithTimeout(ctx, every, func() bool { return len(ts.queue) > 0 })
			if err != nil {
				return
			}
			if !got {
				r.enqueueResend(ctx, ts)
				continue
			}
		} else if err := workflow.Await(ctx, func() bool { return len(ts.queue) > 0 }); err != nil {
			return
		}
		j := ts.queue[0]
		ts.queue = ts.queue[1:]
		ts.busy = true
		r.deliver(ctx, ts, j)
		ts.busy = false
	}
}

// enqueueResend queues a re-send of the firing alert to ts when the alert
// still fires and ts has it.
func (r *alertRun) enqueueResend(ctx workflow.Context, ts *TargetState) {
	if r.s.Status != alert.StatusFiring || !ts.Active || ts.Event != publish.EventFiring || ts.Status != contract.DeliveryDelivered {
		return
	}
	r.s.Seq++
	ts.Resends++
	ts.queue = append(ts.queue, job{seq: r.s.Seq, event: publish.EventFiring, update: true, alert: r.s.Alert, queued: workflow.Now(ctx)})
}

// deliver runs the publish activity for one job and records the outcome.
func (r *alertRun) deliver(ctx workflow.Context, ts *TargetState, j job) {
	if r.deferrals {
		r.deliverV3(ctx, ts, j)
		return
	}
	if r.routing && !r.awaitHealthy(ctx, ts) {
		r.failDelivery(ctx, ts, j, activities.FailureDetails{Kind: contract.KindTargetUnhealthy},
			fmt.Sprintf("target %s stayed %s for %s", ts.Name, ts.Health, r.in.MaxHealthWait), 0)
		return
	}
	ts.Status, ts.Event, ts.QueuedAt = contract.DeliveryDelivering, j.event, j.queued
	ts.Attempts = 0
	actx := r.publishOptions(ctx, ts, fmt.Sprintf("publish/%s/%d", ts.Name, j.seq), ts.Ref.Retry.MaxAttempts)
	in := r.publishInput(ts, j)
	if r.routing && r.s.Classification.Severity != "" {
		actx = workflow.WithPriority(actx, temporal.Priority{PriorityKey: contract.PriorityFor(r.s.Classification.Severity)})
	}
	var acts *activities.Activities
	var out activities.PublishOutput
	err := workflow.ExecuteActivity(actx, acts.Publish, in).Get(ctx, &out)
	if err != nil {
		d, msg := activities.FailureFrom(err)
		attempts := d.Attempt
		if attempts == 0 {
			attempts = 1
		}
		r.failDelivery(ctx, ts, j, d, msg, attempts)
		return
	}
	r.delivered(ctx, ts, j, out, out.Attempt)
}

// deliverV3 is deliver from versionDeferrals on: a held-back delivery is
// tried for real at every re-check, and Herald's own throttling defers a
// delivery without using its attempts.
func (r *alertRun) deliverV3(ctx workflow.Context, ts *TargetState, j job) {
	if !health.Usable(ts.Health, r.s.Strategy) && r.holdBack(ctx, ts, j) {
		return
	}
	ts.Status, ts.Event, ts.QueuedAt = contract.DeliveryDelivering, j.event, j.queued
	ts.Attempts = 0
	maxAttempts := ts.Ref.Retry.MaxAttempts
	var used int32 // attempts that reached the receiver or failed for real
	ticket := ""
	var circuitWait time.Duration
	for n := 0; ; n++ {
		id := fmt.Sprintf("publish/%s/%d", ts.Name, j.seq)
		if n > 0 {
			id = fmt.Sprintf("publish/%s/%d/%d", ts.Name, j.seq, n)
		}
		left := int32(0)
		if maxAttempts > 0 {
			left = max(1, maxAttempts-used)
		}
		in := r.publishInput(ts, j)
		in.Defer, in.Ticket = true, ticket
		out, err := r.publish(ctx, ts, id, left, in)
		if err != nil {
			d, msg := activities.FailureFrom(err)
			r.failDelivery(ctx, ts, j, d, msg, used+max(1, d.Attempt))
			return
		}
		if out.Deferred <= 0 {
			r.delivered(ctx, ts, j, out, used+out.Attempt)
			return
		}
		// The attempt that was deferred sent nothing.
		used += out.Attempt - 1
		ts.Attempts = used
		ts.Deferrals++
		ts.Status, ts.LastErrorKind, ts.LastError = contract.DeliveryDeferred, out.DeferKind, out.DeferReason
		ticket = out.Ticket
		if out.DeferKind == publish.KindCircuitOpen {
			// A breaker that never closes is a target that stays down: the
			// same bound as for an unhealthy target applies.
			circuitWait += out.Deferred
			if circuitWait >= r.in.MaxHealthWait {
				r.failDelivery(ctx, ts, j, activities.FailureDetails{Kind: publish.KindCircuitOpen, Retryable: true},
					fmt.Sprintf("circuit breaker of target %s stayed open for %s", ts.Name, r.in.MaxHealthWait), used)
				return
			}
		}
		if err := workflow.Sleep(ctx, out.Deferred); err != nil {
			return
		}
		ts.Status = contract.DeliveryDelivering
	}
}

// holdBack keeps a delivery to a target the routing strategy excludes
// waiting, re-checking its health with backoff. A probe is never the only
// evidence: at every re-check the delivery is also tried once for real (a
// canary, whose outcome feeds the target's health like any delivery). It
// returns true when it finished the job: delivered by a canary, failed for
// good, or waited longer than MaxHealthWait (dead letter); false when the
// target became usable and the delivery should go out normally.
func (r *alertRun) holdBack(ctx workflow.Context, ts *TargetState, j job) bool {
	start := workflow.Now(ctx)
	ts.Status, ts.Event, ts.WaitingSince = contract.DeliveryWaiting, j.event, start
	workflow.GetLogger(ctx).Info("delivery held back: target not usable", "target", ts.Name,
		"health", ts.Health, "strategy", r.s.Strategy)
	wait := r.in.HealthRecheck
	var tried int32
	for {
		if workflow.Now(ctx).Sub(start) >= r.in.MaxHealthWait {
			r.failDelivery(ctx, ts, j, activities.FailureDetails{Kind: contract.KindTargetUnhealthy},
				fmt.Sprintf("target %s stayed %s for %s", ts.Name, ts.Health, r.in.MaxHealthWait), tried)
			return true
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return true
		}
		wait = min(wait*2, healthRecheckMax)
		if states, err := r.healthOf(ctx, []string{ts.Name}); err == nil {
			ts.Health = states[ts.Name]
		}
		if health.Usable(ts.Health, r.s.Strategy) {
			ts.WaitingSince = time.Time{}
			return false
		}
		ts.Canaries++
		in := r.publishInput(ts, j)
		in.Defer = true
		out, err := r.publish(ctx, ts, fmt.Sprintf("publish/%s/%d/canary-%d", ts.Name, j.seq, ts.Canaries), 1, in)
		switch {
		case err == nil && out.Deferred > 0:
			// Herald's own throttling: nothing was tried.
		case err == nil:
			ts.WaitingSince = time.Time{}
			r.delivered(ctx, ts, j, out, tried+out.Attempt)
			return true
		default:
			tried++
			d, msg := activities.FailureFrom(err)
			ts.LastError, ts.LastErrorKind, ts.StatusCode = msg, d.Kind, d.StatusCode
			if !d.Retryable && d.Kind != publish.KindTimeout {
				// The target answered and refused for good: waiting changes nothing.
				r.failDelivery(ctx, ts, j, d, msg, tried)
				return true
			}
			ts.Status = contract.DeliveryWaiting
		}
	}
}

// publishOptions are the activity options of one publish activity.
func (r *alertRun) publishOptions(ctx workflow.Context, ts *TargetState, id string, maxAttempts int32) workflow.Context {
	p := ts.Ref.Retry
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          id,
		StartToCloseTimeout: r.in.DeliveryTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    p.InitialInterval,
			BackoffCoefficient: p.Backoff,
			MaximumInterval:    p.MaxInterval,
			MaximumAttempts:    maxAttempts,
		},
	})
}

// publishInput is the activity input of job j to ts (no credentials).
func (r *alertRun) publishInput(ts *TargetState, j job) activities.PublishInput {
	in := activities.PublishInput{
		Target: ts.Name,
		Notification: publish.Notification{
			Alert: j.alert, Event: j.event, Update: j.update, State: ts.Provider.Clone(),
			Classification: publish.Classification{Severity: j.alert.Severity(), Source: "labels"},
		},
	}
	if r.routing && r.s.Classification.Severity != "" {
		in.Notification.Classification = r.s.Classification
	}
	if r.resend {
		in.Notification.Episode = r.s.Episode
	}
	return in
}

// publish runs one publish activity (with its retry policy) to ts.
func (r *alertRun) publish(ctx workflow.Context, ts *TargetState, id string, maxAttempts int32, in activities.PublishInput) (activities.PublishOutput, error) {
	actx := r.publishOptions(ctx, ts, id, maxAttempts)
	if r.s.Classification.Severity != "" {
		actx = workflow.WithPriority(actx, temporal.Priority{PriorityKey: contract.PriorityFor(r.s.Classification.Severity)})
	}
	var acts *activities.Activities
	var out activities.PublishOutput
	err := workflow.ExecuteActivity(actx, acts.Publish, in).Get(ctx, &out)
	return out, err
}

// delivered records a successful delivery that took attempts in all.
func (r *alertRun) delivered(ctx workflow.Context, ts *TargetState, j job, out activities.PublishOutput, attempts int32) {
	now := workflow.Now(ctx)
	ts.Status, ts.DeliveredAt = contract.DeliveryDelivered, now
	ts.Attempts = attempts
	ts.TotalAttempts += attempts
	ts.StatusCode = out.StatusCode
	ts.LastError, ts.LastErrorKind = "", ""
	ts.Provider = ts.Provider.Merge(out.State)
	ts.addRecord(DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: contract.DeliveryDelivered, Attempts: attempts})
}

// failDelivery records a delivery that failed for good and writes it to
// the dead letters.
func (r *alertRun) failDelivery(ctx workflow.Context, ts *TargetState, j job, d activities.FailureDetails, msg string, attempts int32) {
	now := workflow.Now(ctx)
	ts.Status, ts.Event, ts.FailedAt = contract.DeliveryFailed, j.event, now
	ts.Attempts = attempts
	ts.TotalAttempts += attempts
	ts.StatusCode = d.StatusCode
	ts.LastError, ts.LastErrorKind = msg, d.Kind
	rec := DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: contract.DeliveryFailed, Attempts: attempts, Error: msg}
	workflow.GetLogger(ctx).Warn("delivery failed for good", "target", ts.Name, "event", j.event,
		"kind", d.Kind, "attempts", attempts)
	if workflow.GetVersion(ctx, versionDeadLetters, workflow.DefaultVersion, 1) >= 1 {
		r.deadLetter(ctx, ts, j, d, msg, attempts)
		rec.Outcome = contract.DeliveryDeadLettered
	}
	ts.addRecord(rec)
}

func (ts *TargetState) addRecord(rec DeliveryRecord) {
	ts.Records = append(ts.Records, rec)
	if len(ts.Records) > contract.MaxRecords {
		ts.Records = ts.Records[len(ts.Records)-contract.MaxRecords:]
	}
}

// upsertSearchAttributes keeps the Web UI's view of the alert current.
func (r *alertRun) upsertSearchAttributes(ctx workflow.Context) error {
	names := make([]string, 0, len(r.s.Targets))
	for _, ts := range r.s.Targets {
		if ts.Active {
			names = append(names, ts.Name)
		}
	}
	fp, status, severity, name := r.s.Fingerprint, r.s.Status, r.s.Severity, r.s.Name
	if r.deferrals {
		// The server terminates a workflow whose attribute value passes
		// its limit (2 KB per value): bound every value.
		fp, status, severity, name = contract.BoundKeyword(fp), contract.BoundKeyword(status), contract.BoundKeyword(severity), contract.BoundKeyword(name)
		names = contract.BoundKeywordList(names)
	}
	updates := []temporal.SearchAttributeUpdate{
		contract.AttrFingerprint.ValueSet(fp),
		contract.AttrStatus.ValueSet(status),
		contract.AttrSeverity.ValueSet(severity),
		contract.AttrTargets.ValueSet(names),
	}
	if name != "" {
		updates = append(updates, contract.AttrAlertName.ValueSet(name))
	}
	if err := workflow.UpsertTypedSearchAttributes(ctx, updates...); err != nil {
		return fmt.Errorf("upsert search attributes: %w", err)
	}
	return nil
}

// deadLetter records a delivery that failed for good in the dead-letter
// workflow. The write itself is retried until it succeeds: a failure must
// never be forgotten.
func (r *alertRun) deadLetter(ctx workflow.Context, ts *TargetState, j job, d activities.FailureDetails, msg string, attempts int32) {
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	e := activities.DeadLetter{
		ID:          contract.DeadLetterID(r.s.Fingerprint, info.WorkflowExecution.RunID, ts.Name, j.seq),
		Fingerprint: r.s.Fingerprint, AlertName: j.alert.Name(), Target: ts.Name, TargetType: ts.Type,
		Event: j.event, Update: j.update, ErrorKind: d.Kind, Error: msg, StatusCode: d.StatusCode,
		Attempts: attempts, Failures: 1, FirstFailure: now, LastFailure: now,
		AlertWorkflowID: info.WorkflowExecution.ID, AlertRunID: info.WorkflowExecution.RunID, Seq: j.seq,
		Alert: j.alert, Provider: ts.Provider.Clone(),
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          fmt.Sprintf("deadletter/%s/%d", ts.Name, j.seq),
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var acts *activities.Activities
	if err := workflow.ExecuteActivity(actx, acts.DeadLetter, e).Get(ctx, nil); err != nil {
		// Only cancellation of the workflow ends the retries above.
		workflow.GetLogger(ctx).Error("dead letter not recorded", "target", ts.Name, "error", err)
		return
	}
	ts.Status, ts.DeadLetterID = contract.DeliveryDeadLettered, e.ID
}

// recordReplay applies a dead-letter replay that delivered.
func (r *alertRun) recordReplay(ctx workflow.Context, dr contract.DeliveryReplayed) {
	ts := r.lane(dr.Target)
	if ts == nil {
		return
	}
	ts.addRecord(DeliveryRecord{Seq: dr.Seq, Event: dr.Event, Outcome: "replayed",
		Attempts: dr.Attempts, At: workflow.Now(ctx)})
	ts.Provider = ts.Provider.Merge(dr.Provider)
	ts.TotalAttempts += dr.Attempts
	// Only the latest delivery's status changes; an older replay is history.
	if !ts.busy && len(ts.queue) == 0 && ts.Event == dr.Event && ts.Status == contract.DeliveryDeadLettered {
		ts.Status, ts.DeliveredAt, ts.LastError, ts.LastErrorKind, ts.DeadLetterID = contract.DeliveryDelivered, dr.DeliveredAt, "", "", ""
	}
}
