package ingest

import (
	"context"
	"crypto/subtle"
	"net/http"
	"sort"
	"strings"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

// Tenancy in the API. A target from a Kubernetes Secret is a tenant's: what
// it answered (error excerpts in lastError, dead letters, health) may be
// the answer of an address the tenant could not reach otherwise, so the API
// shows it only to a reader with the admin token. The kind of error and the
// status code stay visible. Targets no longer configured are treated alike
// (nothing says whose they were). With no admin token configured nobody
// presents it: the excerpts are then in the worker's log only.
//
// Readiness reports the target names two Secrets claim (both are refused).

// HiddenExcerpt replaces an error excerpt a reader may not see.
const HiddenExcerpt = "(hidden: error details of this target are shown with the admin token only)"

type readerKey struct{}

// markAdmin records in the request's context whether it carries the admin
// token, for the handlers that decide what to show (showsExcerpts).
func (s *Server) markAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		admin := false
		if tok := s.cfg.AdminToken; tok != "" {
			admin = subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+tok)) == 1
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), readerKey{}, admin)))
	})
}

// excerptHidden reports whether the reader of ctx may not see the error
// excerpts of the named target.
func (s *Server) excerptHidden(ctx context.Context, name string) bool {
	if admin, _ := ctx.Value(readerKey{}).(bool); admin {
		return false
	}
	if s.cfg.Registry == nil {
		return true
	}
	t, ok := s.cfg.Registry.Get(name)
	if !ok {
		t, ok = s.cfg.Registry.Retired(name)
	}
	return !ok || t.FromTenant()
}

func (s *Server) hideText(ctx context.Context, name string, text *string) {
	if *text != "" && s.excerptHidden(ctx, name) {
		*text = HiddenExcerpt
	}
}

// hideAlertExcerpts hides the error excerpts of an alert's state and of its
// deliveries in flight (activity IDs "<kind>/<target>/...").
func (s *Server) hideAlertExcerpts(ctx context.Context, st *contract.AlertState, inFlight []InFlightRetry) {
	if st != nil {
		for _, ts := range st.Targets {
			if ts == nil {
				continue
			}
			s.hideText(ctx, ts.Name, &ts.LastError)
			for i := range ts.Records {
				s.hideText(ctx, ts.Name, &ts.Records[i].Error)
			}
		}
	}
	for i := range inFlight {
		name := ""
		if parts := strings.SplitN(inFlight[i].ActivityID, "/", 3); len(parts) >= 2 {
			name = parts[1]
		}
		s.hideText(ctx, name, &inFlight[i].LastFailure)
	}
}

// hideDeadLetterExcerpts hides the error excerpts of dead-letter entries.
func (s *Server) hideDeadLetterExcerpts(ctx context.Context, entries []*workflows.DeadLetter) {
	for _, e := range entries {
		if e != nil {
			s.hideText(ctx, e.Target, &e.Error)
		}
	}
}

// hideReplayExcerpt hides the error of a replay result from a reader
// without the admin token (a result names its entry, not its target).
func (s *Server) hideReplayExcerpt(ctx context.Context, res *workflows.ReplayResult) {
	if admin, _ := ctx.Value(readerKey{}).(bool); !admin && res.Error != "" {
		res.Error = HiddenExcerpt
	}
}

// hideReplayAllExcerpts is hideReplayExcerpt for every result of a
// replay-all.
func (s *Server) hideReplayAllExcerpts(ctx context.Context, res *workflows.ReplayAllResult) {
	for i := range res.Results {
		s.hideReplayExcerpt(ctx, &res.Results[i])
	}
}

// hideHealthExcerpts returns all with the last errors the reader may not
// see hidden (a copy: all may be a shared cache).
func (s *Server) hideHealthExcerpts(ctx context.Context, all map[string]health.Status) map[string]health.Status {
	if len(all) == 0 {
		return all
	}
	out := make(map[string]health.Status, len(all))
	for name, st := range all {
		s.hideText(ctx, name, &st.LastError)
		out[name] = st
	}
	return out
}

// RefusedName is a target name that more than one definition claims.
type RefusedName struct {
	Target  string   `json:"target"`
	Origins []string `json:"origins"`
}

// refusedNames lists the target names the registry refused because more
// than one Secret defines them (reason duplicate_name), with every origin
// that claims them.
func (s *Server) refusedNames() []RefusedName {
	if s.cfg.Registry == nil {
		return nil
	}
	snap := s.cfg.Registry.Snapshot()
	byName := map[string][]string{}
	for _, p := range snap.Problems {
		if p.Reason == target.ReasonDuplicateName && p.Target != "" {
			byName[p.Target] = append(byName[p.Target], p.Origin)
		}
	}
	out := make([]RefusedName, 0, len(byName))
	for name, origins := range byName {
		if t, ok := snap.Get(name); ok {
			// Another source's definition is in use (the operator's own
			// wins over a Secret): list it too.
			origins = append(origins, t.Origin+" (in use)")
		}
		sort.Strings(origins)
		out = append(out, RefusedName{Target: name, Origins: origins})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// readyAnswer is the body of a 200 from /readyz: the status, and the
// target names refused for being defined twice, if any (readiness does not
// depend on them: one Secret must not take a replica out of service).
func (s *Server) readyAnswer() map[string]any {
	out := map[string]any{"status": "ready"}
	if refused := s.refusedNames(); len(refused) > 0 {
		out["refused_target_names"] = refused
	}
	return out
}
