package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/semaphore"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
)

// signalConcurrency bounds parallel SignalWithStart calls per request.
const signalConcurrency = 16

// Defaults of the webhook budgets: the whole request, and one alert's
// SignalWithStart within it.
const (
	DefaultWebhookTimeout = 10 * time.Second
	DefaultSignalTimeout  = 5 * time.Second
)

// webhookQueueWait is how long a request over the concurrency bound waits
// for a slot before it is answered 503.
const webhookQueueWait = time.Second

// Bound of the static summary the starter sets on a new alert workflow:
// well under Temporal's 400-byte limit even when a codec wraps it (search
// attribute values are bounded by contract.BoundKeyword).
const (
	maxSummaryBytes = 200
)

// AcceptedAlert is one alert of an accepted webhook.
type AcceptedAlert struct {
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
	WorkflowID  string `json:"workflowId"`
	RunID       string `json:"runId"`
	// Trimmed lists the values shortened so that the alert fits the
	// per-alert byte limit; the alert was accepted all the same.
	Trimmed []alert.Trim `json:"trimmed,omitempty"`
}

// RejectedAlert is one alert of a webhook that was refused for good.
type RejectedAlert struct {
	// Index is the alert's position in the webhook's alerts list.
	Index       int    `json:"index"`
	Fingerprint string `json:"fingerprint"`
	// AlertName is the alertname label, shortened to 128 characters.
	AlertName string `json:"alertname"`
	// Reason is too_large, too_many_labels or temporal_rejected.
	Reason string `json:"reason"`
	Error  string `json:"error"`
}

// WebhookResponse is the body of a 200 answer to POST /webhook, and of a
// 400 answer when some alerts were refused: then Error and Rejected are set
// and the alerts listed in Alerts were delivered to Temporal all the same.
type WebhookResponse struct {
	Error    string          `json:"error,omitempty"`
	Accepted int             `json:"accepted"`
	Alerts   []AcceptedAlert `json:"alerts"`
	Rejected []RejectedAlert `json:"rejected,omitempty"`
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
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		WriteError(w, http.StatusUnsupportedMediaType, err.Error())
		return http.StatusUnsupportedMediaType
	}
	sh, ok := s.webhookSlots.acquire(r.Context(), s.queueWait)
	if !ok {
		return s.webhookBusy(w)
	}
	defer sh.release()
	body, code := s.readWebhookBody(w, r, sh)
	if code != 0 {
		return code
	}
	hook, err := alert.ParseWebhook(body)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return http.StatusBadRequest
	}
	if hook.TruncatedAlerts > 0 {
		s.cfg.Metrics.WebhookTruncated.Add(float64(hook.TruncatedAlerts))
		s.log.Warn("webhook left out alerts (truncatedAlerts): raise max_alerts of the Alertmanager receiver",
			"truncated", hook.TruncatedAlerts, "receiver", alert.Truncate(hook.Receiver, 128),
			"groupKey", alert.Truncate(hook.GroupKey, 256), "alerts", len(hook.Alerts))
	}
	alerts := hook.AlertList()
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.WebhookTimeout)
	defer cancel()
	res := s.signalAll(ctx, alerts)
	if res.transient != nil {
		// Alertmanager retries the whole batch on 5xx; alerts that did get
		// through see the retry as an unchanged repeat. A 400 now would
		// lose the alerts that only need another try.
		s.log.Error("webhook not accepted: alerts could not be handed to Temporal",
			"alerts", len(alerts), "accepted", len(res.accepted), "rejected", len(res.rejected), "error", res.transient)
		WriteError(w, http.StatusServiceUnavailable, "temporal unavailable, retry later: "+res.transient.Error())
		return http.StatusServiceUnavailable
	}
	for _, a := range res.acceptedAlerts {
		s.cfg.Metrics.AlertsReceived.WithLabelValues(a.Status).Inc()
	}
	for _, rej := range res.rejected {
		s.cfg.Metrics.WebhookRejected.WithLabelValues(rej.Reason).Inc()
	}
	out := WebhookResponse{Accepted: len(res.accepted), Alerts: res.accepted, Rejected: res.rejected}
	if out.Alerts == nil {
		out.Alerts = []AcceptedAlert{}
	}
	if len(res.rejected) > 0 {
		out.Error = rejectedMessage(res.rejected, len(alerts))
		s.log.Warn("webhook alerts rejected", "receiver", alert.Truncate(hook.Receiver, 128),
			"alerts", len(alerts), "accepted", len(res.accepted), "rejected", out.Error)
		writeJSON(w, http.StatusBadRequest, out)
		return http.StatusBadRequest
	}
	s.log.Info("webhook accepted", "receiver", alert.Truncate(hook.Receiver, 128), "alerts", len(alerts), "status", hook.Status,
		"duration", time.Since(start))
	writeJSON(w, http.StatusOK, out)
	return http.StatusOK
}

// checkJSONContentType accepts application/json with an optional UTF-8
// charset. Browsers may post text/plain or form bodies to any address
// without a CORS preflight; requiring JSON keeps a web page from posting
// alerts to a Herald on localhost or the intranet.
func checkJSONContentType(header string) error {
	if header == "" {
		return errors.New("Content-Type must be application/json (it is missing)")
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("Content-Type must be application/json, not %q", alert.Truncate(header, 100))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("Content-Type charset must be utf-8, not %q", alert.Truncate(cs, 40))
	}
	return nil
}

// signalResult is the outcome of handing a webhook's alerts to Temporal.
type signalResult struct {
	accepted       []AcceptedAlert
	acceptedAlerts []alert.Alert
	rejected       []RejectedAlert
	// transient joins the errors that another try may overcome.
	transient error
}

// signalAll checks every alert against the per-alert limits and hands the
// others to their workflows (SignalWithStart) in parallel, each with its
// own budget within ctx. It returns when every alert has an outcome.
func (s *Server) signalAll(ctx context.Context, alerts []alert.Alert) signalResult {
	type outcome struct {
		run    client.WorkflowRun
		reason string // set when refused for good
		err    error
	}
	outs := make([]outcome, len(alerts))
	sem := make(chan struct{}, signalConcurrency)
	var wg sync.WaitGroup
	now := time.Now().UTC()
	for i, a := range alerts {
		fitted, err := s.limits.Fit(a)
		if err != nil {
			var le *alert.LimitError
			reason := alert.ReasonTooLarge
			if errors.As(err, &le) {
				reason = le.Reason
			}
			outs[i] = outcome{reason: reason, err: err}
			continue
		}
		if len(fitted.Trimmed) > 0 {
			a = fitted
			alerts[i] = fitted
			s.trimmed(a)
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			outs[i] = outcome{err: fmt.Errorf("not sent within the webhook budget: %w", ctx.Err())}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			actx, cancel := context.WithTimeout(ctx, s.cfg.SignalTimeout)
			defer cancel()
			run, err := s.signal(actx, a, now)
			if err != nil {
				s.cfg.Metrics.SignalErrors.WithLabelValues(signalErrorReason(err)).Inc()
				reason := ""
				if isPermanent(err) {
					reason = "temporal_rejected"
				}
				outs[i] = outcome{reason: reason, err: err}
				return
			}
			outs[i] = outcome{run: run}
		}()
	}
	wg.Wait()
	var res signalResult
	var transient []error
	for i, o := range outs {
		a := alerts[i]
		switch {
		case o.err == nil:
			res.accepted = append(res.accepted, AcceptedAlert{Fingerprint: a.Fingerprint, Status: a.Status,
				WorkflowID: o.run.GetID(), RunID: o.run.GetRunID(), Trimmed: a.Trimmed})
			res.acceptedAlerts = append(res.acceptedAlerts, a)
		case o.reason != "":
			res.rejected = append(res.rejected, RejectedAlert{Index: i, Fingerprint: a.Fingerprint,
				AlertName: alert.Truncate(a.Name(), 128), Reason: o.reason, Error: alert.Truncate(o.err.Error(), 300)})
		default:
			transient = append(transient, fmt.Errorf("alert %s: %w", a.Fingerprint, o.err))
		}
	}
	res.transient = errors.Join(transient...)
	return res
}

// trimmed counts and logs an alert that was cut to fit the byte limit:
// accepted and delivered, but with text missing that operators may want
// to read at the source.
func (s *Server) trimmed(a alert.Alert) {
	s.cfg.Metrics.AlertsTrimmed.Inc()
	s.cfg.Metrics.ValuesTrimmed.Add(float64(len(a.Trimmed)))
	fields := make([]string, 0, len(a.Trimmed))
	for _, t := range a.Trimmed {
		fields = append(fields, fmt.Sprintf("%s (%d of %d bytes kept)", t.Field, t.Kept, t.Bytes))
	}
	s.log.Warn("alert trimmed to fit the per-alert byte limit (HERALD_MAX_ALERT_BYTES); accepted",
		"fingerprint", a.Fingerprint, "alertname", alert.Truncate(a.Name(), 128),
		"limit", s.limits.WithDefaults().MaxBytes, "trimmed", strings.Join(fields, ", "))
}

func rejectedMessage(rejected []RejectedAlert, total int) string {
	parts := make([]string, 0, len(rejected))
	for i, r := range rejected {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(rejected)-i))
			break
		}
		parts = append(parts, fmt.Sprintf("%s (%s): %s", r.Fingerprint, r.AlertName, r.Error))
	}
	return fmt.Sprintf("%d of %d alerts rejected, the others were accepted: %s",
		len(rejected), total, strings.Join(parts, "; "))
}

func (s *Server) signal(ctx context.Context, a alert.Alert, now time.Time) (client.WorkflowRun, error) {
	id := contract.AlertWorkflowID(a.Fingerprint)
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.cfg.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		// Only values Herald bounds itself: the fingerprint is at most 64
		// letters and digits, severity and status are from a fixed set.
		TypedSearchAttributes: temporal.NewSearchAttributes(
			contract.AttrFingerprint.ValueSet(a.Fingerprint),
			contract.AttrAlertName.ValueSet(contract.BoundKeyword(a.Name())),
			contract.AttrSeverity.ValueSet(a.Severity()),
			contract.AttrStatus.ValueSet(a.Status),
		),
		StaticSummary: summaryOf(a),
		// Critical alerts' workflow tasks run before info alerts' when
		// workers are busy.
		Priority: temporal.Priority{PriorityKey: contract.PriorityFor(a.Severity())},
	}
	// Delivery settings are the worker's: the workflow reads them when it
	// applies them, so the input names the alert only.
	in := contract.AlertInput{Fingerprint: a.Fingerprint}
	return s.cfg.Client.SignalWithStartWorkflow(ctx, id, contract.AlertSignal,
		contract.Notify{Alert: a, ReceivedAt: now}, opts, contract.AlertWorkflow, in)
}

// summaryOf is the workflow's static summary, "name (severity)": control
// characters become spaces and the name is cut so that the summary's JSON
// encoding stays within maxSummaryBytes.
func summaryOf(a alert.Alert) string {
	sev := " (" + a.Severity() + ")"
	budget := maxSummaryBytes - len(sev)
	const mark = "…"
	var b strings.Builder
	cost, cut := 0, -1
	for _, r := range a.Name() {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			r = ' '
		}
		c := utf8.RuneLen(r)
		switch r {
		case '<', '>', '&':
			c = 6 // \u003c
		case '"', '\\':
			c = 2
		}
		if cut < 0 && cost+c > budget-len(mark) {
			cut = b.Len()
		}
		if cost+c > budget {
			return b.String()[:cut] + mark + sev
		}
		cost += c
		b.WriteRune(r)
	}
	return b.String() + sev
}

// isPermanent reports whether Temporal refused the request itself, so that
// sending it again cannot succeed (a search attribute or payload over a
// limit, any other invalid argument).
func isPermanent(err error) bool {
	var inv *serviceerror.InvalidArgument
	return errors.As(err, &inv)
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

// readWebhookBody reads the body within the request's share of the
// budget, which grows as bytes arrive. On failure it writes the answer and
// returns its status: 413 over MaxBodyBytes, 503 when the budget cannot
// take more bytes, 408 when the body is not in within the body deadline.
func (s *Server) readWebhookBody(w http.ResponseWriter, r *http.Request, sh *share) ([]byte, int) {
	mb := &meteredBody{ReadCloser: r.Body, share: sh, ctx: r.Context(), wait: s.queueWait}
	body, err := io.ReadAll(http.MaxBytesReader(w, mb, s.cfg.MaxBodyBytes))
	if err == nil {
		return body, 0
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		WriteError(w, http.StatusRequestEntityTooLarge,
			"webhook body exceeds "+strconv.FormatInt(s.cfg.MaxBodyBytes, 10)+" bytes")
		return nil, http.StatusRequestEntityTooLarge
	case errors.Is(err, errBudgetFull):
		return nil, s.webhookBusy(w)
	case isReadTimeout(err):
		return nil, s.bodyTimeout(w, "webhook")
	}
	WriteError(w, http.StatusBadRequest, "read body: "+err.Error())
	return nil, http.StatusBadRequest
}

// webhookBusy answers a webhook the budget cannot take now.
func (s *Server) webhookBusy(w http.ResponseWriter) int {
	s.cfg.Metrics.WebhookBusy.Inc()
	w.Header().Set("Retry-After", "1")
	WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf(
		"webhook bodies being processed fill this starter's budget (%d bodies of the largest size); retry later", s.webhookSlots.size()))
	return http.StatusServiceUnavailable
}

// slots bounds the webhook body bytes held at once, so that concurrent
// large bodies cannot exhaust the starter's memory while the usual small
// webhooks of a storm do not queue behind each other. The budget is n
// bodies of MaxBodyBytes. A request takes minSlotBytes of it before it
// reads its body, and more as its bytes arrive (meteredBody): its share
// follows the bytes actually received, never the declared Content-Length,
// so a client that declares a large body and trickles it holds no more
// than it sent.
type slots struct {
	sem     *semaphore.Weighted
	n       int
	maxBody int64
	// waiting counts the requests waiting for room (optional).
	waiting prometheus.Gauge
}

// minSlotBytes is the least a request takes of the budget, and the step by
// which its share grows: it also bounds how many requests read at once
// (n × MaxBodyBytes / minSlotBytes).
const minSlotBytes = 64 << 10

func newSlots(n int, maxBody int64) slots {
	return slots{sem: semaphore.NewWeighted(int64(n) * maxBody), n: n, maxBody: maxBody}
}

func (s slots) size() int { return s.n }

// weight is the share that covers n body bytes: whole steps of
// minSlotBytes, at least one, at most maxBody.
func (s slots) weight(n int64) int64 {
	steps := max(1, (n+minSlotBytes-1)/minSlotBytes)
	return min(s.maxBody, steps*minSlotBytes)
}

// acquire takes a request's first share, waiting at most wait.
func (s slots) acquire(ctx context.Context, wait time.Duration) (*share, bool) {
	sh := &share{slots: s}
	if !sh.take(ctx, wait, s.weight(0)) {
		return nil, false
	}
	return sh, true
}

// share is one request's part of the budget (used by its handler only).
type share struct {
	slots slots
	held  int64
}

// grow extends the share to cover n body bytes, waiting at most wait.
func (sh *share) grow(ctx context.Context, wait time.Duration, n int64) bool {
	need := sh.slots.weight(n) - sh.held
	return need <= 0 || sh.take(ctx, wait, need)
}

func (sh *share) take(ctx context.Context, wait time.Duration, n int64) bool {
	if !sh.slots.sem.TryAcquire(n) {
		if wait <= 0 {
			return false
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		if g := sh.slots.waiting; g != nil {
			g.Inc()
			defer g.Dec()
		}
		if sh.slots.sem.Acquire(wctx, n) != nil {
			return false
		}
	}
	sh.held += n
	return true
}

// release gives the whole share back.
func (sh *share) release() {
	sh.slots.sem.Release(sh.held)
	sh.held = 0
}

// errBudgetFull: the budget could not take more of a body within the wait.
var errBudgetFull = errors.New("the webhook budget is full")

// meteredBody reads a body within its share: before a read past what the
// share covers, the share grows by a step (waiting at most wait), and no
// read goes beyond it.
type meteredBody struct {
	io.ReadCloser
	share *share
	ctx   context.Context
	wait  time.Duration
	read  int64
}

func (m *meteredBody) Read(p []byte) (int, error) {
	if m.read >= m.share.held && m.share.held < m.share.slots.maxBody {
		if !m.share.grow(m.ctx, m.wait, m.read+1) {
			return 0, errBudgetFull
		}
	}
	held := m.share.held
	// At maxBody the share is whole: the size limit above reads at most
	// one byte more, to see that the body is too large.
	if room := held - m.read; room > 0 && int64(len(p)) > room {
		p = p[:room]
	}
	n, err := m.ReadCloser.Read(p)
	m.read += int64(n)
	return n, err
}
