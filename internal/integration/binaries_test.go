package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/app/dev"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/workflows"
)

// loadConfig builds a configuration the way the binaries do, from flags.
func loadConfig(t *testing.T, args ...string) config.Config {
	t.Helper()
	cfg, err := config.Load("test", args, func(string) string { return "" }, &bytes.Buffer{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func writeTargets(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "targets.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runInBackground runs fn until the test ends and checks it returns nil.
func runInBackground(t *testing.T, name string, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s returned %v", name, err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	eventually(t, 60*time.Second, base+" ready", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// TestWorkerAndStarterBinariesAgainstACluster runs the code of `worker` and
// `starter` (app.RunWorker, app.RunStarter) against an existing Temporal
// server, as in production: an alert posted to the starter is delivered by
// the worker, which also created the health schedule.
func TestWorkerAndStarterBinariesAgainstACluster(t *testing.T) {
	s := newSink(t)
	targets := writeTargets(t, fmt.Sprintf("- name: prod-hook\n  type: webhook\n  url: %s/hook\n", s.URL))
	workerAddr, starterAddr := freeAddr(t), freeAddr(t)
	common := []string{"--temporal-address", server.GetFrontendHostPort(), "--temporal-namespace", server.GetDefaultNamespace(),
		"--task-queue", "binaries", "--targets-file", targets, "--log-level", "error"}
	wcfg := loadConfig(t, append(common, "--http-addr", workerAddr)...)
	scfg := loadConfig(t, append(common, "--http-addr", starterAddr, "--temporal-ui-url", "https://temporal.example.test")...)
	runInBackground(t, "worker", func(ctx context.Context) error { return app.RunWorker(ctx, wcfg, discardLogger()) })
	runInBackground(t, "starter", func(ctx context.Context) error { return app.RunStarter(ctx, scfg, discardLogger()) })
	waitReady(t, "http://"+starterAddr)
	waitReady(t, "http://"+workerAddr)

	resp, err := http.Post("http://"+starterAddr+"/webhook", "application/json", bytes.NewReader(webhookBody(firingAlert("bin1", "Binaries"))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook = %d", resp.StatusCode)
	}
	eventually(t, 30*time.Second, "the worker delivers the starter's alert", func() bool { return s.count("firing") == 1 })
	// The starter's console links the alert to its workflow in the
	// configured Temporal Web UI.
	link := `href="https://temporal.example.test/namespaces/` + server.GetDefaultNamespace() + `/workflows/alert-bin1/`
	if page := getText(t, "http://"+starterAddr+"/ui/alerts/bin1"); !strings.Contains(page, link) {
		t.Errorf("the starter's alert page lacks the Web UI link %s", link)
	}
	if _, err := server.GetDefaultClient().ScheduleClient().GetHandle(context.Background(), workflows.HealthScheduleIDFor("binaries")).
		Describe(context.Background()); err != nil {
		t.Errorf("health schedule not created by the worker: %v", err)
	}
	if text := scrape(t, "http://"+workerAddr+"/metrics"); !strings.Contains(text, "temporal_") || !strings.Contains(text, "herald_deliveries_total") {
		t.Error("worker /metrics lacks Temporal SDK or Herald metrics")
	}
}

// TestDevModeRunsEverything runs `worker dev` (dev.Run): embedded Temporal,
// worker, starter and the dev sink in one process; an alert reaches the
// dev sink, and Ctrl-C (context cancel) stops everything.
func TestDevModeRunsEverything(t *testing.T) {
	httpAddr := freeAddr(t)
	targets := writeTargets(t, fmt.Sprintf("- name: dev-sink\n  type: webhook\n  url: http://%s/dev/sink/dev-sink\n", httpAddr))
	cfg := loadConfig(t, "--http-addr", httpAddr, "--in-memory", "--temporal-port", "0", "--ui-port", "-1",
		"--targets-file", targets, "--task-queue", "devmode")
	logs := &syncBuffer{}
	out := &syncBuffer{}
	runInBackground(t, "worker dev", func(ctx context.Context) error {
		return dev.Run(ctx, cfg, newJSONLogger(logs), out)
	})
	base := "http://" + httpAddr
	waitReady(t, base)
	if !strings.Contains(out.String(), "POST "+base+"/webhook") {
		t.Errorf("banner does not say where the webhook is:\n%s", out.String())
	}
	resp, err := http.Post(base+"/webhook", "application/json", bytes.NewReader(webhookBody(firingAlert("dev1", "DevMode"))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, 30*time.Second, "the dev sink logs the notification", func() bool {
		return strings.Contains(logs.String(), `"msg":"dev sink received a notification"`)
	})
	// The sink reads the v4 envelope webhook targets send.
	for _, want := range []string{`"event":"firing"`, `"alertname":"DevMode"`, `"fingerprint":"dev1"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("dev sink log lacks %s", want)
		}
	}
	var v ingest.AlertView
	eventually(t, 10*time.Second, "delivered in the alert state", func() bool {
		r, err := http.Get(base + "/api/v1/alerts/dev1")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		return json.NewDecoder(r.Body).Decode(&v) == nil && len(v.Targets) == 1 && v.Targets[0].Status == contract.DeliveryDelivered
	})
	if v.Classification.Source == "" {
		t.Errorf("alert was not classified: %+v", v.Classification)
	}
	// A normal start and delivery log no warning and no error: only a
	// real problem is logged at those levels.
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("a normal start logged: %s", line)
		}
	}
}
