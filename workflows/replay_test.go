package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/history"
)

// TestReplayRecordedHistories replays every committed history in testdata/
// against the current workflow code: a change to a workflow's command
// sequence that is not behind workflow.GetVersion fails here.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := history.Replay(Register, f); err != nil {
				t.Errorf("replay: %v", err)
			}
		})
	}
}

// TestReplayCatchesChangedWorkflow proves the replay check bites: a
// workflow under the same name that reorders its deliveries fails.
func TestReplayCatchesChangedWorkflow(t *testing.T) {
	changed := func(ctx workflow.Context, in AlertInput) (*AlertState, error) {
		// Skips resolving targets and publishes nothing.
		return &AlertState{}, nil
	}
	register := func(r worker.WorkflowRegistry) {
		r.RegisterWorkflowWithOptions(changed, workflow.RegisterOptions{Name: contract.LegacyAlertWorkflow})
	}
	if err := history.Replay(register, "testdata/alert_v1_fanout_resolve.json"); err == nil {
		t.Fatal("replay of a changed workflow succeeded; the check would miss nondeterminism")
	}
}
