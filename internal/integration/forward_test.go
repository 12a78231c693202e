package integration

import (
	"context"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/target"
)

// forwardTTL is the alertmanager.forward_ttl of the forwarding tests:
// Herald re-sends a firing alert every forwardTTL/3.
const forwardTTL = 6 * time.Second

// forwardSetup starts a real Alertmanager whose route notifies hook (with
// send_resolved) and a Herald forwarding to it with the forward TTL ttl.
func forwardSetup(t *testing.T, ttl time.Duration) (h *herald, downstream string, hook *sink) {
	t.Helper()
	hook = newSink(t)
	downstream = startAlertmanager(t, "downstream alertmanager", fmt.Sprintf(`
route:
  receiver: hook
  group_by: ['alertname', 'instance']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs:
  - url: %s/am
    send_resolved: true
`, hook.URL))
	h = startHerald(t, []target.Target{{
		Name: "downstream-am", Type: "alertmanager", URL: downstream, Retry: quickRetry(5),
		Config: &alertmanager.Config{Alertmanager: &alertmanager.Options{ForwardTTL: target.Duration(ttl)}},
	}})
	return h, downstream, hook
}

// freshAlert is a firing alert that started now, as a source Alertmanager
// sends it.
func freshAlert(fp, name string) alert.WebhookAlert {
	a := firingAlert(fp, name)
	a.StartsAt = time.Now().UTC().Truncate(time.Millisecond)
	return a
}

// downstreamEndsAt is the endsAt of the active alert named name at the
// Alertmanager base; ok is false when it has no such active alert.
func downstreamEndsAt(t *testing.T, base, name string) (endsAt time.Time, ok bool) {
	t.Helper()
	active := activeAlerts(t, base, name)
	if len(active) == 0 {
		return time.Time{}, false
	}
	if len(active) > 1 {
		t.Fatalf("alertmanager has %d active %s alerts, want 1", len(active), name)
	}
	s, _ := active[0]["endsAt"].(string)
	endsAt, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("endsAt %q of %s: %v", s, name, err)
	}
	return endsAt, true
}

// fireForwarded posts the firing alert a to h once and waits until it is
// active at the Alertmanager downstream; it returns its first endsAt there.
func fireForwarded(t *testing.T, h *herald, downstream string, a alert.WebhookAlert) time.Time {
	t.Helper()
	if code, body := h.post(webhookBody(a)); code != 200 {
		t.Fatalf("POST /webhook = %d %s", code, body)
	}
	name := a.Labels["alertname"]
	var firstEndsAt time.Time
	eventually(t, 15*time.Second, name+" active at the downstream alertmanager", func() bool {
		e, ok := downstreamEndsAt(t, downstream, name)
		firstEndsAt = e
		return ok
	})
	return firstEndsAt
}

// notifications counts the webhook notifications with the given status
// ("firing", "resolved") an Alertmanager sent to hook for alerts named name.
func notifications(hook *sink, status, name string) int {
	n := 0
	for _, r := range hook.all() {
		if r.Body["status"] != status {
			continue
		}
		alerts, _ := r.Body["alerts"].([]any)
		for _, a := range alerts {
			if m, _ := a.(map[string]any); m != nil {
				if labels, _ := m["labels"].(map[string]any); labels["alertname"] == name {
					n++
					break
				}
			}
		}
	}
	return n
}

// TestAlertmanagerForwardStaysActivePastTTL: one firing alert posted to
// Herald once stays active at a real Alertmanager for three forward TTLs,
// because Herald re-sends it every TTL/3 and each re-send moves endsAt
// forward; the Alertmanager's own receiver gets one firing notification and
// no resolve. When the source resolves, the resolve reaches the
// Alertmanager's receiver.
func TestAlertmanagerForwardStaysActivePastTTL(t *testing.T) {
	t.Parallel()
	const fp, name = "fwdactive1", "ForwardStaysActive"
	h, downstream, hook := forwardSetup(t, forwardTTL)

	fire := freshAlert(fp, name)
	firstEndsAt := fireForwarded(t, h, downstream, fire)
	firstSeen := time.Now()

	// Hold for three TTLs, reading the downstream alert four times a
	// second. Every re-send sets endsAt = its arrival + TTL, so the distinct
	// endsAt values are the re-sends' arrival times (shifted by the TTL).
	hold := 3 * forwardTTL
	reads := 0
	endsAts := []time.Time{firstEndsAt}
	for time.Since(firstSeen) < hold {
		time.Sleep(250 * time.Millisecond)
		e, ok := downstreamEndsAt(t, downstream, name)
		now := time.Now()
		if !ok {
			t.Fatalf("%s after the first delivery (TTL %s): alert no longer active downstream",
				now.Sub(firstSeen).Round(time.Millisecond), forwardTTL)
		}
		if !e.After(now) {
			t.Fatalf("downstream endsAt %s is not in the future (now %s)", e.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
		}
		last := endsAts[len(endsAts)-1]
		if e.Before(last) {
			t.Errorf("downstream endsAt went back from %s to %s", last.Format(time.RFC3339Nano), e.Format(time.RFC3339Nano))
		}
		if e.After(last) {
			endsAts = append(endsAts, e)
		}
		reads++
		if n := notifications(hook, "resolved", name); n != 0 {
			t.Fatalf("downstream receiver got %d resolve(s) while the source still fires", n)
		}
	}
	last := endsAts[len(endsAts)-1]
	if now := time.Now(); !now.After(firstEndsAt.Add(forwardTTL)) {
		t.Fatalf("held until %s, not a TTL past the first endsAt %s", now.Format(time.RFC3339Nano), firstEndsAt.Format(time.RFC3339Nano))
	}
	var maxGap time.Duration
	for i := 1; i < len(endsAts); i++ {
		maxGap = max(maxGap, endsAts[i].Sub(endsAts[i-1]))
	}
	resends := len(endsAts) - 1
	if resends < int(hold/forwardTTL) || maxGap >= forwardTTL {
		t.Errorf("%d re-sends arrived in %s, at most %s apart; want one well inside every TTL (%s)",
			resends, hold, maxGap.Round(time.Millisecond), forwardTTL)
	}
	_, view := h.alertState(fp)
	if view.AlertState == nil || len(view.Targets) != 1 || view.Targets[0].Resends < resends {
		t.Errorf("workflow state %+v: want one target with at least %d re-sends", view.AlertState, resends)
	}
	if n := notifications(hook, "firing", name); n != 1 {
		t.Errorf("downstream receiver got %d firing notifications, want 1 (re-sends are not new notifications)", n)
	}
	t.Logf("active %s after the first delivery (TTL %s, re-send every %s): %d reads, %d re-sends arrived, "+
		"%s apart on average, at most %s; endsAt moved by %s",
		time.Since(firstSeen).Round(time.Millisecond), forwardTTL, forwardTTL/3, reads, resends,
		(last.Sub(firstEndsAt) / time.Duration(max(resends, 1))).Round(time.Millisecond), maxGap.Round(time.Millisecond),
		last.Sub(firstEndsAt).Round(time.Millisecond))

	// The source resolves.
	resolved := fire
	resolved.Status = alert.StatusResolved
	resolved.EndsAt = time.Now().UTC()
	resolveAt := time.Now()
	if code, body := h.post(webhookBody(resolved)); code != 200 {
		t.Fatalf("POST /webhook (resolve) = %d %s", code, body)
	}
	eventually(t, 15*time.Second, "downstream receiver gets the resolve", func() bool {
		return notifications(hook, "resolved", name) == 1
	})
	resolveTook := time.Since(resolveAt)
	if _, ok := downstreamEndsAt(t, downstream, name); ok {
		t.Errorf("alert still active downstream after its resolve was notified")
	}
	st := h.waitWorkflowDone(fp)
	if st.Completed != "resolved" || st.Targets[0].Event != "resolved" || st.Targets[0].Status != contract.DeliveryDelivered {
		t.Errorf("workflow completed %q, target %s/%s; want resolved, resolved/delivered",
			st.Completed, st.Targets[0].Event, st.Targets[0].Status)
	}
	if n := notifications(hook, "firing", name); n != 1 {
		t.Errorf("downstream receiver got %d firing notifications in all, want 1", n)
	}
	t.Logf("resolve reached the downstream receiver %s after the source resolved", resolveTook.Round(time.Millisecond))
}

// TestAlertmanagerForwardExpiresWithoutResends is the control of
// TestAlertmanagerForwardStaysActivePastTTL: the same forwarding, but the
// Herald worker stops right after the first delivery, so nothing re-sends.
// The downstream alert then expires at its first endsAt (delivery + TTL)
// and the Alertmanager notifies its receiver of a resolve the source never
// sent: the re-sends are what keep it active.
func TestAlertmanagerForwardExpiresWithoutResends(t *testing.T) {
	t.Parallel()
	const fp, name = "fwdexpire1", "ForwardExpires"
	h, downstream, hook := forwardSetup(t, forwardTTL)

	firstEndsAt := fireForwarded(t, h, downstream, freshAlert(fp, name))
	h.worker.Stop()
	firstSeen := time.Now()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.client.TerminateWorkflow(ctx, contract.AlertWorkflowID(fp), "", "test done")
	})

	eventually(t, forwardTTL+5*time.Second, "downstream alert expires without re-sends", func() bool {
		_, ok := downstreamEndsAt(t, downstream, name)
		return !ok
	})
	expiredAt := time.Now()
	eventually(t, 5*time.Second, "downstream receiver gets the expiry as a resolve", func() bool {
		return notifications(hook, "resolved", name) == 1
	})
	// It expired at the first endsAt: no re-send moved it. A re-send would
	// have moved it by a whole TTL; Alertmanager's expiry and the polling
	// above may each be a second late on a loaded machine, so the window
	// is half the TTL.
	if late := expiredAt.Sub(firstEndsAt); late < 0 || late > forwardTTL/2 {
		t.Errorf("expired %s after the first endsAt, want within %s of it (a re-send moves it by %s)",
			late.Round(time.Millisecond), forwardTTL/2, forwardTTL)
	}
	t.Logf("without re-sends the alert expired %s after the first delivery (TTL %s), %s after its first endsAt",
		expiredAt.Sub(firstSeen).Round(time.Millisecond), forwardTTL, expiredAt.Sub(firstEndsAt).Round(time.Millisecond))
}

// TestAlertmanagerForwardMinTTL: at the smallest forward_ttl the
// downstream alert never leaves the active state while the source fires:
// each re-send arrives before the previous endsAt. Re-sends come every
// TTL/3 plus the lag of Temporal's timers (up to about a second,
// history.timerProcessorMaxTimeShift), so the smallest TTL must leave room
// for it.
func TestAlertmanagerForwardMinTTL(t *testing.T) {
	t.Parallel()
	const fp, name = "fwdminttl1", "ForwardMinTTL"
	h, downstream, hook := forwardSetup(t, alertmanager.MinForwardTTL)
	fireForwarded(t, h, downstream, freshAlert(fp, name))
	firstSeen := time.Now()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.client.TerminateWorkflow(ctx, contract.AlertWorkflowID(fp), "", "test done")
	})

	// Long enough to pass a whole TTL beyond the first endsAt.
	hold := 2*alertmanager.MinForwardTTL + 3*time.Second
	reads, gone := 0, 0
	for time.Since(firstSeen) < hold {
		time.Sleep(100 * time.Millisecond)
		if _, ok := downstreamEndsAt(t, downstream, name); !ok {
			gone++
		}
		reads++
	}
	resolves := notifications(hook, "resolved", name)
	if gone > 0 || resolves > 0 {
		t.Errorf("in %s at TTL %s: alert inactive downstream on %d of %d reads, %d resolve(s) notified while the source fires",
			hold, alertmanager.MinForwardTTL, gone, reads, resolves)
	}
	t.Logf("TTL %s for %s: inactive on %d of %d reads, %d resolves, %d firing notifications",
		alertmanager.MinForwardTTL, hold, gone, reads, resolves, notifications(hook, "firing", name))
}
