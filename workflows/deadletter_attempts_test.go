package workflows

import (
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
)

// A replay makes up to 3 attempts (docs/dead-letters.md): a receiver that
// fails twice and then answers is delivered on the third; one that keeps
// failing leaves the entry with its new error after exactly 3.
func TestDeadLetters_ReplayMakesUpToThreeAttempts(t *testing.T) {
	for _, tc := range []struct {
		name          string
		failures      int
		wantDelivered bool
		wantCalls     int
	}{
		{"delivered on the third attempt", 2, true, 3},
		{"three failures keep the entry", 5, false, 3},
		{"delivered at once", 0, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newDLQHarness(t, webhookTarget("hook"))
			for range tc.failures {
				h.pub.fail["hook"] = append(h.pub.fail["hook"], publish.Retryable(publish.KindHTTPServer, 0, "HTTP 503"))
			}
			h.add(0, entry("e", "hook", h.env.Now()))
			var replay *pendingUpdate
			var after ListResponse
			h.at(time.Minute, func() { replay = h.update(DeadLetterReplayUpdate, ReplayRequest{ID: "e"}) })
			h.at(5*time.Minute, func() {
				after = h.list(ListRequest{})
				h.env.CancelWorkflow()
			})
			if err := h.run(DeadLetterInput{}); err != nil && !isCanceled(err) {
				t.Fatal(err)
			}
			if replay == nil || !replay.done {
				t.Fatal("replay did not finish")
			}
			r, _ := replay.value.(ReplayResult)
			if r.Delivered != tc.wantDelivered || int(r.Attempts) != tc.wantCalls {
				t.Errorf("replay = %+v, want delivered=%v after %d attempts", r, tc.wantDelivered, tc.wantCalls)
			}
			if n := h.pub.count("hook", publish.EventFiring); n != tc.wantCalls {
				t.Errorf("receiver got %d requests, want %d", n, tc.wantCalls)
			}
			if kept := after.Total == 1; kept == tc.wantDelivered {
				t.Errorf("after the replay %d entries, want the entry kept only if not delivered", after.Total)
			}
		})
	}
}
