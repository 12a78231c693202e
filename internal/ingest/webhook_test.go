package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/converter"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/contract"
)

func TestWebhookContentType(t *testing.T) {
	tests := []struct {
		contentType string
		want        int
		msg         string
	}{
		{"application/json", http.StatusOK, ""},
		{"application/json; charset=utf-8", http.StatusOK, ""},
		{"Application/JSON; charset=UTF-8", http.StatusOK, ""},
		{"", http.StatusUnsupportedMediaType, "Content-Type must be application/json (it is missing)"},
		{"text/plain", http.StatusUnsupportedMediaType, `not "text/plain"`},
		{"application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "must be application/json"},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType, "must be application/json"},
		{"application/json; charset=latin1", http.StatusUnsupportedMediaType, `charset must be utf-8, not "latin1"`},
		{"application/json;;", http.StatusUnsupportedMediaType, "must be application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.contentType, func(t *testing.T) {
			s := newTestServer(t, Config{})
			rec := s.do(t, http.MethodPost, "/webhook", webhookJSON(t, 0, firing("a1", "A")), "Content-Type", tc.contentType)
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			if tc.msg != "" {
				contains(t, decode[map[string]string](t, rec)["error"], tc.msg)
				assert.Empty(t, s.client.signalled(), "a refused request must not reach Temporal")
			}
		})
	}
}

// Each alert has its own budget: one slow alert uses up its own, not the
// request's, and the others' calls get a deadline of SignalTimeout.
func TestWebhookPerAlertBudget(t *testing.T) {
	fc := &fakeClient{signal: func(ctx context.Context, n contract.Notify) error {
		if n.Alert.Fingerprint == "slow" {
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}}
	s := newTestServer(t, Config{Client: fc, SignalTimeout: 150 * time.Millisecond, WebhookTimeout: 5 * time.Second})
	start := time.Now()
	rec := s.post(t, webhookJSON(t, 0, firing("fast1", "A"), firing("slow", "B"), firing("fast2", "C")))
	elapsed := time.Since(start)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	contains(t, rec.Body.String(), "alert slow")
	assert.Less(t, elapsed, 2*time.Second, "the slow alert's budget ends long before the request's")
	calls := s.client.signalled()
	require.Len(t, calls, 3)
	for _, c := range calls {
		assert.Greater(t, c.deadline, time.Duration(0))
		assert.LessOrEqual(t, c.deadline, 150*time.Millisecond, "alert %s: per-alert deadline", c.notify.Alert.Fingerprint)
	}
}

// The request as a whole stays bounded by WebhookTimeout, however many
// alerts wait for their turn.
func TestWebhookRequestBudget(t *testing.T) {
	fc := &fakeClient{signal: func(ctx context.Context, _ contract.Notify) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	s := newTestServer(t, Config{Client: fc, SignalTimeout: 200 * time.Millisecond, WebhookTimeout: 300 * time.Millisecond})
	var alerts []alert.WebhookAlert
	for i := range 3 * signalConcurrency {
		alerts = append(alerts, firing("a"+strconv.Itoa(i), "A"))
	}
	start := time.Now()
	rec := s.post(t, webhookJSON(t, 0, alerts...))
	elapsed := time.Since(start)
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	contains(t, rec.Body.String(), "not sent within the webhook budget")
	// Three waves of 200ms would take 600ms: the 300ms budget ends the
	// second wave early and the third is never sent. Counted, not timed
	// (a loaded machine stretches every wall-clock bound).
	calls := s.client.signalled()
	assert.Less(t, len(calls), len(alerts), "the last wave must not be sent after the request budget ended")
	for _, c := range calls {
		assert.LessOrEqual(t, c.deadline, 300*time.Millisecond, "alert %s: a signal's deadline within the request budget", c.notify.Alert.Fingerprint)
	}
	assert.Less(t, elapsed, 5*time.Second, "the request ends with its budget, not after every wave")
}

func TestWebhookTemporalRejections(t *testing.T) {
	longName := strings.Repeat("VeryLongAlertName", 200)
	tests := []struct {
		name     string
		errs     map[string]error // by fingerprint
		want     int
		accepted int
		rejected []string // fingerprints
	}{
		{"invalid argument rejects only that alert",
			map[string]error{"bad": serviceerror.NewInvalidArgument("search attribute HeraldAlertName value size 3402 exceeds size limit 2048")},
			http.StatusBadRequest, 2, []string{"bad"}},
		{"blob size limit", map[string]error{"bad": serviceerror.NewInvalidArgument("Blob data size exceeds limit.")},
			http.StatusBadRequest, 2, []string{"bad"}},
		{"unavailable is transient", map[string]error{"bad": serviceerror.NewUnavailable("connection refused")},
			http.StatusServiceUnavailable, 0, nil},
		{"deadline is transient", map[string]error{"bad": context.DeadlineExceeded},
			http.StatusServiceUnavailable, 0, nil},
		{"resource exhausted is transient", map[string]error{"bad": serviceerror.NewResourceExhausted(0, "rps limit")},
			http.StatusServiceUnavailable, 0, nil},
		{"transient wins over permanent: the retry must still come", map[string]error{
			"bad":   serviceerror.NewInvalidArgument("too big"),
			"ok2":   serviceerror.NewUnavailable("down"),
			"other": nil,
		}, http.StatusServiceUnavailable, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fc := &fakeClient{signal: func(_ context.Context, n contract.Notify) error { return tc.errs[n.Alert.Fingerprint] }}
			s := newTestServer(t, Config{Client: fc})
			rec := s.post(t, webhookJSON(t, 0, firing("ok1", "Fine"), firing("bad", longName), firing("ok2", "Fine")))
			require.Equal(t, tc.want, rec.Code, rec.Body.String())
			assert.Len(t, s.client.signalled(), 3, "every alert was tried")
			if tc.want != http.StatusBadRequest {
				return
			}
			resp := decode[WebhookResponse](t, rec)
			assert.Equal(t, tc.accepted, resp.Accepted)
			assert.Len(t, resp.Alerts, tc.accepted)
			require.Len(t, resp.Rejected, len(tc.rejected))
			r := resp.Rejected[0]
			assert.Equal(t, "bad", r.Fingerprint)
			assert.Equal(t, 1, r.Index)
			assert.Equal(t, "temporal_rejected", r.Reason)
			assert.Equal(t, 128, utf8.RuneCountInString(r.AlertName), "alertname is shortened")
			assert.True(t, strings.HasPrefix(longName, strings.TrimSuffix(r.AlertName, "…")))
			contains(t, resp.Error, "1 of 3 alerts rejected, the others were accepted")
			contains(t, resp.Error, "bad (VeryLong")
			assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_webhook_rejected_alerts_total", "reason", "temporal_rejected"))
			assert.Equal(t, 2.0, counterValue(t, s.metrics, "herald_alerts_received_total", "status", "firing"))
		})
	}
}

func TestWebhookAlertLimits(t *testing.T) {
	many := firing("many", "ManyLabels")
	for i := range 10 {
		many.Labels["l"+strconv.Itoa(i)] = "v"
	}
	big := firing("big", "Big")
	big.Annotations = map[string]string{"description": strings.Repeat("x", 2000)}
	labels := firing("labels", "HugeLabels")
	labels.Labels["pod"] = strings.Repeat("p", 2000)
	s := newTestServer(t, Config{AlertLimits: alert.Limits{MaxBytes: 1500, MaxLabels: 8}})
	rec := s.post(t, webhookJSON(t, 0, firing("ok1", "Fine"), many, big, labels, firing("ok2", "Fine")))
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	resp := decode[WebhookResponse](t, rec)
	assert.Equal(t, 3, resp.Accepted)
	require.Len(t, resp.Alerts, 3)
	assert.Equal(t, []string{"ok1", "big", "ok2"}, []string{resp.Alerts[0].Fingerprint, resp.Alerts[1].Fingerprint, resp.Alerts[2].Fingerprint})
	assert.Empty(t, resp.Alerts[0].Trimmed)
	require.Len(t, resp.Alerts[1].Trimmed, 1, "a long annotation is trimmed, not refused")
	assert.Equal(t, "annotations.description", resp.Alerts[1].Trimmed[0].Field)
	assert.Equal(t, 2000, resp.Alerts[1].Trimmed[0].Bytes)
	require.Len(t, resp.Rejected, 2)
	assert.Equal(t, RejectedAlert{Index: 1, Fingerprint: "many", AlertName: "ManyLabels", Reason: "too_many_labels",
		Error: "alert has 12 labels, more than the limit of 8; labels identify the alert and are never trimmed"}, resp.Rejected[0])
	assert.Equal(t, "labels", resp.Rejected[1].Fingerprint)
	assert.Equal(t, "too_large", resp.Rejected[1].Reason)
	contains(t, resp.Rejected[1].Error, "more than the limit of 1500, and its labels alone take")
	contains(t, resp.Error, "many (ManyLabels)")
	sent := map[string]alert.Alert{}
	for _, c := range s.client.signalled() {
		sent[c.notify.Alert.Fingerprint] = c.notify.Alert
	}
	assert.ElementsMatch(t, []string{"ok1", "big", "ok2"}, slices.Collect(maps.Keys(sent)), "only alerts whose labels break a limit never reach Temporal")
	enc, err := json.Marshal(sent["big"])
	require.NoError(t, err)
	assert.LessOrEqual(t, len(enc), 1500, "the workflow receives the trimmed alert")
	assert.Regexp(t, `…\[trimmed by Herald: \d+ of 2000 bytes kept\]$`, sent["big"].Annotations["description"])
	assert.Equal(t, resp.Alerts[1].Trimmed, sent["big"].Trimmed, "the alert state shows what was trimmed")
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_webhook_rejected_alerts_total", "reason", "too_many_labels"))
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_webhook_rejected_alerts_total", "reason", "too_large"))
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_alerts_trimmed_total"))
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_alert_values_trimmed_total"))
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_webhook_requests_total", "code", "400"))
	contains(t, s.logs.String(), "alert trimmed to fit")
}

// TestWebhookLargeAlertIsTrimmedNotLost is the page that must not be lost: a
// 700,000-character description under the default limits gets a 200, and
// the workflow receives it within the limit, marked.
func TestWebhookLargeAlertIsTrimmedNotLost(t *testing.T) {
	big := firing("page", "DiskFull")
	big.Annotations = map[string]string{"summary": "Disk full", "description": strings.Repeat("d", 700_000)}
	s := newTestServer(t, Config{})
	assert.Equal(t, 0.0, counterValue(t, s.metrics, "herald_alerts_trimmed_total"), "pre-initialised")
	rec := s.post(t, webhookJSON(t, 0, big))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	calls := s.client.signalled()
	require.Len(t, calls, 1)
	got := calls[0].notify.Alert
	enc, err := json.Marshal(got)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(enc), alert.DefaultMaxBytes)
	assert.Equal(t, "Disk full", got.Annotations["summary"])
	assert.Greater(t, len(got.Annotations["description"]), 200_000, "as much of the text as fits is kept")
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_alerts_trimmed_total"))
}

func TestWebhookDefaultAlertLimits(t *testing.T) {
	a := firing("labels257", "Many")
	for i := range 255 {
		a.Labels["l"+strconv.Itoa(i)] = "v"
	}
	s := newTestServer(t, Config{})
	rec := s.post(t, webhookJSON(t, 0, a, firing("ok", "Fine")))
	require.Equal(t, http.StatusBadRequest, rec.Code)
	contains(t, rec.Body.String(), "257 labels, more than the limit of 256")
	assert.Len(t, s.client.signalled(), 1)
}

func TestWebhookTruncatedAlerts(t *testing.T) {
	s := newTestServer(t, Config{})
	assert.Equal(t, 0.0, counterValue(t, s.metrics, "herald_webhook_truncated_alerts_total"), "pre-initialised")
	for _, r := range []string{"too_large", "too_many_labels", "temporal_rejected"} {
		assert.Equal(t, 0.0, counterValue(t, s.metrics, "herald_webhook_rejected_alerts_total", "reason", r), "pre-initialised")
	}
	rec := s.post(t, webhookJSON(t, 7, firing("a1", "A")))
	require.Equal(t, http.StatusOK, rec.Code)
	rec = s.post(t, webhookJSON(t, 0, firing("a1", "A")))
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, 7.0, counterValue(t, s.metrics, "herald_webhook_truncated_alerts_total"))
	logs := s.logs.String()
	contains(t, logs, "level=WARN")
	contains(t, logs, "truncated=7")
	contains(t, logs, "receiver=team-a")
	contains(t, logs, `groupKey="{}:{alertname=\"X\"}"`)
	assert.Equal(t, 1, strings.Count(logs, "truncatedAlerts"), "only the truncated webhook is logged")
}

// The starter bounds what it sets on a workflow itself: a huge alertname
// must not make Temporal refuse the alert.
func TestSignalBoundsSearchAttributeAndSummary(t *testing.T) {
	names := map[string]string{
		"plain":   strings.Repeat("A", 5000),
		"escaped": strings.Repeat("<&>\"\\\x01\u2028é", 700),
		"short":   "HighLatency",
	}
	for what, name := range names {
		t.Run(what, func(t *testing.T) {
			s := newTestServer(t, Config{})
			require.Equal(t, http.StatusOK, s.post(t, webhookJSON(t, 0, firing("fp1", name))).Code)
			calls := s.client.signalled()
			require.Len(t, calls, 1)
			opts := calls[0].opts
			v, ok := opts.TypedSearchAttributes.GetKeyword(contract.AttrAlertName)
			require.True(t, ok)
			assert.LessOrEqual(t, utf8.RuneCountInString(v), 255)
			p, err := converter.GetDefaultDataConverter().ToPayload(v)
			require.NoError(t, err)
			assert.LessOrEqual(t, len(p.GetData()), 2048, "Temporal's search attribute value limit")
			sp, err := converter.GetDefaultDataConverter().ToPayload(opts.StaticSummary)
			require.NoError(t, err)
			assert.LessOrEqual(t, sp.Size(), 250, "Temporal's summary limit is 400 bytes")
			assert.True(t, strings.HasSuffix(opts.StaticSummary, " (critical)"), opts.StaticSummary)
			if what == "short" {
				assert.Equal(t, name, v)
				assert.Equal(t, "HighLatency (critical)", opts.StaticSummary)
			}
			assert.Equal(t, name, calls[0].notify.Alert.Name(), "the alert itself is carried unchanged")
		})
	}
}

// readCounter records whether a request body was read.
type readCounter struct {
	n atomic.Int64
	r *strings.Reader
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func TestWebhookConcurrencyBound(t *testing.T) {
	release := make(chan struct{})
	var inFlight atomic.Int32
	fc := &fakeClient{signal: func(ctx context.Context, _ contract.Notify) error {
		inFlight.Add(1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
	// A budget of two bodies of 64 KiB: two small requests fill it.
	s := newTestServer(t, Config{Client: fc, WebhookConcurrency: 2, MaxBodyBytes: minSlotBytes})
	s.queueWait = 50 * time.Millisecond
	body := webhookJSON(t, 0, firing("a1", "A"))
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i] = s.post(t, body).Code })
	}
	require.Eventually(t, func() bool { return inFlight.Load() == 2 }, 5*time.Second, time.Millisecond)

	// A third request: waits queueWait, is answered 503 and its body is
	// never read.
	rc := &readCounter{r: strings.NewReader(string(body))}
	req := httptest.NewRequest(http.MethodPost, "/webhook", rc)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	s.ServeHTTP(rec, req)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "waited for a slot first")
	assert.Equal(t, http.StatusServiceUnavailable, rec.Code)
	assert.Equal(t, "1", rec.Header().Get("Retry-After"))
	contains(t, rec.Body.String(), "budget (2 bodies")
	assert.Zero(t, rc.n.Load(), "the body of a refused request is not read")
	assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_webhook_busy_total"))

	// A request that finds a slot freed while it waits gets through.
	s.queueWait = 5 * time.Second
	done := make(chan int)
	go func() { done <- s.post(t, body).Code }()
	// Free a slot only once the request waits for one.
	waiting := func() float64 {
		var d dto.Metric
		_ = s.metrics.WebhookWaiting.Write(&d)
		return d.GetGauge().GetValue()
	}
	require.Eventually(t, func() bool { return waiting() == 1 }, 5*time.Second, time.Millisecond, "the request waits for room")
	close(release)
	wg.Wait()
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, codes)
	assert.Equal(t, http.StatusOK, <-done)
	assert.Zero(t, counterValue(t, s.metrics, "herald_webhook_waiting_requests"), "no request waits any more (exported)")
}

func TestSlotsHonourContext(t *testing.T) {
	sl := newSlots(1, minSlotBytes)
	sh, ok := sl.acquire(context.Background(), 0)
	require.True(t, ok)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, ok = sl.acquire(ctx, time.Hour)
	assert.False(t, ok, "a gone client does not wait for a slot")
	sh.release()
	sh2, ok := sl.acquire(context.Background(), 0)
	assert.True(t, ok)
	sh2.release()
}

// The budget is in body bytes received: a storm of small webhooks runs at
// once, while large bodies are bounded by the bytes they sent.
func TestSlotsWeighBodies(t *testing.T) {
	const maxBody = 5 << 20
	ctx := context.Background()
	sl := newSlots(4, maxBody)
	var shares []*share
	for i := 0; i < 4*maxBody/minSlotBytes; i++ {
		sh, ok := sl.acquire(ctx, 0)
		require.True(t, ok, "small request %d refused", i)
		require.True(t, sh.grow(ctx, 0, 3000), "3000 bytes fit the first step")
		shares = append(shares, sh)
	}
	_, ok := sl.acquire(ctx, 0)
	assert.False(t, ok, "the budget bounds tiny requests too")
	for _, sh := range shares {
		sh.release()
	}
	for i := 0; i < 4; i++ {
		sh, ok := sl.acquire(ctx, 0)
		require.True(t, ok)
		require.True(t, sh.grow(ctx, 0, minSlotBytes+1))
		assert.Equal(t, int64(2*minSlotBytes), sh.held, "grows in steps")
		require.True(t, sh.grow(ctx, 0, maxBody))
		assert.Equal(t, int64(maxBody), sh.held)
	}
	_, ok = sl.acquire(ctx, 0)
	assert.False(t, ok, "a fifth full-size body waits")
}

func TestDefaultWebhookConcurrency(t *testing.T) {
	assert.GreaterOrEqual(t, DefaultWebhookConcurrency(), 4)
	s := newTestServer(t, Config{})
	assert.Equal(t, DefaultWebhookConcurrency(), s.webhookSlots.size())
}

func TestIsPermanent(t *testing.T) {
	assert.True(t, isPermanent(serviceerror.NewInvalidArgument("x")))
	assert.True(t, isPermanent(errors.Join(errors.New("wrapped"), serviceerror.NewInvalidArgument("x"))))
	for _, err := range []error{serviceerror.NewUnavailable("x"), context.DeadlineExceeded, context.Canceled,
		serviceerror.NewResourceExhausted(0, "x"), serviceerror.NewNamespaceNotFound("default"), serviceerror.NewPermissionDenied("x", "")} {
		assert.False(t, isPermanent(err), "%T", err)
	}
}

func TestWebhookAcceptedAnswer(t *testing.T) {
	s := newTestServer(t, Config{})
	rec := s.post(t, webhookJSON(t, 0, firing("a1", "A"), firing("a2", "B")))
	require.Equal(t, http.StatusOK, rec.Code)
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &raw))
	assert.NotContains(t, raw, "error")
	assert.NotContains(t, raw, "rejected")
	resp := decode[WebhookResponse](t, rec)
	assert.Equal(t, 2, resp.Accepted)
	assert.Equal(t, "alert-a1", resp.Alerts[0].WorkflowID)
}
