package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/target"
)

// alertmanagerBinary finds the Alertmanager of the Debian package
// prometheus-alertmanager (or one named by HERALD_ALERTMANAGER_BIN).
func alertmanagerBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HERALD_ALERTMANAGER_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Alertmanager not found: install the Debian package prometheus-alertmanager (make deps) or set HERALD_ALERTMANAGER_BIN")
	return ""
}

// freeAddr returns a free loopback address below the ephemeral port range,
// so that no outgoing connection takes it before its server binds it.
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(lowFreePort(t)))
}

// startAlertmanager runs a real Alertmanager with the given config and
// waits until it is ready. It returns its base URL.
func startAlertmanager(t *testing.T, name, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var logs syncBuffer
	cmd := exec.Command(alertmanagerBinary(t),
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=debug",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start alertmanager: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, logs.String())
		}
	})
	base := "http://" + addr
	eventually(t, 20*time.Second, name+" ready", func() bool {
		resp, err := http.Get(base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func postAlerts(t *testing.T, base string, alerts ...amAlert) {
	t.Helper()
	body, _ := json.Marshal(alerts)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("post alerts to alertmanager: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alerts to alertmanager: HTTP %d", resp.StatusCode)
	}
}

// TestAlertmanagerEndToEnd: a real Alertmanager sends its webhook to Herald
// (with bearer authentication); Herald delivers firing and then resolved to
// a webhook target and forwards them to a second real Alertmanager.
func TestAlertmanagerEndToEnd(t *testing.T) {
	const token = "e2e-webhook-token"
	hook := newSink(t)
	downstream := startAlertmanager(t, "downstream alertmanager", `
route:
  receiver: blackhole
receivers:
- name: blackhole
`)
	h := startHerald(t, []target.Target{
		webhookTargetFor("e2e-hook", hook, quickRetry(5)),
		{Name: "downstream-am", Type: "alertmanager", URL: downstream, Retry: quickRetry(5)},
	}, func(c *config.Config) { c.WebhookToken = token })

	upstream := startAlertmanager(t, "alertmanager", fmt.Sprintf(`
route:
  receiver: herald
  group_by: ['alertname', 'instance']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: herald
  webhook_configs:
  - url: %s/webhook
    send_resolved: true
    http_config:
      authorization:
        type: Bearer
        credentials: %s
`, h.http.URL, token))

	now := time.Now().UTC()
	alerts := []amAlert{
		{Labels: map[string]string{"alertname": "E2EDiskFull", "instance": "db-1", "severity": "critical"},
			Annotations: map[string]string{"summary": "disk full on db-1"}, StartsAt: now, EndsAt: now.Add(time.Hour)},
		{Labels: map[string]string{"alertname": "E2EDiskFull", "instance": "db-2", "severity": "warning"},
			Annotations: map[string]string{"summary": "disk full on db-2"}, StartsAt: now, EndsAt: now.Add(time.Hour)},
	}
	postAlerts(t, upstream, alerts...)

	eventually(t, 60*time.Second, "both alerts delivered firing to the webhook target", func() bool {
		return hook.count("firing") == 2
	})
	fingerprints := map[string]string{}
	for _, r := range hook.all() {
		labels := bodyLabels(r.Body)
		fingerprints[fmt.Sprint(labels["instance"])] = bodyFingerprint(r.Body)
	}
	if len(fingerprints) != 2 || fingerprints["db-1"] == "" {
		t.Fatalf("fingerprints by instance = %v", fingerprints)
	}
	eventually(t, 30*time.Second, "downstream alertmanager has both alerts active", func() bool {
		return len(activeAlerts(t, downstream, "E2EDiskFull")) == 2
	})

	// Resolve both at the upstream Alertmanager.
	for i := range alerts {
		alerts[i].EndsAt = time.Now().UTC()
	}
	postAlerts(t, upstream, alerts...)
	eventually(t, 60*time.Second, "both resolves delivered", func() bool { return hook.count("resolved") == 2 })
	for inst, fp := range fingerprints {
		st := h.waitWorkflowDone(fp)
		if st.Completed != "resolved" {
			t.Errorf("%s: workflow completed %q, want resolved", inst, st.Completed)
		}
		for _, ts := range st.Targets {
			if ts.Event != "resolved" || ts.Status != "delivered" {
				t.Errorf("%s target %s: %s/%s, want resolved/delivered", inst, ts.Name, ts.Event, ts.Status)
			}
		}
	}
	eventually(t, 30*time.Second, "downstream alertmanager resolved both alerts", func() bool {
		return len(activeAlerts(t, downstream, "E2EDiskFull")) == 0
	})
	if n := hook.count("firing"); n != 2 {
		t.Errorf("webhook target got %d firing notifications, want 2 (no duplicates)", n)
	}
}

// activeAlerts lists the active alerts named name at an Alertmanager.
func activeAlerts(t *testing.T, base, name string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/api/v2/alerts?active=true&silenced=false&inhibited=false&filter="+
			strings.ReplaceAll(fmt.Sprintf("alertname=%q", name), `"`, "%22"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("list downstream alerts: %v", err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode downstream alerts: %v", err)
	}
	var active []map[string]any
	for _, a := range out {
		if st, _ := a["status"].(map[string]any); st["state"] == "active" {
			active = append(active, a)
		}
	}
	return active
}
