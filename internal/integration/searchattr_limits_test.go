package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/target"
)

// TestManyTargetsAndLongNamesKeepTheWorkflowAlive: the server terminates a
// workflow whose search attribute value passes 2 KB. HeraldTargets passed
// it at about 80–100 targets, and a long alertname did too. Every value is
// bounded, so 120 targets with 40-character names and a 3,000-character
// alertname still deliver everywhere and the workflow completes normally.
func TestManyTargetsAndLongNamesKeepTheWorkflowAlive(t *testing.T) {
	s := newSink(t)
	var targets []target.Target
	for i := 0; i < 120; i++ {
		name := fmt.Sprintf("team-%03d-%s", i, strings.Repeat("x", 31))
		targets = append(targets, webhookTargetFor(name, s, quickRetry(3)))
	}
	h := startHerald(t, targets)
	a := firingAlert("manytargets", "Long"+strings.Repeat("N", 3000))
	if code, body := h.post(webhookBody(a)); code != http.StatusOK {
		t.Fatalf("POST /webhook = %d %s", code, body)
	}
	eventually(t, 90*time.Second, "120 firing deliveries", func() bool { return s.countFP("manytargets", "firing") >= 120 })
	h.post(webhookBody(resolvedAlert(a)))
	st := h.waitWorkflowDone("manytargets")
	if st.Completed != "resolved" {
		t.Fatalf("workflow ended %q, want resolved", st.Completed)
	}
	if f, r := s.countFP("manytargets", "firing"), s.countFP("manytargets", "resolved"); f != 120 || r != 120 {
		t.Errorf("deliveries firing=%d resolved=%d, want 120 each exactly", f, r)
	}
	delivered := 0
	for _, ts := range st.Targets {
		if ts.Status == contract.DeliveryDelivered {
			delivered++
		}
	}
	if delivered != 120 {
		t.Errorf("%d of 120 targets delivered in the final state", delivered)
	}
}
