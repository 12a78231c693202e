package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// workerBin is the binary under test, set by TestMain.
var workerBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// make test builds bin/worker once and names it here (the cluster
	// tests use the same binary).
	if bin := os.Getenv("HERALD_WORKER_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "scenario: HERALD_WORKER_BIN:", err)
			return 2
		}
		if _, err := os.Stat(abs); err != nil {
			fmt.Fprintln(os.Stderr, "scenario: HERALD_WORKER_BIN:", err)
			return 2
		}
		workerBin = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "herald-scenario-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenario: temp dir:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	bin, err := buildWorker(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scenario:", err)
		return 2
	}
	workerBin = bin
	return m.Run()
}

// buildWorker builds ./worker of this module into dir.
func buildWorker(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	bin := filepath.Join(dir, "worker")
	start := time.Now()
	cmd := exec.Command(goBin, "build", "-o", bin, "./worker")
	cmd.Dir = filepath.Dir(gomod)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./worker: %w\n%s", err, b)
	}
	fmt.Fprintf(os.Stderr, "scenario: built %s in %s\n", bin, time.Since(start).Round(time.Second))
	return bin, nil
}

// HeraldOptions configure one `worker dev` process.
type HeraldOptions struct {
	// Targets are written as the targets file (omitted when nil).
	Targets []map[string]any
	// HealthInterval of the scheduled probes (default 2s).
	HealthInterval time.Duration
	// Env adds or overrides environment variables.
	Env map[string]string
	// NoWaitReady returns as soon as the HTTP server answers at all,
	// whatever /readyz says.
	NoWaitReady bool
}

// Herald is one `worker dev` process (and its restarts on the same data dir).
type Herald struct {
	t       *testing.T
	Base    string // http://host:port of webhook, API and metrics
	DataDir string
	LogPath string
	env     []string

	cmd     *exec.Cmd
	spawned time.Time
	done    chan struct{}
	runErr  error
	starts  int
}

// startMu serialises process starts: `worker dev` picks free ports for the
// embedded Temporal services by listening and closing, so two processes
// starting at once can pick the same port. A start holds it until the
// HTTP server answers (every port is bound by then) or the process exits.
var startMu sync.Mutex

// readyTimeout bounds a start until /readyz answers 200.
const readyTimeout = 90 * time.Second

// StartHerald starts `worker dev` with a fresh data dir and waits until it is ready.
func StartHerald(t *testing.T, o HeraldOptions) *Herald {
	t.Helper()
	dir := t.TempDir()
	h := &Herald{t: t, DataDir: filepath.Join(dir, "data"), LogPath: filepath.Join(dir, "herald.log")}
	interval := o.HealthInterval
	if interval == 0 {
		interval = 2 * time.Second
	}
	env := map[string]string{
		"HERALD_DATA_DIR":        h.DataDir,
		"HERALD_TEMPORAL_PORT":   "0",
		"HERALD_UI_PORT":         "-1",
		"HERALD_HEALTH_INTERVAL": interval.String(),
		"HERALD_LOG_FORMAT":      "json",
		"HERALD_TARGETS_POLL":    "500ms",
	}
	if o.Targets != nil {
		path := filepath.Join(dir, "targets.json")
		writeJSONFile(t, path, o.Targets)
		env["HERALD_TARGETS_FILE"] = path
	}
	for k, v := range o.Env {
		env[k] = v
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "HERALD_") || k == "KUBECONFIG" {
			continue
		}
		h.env = append(h.env, kv)
	}
	for k, v := range env {
		h.env = append(h.env, k+"="+v)
	}
	t.Cleanup(h.cleanup)
	startMu.Lock()
	addr, err := freeAddr()
	if err == nil {
		h.Base = "http://" + addr
		h.env = append(h.env, "HERALD_HTTP_ADDR="+addr)
		err = h.spawn()
	}
	if err == nil {
		err = h.waitAnswering(readyTimeout)
	}
	startMu.Unlock()
	if err != nil {
		t.Fatalf("start worker dev: %v", err)
	}
	if o.NoWaitReady {
		return h
	}
	if _, err := h.WaitReady(readyTimeout); err != nil {
		t.Fatalf("worker dev did not become ready: %v", err)
	}
	t.Logf("worker dev ready in %s (%s)", time.Since(h.spawned).Round(100*time.Millisecond), h.Base)
	return h
}

func (h *Herald) spawn() error {
	logf, err := os.OpenFile(h.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	h.starts++
	fmt.Fprintf(logf, "=== scenario: start %d of worker dev at %s\n", h.starts, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(workerBin, "dev")
	cmd.Env = h.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	h.cmd, h.done, h.runErr, h.spawned = cmd, make(chan struct{}), nil, time.Now()
	done := h.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		h.runErr = err
		close(done)
	}()
	return nil
}

// Exited reports whether the current process has ended.
func (h *Herald) Exited() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// WaitReady polls /readyz until it answers 200; it fails early when the
// process exits.
func (h *Herald) WaitReady(within time.Duration) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		if h.Exited() {
			return time.Since(start), fmt.Errorf("process exited after %s (%v); last /readyz: %s",
				time.Since(start).Round(100*time.Millisecond), h.runErr, last)
		}
		code, body, err := h.get("/readyz")
		switch {
		case err != nil:
			last = err.Error()
		case code == http.StatusOK:
			return time.Since(start), nil
		default:
			last = fmt.Sprintf("%d %s", code, strings.TrimSpace(string(body)))
		}
		time.Sleep(250 * time.Millisecond)
	}
	return time.Since(start), fmt.Errorf("not ready within %s; last /readyz: %s", within, last)
}

func (h *Herald) waitAnswering(within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if h.Exited() {
			return fmt.Errorf("process exited (%v)", h.runErr)
		}
		if _, _, err := h.get("/healthz"); err == nil {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("HTTP server not answering within %s", within)
}

// KillRestart sends SIGKILL, waits for the process to end, starts the binary
// again once on the same data dir and HTTP port, and waits until it is
// ready: a restart that exits or is not ready in time fails the test. It
// returns how long the restart took until ready.
func (h *Herald) KillRestart() time.Duration {
	h.t.Helper()
	if h.Exited() {
		h.t.Fatalf("kill: process already exited (%v)", h.runErr)
	}
	// No other start may take the ports freed by the kill.
	startMu.Lock()
	if err := h.cmd.Process.Kill(); err != nil {
		startMu.Unlock()
		h.t.Fatalf("kill -9: %v", err)
	}
	<-h.done
	began := time.Now()
	err := h.spawn()
	if err == nil {
		err = h.waitAnswering(readyTimeout)
	}
	startMu.Unlock()
	if err == nil {
		_, err = h.WaitReady(readyTimeout - time.Since(began))
	}
	if err != nil {
		h.t.Fatalf("restart %d of worker dev on the same data dir failed after %s: %v",
			h.starts-1, time.Since(began).Round(100*time.Millisecond), err)
	}
	return time.Since(began)
}

func (h *Herald) cleanup() {
	if h.cmd != nil && !h.Exited() {
		_ = h.cmd.Process.Signal(os.Interrupt)
		select {
		case <-h.done:
		case <-time.After(20 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
	}
	if h.t.Failed() {
		h.t.Logf("last lines of %s:\n%s", h.LogPath, tailLines(h.LogPath, 60, 600))
	}
}

// LogLines returns the log lines containing s (case-insensitive).
func (h *Herald) LogLines(s string) []string {
	data, err := os.ReadFile(h.LogPath)
	if err != nil {
		h.t.Fatalf("read log: %v", err)
	}
	var out []string
	needle := strings.ToLower(s)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if strings.Contains(strings.ToLower(sc.Text()), needle) {
			out = append(out, sc.Text())
		}
	}
	return out
}

func tailLines(path string, n, width int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > width {
			lines[i] = l[:width] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

var apiClient = &http.Client{Timeout: 15 * time.Second}

func (h *Herald) get(path string) (int, []byte, error) {
	resp, err := apiClient.Get(h.Base + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Get fetches path; errors are test failures.
func (h *Herald) Get(path string) (int, []byte) {
	h.t.Helper()
	code, body, err := h.get(path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return code, body
}

// TargetState is the part of an alert's per-target state the scenarios read.
type TargetState struct {
	Name          string `json:"name"`
	Status        string `json:"status"`
	Event         string `json:"event"`
	Attempts      int    `json:"attempts"`
	LastError     string `json:"lastError"`
	LastErrorKind string `json:"lastErrorKind"`
	Health        string `json:"health"`
}

// AlertView is the part of GET /api/v1/alerts/{fp} the scenarios read.
type AlertView struct {
	Fingerprint    string         `json:"fingerprint"`
	Status         string         `json:"status"`
	Mode           string         `json:"mode"`
	ModeReason     string         `json:"modeReason"`
	Episode        int            `json:"episode"`
	Notifications  int            `json:"notifications"`
	Suppressed     int            `json:"suppressed"`
	Targets        []*TargetState `json:"targets"`
	WorkflowStatus string         `json:"workflowStatus"`
}

// Target returns the state of the named target (nil when absent).
func (v AlertView) Target(name string) *TargetState {
	for _, t := range v.Targets {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Alert reads an alert's state; ok is false when the API did not answer 200.
func (h *Herald) Alert(fp string) (AlertView, int, error) {
	var v AlertView
	code, body, err := h.get("/api/v1/alerts/" + fp)
	if err != nil {
		return v, 0, err
	}
	if code != http.StatusOK {
		return v, code, fmt.Errorf("GET /api/v1/alerts/%s: %d %s", fp, code, strings.TrimSpace(string(body)))
	}
	return v, code, json.Unmarshal(body, &v)
}

// TargetHealth is one entry of GET /api/v1/targets.
type TargetHealth struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Health *struct {
		State     string `json:"state"`
		Checks    int    `json:"checks"`
		LastError string `json:"lastError"`
	} `json:"health"`
}

// State is the health state ("" when unknown to the API).
func (th TargetHealth) State() string {
	if th.Health == nil {
		return ""
	}
	return th.Health.State
}

// tryJSON decodes the 200 answer of GET path into v.
func (h *Herald) tryJSON(path string, v any) error {
	code, body, err := h.get(path)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, code, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode GET %s: %w", path, err)
	}
	return nil
}

// getJSON is tryJSON retried for up to 30s (a busy embedded server may time
// out a query); still failing fails the test.
func (h *Herald) getJSON(path string, v any) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := h.tryJSON(path, v)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal(err)
		}
		time.Sleep(time.Second)
	}
}

// Targets reads GET /api/v1/targets.
func (h *Herald) Targets() map[string]TargetHealth {
	h.t.Helper()
	var out struct {
		Targets []TargetHealth `json:"targets"`
	}
	h.getJSON("/api/v1/targets", &out)
	m := map[string]TargetHealth{}
	for _, th := range out.Targets {
		m[th.Name] = th
	}
	return m
}

// DeadLetter is the part of a dead-letter entry the scenarios report.
type DeadLetter struct {
	Fingerprint string `json:"fingerprint"`
	Target      string `json:"target"`
	ErrorKind   string `json:"errorKind"`
	Error       string `json:"error"`
	Attempts    int    `json:"attempts"`
}

// DLQ reads GET /api/v1/dlq: the total and the first page of entries.
func (h *Herald) DLQ() (int, []DeadLetter) {
	h.t.Helper()
	var out struct {
		Entries []DeadLetter `json:"entries"`
		Total   int          `json:"total"`
	}
	h.getJSON("/api/v1/dlq?limit=1000", &out)
	return max(out.Total, len(out.Entries)), out.Entries
}

// freeAddr returns a free loopback address below the ephemeral port range
// (32768 and up), so that no outgoing connection's source port takes it
// before Herald binds it.
func freeAddr() (string, error) {
	for range 200 {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(20000+rand.IntN(12768)))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr, nil
		}
	}
	return "", errors.New("free port: none found below 32768")
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("encode %s: %v", path, err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// waitFor polls cond every interval until it returns true or within passes;
// it returns whether cond became true and how long it took.
func waitFor(ctx context.Context, within, interval time.Duration, cond func() bool) (bool, time.Duration) {
	start := time.Now()
	deadline := start.Add(within)
	for {
		if cond() {
			return true, time.Since(start)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, time.Since(start)
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}
