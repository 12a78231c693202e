package scenario

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// allDelivered reports whether every receiver accepted every fingerprint for event.
func allDelivered(event string, fps []string, recvs ...*Receiver) bool {
	for _, r := range recvs {
		if r.Tally(event, fps).Missing > 0 {
			return false
		}
	}
	return true
}

// (a) One target down (503 to everything, so health marks it unhealthy)
// beside two healthy webhook targets: the healthy ones get every alert, no
// workflow task fails, nothing panics.
func TestScenarioATargetDown(t *testing.T) {
	t.Parallel()
	const n = 50
	ctx := t.Context()
	began := time.Now()
	down := NewReceiver(t, "down", ReceiverConfig{Down: true})
	ok1 := NewReceiver(t, "ok-1", ReceiverConfig{})
	ok2 := NewReceiver(t, "ok-2", ReceiverConfig{})
	h := StartHerald(t, HeraldOptions{Targets: []map[string]any{
		webhookTarget("down", down.URL), webhookTarget("ok-1", ok1.URL), webhookTarget("ok-2", ok2.URL),
	}})

	// The situation users hit: a target that has been down for a while.
	if ok, took := waitFor(ctx, 60*time.Second, 500*time.Millisecond, func() bool {
		return h.Targets()["down"].State() == "unhealthy"
	}); !ok {
		t.Fatalf("target down not unhealthy within %s: %+v", took, h.Targets()["down"].Health)
	}

	alerts := genAlerts("sa", 0, n)
	fps := fingerprints(alerts)
	s := NewSender(h)
	sendCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.SendAll(sendCtx, batches(alerts, 10), 2); err != nil {
		t.Fatalf("send: %v", err)
	}
	_, took := waitFor(ctx, 2*time.Minute, 250*time.Millisecond, func() bool { return allDelivered("firing", fps, ok1, ok2) })

	t1, t2 := ok1.Tally("firing", fps), ok2.Tally("firing", fps)
	failed := h.workflowTaskFailures()
	panics := h.LogLines("panic")
	t.Logf("scenario (a) target down: %d alerts; ok-1 %s; ok-2 %s; down target POSTs %s; "+
		"workflow task failures %.0f; log lines with panic %d; delivered %s after the last webhook, total %s",
		n, t1, t2, down.Answers(), failed, len(panics), took.Round(100*time.Millisecond), time.Since(began).Round(time.Second))
	if t1.Missing != 0 || t2.Missing != 0 {
		v, _, err := h.Alert(fps[0])
		t.Errorf("healthy targets missed alerts: ok-1 %s, ok-2 %s (state of %s: %+v %v)", t1, t2, fps[0], v, err)
	}
	// Nothing crashed: every alert exactly once.
	if t1.Duplicates != 0 || t2.Duplicates != 0 {
		t.Errorf("healthy targets got duplicates: ok-1 %s, ok-2 %s", t1, t2)
	}
	if failed != 0 {
		t.Errorf("temporal_workflow_task_execution_failed_total = %.0f, want 0", failed)
	}
	if len(panics) > 0 {
		t.Errorf("log has %d lines with panic, first: %.400s", len(panics), panics[0])
	}
}

// (b) Receivers that implement only POST (HEAD answers 405 or 501, GET 404)
// get every alert, before and after the health probes ran several times,
// and are not unhealthy in the API or the metrics.
func TestScenarioBHeadNotImplemented(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	began := time.Now()
	r405 := NewReceiver(t, "head-405", ReceiverConfig{HeadStatus: http.StatusMethodNotAllowed, GetStatus: http.StatusNotFound})
	r501 := NewReceiver(t, "head-501", ReceiverConfig{HeadStatus: http.StatusNotImplemented, GetStatus: http.StatusNotFound})
	h := StartHerald(t, HeraldOptions{HealthInterval: 2 * time.Second, Targets: []map[string]any{
		webhookTarget("head-405", r405.URL), webhookTarget("head-501", r501.URL),
	}})
	s := NewSender(h)

	first := genAlerts("sb", 0, 20)
	if err := s.SendAll(ctx, batches(first, 10), 2); err != nil {
		t.Fatalf("send: %v", err)
	}
	waitFor(ctx, time.Minute, 250*time.Millisecond, func() bool { return allDelivered("firing", fingerprints(first), r405, r501) })

	// Let the scheduled probes run several times with no delivery in
	// between: 3 failed probes in a row make a target unhealthy.
	probes := func(r *Receiver) int { return r.Requests("") - r.Requests(http.MethodPost) }
	p405, p501 := probes(r405), probes(r501)
	if ok, took := waitFor(ctx, time.Minute, 250*time.Millisecond, func() bool {
		return probes(r405) >= p405+4 && probes(r501) >= p501+4
	}); !ok {
		t.Fatalf("health probes did not run 4 more times within %s: head-405 %s, head-501 %s", took, r405.Methods(), r501.Methods())
	}

	second := genAlerts("sb", 20, 20)
	if err := s.SendAll(ctx, batches(second, 10), 2); err != nil {
		t.Fatalf("send: %v", err)
	}
	all := append(fingerprints(first), fingerprints(second)...)
	_, took := waitFor(ctx, time.Minute, 250*time.Millisecond, func() bool { return allDelivered("firing", all, r405, r501) })

	targets := h.Targets()
	m := h.Scrape()
	for _, r := range []*Receiver{r405, r501} {
		c := r.Tally("firing", all)
		state := targets[r.Name].State()
		unhealthyGauge := m.Sum("herald_target_health", map[string]string{"target": r.Name, "state": "unhealthy"})
		t.Logf("scenario (b) %s: %s (first 20: %s, after probes: %s); requests %s; health %q, herald_target_health{state=unhealthy} %.0f; waited %s, total %s",
			r.Name, c, r.Tally("firing", fingerprints(first)), r.Tally("firing", fingerprints(second)), r.Methods(),
			state, unhealthyGauge, took.Round(100*time.Millisecond), time.Since(began).Round(time.Second))
		if c.Missing != 0 || c.Duplicates != 0 {
			t.Errorf("%s: %s, want every alert exactly once", r.Name, c)
		}
		if state == "unhealthy" || unhealthyGauge != 0 {
			t.Errorf("%s is unhealthy (API %q, gauge %.0f) though it accepts every POST", r.Name, state, unhealthyGauge)
		}
	}
}

// (c) kill -9 in the middle of a 1,000-alert burst to three targets, one
// restart on the same data dir: the restart comes up on the first try and
// every accepted alert reaches every target.
func TestScenarioCKillMidFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("long: kill -9 during a 1,000-alert burst")
	}
	t.Parallel()
	const n = 1000
	ctx := t.Context()
	began := time.Now()
	recvs := []*Receiver{
		NewReceiver(t, "burst-1", ReceiverConfig{}),
		NewReceiver(t, "burst-2", ReceiverConfig{}),
		NewReceiver(t, "burst-3", ReceiverConfig{}),
	}
	var targets []map[string]any
	for _, r := range recvs {
		targets = append(targets, webhookTarget(r.Name, r.URL))
	}
	h := StartHerald(t, HeraldOptions{Targets: targets})
	alerts := genAlerts("sc", 0, n)
	s := NewSender(h)
	sendCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.SendAll(sendCtx, batches(alerts, 10), 2) }()

	underWay := func() bool {
		for _, r := range recvs {
			if r.Delivered("firing") > 0 {
				return true
			}
		}
		return false
	}
	if ok, _ := waitFor(ctx, 5*time.Minute, 50*time.Millisecond, func() bool {
		return len(s.Accepted()) >= n/3 && underWay()
	}); !ok {
		t.Fatalf("burst did not get under way: %d accepted", len(s.Accepted()))
	}
	atKill := len(s.Accepted())
	var deliveredAtKill []string
	inFlight := map[string]int{} // accepted, not yet arrived at this receiver
	for _, r := range recvs {
		deliveredAtKill = append(deliveredAtKill, fmt.Sprintf("%s=%d", r.Name, r.Delivered("firing")))
		inFlight[r.Name] = atKill - r.Delivered("firing")
	}
	t.Logf("scenario (c): kill -9 after %s with %d alerts accepted, delivered %s",
		time.Since(began).Round(100*time.Millisecond), atKill, strings.Join(deliveredAtKill, " "))
	killed := time.Now()
	restart := h.KillRestart()
	t.Logf("scenario (c): restart on the same data dir ready in %s", restart.Round(100*time.Millisecond))

	if err := <-sendErr; err != nil {
		t.Errorf("sending the rest: %v", err)
	}
	accepted := s.Accepted()
	// 3,000 deliveries take about 4 minutes on 2 busy cores.
	ok, took := waitFor(ctx, 8*time.Minute, time.Second, func() bool { return allDelivered("firing", accepted, recvs...) })
	for _, r := range recvs {
		c := r.Tally("firing", accepted)
		t.Logf("scenario (c) %s: %s", r.Name, c)
		if c.Missing != 0 {
			t.Errorf("%s: %d accepted alerts never arrived: %s", r.Name, c.Missing, c)
		}
		// At least once: only deliveries in flight at the kill (a workflow
		// task's first attempts, activities not yet reported) may arrive
		// twice.
		if c.Duplicates > inFlight[r.Name] {
			t.Errorf("%s: %d duplicates, more than the %d alerts in flight at the kill", r.Name, c.Duplicates, inFlight[r.Name])
		}
	}
	t.Logf("scenario (c): %d/%d accepted (%d webhook retries); all delivered=%v %s after the kill (waited %s); total %s",
		len(accepted), n, s.Retries(), ok, time.Since(killed).Round(time.Second), took.Round(time.Second), time.Since(began).Round(time.Second))
	if len(accepted) != n {
		t.Errorf("accepted %d of %d alerts", len(accepted), n)
	}
}

// (d) A Slack incoming webhook that takes 4 requests/s (429 with
// Retry-After: 1 beyond it) while Herald's own limit for the target is
// 10/s: the receiver must throttle Herald, Herald must honour Retry-After
// and learn the receiver's rate, and a 100-alert storm ends with every
// alert delivered exactly once and no dead letter.
func TestScenarioDRateLimitedStorm(t *testing.T) {
	t.Parallel()
	const n = 100
	ctx := t.Context()
	began := time.Now()
	slack := NewReceiver(t, "storm-slack", ReceiverConfig{Slack: true, PerSecond: 4})
	h := StartHerald(t, HeraldOptions{Targets: []map[string]any{
		{"name": "storm-slack", "type": "slack", "url": slack.URL + "/services/T0000/B0000/XXXXXXXX",
			"rate_limit": map[string]any{"per_second": 10}},
	}})
	alerts := genAlerts("sd", 0, n)
	fps := fingerprints(alerts)
	s := NewSender(h)
	if err := s.SendAll(ctx, batches(alerts, 10), 2); err != nil {
		t.Fatalf("send: %v", err)
	}
	var dead int
	done, took := waitFor(ctx, 4*time.Minute, time.Second, func() bool {
		got := slack.Tally("firing", fps).Got
		dead, _ = h.DLQ()
		return got == n || got+dead >= n
	})
	c := slack.Tally("firing", fps)
	dead, entries := h.DLQ()
	kinds := map[string]int{}
	for _, e := range entries {
		kinds[e.ErrorKind]++
	}
	if len(entries) > 0 {
		e := entries[0]
		t.Logf("scenario (d) first dead letter: %s after %d attempts: %s: %s", e.Fingerprint, e.Attempts, e.ErrorKind, e.Error)
	}
	// herald_dlq_entries is refreshed every 15s.
	var gauge float64
	waitFor(ctx, 40*time.Second, time.Second, func() bool {
		gauge = h.Scrape().Sum("herald_dlq_entries", nil)
		return int(gauge) == dead
	})
	throttled := slack.Answered(http.StatusTooManyRequests)
	m := h.Scrape()
	honoured := m.Sum("herald_delivery_errors_total", map[string]string{"target": "storm-slack", "kind": "rate_limited"})
	t.Logf("scenario (d) storm to slack taking 4/s, Herald's limit 10/s: %s; dead letters %d %s, herald_dlq_entries %.0f; "+
		"receiver answers %s; herald_delivery_errors_total{kind=rate_limited} %.0f; settled=%v in %s, total %s",
		c, dead, describeCounts(kinds), gauge, slack.Answers(), honoured, done, took.Round(time.Second), time.Since(began).Round(time.Second))
	if throttled == 0 {
		t.Errorf("the receiver never answered 429: the scenario did not exercise Retry-After (answers %s)", slack.Answers())
	}
	if honoured == 0 {
		t.Errorf("herald_delivery_errors_total{target=storm-slack,kind=rate_limited} = 0 though the receiver answered %d × 429", throttled)
	}
	if c.Missing != 0 || c.Duplicates != 0 {
		t.Errorf("storm: %s, want every alert exactly once", c)
	}
	if dead != 0 || gauge != 0 {
		t.Errorf("storm: %d dead letters (%s), herald_dlq_entries %.0f; want none", dead, describeCounts(kinds), gauge)
	}
}

// inFlight reports whether a delivery status has no outcome yet.
func inFlight(status string) bool {
	switch status {
	case "", "pending", "delivering", "waiting_for_target":
		return true
	}
	return false
}

// (e) Targets that answer 301, 302, 307 or 308: never recorded as
// delivered, the redirect destination receives nothing, and the other
// target gets every alert.
func TestScenarioERedirects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	began := time.Now()
	dest := NewReceiver(t, "redirect-dest", ReceiverConfig{})
	plain := NewReceiver(t, "plain", ReceiverConfig{})
	targets := []map[string]any{webhookTarget("plain", plain.URL)}
	var names []string
	for _, code := range []int{301, 302, 307, 308} {
		name := fmt.Sprintf("redirect-%d", code)
		r := NewReceiver(t, name, ReceiverConfig{Redirect: code, Location: dest.URL})
		targets = append(targets, webhookTarget(name, r.URL))
		names = append(names, name)
	}
	h := StartHerald(t, HeraldOptions{Targets: targets})
	alerts := genAlerts("se", 0, 5)
	fps := fingerprints(alerts)
	if err := NewSender(h).SendAll(ctx, batches(alerts, 5), 1); err != nil {
		t.Fatalf("send: %v", err)
	}
	waitFor(ctx, time.Minute, 250*time.Millisecond, func() bool { return allDelivered("firing", fps, plain) })

	// Wait until every redirect delivery has an outcome (delivered, failed,
	// dead-lettered).
	states := map[string]map[string]*TargetState{}
	var unsettled string
	settled, _ := waitFor(ctx, time.Minute, 500*time.Millisecond, func() bool {
		for _, fp := range fps {
			v, _, err := h.Alert(fp)
			if err != nil {
				unsettled = err.Error()
				return false
			}
			states[fp] = map[string]*TargetState{}
			for _, name := range names {
				st := v.Target(name)
				states[fp][name] = st
				if st == nil || inFlight(st.Status) {
					unsettled = fmt.Sprintf("%s at %s: %+v", fp, name, st)
					return false
				}
			}
		}
		return true
	})
	if !settled {
		t.Errorf("scenario (e): not every redirect delivery has an outcome within a minute: %s", unsettled)
	}
	c := plain.Tally("firing", fps)
	outcome := map[string]int{}
	for _, fp := range fps {
		for _, name := range names {
			if st := states[fp][name]; st != nil {
				outcome[name+":"+st.Status]++
			}
		}
	}
	t.Logf("scenario (e) redirects: plain %s; redirect outcomes %s; destination requests %s; settled=%v; total %s",
		c, describeCounts(outcome), dest.Methods(), settled, time.Since(began).Round(time.Second))
	if c.Missing != 0 || c.Duplicates != 0 {
		t.Errorf("plain target: %s, want every alert exactly once", c)
	}
	if n := dest.Requests(""); n != 0 {
		t.Errorf("redirect destination received %d requests (%s), want none", n, dest.Methods())
	}
	problems := map[string][]string{}
	for _, fp := range fps {
		for _, name := range names {
			st := states[fp][name]
			switch {
			case st == nil:
				problems["no state"] = append(problems["no state"], fp+"@"+name)
			case st.Status == "delivered":
				problems["recorded as delivered"] = append(problems["recorded as delivered"], fp+"@"+name)
			case !strings.Contains(st.LastError, dest.Host()):
				problems["error does not name the Location host "+dest.Host()] = append(
					problems["error does not name the Location host "+dest.Host()], fmt.Sprintf("%s@%s %q", fp, name, st.LastError))
			}
		}
	}
	for what, where := range problems {
		t.Errorf("%d of %d redirect deliveries: %s (e.g. %s)", len(where), len(fps)*len(names), what, where[0])
	}
}

// (f) Out-of-order news: a stale firing after its resolve pages nobody; a
// genuine re-fire after a lost resolve is delivered.
func TestScenarioFOutOfOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	began := time.Now()
	r := NewReceiver(t, "pager", ReceiverConfig{})
	h := StartHerald(t, HeraldOptions{Targets: []map[string]any{webhookTarget("pager", r.URL)}})
	s := NewSender(h)
	send := func(a WebhookAlert) {
		t.Helper()
		if err := s.Send(ctx, []WebhookAlert{a}); err != nil {
			t.Fatalf("send %s %s: %v", a.Fingerprint, a.Status, err)
		}
	}
	waitCount := func(fp, event string, want int, within time.Duration) bool {
		ok, _ := waitFor(ctx, within, 100*time.Millisecond, func() bool { return r.Count(fp, event) >= want })
		return ok
	}

	// Stale firing after the resolve.
	a := genAlerts("sf", 1, 1)[0]
	send(a)
	if !waitCount(a.Fingerprint, "firing", 1, time.Minute) {
		t.Fatalf("firing of %s not delivered", a.Fingerprint)
	}
	send(resolvedAt(a, time.Now().Add(-time.Second)))
	if !waitCount(a.Fingerprint, "resolved", 1, time.Minute) {
		t.Fatalf("resolve of %s not delivered", a.Fingerprint)
	}
	send(a) // the same firing (same startsAt), arriving late
	// Absence can only be watched for a while: 10s is many times the
	// delivery latency of the firing above.
	paged, _ := waitFor(ctx, 10*time.Second, 100*time.Millisecond, func() bool { return r.Count(a.Fingerprint, "firing") > 1 })
	staleFiring, staleResolved := r.Count(a.Fingerprint, "firing"), r.Count(a.Fingerprint, "resolved")
	v, _, _ := h.Alert(a.Fingerprint)

	// Genuine re-fire after a lost resolve.
	b := genAlerts("sf", 2, 1)[0]
	send(b)
	if !waitCount(b.Fingerprint, "firing", 1, time.Minute) {
		t.Fatalf("firing of %s not delivered", b.Fingerprint)
	}
	refire := b
	refire.StartsAt = time.Now().UTC().Truncate(time.Second).Add(time.Second)
	send(refire)
	waitCount(b.Fingerprint, "firing", 2, 30*time.Second)
	refired, refireResolved := r.Count(b.Fingerprint, "firing"), r.Count(b.Fingerprint, "resolved")

	t.Logf("scenario (f) out of order: stale firing after resolve → %d firing + %d resolved (want 1+1; state %q episode %d); "+
		"re-fire after lost resolve → %d firing + %d resolved (want 2+0); total %s",
		staleFiring, staleResolved, v.Status, v.Episode, refired, refireResolved, time.Since(began).Round(time.Second))
	if paged || staleFiring != 1 || staleResolved != 1 {
		t.Errorf("stale firing after the resolve: receiver got %d firing + %d resolved, want 1 + 1", staleFiring, staleResolved)
	}
	if refired != 2 || refireResolved != 0 {
		t.Errorf("re-fire with a later startsAt: receiver got %d firing + %d resolved, want 2 + 0", refired, refireResolved)
	}
}

// (g) Kubernetes discovery answers 403 Forbidden at start: alerts sent then
// wait (not metrics-only), /readyz names discovery, and once the Secret can
// be read every earlier alert is delivered.
func TestScenarioGDiscoveryUnavailable(t *testing.T) {
	t.Parallel()
	const n = 10
	ctx := t.Context()
	began := time.Now()
	recv := NewReceiver(t, "k8s-hook", ReceiverConfig{})
	kube := NewFakeKube(t, "herald", webhookTarget("k8s-hook", recv.URL))
	h := StartHerald(t, HeraldOptions{NoWaitReady: true, Env: map[string]string{
		"HERALD_K8S_NAMESPACES": "herald",
		"KUBECONFIG":            kube.Kubeconfig(t, t.TempDir()),
		// The Secret's target receives every namespace's alerts and may
		// reach the receiver on loopback (targets from Secrets may not
		// by default).
		"HERALD_K8S_CLUSTER_WIDE_NAMESPACES": "herald",
		"HERALD_K8S_ALLOWED_TARGET_CIDRS":    "127.0.0.0/8",
	}})
	if ok, _ := waitFor(ctx, time.Minute, 100*time.Millisecond, func() bool { return kube.Forbidden() >= 1 }); !ok {
		t.Fatalf("discovery never asked the API server; requests: %v", kube.Requests())
	}

	// While forbidden, /readyz must say why.
	var readyCode int
	var readyBody string
	namesDiscovery, _ := waitFor(ctx, 30*time.Second, 250*time.Millisecond, func() bool {
		code, body, err := h.get("/readyz")
		if err != nil {
			return false
		}
		readyCode, readyBody = code, strings.TrimSpace(string(body))
		return code != http.StatusOK && containsFold(readyBody, "discovery")
	})

	alerts := genAlerts("sg", 0, n)
	fps := fingerprints(alerts)
	s := NewSender(h)
	sendCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	sendErr := make(chan error, 1)
	go func() { sendErr <- s.SendAll(sendCtx, batches(alerts, 5), 1) }()
	// Stay forbidden until the alerts are accepted (or 20s passed) and a
	// few more refusals happened after that.
	waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() bool { return len(s.Accepted()) == n })
	refusals := kube.Forbidden()
	waitFor(ctx, 20*time.Second, 100*time.Millisecond, func() bool { return kube.Forbidden() >= refusals+1 })
	acceptedWhileForbidden := len(s.Accepted())
	metricsOnly := 0
	for _, fp := range s.Accepted() {
		if v, _, err := h.Alert(fp); err == nil && strings.Contains(strings.ReplaceAll(v.Mode, "-", "_"), "metrics_only") {
			metricsOnly++
		}
	}
	kube.Allow()
	synced, syncTook := waitFor(ctx, 90*time.Second, 250*time.Millisecond, func() bool {
		_, ok := h.Targets()["k8s-hook"]
		return ok
	})
	if !synced {
		t.Errorf("the Secret's target never appeared in /api/v1/targets; API server requests: %v", kube.Requests())
	}

	if err := <-sendErr; err != nil {
		t.Errorf("send: %v", err)
	}
	_, took := waitFor(ctx, 2*time.Minute, 250*time.Millisecond, func() bool { return allDelivered("firing", fps, recv) })
	c := recv.Tally("firing", fps)
	readyAfter, _, _ := h.get("/readyz")
	t.Logf("scenario (g) discovery forbidden at start: %d refusals (403); /readyz while forbidden %d %q; "+
		"%d/%d alerts accepted while forbidden, %d of them decided metrics-only; after allowing: target listed in %s, %s %s later; /readyz now %d; total %s",
		kube.Forbidden(), readyCode, readyBody, acceptedWhileForbidden, n, metricsOnly, syncTook.Round(100*time.Millisecond), c, took.Round(100*time.Millisecond),
		readyAfter, time.Since(began).Round(time.Second))
	t.Logf("scenario (g) API server requests (first 40): %s", strings.Join(kube.Requests(), " | "))
	if !namesDiscovery {
		t.Errorf("/readyz while discovery is forbidden: %d %q, want non-200 naming discovery", readyCode, readyBody)
	}
	// Every alert is accepted while discovery is still forbidden (they
	// wait in Herald), none is decided metrics-only, and each is delivered
	// exactly once after.
	if acceptedWhileForbidden != n {
		t.Errorf("%d of %d alerts accepted while discovery was forbidden, want all (they must wait, not be refused)", acceptedWhileForbidden, n)
	}
	if metricsOnly != 0 {
		t.Errorf("%d alerts sent while discovery was forbidden were decided metrics-only", metricsOnly)
	}
	if c.Missing != 0 || c.Duplicates != 0 {
		t.Errorf("after discovery synced: %s, want every alert exactly once", c)
	}
}
