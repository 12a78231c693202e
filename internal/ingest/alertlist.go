package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/internal/contract"
)

// AlertSummary is one entry of GET /api/v1/alerts.
type AlertSummary struct {
	Fingerprint    string    `json:"fingerprint"`
	Name           string    `json:"name"`
	Severity       string    `json:"severity"`
	Status         string    `json:"status"`
	Targets        []string  `json:"targets"`
	WorkflowID     string    `json:"workflowId"`
	RunID          string    `json:"runId"`
	WorkflowStatus string    `json:"workflowStatus"`
	StartedAt      time.Time `json:"startedAt,omitzero"`
	ClosedAt       time.Time `json:"closedAt,omitzero"`
}

// AlertList is the answer of GET /api/v1/alerts: the visibility query it
// ran and the alerts found. NextPageToken, when set, asks for the next
// (older) page as page_token with the same filters.
type AlertList struct {
	Query string `json:"query"`
	// Matched counts every alert the filters match, on all pages.
	Matched       int64          `json:"matched"`
	Alerts        []AlertSummary `json:"alerts"`
	NextPageToken string         `json:"nextPageToken,omitempty"`
}

// maxPageToken bounds the page_token parameter.
const maxPageToken = 4096

var filterValueRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,200}$`)

// alertFilters maps query parameters to Herald's search attributes.
var alertFilters = []struct{ param, attr string }{
	{"name", contract.AttrAlertName.GetName()},
	{"severity", contract.AttrSeverity.GetName()},
	{"status", contract.AttrStatus.GetName()},
	{"target", contract.AttrTargets.GetName()},
	{"fingerprint", contract.AttrFingerprint.GetName()},
}

// handleAlertList answers GET /api/v1/alerts?status=&severity=&name=&target=&fingerprint=&limit=&page_token=
// from Temporal's visibility store (the same search the Web UI runs).
func (s *Server) handleAlertList(w http.ResponseWriter, r *http.Request) {
	query, limit, err := alertListQuery(r.URL.Query())
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	token, err := decodePageToken(query, r.URL.Query().Get("page_token"))
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	resp, err := s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.cfg.Namespace, Query: query, PageSize: int32(limit), NextPageToken: token,
	})
	if err != nil {
		if token != nil && s.listWorksWithoutToken(ctx, query) {
			// Visibility stores answer a token they cannot read with
			// errors of their own (a JSON error, even "unavailable"):
			// the same query without it working says the token is bad.
			WriteError(w, http.StatusBadRequest, errBadPageToken.Error())
			return
		}
		s.temporalError(w, "alert list", err)
		return
	}
	count, err := s.cfg.Client.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: s.cfg.Namespace, Query: query})
	if err != nil {
		s.temporalError(w, "alert count", err)
		return
	}
	out := AlertList{Query: query, Matched: count.GetCount(), Alerts: []AlertSummary{}}
	if next := resp.GetNextPageToken(); len(next) > 0 && s.morePast(ctx, query, next) {
		out.NextPageToken = encodePageToken(query, next)
	}
	for _, ex := range resp.GetExecutions() {
		fields := ex.GetSearchAttributes().GetIndexedFields()
		a := AlertSummary{
			Fingerprint:    keyword(fields, contract.AttrFingerprint.GetName()),
			Name:           keyword(fields, contract.AttrAlertName.GetName()),
			Severity:       keyword(fields, contract.AttrSeverity.GetName()),
			Status:         keyword(fields, contract.AttrStatus.GetName()),
			Targets:        keywords(fields, contract.AttrTargets.GetName()),
			WorkflowID:     ex.GetExecution().GetWorkflowId(),
			RunID:          ex.GetExecution().GetRunId(),
			WorkflowStatus: statusName(ex.GetStatus()),
		}
		if t := ex.GetStartTime(); t != nil {
			a.StartedAt = t.AsTime()
		}
		if t := ex.GetCloseTime(); t != nil {
			a.ClosedAt = t.AsTime()
		}
		out.Alerts = append(out.Alerts, a)
	}
	writeJSON(w, http.StatusOK, out)
}

// alertListQuery builds the visibility query of GET /api/v1/alerts from its
// parameters: every filter value is checked against filterValueRE and
// quoted, so no value can change the query's structure.
func alertListQuery(q url.Values) (query string, limit int, err error) {
	types := make([]string, len(contract.AlertWorkflowTypes))
	for i, t := range contract.AlertWorkflowTypes {
		types[i] = quoteQueryValue(t)
	}
	clauses := []string{"WorkflowType IN (" + strings.Join(types, ", ") + ")"}
	for _, f := range alertFilters {
		v := q.Get(f.param)
		if v == "" {
			continue
		}
		if !filterValueRE.MatchString(v) {
			return "", 0, errors.New(f.param + ": 1-200 letters, digits and _.:/- only")
		}
		clauses = append(clauses, f.attr+" = "+quoteQueryValue(v))
	}
	limit, err = intParam(q.Get("limit"), 100)
	if err != nil || limit == 0 || limit > 1000 {
		return "", 0, errors.New("limit must be 1-1000")
	}
	return strings.Join(clauses, " AND "), limit, nil
}

// listWorksWithoutToken reports whether the visibility query answers when
// asked for its first page.
func (s *Server) listWorksWithoutToken(ctx context.Context, query string) bool {
	_, err := s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.cfg.Namespace, Query: query, PageSize: 1,
	})
	return err == nil
}

// morePast reports whether an alert follows visibility's token: a full
// page carries a token even when nothing follows, and a token that leads
// to an empty page would tell the user there is more. When the look
// cannot be taken, the token is kept.
func (s *Server) morePast(ctx context.Context, query string, token []byte) bool {
	resp, err := s.cfg.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: s.cfg.Namespace, Query: query, PageSize: 1, NextPageToken: token,
	})
	return err != nil || len(resp.GetExecutions()) > 0
}

var errBadPageToken = errors.New("page_token: not a token from an earlier answer of this list with the same filters")

// A page token is visibility's own token behind a check of the query it
// pages: a token cut short, made up, or used with other filters is a 400
// here, before the visibility store sees it (stores answer such tokens
// with server errors of their own).
const pageTokenCheck = 8

func pageTokenSum(query string, raw []byte) []byte {
	h := sha256.New()
	h.Write([]byte("herald alert list page\x00" + query + "\x00"))
	h.Write(raw)
	return h.Sum(nil)[:pageTokenCheck]
}

func encodePageToken(query string, raw []byte) string {
	return base64.RawURLEncoding.EncodeToString(append(pageTokenSum(query, raw), raw...))
}

// decodePageToken returns visibility's token in page_token v (nil for "").
func decodePageToken(query, v string) ([]byte, error) {
	if v == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(v) > maxPageToken || len(b) <= pageTokenCheck {
		return nil, errBadPageToken
	}
	raw := b[pageTokenCheck:]
	if !bytes.Equal(b[:pageTokenCheck], pageTokenSum(query, raw)) {
		return nil, errBadPageToken
	}
	return raw, nil
}

// quoteQueryValue quotes v as a string literal of Temporal's visibility
// query language (single quotes, backslash escapes).
func quoteQueryValue(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

func keyword(fields map[string]*commonpb.Payload, name string) string {
	var v string
	if p, ok := fields[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}

func keywords(fields map[string]*commonpb.Payload, name string) []string {
	v := []string{}
	if p, ok := fields[name]; ok {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &v)
	}
	return v
}
