package ingest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/workflows"
)

// signalConcurrency bounds parallel SignalWithStart calls per request.
const signalConcurrency = 16

// signalTimeout bounds how long a webhook waits for Temporal.
const signalTimeout = 10 * time.Second

// AcceptedAlert is one alert of an accepted webhook.
type AcceptedAlert struct {
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
	WorkflowID  string `json:"workflowId"`
	RunID       string `json:"runId"`
}

// WebhookResponse is the body of a 200 answer to POST /webhook.
type WebhookResponse struct {
	Accepted int             `json:"accepted"`
	Alerts   []AcceptedAlert `json:"alerts"`
}

func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := s.webhook(w, r, start)
	s.cfg.Metrics.WebhookRequests.WithLabelValues(strconv.Itoa(code)).Inc()
	if code == http.StatusOK {
		s.cfg.Metrics.WebhookDuration.Observe(time.Since(start).Seconds())
	}
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request, start time.Time) int {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			WriteError(w, http.StatusRequestEntityTooLarge,
				"webhook body exceeds "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes")
			return http.StatusRequestEntityTooLarge
		}
		WriteError(w, http.StatusBadRequest, "read body: "+err.Error())
		return http.StatusBadRequest
	}
	hook, err := alert.ParseWebhook(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return http.StatusBadRequest
	}
	alerts := hook.AlertList()
	ctx, cancel := context.WithTimeout(r.Context(), signalTimeout)
	defer cancel()
	accepted, err := s.signalAll(ctx, alerts)
	if err != nil {
		// Nothing is lost: Alertmanager retries the whole batch on 5xx and
		// alerts that did get through see the retry as an unchanged repeat.
		s.log.Error("webhook not accepted: alerts could not be handed to Temporal",
			"alerts", len(alerts), "accepted", len(accepted), "error", err)
		WriteError(w, http.StatusServiceUnavailable, "temporal unavailable, retry later: "+err.Error())
		return http.StatusServiceUnavailable
	}
	for _, a := range alerts {
		s.cfg.Metrics.AlertsReceived.WithLabelValues(a.Status).Inc()
	}
	s.log.Info("webhook accepted", "receiver", hook.Receiver, "alerts", len(alerts), "status", hook.Status,
		"duration", time.Since(start))
	writeJSON(w, http.StatusOK, WebhookResponse{Accepted: len(accepted), Alerts: accepted})
	return http.StatusOK
}

// signalAll hands every alert to its workflow (SignalWithStart) in parallel
// and returns only when all are accepted by Temporal, or the first error.
func (s *Server) signalAll(ctx context.Context, alerts []alert.Alert) ([]AcceptedAlert, error) {
	out := make([]AcceptedAlert, len(alerts))
	errs := make([]error, len(alerts))
	sem := make(chan struct{}, signalConcurrency)
	var wg sync.WaitGroup
	now := time.Now().UTC()
	for i, a := range alerts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run, err := s.signal(ctx, a, now)
			if err != nil {
				errs[i] = err
				s.cfg.Metrics.SignalErrors.WithLabelValues(signalErrorReason(err)).Inc()
				return
			}
			out[i] = AcceptedAlert{Fingerprint: a.Fingerprint, Status: a.Status, WorkflowID: run.GetID(), RunID: run.GetRunID()}
		}()
	}
	wg.Wait()
	var accepted []AcceptedAlert
	for i := range out {
		if errs[i] == nil {
			accepted = append(accepted, out[i])
		}
	}
	return accepted, errors.Join(errs...)
}

func (s *Server) signal(ctx context.Context, a alert.Alert, now time.Time) (client.WorkflowRun, error) {
	id := workflows.AlertWorkflowID(a.Fingerprint)
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.AttrFingerprint.ValueSet(a.Fingerprint),
			workflows.AttrAlertName.ValueSet(a.Name()),
			workflows.AttrSeverity.ValueSet(a.Severity()),
			workflows.AttrStatus.ValueSet(a.Status),
		),
		StaticSummary: a.Name() + " (" + a.Severity() + ")",
		// Critical alerts' workflow tasks run before info alerts' when
		// workers are busy.
		Priority: temporal.Priority{PriorityKey: workflows.PriorityFor(a.Severity())},
	}
	in := workflows.AlertInput{
		Fingerprint:       a.Fingerprint,
		InactivityTimeout: s.cfg.InactivityTimeout,
		DeliveryTimeout:   s.cfg.DeliveryTimeout,
		MaxHealthWait:     s.cfg.MaxHealthWait,
		HealthRecheck:     s.cfg.HealthRecheck,
		ResolvedLinger:    s.cfg.ResolvedLinger,
	}
	return s.cfg.Client.SignalWithStartWorkflow(ctx, id, workflows.AlertSignal,
		workflows.Notify{Alert: a, ReceivedAt: now}, opts, workflows.AlertWorkflowName, in)
}

func signalErrorReason(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case isUnavailable(err):
		return "unavailable"
	default:
		return "rejected"
	}
}
