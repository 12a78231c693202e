package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/workflows/alertflow"
)

// Register registers every Herald workflow (on a worker or a replayer):
// the alert workflow new alerts start on, the first-generation alert
// workflow that open runs finish on, dead letters and health.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(alertflow.Workflow, workflow.RegisterOptions{Name: contract.AlertWorkflow})
	r.RegisterWorkflowWithOptions(AlertWorkflow, workflow.RegisterOptions{Name: contract.LegacyAlertWorkflow})
	r.RegisterWorkflow(DeadLetterWorkflow)
	r.RegisterWorkflow(DeadLetterArchiveWorkflow)
	r.RegisterWorkflow(HealthCheckWorkflow)
	r.RegisterWorkflow(HealthStateWorkflow)
}
