package workflows

import (
	"context"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// scriptedGuard defers the first `defer` admissions, then admits.
type scriptedGuard struct {
	mu       sync.Mutex
	deferN   int
	kind     string
	requests []guard.Request
}

func (g *scriptedGuard) Admit(_ context.Context, _ target.Target, req guard.Request) (guard.Admission, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests = append(g.requests, req)
	if g.deferN > 0 && req.Defer {
		g.deferN--
		return guard.Admission{Delay: time.Second, Kind: g.kind, Ticket: "t" + string(rune('a'+g.deferN)), Reason: "throttled"}, nil
	}
	return guard.Admission{Done: func(error) {}}, nil
}

// Herald's own throttling must never use up a delivery's attempts: five
// deferrals and two real failures still leave the third attempt (of 3).
func TestAlertWorkflow_DeferralsUseNoAttempts(t *testing.T) {
	for _, kind := range []string{publish.KindRateLimited, publish.KindCircuitOpen} {
		t.Run(kind, func(t *testing.T) {
			g := &scriptedGuard{deferN: 5, kind: kind}
			h := newGuardedHarness(t, g, webhookTarget("slow"))
			h.pub.fail["slow"] = []error{
				publish.Retryable(publish.KindHTTPServer, 0, "e1"),
				publish.Retryable(publish.KindHTTPServer, 0, "e2"),
			}
			a := firing("fp1", nil)
			h.signalAt(0, a)
			h.signalAt(time.Hour, resolved(a))
			st := h.run(t)
			ts := targetState(t, st, "slow")
			if len(h.deadLetters) != 0 {
				t.Fatalf("dead letters = %+v, want none", h.deadLetters)
			}
			if ts.Records[0].Outcome != contract.DeliveryDelivered || ts.Records[0].Attempts != 3 {
				t.Errorf("firing record = %+v, want delivered after 3 real attempts", ts.Records[0])
			}
			if ts.Deferrals != 5 {
				t.Errorf("deferrals = %d, want 5", ts.Deferrals)
			}
			// Each deferral hands its ticket back.
			tickets := map[string]bool{}
			for _, r := range g.requests {
				if r.Ticket != "" {
					tickets[r.Ticket] = true
				}
			}
			if len(tickets) != 5 {
				t.Errorf("%d tickets presented, want 5", len(tickets))
			}
		})
	}
}

// A held-back delivery is tried for real at its re-check (a canary): a
// receiver that works but was marked unhealthy gets it without waiting for
// its health to change.
func TestAlertWorkflow_CanaryDeliversToHeldBackTarget(t *testing.T) {
	h := newHarness(t, webhookTarget("posts-only"))
	h.health.set("posts-only", health.StateUnhealthy)
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Hour, resolved(a))
	st := h.run(t)
	ts := targetState(t, st, "posts-only")
	if ts.Canaries != 2 || h.pub.count("posts-only", publish.EventFiring) != 1 || h.pub.count("posts-only", publish.EventResolved) != 1 {
		t.Errorf("canaries=%d firing=%d resolved=%d, want one canary per event delivering it",
			ts.Canaries, h.pub.count("posts-only", publish.EventFiring), h.pub.count("posts-only", publish.EventResolved))
	}
	if ts.Status != contract.DeliveryDelivered || len(h.deadLetters) != 0 {
		t.Errorf("status %s, dead letters %d", ts.Status, len(h.deadLetters))
	}
}

// A canary refused for good (4xx) ends the wait: nothing will change.
func TestAlertWorkflow_CanaryPermanentFailureDeadLetters(t *testing.T) {
	h := newHarness(t, webhookTarget("refuses"))
	h.health.set("refuses", health.StateUnhealthy)
	h.pub.fail["refuses"] = []error{publish.Permanent(publish.KindHTTPClient, "HTTP 400")}
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Hour, resolved(a))
	h.run(t)
	if len(h.deadLetters) != 1 || h.deadLetters[0].ErrorKind != publish.KindHTTPClient {
		t.Fatalf("dead letters = %+v, want the firing as http_client", h.deadLetters)
	}
}

func TestAlertWorkflow_OutOfOrderNotifications(t *testing.T) {
	first := firing("fp1", nil)
	later := first
	later.StartsAt = resolved(first).EndsAt.Add(10 * time.Minute)
	for _, tc := range []struct {
		name                string
		send                []alertAt
		firings, resolves   int
		episode, stale      int
		wantStatus, wantEnd string
	}{
		{"stale firing after its resolve opens nothing",
			[]alertAt{{0, first}, {time.Minute, resolved(first)}, {2 * time.Minute, first}},
			1, 1, 1, 1, "resolved", "resolved"},
		{"genuine re-fire after a resolve is a new episode",
			[]alertAt{{0, first}, {time.Minute, resolved(first)}, {2 * time.Minute, later}, {3 * time.Minute, resolved(later)}},
			2, 2, 2, 0, "resolved", "resolved"},
		{"re-fire after a lost resolve is published",
			[]alertAt{{0, first}, {time.Minute, later}, {2 * time.Minute, resolved(later)}},
			2, 1, 2, 0, "resolved", "resolved"},
		{"resolve of an earlier episode is old news",
			[]alertAt{{0, first}, {time.Minute, resolved(first)}, {2 * time.Minute, later}, {3 * time.Minute, resolved(first)},
				{4 * time.Minute, resolved(later)}},
			2, 2, 2, 1, "resolved", "resolved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, webhookTarget("a"))
			for _, s := range tc.send {
				h.signalAt(s.at, s.alert)
			}
			st := h.run(t)
			if f, r := h.pub.count("a", publish.EventFiring), h.pub.count("a", publish.EventResolved); f != tc.firings || r != tc.resolves {
				t.Errorf("firing=%d resolved=%d deliveries, want %d/%d", f, r, tc.firings, tc.resolves)
			}
			if st.Episode != tc.episode || st.Stale != tc.stale {
				t.Errorf("episode=%d stale=%d, want %d/%d", st.Episode, st.Stale, tc.episode, tc.stale)
			}
			if st.Status != tc.wantStatus || st.Completed != tc.wantEnd {
				t.Errorf("status=%s completed=%s", st.Status, st.Completed)
			}
		})
	}
}

type alertAt struct {
	at    time.Duration
	alert alert.Alert
}

// A firing alert is re-sent to an alertmanager target every third of its
// forward TTL, so the receiving Alertmanager never expires it while it
// fires; the resolve stops the re-sends. Other targets get no re-sends.
func TestAlertWorkflow_ForwardResendsKeepDownstreamAlertActive(t *testing.T) {
	am := target.Target{Name: "am", Type: "alertmanager", URL: "http://am.invalid",
		Config: &alertmanager.Config{Alertmanager: &alertmanager.Options{ForwardTTL: target.Duration(30 * time.Minute)}}}
	h := newHarness(t, am, webhookTarget("hook"))
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(2*time.Hour+time.Minute, resolved(a))
	st := h.run(t)
	// 2h at one re-send per 10m: 12 re-sends after the first firing.
	if got := h.pub.count("am", publish.EventFiring); got < 12 || got > 13 {
		t.Errorf("alertmanager target got %d firings in 2h, want 1 + 12 re-sends", got)
	}
	if got := h.pub.count("hook", publish.EventFiring); got != 1 {
		t.Errorf("webhook target got %d firings, want 1 (no re-sends)", got)
	}
	if got := h.pub.count("am", publish.EventResolved); got != 1 {
		t.Errorf("alertmanager target got %d resolves, want 1", got)
	}
	if ts := targetState(t, st, "am"); ts.Resends < 12 {
		t.Errorf("state counts %d re-sends", ts.Resends)
	}
}

// Notifications carry the episode (Rootly keys its deduplication on it).
func TestAlertWorkflow_NotificationsCarryTheEpisode(t *testing.T) {
	h := newHarness(t, webhookTarget("a"))
	var episodes []int
	h.pub.onPublish = func(n publish.Notification) { episodes = append(episodes, n.Episode) }
	first := firing("fp1", nil)
	again := first
	again.StartsAt = resolved(first).EndsAt.Add(time.Minute)
	h.signalAt(0, first)
	h.signalAt(time.Minute, resolved(first))
	h.signalAt(2*time.Minute, again)
	h.signalAt(3*time.Minute, resolved(again))
	h.run(t)
	if fmt.Sprint(episodes) != "[1 1 2 2]" {
		t.Errorf("episodes of the deliveries = %v, want [1 1 2 2]", episodes)
	}
}

// No delivery is decided before every target source synced: the alert waits
// (on workflow timers, not inside a workflow task) and then goes to the
// targets the source brought.
func TestAlertWorkflow_WaitsForTargetDiscovery(t *testing.T) {
	h := newHarness(t, webhookTarget("file-target"))
	h.reg.Expect("kubernetes")
	h.env.RegisterDelayedCallback(func() {
		h.reg.Update("kubernetes", []target.Target{webhookTarget("from-secret")}, nil)
	}, 3*time.Minute)
	a := firing("fp1", nil)
	h.signalAt(0, a)
	h.signalAt(time.Hour, resolved(a))
	st := h.run(t)
	if st.Mode != "normal" {
		t.Fatalf("mode = %q (%s), want normal", st.Mode, st.ModeReason)
	}
	for _, name := range []string{"file-target", "from-secret"} {
		if f := h.pub.count(name, publish.EventFiring); f != 1 {
			t.Errorf("%s got %d firings, want 1", name, f)
		}
	}
}
