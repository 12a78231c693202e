package workflows

import (
	"testing"

	"github.com/herald-alerts/herald/internal/contract"
)

// The literal IDs operators type into the Web UI, the CLI and their
// tooling (docs/configuration.md, docs/workflows.md, docs/health.md): a
// change here breaks them, so it must be deliberate.
func TestLiteralWorkflowAndScheduleIDs(t *testing.T) {
	for _, tc := range []struct {
		what, got, want string
	}{
		{"alert workflow", contract.AlertWorkflowID("3f2a9c"), "alert-3f2a9c"},
		{"dead letters", DeadLetterWorkflowIDFor("herald"), "herald-dead-letters"},
		{"dead letters, default queue", DeadLetterWorkflowIDFor(""), "herald-dead-letters"},
		{"dead letters, other queue", DeadLetterWorkflowIDFor("team-a"), "herald-dead-letters-team-a"},
		{"health schedule", HealthScheduleIDFor("herald"), "herald-health-check"},
		{"health schedule, other queue", HealthScheduleIDFor("team-a"), "herald-health-check-team-a"},
		{"health state", HealthStateWorkflowIDFor("herald"), "herald-health"},
		{"health state, other queue", HealthStateWorkflowIDFor("team-a"), "herald-health-team-a"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: ID %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}
