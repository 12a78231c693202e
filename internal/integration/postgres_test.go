package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/workflows"
)

// TestOnPostgres runs Herald on the persistence path of a production
// cluster: a real PostgreSQL (Debian's postgresql package), Temporal's
// schema created and migrated by the server's SQL schema tool for the main
// and the visibility store (postgres12 plugin), the Temporal server library
// on it, and Herald built with the constructors the binaries use. It runs
// the fan-out, dead-letter and health scenarios there, then two worker
// processes on one task queue, one of which is killed mid-burst.
//
// It fails (does not skip) without PostgreSQL binaries; run `make deps`, or
// set HERALD_SKIP_POSTGRES=1 to skip it on purpose.
func TestOnPostgres(t *testing.T) {
	t.Parallel() // its own PostgreSQL and Temporal server
	// The worker binary links for tens of seconds: build it while
	// PostgreSQL and Temporal start and the first scenarios run.
	workerBin := buildWorkerInBackground(t)
	pg := startPostgres(t)
	tc := startTemporalOnPostgres(t, pg, "herald-pg")

	t.Run("scenarios", func(t *testing.T) {
		t.Run("FanOut", func(t *testing.T) { t.Parallel(); testPostgresFanOut(t, tc) })
		t.Run("DeadLetterReplay", func(t *testing.T) { t.Parallel(); testPostgresDeadLetter(t, tc) })
		t.Run("UnhealthyTarget", func(t *testing.T) { t.Parallel(); testPostgresHealth(t, tc) })
	})
	t.Run("TwoWorkersOneKilled", func(t *testing.T) { testTwoWorkerProcesses(t, tc, workerBin()) })

	// Everything above went through PostgreSQL: the alert workflows are
	// rows of Temporal's tables there.
	executions, _ := strconv.Atoi(pg.query(t, pgMainDB, "SELECT count(*) FROM executions"))
	visible, _ := strconv.Atoi(pg.query(t, pgVisibilityDB, "SELECT count(*) FROM executions_visibility WHERE workflow_id LIKE 'alert-%'"))
	t.Logf("PostgreSQL holds %d workflow executions; %d alert workflows in the visibility store", executions, visible)
	if visible < pgFanOutAlerts+pgBurstAlerts || executions < visible {
		t.Errorf("PostgreSQL holds %d executions and %d visible alert workflows, want at least %d alert workflows",
			executions, visible, pgFanOutAlerts+pgBurstAlerts)
	}
}

const pgFanOutAlerts = 20

// pgHerald is a Herald process built in-process from internal/app: the
// worker (when started) and the HTTP handler of the binaries.
type pgHerald struct {
	t    *testing.T
	url  string
	rt   *app.Runtime
	logs *syncBuffer
}

// startPGHerald runs Herald on task queue queue with the targets file body
// targets and extra flags; withWorker also starts the Temporal worker
// (else it is a starter only).
func startPGHerald(t *testing.T, tc *pgTemporal, queue, targets string, withWorker bool, flags ...string) *pgHerald {
	t.Helper()
	args := append([]string{"--temporal-address", tc.frontend, "--temporal-namespace", tc.namespace,
		"--task-queue", queue, "--targets-file", writeTargets(t, targets), "--delivery-timeout", "5s"}, flags...)
	cfg := loadConfig(t, args...)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	rt, err := app.NewRuntime(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatalf("runtime: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		rt.Close()
		if t.Failed() {
			t.Logf("herald logs (%s):\n%s", queue, tail(logs.String(), 8000))
		}
	})
	if err := rt.Connect(ctx, cfg.TemporalAddress); err != nil {
		t.Fatalf("connect: %v", err)
	}
	if withWorker {
		if _, err := rt.StartWorker(ctx); err != nil {
			t.Fatalf("start worker: %v", err)
		}
	}
	srv := httptest.NewServer(rt.Handler(false))
	t.Cleanup(srv.Close)
	return &pgHerald{t: t, url: srv.URL, rt: rt, logs: logs}
}

// post sends a webhook and requires 200.
func (h *pgHerald) post(body []byte) {
	h.t.Helper()
	if err := h.tryPost(body); err != nil {
		h.t.Fatal(err)
	}
}

// tryPost sends a webhook as Alertmanager does: a 503 ("retry later",
// Temporal slow or busy) is sent again, up to 5 times with backoff.
// Anything else but a 200 is reported. Safe to call from another
// goroutine than the test's.
func (h *pgHerald) tryPost(body []byte) error {
	var err error
	for try := range 6 {
		if try > 0 {
			time.Sleep(time.Duration(try) * time.Second)
		}
		var status int
		if status, err = h.postOnce(body); err == nil || status != http.StatusServiceUnavailable {
			return err
		}
	}
	return err
}

func (h *pgHerald) postOnce(body []byte) (int, error) {
	resp, err := http.Post(h.url+"/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("POST /webhook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("POST /webhook = %d %s", resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// call makes an API request, decodes the JSON answer into into and
// returns the status.
func (h *pgHerald) call(method, path string, into any) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(b, into); err != nil {
			h.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

func (h *pgHerald) targetHealth() map[string]string {
	var out struct {
		Targets []ingest.TargetView `json:"targets"`
	}
	states := map[string]string{}
	if h.call(http.MethodGet, "/api/v1/targets", &out) != http.StatusOK {
		return states
	}
	for _, tv := range out.Targets {
		if tv.Health != nil {
			states[tv.Name] = tv.Health.State
		}
	}
	return states
}

func webhookTargetsYAML(targets ...[2]string) string {
	var b strings.Builder
	for _, tg := range targets {
		fmt.Fprintf(&b, "- name: %s\n  type: webhook\n  url: %s\n  retry: {initial_interval: 200ms, backoff: 2, max_interval: 1s, max_attempts: 20}\n", tg[0], tg[1])
	}
	return b.String()
}

func alertBatch(prefix string, from, n int) []alert.WebhookAlert {
	var out []alert.WebhookAlert
	for i := from; i < from+n; i++ {
		out = append(out, firingAlert(fmt.Sprintf("%s%04d", prefix, i), "PostgresPath"))
	}
	return out
}

// perFingerprint counts firing notifications per alert fingerprint.
func perFingerprint(s *sink) map[string]int {
	seen := map[string]int{}
	for _, r := range s.all() {
		if bodyEvent(r.Body) == "firing" {
			seen[bodyFingerprint(r.Body)]++
		}
	}
	return seen
}

// testPostgresFanOut: one webhook of 20 alerts reaches each of 3 targets
// exactly once per alert.
func testPostgresFanOut(t *testing.T, tc *pgTemporal) {
	sinks := []*sink{newSink(t), newSink(t), newSink(t)}
	var targets [][2]string
	for i, s := range sinks {
		targets = append(targets, [2]string{fmt.Sprintf("fan%d", i), s.URL + "/hook"})
	}
	h := startPGHerald(t, tc, "pg-fanout", webhookTargetsYAML(targets...), true)
	begin := time.Now()
	h.post(webhookBody(alertBatch("fan", 0, pgFanOutAlerts)...))
	acked := time.Since(begin)
	for i, s := range sinks {
		eventually(t, 120*time.Second, fmt.Sprintf("target fan%d gets %d alerts", i, pgFanOutAlerts), func() bool {
			return len(perFingerprint(s)) == pgFanOutAlerts
		})
	}
	took := time.Since(begin)
	time.Sleep(500 * time.Millisecond) // late duplicates would show now
	for i, s := range sinks {
		seen := perFingerprint(s)
		for fp, n := range seen {
			if n != 1 {
				t.Errorf("target fan%d got %s %d times, want exactly once", i, fp, n)
			}
		}
		if len(seen) != pgFanOutAlerts {
			t.Errorf("target fan%d got %d distinct alerts, want %d", i, len(seen), pgFanOutAlerts)
		}
	}
	var v ingest.AlertView
	if code := h.call(http.MethodGet, "/api/v1/alerts/fan0007", &v); code != 200 || len(v.Targets) != 3 {
		t.Fatalf("GET /api/v1/alerts/fan0007 = %d %+v", code, v)
	}
	for _, ts := range v.Targets {
		if ts.Status != contract.DeliveryDelivered || ts.Attempts != 1 {
			t.Errorf("fan0007 at %s: %s after %d attempts, want delivered after 1", ts.Name, ts.Status, ts.Attempts)
		}
	}
	// The alert list counts and pages on PostgreSQL's visibility store too.
	var first, second ingest.AlertList
	eventually(t, 20*time.Second, "the alert list counts the fan-out", func() bool {
		return h.call(http.MethodGet, "/api/v1/alerts?target=fan0&limit=8", &first) == 200 && first.Matched == pgFanOutAlerts
	})
	if code := h.call(http.MethodGet, "/api/v1/alerts?target=fan0&limit=8&page_token="+url.QueryEscape(first.NextPageToken), &second); code != 200 ||
		len(first.Alerts) != 8 || len(second.Alerts) != 8 || second.NextPageToken == "" {
		t.Errorf("pages of 8 of %d: %d and %d alerts (second page %d, next token %q)", first.Matched, len(first.Alerts), len(second.Alerts), code, second.NextPageToken)
	}
	onFirst := map[string]bool{}
	for _, a := range first.Alerts {
		onFirst[a.Fingerprint] = true
	}
	for _, a := range second.Alerts {
		if onFirst[a.Fingerprint] {
			t.Errorf("alert %s is on both pages", a.Fingerprint)
		}
	}
	t.Logf("fan-out: %d alerts x %d targets = %d deliveries, each exactly once; webhook acked in %s, all delivered in %s",
		pgFanOutAlerts, len(sinks), pgFanOutAlerts*len(sinks), acked.Round(time.Millisecond), took.Round(time.Millisecond))
}

// testPostgresDeadLetter: a target answering 400 sends the delivery to the
// dead letters; once the receiver is fixed, a replay delivers it exactly
// once and the entry is gone.
func testPostgresDeadLetter(t *testing.T, tc *pgTemporal) {
	var fixed atomic.Bool
	s := newSink(t)
	receiver := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fixed.Load() {
			http.Error(w, `{"error":"bad payload"}`, http.StatusBadRequest)
			return
		}
		s.Config.Handler.ServeHTTP(w, r)
	}))
	h := startPGHerald(t, tc, "pg-dlq", webhookTargetsYAML([2]string{"rejects", receiver.URL + "/hook"}), true)
	h.post(webhookBody(firingAlert("dlq0001", "PostgresDeadLetter")))
	begin := time.Now()
	var list workflows.ListResponse
	eventually(t, 120*time.Second, "the rejected delivery is in /api/v1/dlq", func() bool {
		return h.call(http.MethodGet, "/api/v1/dlq", &list) == 200 && list.Total == 1
	})
	e := list.Entries[0]
	if e.Target != "rejects" || e.Fingerprint != "dlq0001" || e.Attempts != 1 || e.Event != "firing" {
		t.Errorf("dead letter = %+v, want target rejects, fingerprint dlq0001, 1 attempt (400 is not retried), event firing", e)
	}
	if n := len(s.all()); n != 0 {
		t.Fatalf("the fixed receiver was reached %d times before the fix", n)
	}
	fixed.Store(true)
	var res workflows.ReplayResult
	if code := h.call(http.MethodPost, "/api/v1/dlq/"+e.ID+"/replay", &res); code != 200 || !res.Delivered {
		t.Fatalf("replay = %d %+v, want 200 delivered", code, res)
	}
	time.Sleep(500 * time.Millisecond)
	if n := s.count("firing"); n != 1 || len(s.all()) != 1 {
		t.Errorf("fixed receiver got %d firing notifications (%d requests), want exactly 1", n, len(s.all()))
	}
	if h.call(http.MethodGet, "/api/v1/dlq", &list); list.Total != 0 {
		t.Errorf("dead letters after the replay: %+v, want none", list.Entries)
	}
	eventually(t, 15*time.Second, "the alert state shows the replayed delivery", func() bool {
		var v ingest.AlertView
		return h.call(http.MethodGet, "/api/v1/alerts/dlq0001", &v) == 200 && len(v.Targets) == 1 &&
			v.Targets[0].Status == contract.DeliveryDelivered
	})
	t.Logf("dead letter: 400 → entry %s (1 attempt) → fixed → replay delivered once, entry gone; %s",
		e.ID, time.Since(begin).Round(time.Millisecond))
}

// testPostgresHealth: a target that is down is marked unhealthy by the
// scheduled health checks (1s interval) and shown so in /api/v1/targets;
// the other targets get every alert meanwhile.
func testPostgresHealth(t *testing.T, tc *pgTemporal) {
	up1, up2 := newSink(t), newSink(t)
	downAddr := freeAddr(t) // nothing listens there
	h := startPGHerald(t, tc, "pg-health", webhookTargetsYAML(
		[2]string{"up1", up1.URL + "/hook"}, [2]string{"up2", up2.URL + "/hook"},
		[2]string{"down", "http://" + downAddr + "/hook"}), true, "--health-interval", "1s")
	begin := time.Now()
	var states map[string]string
	eventually(t, 120*time.Second, "the scheduled checks mark down unhealthy in /api/v1/targets", func() bool {
		states = h.targetHealth()
		return states["down"] == health.StateUnhealthy
	})
	detected := time.Since(begin)
	if states["up1"] != health.StateHealthy || states["up2"] != health.StateHealthy {
		t.Errorf("target health = %v, want up1 and up2 healthy", states)
	}
	const n = 10
	sent := time.Now()
	h.post(webhookBody(alertBatch("hl", 0, n)...))
	for name, s := range map[string]*sink{"up1": up1, "up2": up2} {
		eventually(t, 120*time.Second, name+" gets every alert while down is unhealthy", func() bool {
			return len(perFingerprint(s)) == n
		})
	}
	delivered := time.Since(sent)
	var v ingest.AlertView
	eventually(t, 15*time.Second, "the delivery to down is held back", func() bool {
		if h.call(http.MethodGet, "/api/v1/alerts/hl0003", &v) != 200 {
			return false
		}
		for _, ts := range v.Targets {
			if ts.Name == "down" {
				return ts.Status == contract.DeliveryWaiting
			}
		}
		return false
	})
	for name, s := range map[string]*sink{"up1": up1, "up2": up2} {
		for fp, c := range perFingerprint(s) {
			if c != 1 {
				t.Errorf("%s got %s %d times, want once", name, fp, c)
			}
		}
	}
	t.Logf("health: down unhealthy in /api/v1/targets after %s; %d alerts reached up1 and up2 in %s, down held back",
		detected.Round(time.Millisecond), n, delivered.Round(time.Millisecond))
}
