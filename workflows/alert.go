// Package workflows holds Herald's Temporal workflows: one alert workflow per
// alert lifecycle, the dead-letter workflow and the health-check workflow.
package workflows

import (
	"fmt"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Names used by the starter, the API and the Web UI.
const (
	AlertWorkflowName = "AlertWorkflow"
	// AlertSignal carries a Notify: every webhook occurrence of the alert.
	AlertSignal = "alert"
	// StateQuery returns the AlertState.
	StateQuery = "state"
	// AlertWorkflowIDPrefix + fingerprint is the alert workflow's ID.
	AlertWorkflowIDPrefix = "alert-"
)

// Defaults of the alert workflow (documented in docs/workflows.md).
const (
	// DefaultInactivityTimeout ends an alert workflow that heard nothing of
	// its alert for this long while firing (a resolve that never came).
	// Alertmanager re-sends a firing alert every repeat_interval (4h by
	// default), which keeps a live alert's workflow open.
	DefaultInactivityTimeout = 24 * time.Hour
	// DefaultDeliveryTimeout bounds one delivery attempt.
	DefaultDeliveryTimeout = 30 * time.Second
	// maxSignalsPerRun bounds history: after this many notifications the
	// workflow continues as new with its state.
	maxSignalsPerRun = 500
	// maxRecords is how many delivery records each target keeps.
	maxRecords = 20
)

// AlertWorkflowID returns the workflow ID of the alert with this fingerprint.
func AlertWorkflowID(fingerprint string) string { return AlertWorkflowIDPrefix + fingerprint }

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
	// State is carried over by continue-as-new.
	State *AlertState `json:"state,omitempty"`
}

// Notify is one occurrence of the alert in a webhook.
type Notify struct {
	Alert      alert.Alert `json:"alert"`
	ReceivedAt time.Time   `json:"receivedAt"`
}

// Delivery statuses of a target.
const (
	DeliveryPending    = "pending"
	DeliveryDelivering = "delivering"
	DeliveryDelivered  = "delivered"
	DeliveryFailed     = "failed"
	// DeliveryDeadLettered: failed for good and recorded in the dead letters.
	DeliveryDeadLettered = "dead_lettered"
)

// Version markers of changes to the alert workflow's command sequence.
const (
	// versionDeadLetters: failed deliveries are written to the dead letters.
	versionDeadLetters = "dead-letters"
	// versionRouting: alerts are classified (severity, priority) and
	// deliveries to unhealthy targets wait for their recovery.
	versionRouting = "health-routing"
)

// Health-aware routing limits (documented in docs/health.md).
const (
	// healthRecheckFirst and healthRecheckMax bound the backoff between
	// health checks of a held-back delivery.
	healthRecheckFirst = 30 * time.Second
	healthRecheckMax   = 10 * time.Minute
	// DefaultMaxHealthWait: a delivery held back longer goes to the dead
	// letters (kind target_unhealthy).
	DefaultMaxHealthWait = 24 * time.Hour
)

// DeliveryWaiting: held back because the target is unhealthy.
const DeliveryWaiting = "waiting_for_target"

// AlertState is what the alert workflow knows; StateQuery returns it.
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
	// routing is true from versionRouting on.
	routing bool
}

// AlertWorkflow follows one alert from its first notification to its
// resolve. Each notification arrives as an AlertSignal. A new firing episode
// resolves the current targets (through an activity, so replay is
// deterministic) and queues one delivery per target; every target has its
// own lane, so a slow or failing target never delays the others, and a
// target's resolve always follows its firing. Repeats of unchanged content
// publish nothing. The workflow completes when the resolve is delivered
// everywhere, or after InactivityTimeout without news while firing.
func AlertWorkflow(ctx workflow.Context, in AlertInput) (*AlertState, error) {
	r := &alertRun{in: in, s: in.State}
	if r.in.InactivityTimeout <= 0 {
		r.in.InactivityTimeout = DefaultInactivityTimeout
	}
	if r.in.DeliveryTimeout <= 0 {
		r.in.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if r.in.MaxHealthWait <= 0 {
		r.in.MaxHealthWait = DefaultMaxHealthWait
	}
	if r.in.HealthRecheck <= 0 {
		r.in.HealthRecheck = healthRecheckFirst
	}
	r.routing = workflow.GetVersion(ctx, versionRouting, workflow.DefaultVersion, 1) >= 1
	if r.s == nil {
		r.s = &AlertState{Fingerprint: in.Fingerprint, Targets: []*TargetState{}}
	}
	for _, ts := range r.s.Targets {
		workflow.Go(ctx, func(ctx workflow.Context) { r.runLane(ctx, ts) })
	}
	if err := workflow.SetQueryHandler(ctx, StateQuery, func() (*AlertState, error) { return r.s, nil }); err != nil {
		return nil, fmt.Errorf("register query: %w", err)
	}
	ch := workflow.GetSignalChannel(ctx, AlertSignal)
	replayed := workflow.GetSignalChannel(ctx, DeliveryReplayedSignal)
	log := workflow.GetLogger(ctx)

	for {
		ready := func() bool { return ch.Len() > 0 || replayed.Len() > 0 || r.finished() }
		ok := true
		if !ready() {
			// Only a real wait starts the inactivity timer.
			var err error
			if ok, err = workflow.AwaitWithTimeout(ctx, r.in.InactivityTimeout, ready); err != nil {
				return r.s, err
			}
		}
		for {
			var dr DeliveryReplayed
			if !replayed.ReceiveAsync(&dr) {
				break
			}
			r.recordReplay(ctx, dr)
		}
		for {
			var n Notify
			if !ch.ReceiveAsync(&n) {
				break
			}
			r.signals++
			if err := r.handle(ctx, n); err != nil {
				return r.s, err
			}
		}
		if r.finished() {
			r.s.Completed = "resolved"
			log.Info("alert workflow complete", "fingerprint", r.s.Fingerprint)
			return r.s, nil
		}
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
func (r *alertRun) handle(ctx workflow.Context, n Notify) error {
	s := r.s
	now := workflow.Now(ctx)
	if s.FirstSeen.IsZero() {
		s.FirstSeen = now
	}
	s.LastSeen = now
	s.Notifications++
	hash := n.Alert.ContentHash()
	if hash == s.LastHash {
		s.Suppressed++
		return nil
	}
	prevStatus := s.Status
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

// resolveTargets asks the worker for the targets of this alert and opens a
// lane for each new one.
func (r *alertRun) resolveTargets(ctx workflow.Context, a alert.Alert) error {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	var acts *activities.Activities
	var res activities.ResolveTargetsResult
	if err := workflow.ExecuteActivity(actx, acts.ResolveTargets, activities.ResolveTargetsInput{Labels: a.Labels}).Get(ctx, &res); err != nil {
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
		ts := &TargetState{Name: ref.Name, Type: ref.Type, Status: DeliveryPending, Ref: ref}
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
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	var acts *activities.Activities
	var c publish.Classification
	if err := workflow.ExecuteActivity(actx, acts.ClassifyAlert, a).Get(ctx, &c); err != nil {
		// Classification is an improvement, never a blocker.
		c = publish.Classification{Severity: a.Severity(), Source: "labels", Reason: "classifier failed: " + err.Error()}
	}
	r.s.Classification = c
	r.s.Severity = c.Severity
	return nil
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
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	var acts *activities.Activities
	var states map[string]string
	if err := workflow.ExecuteActivity(actx, acts.TargetHealth, names).Get(ctx, &states); err != nil {
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
	ts.Status, ts.WaitingSince = DeliveryWaiting, start
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"target": ts.Name, "reason": ts.Health}).
		Counter("herald_deliveries_skipped").Inc(1)
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
			ts.Status = DeliveryPending
			ts.QueuedAt = now
		}
	}
}

// runLane delivers a target's jobs one after another.
func (r *alertRun) runLane(ctx workflow.Context, ts *TargetState) {
	for {
		if err := workflow.Await(ctx, func() bool { return len(ts.queue) > 0 }); err != nil {
			return
		}
		j := ts.queue[0]
		ts.queue = ts.queue[1:]
		ts.busy = true
		r.deliver(ctx, ts, j)
		ts.busy = false
	}
}

// deliver runs the publish activity for one job and records the outcome.
func (r *alertRun) deliver(ctx workflow.Context, ts *TargetState, j job) {
	if r.routing && !r.awaitHealthy(ctx, ts) {
		r.failDelivery(ctx, ts, j, activities.FailureDetails{Kind: KindTargetUnhealthy},
			fmt.Sprintf("target %s stayed %s for %s", ts.Name, ts.Health, r.in.MaxHealthWait), 0)
		return
	}
	ts.Status, ts.Event, ts.QueuedAt = DeliveryDelivering, j.event, j.queued
	ts.Attempts = 0
	p := ts.Ref.Retry
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ActivityID:          fmt.Sprintf("publish/%s/%d", ts.Name, j.seq),
		StartToCloseTimeout: r.in.DeliveryTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    p.InitialInterval,
			BackoffCoefficient: p.Backoff,
			MaximumInterval:    p.MaxInterval,
			MaximumAttempts:    p.MaxAttempts,
		},
	})
	in := activities.PublishInput{
		Target: ts.Name,
		Notification: publish.Notification{
			Alert: j.alert, Event: j.event, Update: j.update, State: ts.Provider.Clone(),
			Classification: publish.Classification{Severity: j.alert.Severity(), Source: "labels"},
		},
	}
	if r.routing && r.s.Classification.Severity != "" {
		in.Notification.Classification = r.s.Classification
		actx = workflow.WithPriority(actx, temporal.Priority{PriorityKey: PriorityFor(r.s.Classification.Severity)})
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
	now := workflow.Now(ctx)
	ts.Status, ts.DeliveredAt = DeliveryDelivered, now
	ts.Attempts = out.Attempt
	ts.TotalAttempts += out.Attempt
	ts.StatusCode = out.StatusCode
	ts.LastError, ts.LastErrorKind = "", ""
	ts.Provider = ts.Provider.Merge(out.State)
	ts.addRecord(DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: DeliveryDelivered, Attempts: out.Attempt})
}

// KindTargetUnhealthy is the dead-letter kind of a delivery that waited
// too long for its target to recover.
const KindTargetUnhealthy = "target_unhealthy"

// failDelivery records a delivery that failed for good and writes it to
// the dead letters.
func (r *alertRun) failDelivery(ctx workflow.Context, ts *TargetState, j job, d activities.FailureDetails, msg string, attempts int32) {
	now := workflow.Now(ctx)
	ts.Status, ts.Event, ts.FailedAt = DeliveryFailed, j.event, now
	ts.Attempts = attempts
	ts.TotalAttempts += attempts
	ts.StatusCode = d.StatusCode
	ts.LastError, ts.LastErrorKind = msg, d.Kind
	rec := DeliveryRecord{Seq: j.seq, Event: j.event, Update: j.update, At: now,
		Outcome: DeliveryFailed, Attempts: attempts, Error: msg}
	workflow.GetLogger(ctx).Warn("delivery failed for good", "target", ts.Name, "event", j.event,
		"kind", d.Kind, "attempts", attempts)
	if workflow.GetVersion(ctx, versionDeadLetters, workflow.DefaultVersion, 1) >= 1 {
		r.deadLetter(ctx, ts, j, d, msg, attempts)
		rec.Outcome = DeliveryDeadLettered
	}
	ts.addRecord(rec)
}

func (ts *TargetState) addRecord(rec DeliveryRecord) {
	ts.Records = append(ts.Records, rec)
	if len(ts.Records) > maxRecords {
		ts.Records = ts.Records[len(ts.Records)-maxRecords:]
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
	updates := []temporal.SearchAttributeUpdate{
		AttrFingerprint.ValueSet(r.s.Fingerprint),
		AttrStatus.ValueSet(r.s.Status),
		AttrSeverity.ValueSet(r.s.Severity),
		AttrTargets.ValueSet(names),
	}
	if r.s.Name != "" {
		updates = append(updates, AttrAlertName.ValueSet(r.s.Name))
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
		ID:          DeadLetterID(r.s.Fingerprint, info.WorkflowExecution.RunID, ts.Name, j.seq),
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
	ts.Status, ts.DeadLetterID = DeliveryDeadLettered, e.ID
}

// recordReplay applies a dead-letter replay that delivered.
func (r *alertRun) recordReplay(ctx workflow.Context, dr DeliveryReplayed) {
	ts := r.lane(dr.Target)
	if ts == nil {
		return
	}
	ts.addRecord(DeliveryRecord{Seq: dr.Seq, Event: dr.Event, Outcome: "replayed",
		Attempts: dr.Attempts, At: workflow.Now(ctx)})
	ts.Provider = ts.Provider.Merge(dr.Provider)
	ts.TotalAttempts += dr.Attempts
	// Only the latest delivery's status changes; an older replay is history.
	if !ts.busy && len(ts.queue) == 0 && ts.Event == dr.Event && ts.Status == DeliveryDeadLettered {
		ts.Status, ts.DeliveredAt, ts.LastError, ts.LastErrorKind, ts.DeadLetterID = DeliveryDelivered, dr.DeliveredAt, "", "", ""
	}
}

// PriorityFor maps a severity to a Temporal priority key (1 runs first):
// critical 1, warning 3, info 5.
func PriorityFor(severity string) int {
	switch severity {
	case alert.SeverityCritical:
		return 1
	case alert.SeverityInfo:
		return 5
	default:
		return 3
	}
}
