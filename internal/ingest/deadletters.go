package ingest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/workflows"
)

// dlqTimeout bounds a dead-letter call; replay-all of many entries takes
// longer than a plain query.
const (
	dlqQueryTimeout  = 10 * time.Second
	dlqUpdateTimeout = 5 * time.Minute
	// replayAllPoll is how often a waiting replay-all request polls.
	replayAllPoll = 500 * time.Millisecond
	// maxIdempotencyKey bounds the Idempotency-Key header.
	maxIdempotencyKey = 128
	// dlqGetPage is the page size GET /api/v1/dlq/{id} reads the list in.
	dlqGetPage = 1000
)

// mountDeadLetters adds the dead-letter API under /api/v1.
func (s *Server) mountDeadLetters(r chi.Router, admin func(http.Handler) http.Handler) {
	r.Get("/dlq", s.handleDLQList)
	r.Get("/dlq/stats", s.handleDLQStats)
	r.Get("/dlq/{id}", s.handleDLQGet)
	r.With(admin).Post("/dlq/replay", s.handleDLQReplayAll)
	r.With(admin).Post("/dlq/{id}/replay", s.handleDLQReplay)
	r.With(admin).Delete("/dlq/{id}", s.handleDLQDrop)
	r.With(admin).Delete("/dlq", s.handleDLQPurge)
}

func (s *Server) handleDLQList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := workflows.ListRequest{Target: q.Get("target"), Fingerprint: q.Get("fingerprint"), Kind: q.Get("kind")}
	var err error
	if req.Offset, err = intParam(q.Get("offset"), 0); err != nil {
		WriteError(w, http.StatusBadRequest, "offset: "+err.Error())
		return
	}
	if req.Limit, err = intParam(q.Get("limit"), 100); err != nil {
		WriteError(w, http.StatusBadRequest, "limit: "+err.Error())
		return
	}
	if v := q.Get("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			WriteError(w, http.StatusBadRequest, "older_than must be a positive Go duration such as 1h or 30m")
			return
		}
		req.FailedBefore = time.Now().Add(-d)
	}
	ctx, cancel := context.WithTimeout(r.Context(), dlqQueryTimeout)
	defer cancel()
	var resp workflows.ListResponse
	if err := s.dlqQuery(ctx, workflows.DeadLetterListQuery, &resp, req); err != nil {
		if isNotFound(err) {
			writeJSON(w, http.StatusOK, workflows.ListResponse{Entries: []*workflows.DeadLetter{}, Offset: req.Offset})
			return
		}
		s.temporalError(w, "dead letters", err)
		return
	}
	s.hideDeadLetterExcerpts(ctx, resp.Entries) // tenancy.go
	writeJSON(w, http.StatusOK, newDeadLetterList(resp))
}

// handleDLQGet answers one dead letter by ID. The list query has no ID
// filter; an ID starts with its alert's fingerprint
// (contract.DeadLetterID), so the entries of that alert are listed and the
// one with the ID picked (every entry is searched when the ID does not
// start with a fingerprint).
func (s *Server) handleDLQGet(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	req := workflows.ListRequest{Limit: dlqGetPage}
	if fp, _, ok := strings.Cut(id, "."); ok && fingerprintRE.MatchString(fp) {
		req.Fingerprint = fp
	}
	ctx, cancel := context.WithTimeout(r.Context(), dlqQueryTimeout)
	defer cancel()
	for {
		var resp workflows.ListResponse
		if err := s.dlqQuery(ctx, workflows.DeadLetterListQuery, &resp, req); err != nil {
			if isNotFound(err) {
				break // no dead-letter workflow yet
			}
			s.temporalError(w, "dead letters", err)
			return
		}
		for _, e := range resp.Entries {
			if e != nil && e.ID == id {
				s.hideDeadLetterExcerpts(ctx, []*workflows.DeadLetter{e}) // tenancy.go
				writeJSON(w, http.StatusOK, newDeadLetterView(e))
				return
			}
		}
		req.Offset += len(resp.Entries)
		if len(resp.Entries) == 0 || req.Offset >= resp.Matched {
			break
		}
	}
	WriteError(w, http.StatusNotFound, fmt.Sprintf("no dead letter with id %q", alert.Truncate(id, 200)))
}

func (s *Server) handleDLQStats(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dlqQueryTimeout)
	defer cancel()
	var st workflows.Stats
	if err := s.dlqQuery(ctx, workflows.DeadLetterStatsQuery, &st); err != nil {
		if isNotFound(err) {
			writeJSON(w, http.StatusOK, workflows.Stats{ByTarget: map[string]int{}, ByKind: map[string]int{}})
			return
		}
		s.temporalError(w, "dead letters", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) handleDLQReplay(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	var res workflows.ReplayResult
	if !s.dlqUpdate(w, r, workflows.DeadLetterReplayUpdate, workflows.ReplayRequest{ID: id}, &res) {
		return
	}
	status := http.StatusOK
	if !res.Delivered {
		// The replay ran and failed again: the entry stays.
		status = http.StatusBadGateway
	}
	s.hideReplayExcerpt(r.Context(), &res) // tenancy.go
	writeJSON(w, status, res)
}

// handleDLQReplayAll starts (or joins) a replay-all. The Idempotency-Key
// header, or a random key without one, is the update ID and the job's key:
// a retried request joins the same replay-all instead of starting another,
// and a different replay-all while one runs is refused with 409. A large
// replay-all outlives one update (it continues across runs of the
// dead-letter workflow); the answer then waits for it by polling its
// status, and is 202 with the progress so far if it is still running when
// the request's time is up.
func (s *Server) handleDLQReplayAll(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = "replay-all-" + rand.Text()
	} else if len(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(c rune) bool { return c < 0x21 || c > 0x7e }) {
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("Idempotency-Key must be 1-%d printable ASCII characters without spaces", maxIdempotencyKey))
		return
	}
	var res workflows.ReplayAllResult
	req := workflows.ReplayAllRequest{Target: r.URL.Query().Get("target"), Key: key}
	ctx, cancel := context.WithTimeout(r.Context(), dlqUpdateTimeout)
	defer cancel()
	if !s.dlqUpdateWithID(ctx, w, key, workflows.DeadLetterReplayAllUpdate, req, &res) {
		return
	}
	if res.Key != "" && !res.Done {
		s.awaitReplayAll(ctx, key, &res)
	}
	if res.Results == nil {
		res.Results = []workflows.ReplayResult{}
	}
	status := http.StatusOK
	if res.Key != "" && !res.Done {
		status = http.StatusAccepted
	}
	s.hideReplayAllExcerpts(ctx, &res) // tenancy.go
	writeJSON(w, status, res)
}

// awaitReplayAll polls a running replay-all until it is done or ctx ends.
func (s *Server) awaitReplayAll(ctx context.Context, key string, res *workflows.ReplayAllResult) {
	t := time.NewTicker(replayAllPoll)
	defer t.Stop()
	for !res.Done {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var now workflows.ReplayAllResult
		if err := s.dlqQuery(ctx, workflows.DeadLetterReplayAllStatusQuery, &now, key); err != nil {
			// Between two runs of the workflow a query can fail; try again.
			s.log.Debug("replay-all status not readable yet", "key", key, "error", err)
			continue
		}
		*res = now
	}
}

func (s *Server) handleDLQDrop(w http.ResponseWriter, r *http.Request) {
	var res workflows.DropResult
	if s.dlqUpdate(w, r, workflows.DeadLetterDropUpdate, workflows.DropRequest{ID: chi.URLParam(r, "id")}, &res) {
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Server) handleDLQPurge(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query().Get("older_than")
	d, err := time.ParseDuration(v)
	if v == "" || err != nil || d <= 0 {
		WriteError(w, http.StatusBadRequest, "older_than is required: a positive Go duration such as 24h")
		return
	}
	var res workflows.DropResult
	if s.dlqUpdate(w, r, workflows.DeadLetterPurgeUpdate, workflows.PurgeRequest{OlderThan: d}, &res) {
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Server) dlqQuery(ctx context.Context, name string, into any, args ...any) error {
	v, err := s.cfg.Client.QueryWorkflow(ctx, workflows.DeadLetterWorkflowIDFor(s.cfg.TaskQueue), "", name, args...)
	if err != nil {
		return err
	}
	return v.Get(into)
}

// dlqUpdate runs an update and writes an error answer when it fails; it
// reports whether the caller should write the result.
func (s *Server) dlqUpdate(w http.ResponseWriter, r *http.Request, name string, arg, into any) bool {
	ctx, cancel := context.WithTimeout(r.Context(), dlqUpdateTimeout)
	defer cancel()
	return s.dlqUpdateWithID(ctx, w, "", name, arg, into)
}

// dlqUpdateWithID is dlqUpdate with a given update ID (empty: a new one).
func (s *Server) dlqUpdateWithID(ctx context.Context, w http.ResponseWriter, updateID, name string, arg, into any) bool {
	h, err := s.cfg.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		UpdateID:     updateID,
		WorkflowID:   workflows.DeadLetterWorkflowIDFor(s.cfg.TaskQueue),
		UpdateName:   name,
		Args:         []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, into)
	}
	if err == nil {
		return true
	}
	switch {
	case isNotFound(err) && (name == workflows.DeadLetterReplayAllUpdate || name == workflows.DeadLetterPurgeUpdate):
		// No dead-letter workflow yet: nothing to replay or purge.
		return true
	case isNotFound(err):
		WriteError(w, http.StatusNotFound, "no dead letters recorded yet")
	case isRejected(err):
		msg := err.Error()
		status := http.StatusBadRequest
		if strings.Contains(msg, "no dead letter with id") {
			status = http.StatusNotFound
		} else if strings.Contains(msg, "being replayed") || strings.Contains(msg, workflows.ErrReplayAllRunning) {
			status = http.StatusConflict
		} else if strings.Contains(msg, workflows.ErrMovingToNewRun) {
			// The dead-letter workflow is continuing as new: try again.
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		}
		WriteError(w, status, rejectionMessage(err))
	default:
		s.temporalError(w, "dead letters", err)
	}
	return false
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// isRejected reports whether an update was rejected by its validator.
func isRejected(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr)
}

func rejectionMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

func intParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errors.New("must be a non-negative integer")
	}
	return n, nil
}
