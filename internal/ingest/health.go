package ingest

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// checkTimeout bounds POST /api/v1/targets/{name}/check.
const checkTimeout = time.Minute

func (s *Server) mountHealth(r chi.Router, admin func(http.Handler) http.Handler) {
	r.Get("/targets/{name}/health", s.handleTargetHealth)
	r.With(admin).Post("/targets/{name}/check", s.handleTargetCheck)
}

// healthOf returns the shared health of the registry's targets; errors
// leave the states unknown (the API still answers).
func (s *Server) healthOf(ctx context.Context) map[string]health.Status {
	if s.cfg.Health == nil {
		return nil
	}
	all, err := s.cfg.Health.All(ctx)
	if err != nil {
		s.log.Warn("target health unavailable", "error", err)
		return nil
	}
	return s.hideHealthExcerpts(ctx, all) // tenancy.go
}

func statusOf(all map[string]health.Status, name string) health.Status {
	if st, ok := all[name]; ok && st.State != "" {
		return st
	}
	return health.Status{Target: name, State: health.StateUnknown}
}

func (s *Server) handleTargetHealth(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if _, ok := s.cfg.Registry.Get(name); !ok {
		WriteError(w, http.StatusNotFound, "no target named "+name)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	writeJSON(w, http.StatusOK, newHealthView(statusOf(s.healthOf(ctx), name)))
}

func (s *Server) handleTargetCheck(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if _, ok := s.cfg.Registry.Get(name); !ok {
		WriteError(w, http.StatusNotFound, "no target named "+name)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	run, err := s.cfg.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.HealthScheduleIDFor(s.cfg.TaskQueue) + "-now-" + name,
		TaskQueue: s.cfg.TaskQueue,
	}, workflows.HealthCheckWorkflowName, workflows.HealthCheckInput{Targets: []string{name}})
	if err != nil {
		s.temporalError(w, "health check", err)
		return
	}
	var obs []health.Observation
	if err := run.Get(ctx, &obs); err != nil {
		s.temporalError(w, "health check", err)
		return
	}
	var observed health.Observation
	if len(obs) > 0 {
		observed = obs[0]
	}
	current := health.Status{Target: name, State: health.StateUnknown}
	if s.cfg.Health != nil {
		// The observation reaches the shared state by signal: read until it
		// shows (briefly).
		deadline := time.Now().Add(5 * time.Second)
		for {
			s.cfg.Health.Invalidate()
			st, err := s.cfg.Health.Of(ctx, name)
			if err == nil {
				current = st
			}
			if err != nil || !st.LastCheck.Before(observed.At) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.hideText(ctx, name, &observed.Message) // tenancy.go
	s.hideText(ctx, name, &current.LastError)
	res := CheckResult{Health: newHealthView(current)}
	if observed != (health.Observation{}) {
		res.Observation = newObservationView(observed)
	}
	writeJSON(w, http.StatusOK, res)
}

// targetViews are the registry's targets with their health.
func (s *Server) targetViews(ctx context.Context, list []target.Target) []TargetView {
	all := s.healthOf(ctx)
	out := make([]TargetView, 0, len(list))
	for _, t := range list {
		hv := newHealthView(statusOf(all, t.Name))
		out = append(out, TargetView{Public: t.Public(), Health: &hv})
	}
	return out
}
