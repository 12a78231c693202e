package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/cli"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/target"
)

// runCLI runs `worker <args>` (the operator commands) against the API and
// returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := cli.Worker(ctx, args, &stdout, &stderr, nil)
	return code, stdout.String(), stderr.String()
}

// TestOperatorCLIAgainstHerald: the operator CLI against a running Herald
// (worker and API on a real Temporal server). An alert goes to two
// targets; one fails every attempt and its delivery is dead-lettered.
// `dlq list` shows the entry; without the admin token `dlq replay` is
// refused (exit 4); once the sink recovers, `dlq replay ID` delivers it
// exactly once; `alerts get` shows both targets delivered and `targets
// list` lists both.
func TestOperatorCLIAgainstHerald(t *testing.T) {
	// Not parallel: the CLI reads HERALD_API_URL and HERALD_ADMIN_TOKEN
	// from the environment.
	const admin = "cli-admin-token-7"
	var healthy atomic.Bool
	upSink, downSink := newSink(t), newSink(t)
	failing := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		downSink.Config.Handler.ServeHTTP(w, r)
	}))
	h := startHerald(t, []target.Target{
		webhookTargetFor("up", upSink, quickRetry(3)),
		{Name: "down", Type: "webhook", URL: failing.URL + "/hook/down", Retry: quickRetry(3)},
	}, func(c *config.Config) { c.AdminToken = admin })
	t.Setenv("HERALD_API_URL", h.http.URL)
	t.Setenv("HERALD_ADMIN_TOKEN", admin)

	if code, body := h.post(webhookBody(firingAlert("cli1", "CLIDeadLetter"))); code != http.StatusOK {
		t.Fatalf("POST /webhook = %d %s", code, body)
	}
	var list ingest.DeadLetterList
	eventually(t, 60*time.Second, "the failing delivery is listed by `dlq list --json`", func() bool {
		code, out, _ := runCLI(t, "dlq", "list", "--json")
		return code == cli.ExitOK && json.Unmarshal([]byte(out), &list) == nil && len(list.Entries) == 1
	})
	e := list.Entries[0]
	if e.Target != "down" || e.Fingerprint != "cli1" {
		t.Fatalf("entry = %+v", e.DeadLetter)
	}
	code, out, errOut := runCLI(t, "dlq", "list")
	if code != cli.ExitOK || !strings.Contains(out, e.ID) || !strings.Contains(out, "CLIDeadLetter") || !strings.Contains(out, "http_5xx") {
		t.Errorf("dlq list = %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "dlq", "get", e.ID)
	if code != cli.ExitOK || !strings.Contains(out, "target:") || !strings.Contains(out, "down (webhook)") {
		t.Errorf("dlq get = %d\n%s", code, out)
	}

	// Without the admin token the replay is refused, and says so.
	t.Setenv("HERALD_ADMIN_TOKEN", "")
	code, out, errOut = runCLI(t, "dlq", "replay", e.ID)
	if code != cli.ExitRefused || !strings.Contains(errOut, "HTTP 401") || out != "" {
		t.Errorf("dlq replay without the token = %d, stdout %q, stderr %q; want %d and HTTP 401", code, out, errOut, cli.ExitRefused)
	}
	t.Setenv("HERALD_ADMIN_TOKEN", admin)

	healthy.Store(true)
	code, out, errOut = runCLI(t, "dlq", "replay", e.ID)
	if code != cli.ExitOK || !strings.Contains(out, "delivered "+e.ID) {
		t.Fatalf("dlq replay = %d\n%s%s", code, out, errOut)
	}
	if n := downSink.countFP("cli1", "firing"); n != 1 {
		t.Errorf("the recovered sink got %d deliveries, want exactly 1", n)
	}
	if n := upSink.countFP("cli1", "firing"); n != 1 {
		t.Errorf("the healthy sink got %d deliveries, want 1", n)
	}
	code, out, _ = runCLI(t, "dlq", "get", e.ID)
	if code != cli.ExitNotFound {
		t.Errorf("dlq get of the replayed entry = %d %s, want %d (gone)", code, out, cli.ExitNotFound)
	}

	// The alert's state shows both targets delivered.
	eventually(t, 10*time.Second, "`alerts get` shows both targets delivered", func() bool {
		code, out, _ := runCLI(t, "alerts", "get", "cli1", "--json")
		var v ingest.AlertView
		if code != cli.ExitOK || json.Unmarshal([]byte(out), &v) != nil {
			return false
		}
		up, down := v.Target("up"), v.Target("down")
		return up != nil && down != nil && up.Status == contract.DeliveryDelivered && down.Status == contract.DeliveryDelivered
	})
	code, out, _ = runCLI(t, "alerts", "get", "cli1")
	for _, want := range []string{"fingerprint:  cli1", "up ", "down ", "delivered"} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Errorf("alerts get = %d, lacks %q:\n%s", code, want, out)
		}
	}

	// A second alert of the same name: `alerts list` pages one at a time
	// and its last line names the next page, which holds the other one.
	if code, body := h.post(webhookBody(firingAlert("cli2", "CLIDeadLetter"))); code != http.StatusOK {
		t.Fatalf("POST /webhook = %d %s", code, body)
	}
	var first ingest.AlertList
	eventually(t, 20*time.Second, "`alerts list --json` counts both alerts", func() bool {
		code, out, _ := runCLI(t, "alerts", "list", "--name", "CLIDeadLetter", "--limit", "1", "--json")
		return code == cli.ExitOK && json.Unmarshal([]byte(out), &first) == nil && first.Matched == 2
	})
	code, out, _ = runCLI(t, "alerts", "list", "--name", "CLIDeadLetter", "--limit", "1")
	next := strings.TrimSpace(out[strings.LastIndex(out, "--page-token ")+len("--page-token "):])
	if code != cli.ExitOK || !strings.Contains(out, "more match; the next page: --page-token ") || next == "" {
		t.Fatalf("alerts list --limit 1 = %d:\n%s", code, out)
	}
	other := map[string]string{"cli1": "cli2", "cli2": "cli1"}[first.Alerts[0].Fingerprint]
	code, out, _ = runCLI(t, "alerts", "list", "--name", "CLIDeadLetter", "--limit", "1", "--page-token", next)
	if code != cli.ExitOK || other == "" || !strings.Contains(out, "\n"+other+" ") ||
		strings.Contains(out, "\n"+first.Alerts[0].Fingerprint+" ") || strings.Contains(out, "next page") {
		t.Errorf("after %s the second page = %d, want %s alone and no next page:\n%s", first.Alerts[0].Fingerprint, code, other, out)
	}

	code, out, _ = runCLI(t, "targets", "list")
	if code != cli.ExitOK || !strings.Contains(out, "NAME") || !strings.Contains(out, "\nup ") || !strings.Contains(out, "\ndown ") {
		t.Errorf("targets list = %d:\n%s", code, out)
	}
	code, out, errOut = runCLI(t, "targets", "check", "nope")
	if code != cli.ExitNotFound || !strings.Contains(errOut, "HTTP 404") {
		t.Errorf("targets check nope = %d %s %s, want %d", code, out, errOut, cli.ExitNotFound)
	}
}
