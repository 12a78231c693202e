// Package contract is what Herald's workflows, activities and HTTP API
// share: the names of workflows, signals, queries and updates, the inputs
// and state of the alert workflow, and its outcome constants. Each name is
// written here once; workflows, activities and the API import it, and it
// imports none of them (only Herald's data types: alerts, targets and
// provider notifications).
package contract

import "fmt"

// Workflow types.
const (
	// AlertWorkflow is the alert workflow type new alerts start on: one
	// run per alert lifecycle, its ID AlertWorkflowIDPrefix + fingerprint.
	AlertWorkflow = "AlertLifecycle"
	// LegacyAlertWorkflow is the first-generation alert workflow type.
	// Runs opened on it finish on it; nothing starts it any more.
	LegacyAlertWorkflow = "AlertWorkflow"
	// DeadLetterWorkflow is the one dead-letter workflow of a namespace.
	DeadLetterWorkflow = "DeadLetterWorkflow"
)

// AlertWorkflowTypes lists every alert workflow type that may have runs,
// for queries over alerts (the API's alert list).
var AlertWorkflowTypes = []string{AlertWorkflow, LegacyAlertWorkflow}

// Alert workflow IDs, signals and queries (both generations).
const (
	// AlertWorkflowIDPrefix + fingerprint is an alert workflow's ID.
	AlertWorkflowIDPrefix = "alert-"
	// AlertSignal carries a Notify: every webhook occurrence of the alert.
	AlertSignal = "alert"
	// DeliveryReplayedSignal carries a DeliveryReplayed: a dead letter of
	// the alert was delivered by a replay.
	DeliveryReplayedSignal = "delivery-replayed"
	// StateQuery returns the AlertState.
	StateQuery = "state"
)

// AlertWorkflowID returns the workflow ID of the alert with this fingerprint.
func AlertWorkflowID(fingerprint string) string { return AlertWorkflowIDPrefix + fingerprint }

// Dead-letter workflow operations.
const (
	// DeadLetterAddSignal carries a DeadLetter to record.
	DeadLetterAddSignal = "add"
	// DeadLetterArchiveBodiesQuery is the dead-letter archive workflow's
	// query of archived alert bodies.
	DeadLetterArchiveBodiesQuery = "bodies"
	// DeadLetterExportQuery returns one page of a dead-letter run's state
	// (also of a closed run): a run that starts without carried state
	// recovers the entries of the previous run with it.
	DeadLetterExportQuery = "export"
)

// DeadLetterID identifies a failed delivery: alert workflow run, target and
// delivery sequence. Repeats of the same failure map to the same entry.
func DeadLetterID(fingerprint, runID, targetName string, seq int) string {
	short := runID
	if len(short) > 8 {
		short = short[:8]
	}
	return fmt.Sprintf("%s.%s.%s.%d", fingerprint, targetName, short, seq)
}
