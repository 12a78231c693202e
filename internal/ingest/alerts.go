package ingest

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/go-chi/chi/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/internal/contract"
)

var fingerprintRE = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

func (s *Server) handleAlert(w http.ResponseWriter, r *http.Request) {
	fp := chi.URLParam(r, "fingerprint")
	if !fingerprintRE.MatchString(fp) {
		WriteError(w, http.StatusBadRequest, "fingerprint must be 1-64 letters and digits")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	id := contract.AlertWorkflowID(fp)
	desc, err := s.cfg.Client.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		s.temporalError(w, "alert "+fp, err)
		return
	}
	info := desc.GetWorkflowExecutionInfo()
	runID := info.GetExecution().GetRunId()
	val, err := s.cfg.Client.QueryWorkflow(ctx, id, runID, contract.StateQuery)
	if err != nil {
		s.temporalError(w, "alert "+fp, err)
		return
	}
	var st contract.AlertState
	if err := val.Get(&st); err != nil {
		WriteError(w, http.StatusInternalServerError, "decode alert state: "+err.Error())
		return
	}
	view := newAlertView(&st)
	view.WorkflowID, view.RunID, view.WorkflowStatus = id, runID, statusName(info.GetStatus())
	for _, pa := range desc.GetPendingActivities() {
		v := InFlightRetry{
			ActivityID: pa.GetActivityId(),
			Attempt:    pa.GetAttempt(),
			State:      pa.GetState().String(),
		}
		if f := pa.GetLastFailure(); f != nil {
			if s.cfg.DataConverter != nil {
				converter.DecodeCommonFailureAttributes(s.cfg.DataConverter, f)
			}
			v.LastFailure = f.GetMessage()
		}
		if t := pa.GetLastStartedTime(); t != nil {
			v.LastAttemptAt = t.AsTime()
		}
		if t := pa.GetScheduledTime(); t != nil {
			v.NextAttemptAt = t.AsTime()
		}
		view.InFlight = append(view.InFlight, v)
	}
	s.hideAlertExcerpts(ctx, &st, view.InFlight) // tenancy.go
	writeJSON(w, http.StatusOK, view)
}

func statusName(st enumspb.WorkflowExecutionStatus) string {
	switch st {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "continued"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "timed_out"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "canceled"
	}
	return "unknown"
}

// temporalError maps a Temporal client error to an HTTP answer.
func (s *Server) temporalError(w http.ResponseWriter, what string, err error) {
	switch {
	case isNotFound(err):
		WriteError(w, http.StatusNotFound, what+" not found")
	case isUnavailable(err):
		WriteError(w, http.StatusServiceUnavailable, "temporal unavailable: "+err.Error())
	default:
		s.log.Error("temporal call failed", "what", what, "error", err)
		WriteError(w, http.StatusBadGateway, "temporal: "+err.Error())
	}
}
