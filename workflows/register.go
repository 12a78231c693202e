package workflows

import "go.temporal.io/sdk/worker"

// Register registers every Herald workflow (on a worker or a replayer).
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(AlertWorkflow)
	r.RegisterWorkflow(DeadLetterWorkflow)
	r.RegisterWorkflow(DeadLetterArchiveWorkflow)
	r.RegisterWorkflow(HealthCheckWorkflow)
	r.RegisterWorkflow(HealthStateWorkflow)
}
