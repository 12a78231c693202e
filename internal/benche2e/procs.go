package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat
// (100 on every Linux architecture Go supports for this purpose).
const clockTicks = 100

// proc is a child process started by the harness, with its log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C of the harness reaches the children only
	// through stop, so they shut down in order; they die with the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGINT and waits up to grace, then kills.
func (p *proc) stop(grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of the process log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cpuSeconds reads user+system CPU time of a process from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU returns (utime+stime)/USER_HZ of a /proc/<pid>/stat line.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat: no ')'")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat: too few fields")
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("malformed /proc stat: %w", err)
	}
	return float64(u+s) / clockTicks, nil
}

// statusKB reads a "Key:  N kB" line (VmRSS, VmHWM) of /proc/<pid>/status.
func statusKB(pid int, key string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseStatusKB(f, key)
}

func parseStatusKB(r io.Reader, key string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			break
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("%s not found in /proc status", key)
}

// rssSampler records the largest VmRSS of a process between start and stop.
type rssSampler struct {
	pid    int
	mu     sync.Mutex
	maxKB  int64
	cancel context.CancelFunc
	done   chan struct{}
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &rssSampler{pid: pid, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb, err := statusKB(pid, "VmRSS"); err == nil {
				s.mu.Lock()
				s.maxKB = max(s.maxKB, kb)
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) stop() int64 {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxKB
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitFor polls until ok returns true, the process dies or timeout passes.
func waitFor(ctx context.Context, what string, p *proc, timeout time.Duration, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s: %s exited (%v); last log lines:\n%s", what, p.name, p.err, p.tail(30))
		}
		if time.Now().After(deadline) {
			tail := ""
			if p != nil {
				tail = "; last log lines:\n" + p.tail(30)
			}
			return fmt.Errorf("%s: not within %s%s", what, timeout, tail)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(url string) bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// findAlertmanager returns the Alertmanager binary: the flag, then
// prometheus-alertmanager (Debian) or alertmanager in PATH.
func findAlertmanager(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("alertmanager not found in PATH: run `make deps` (Debian package prometheus-alertmanager) or pass -alertmanager")
}

// heraldTarget is one entry of the targets file the harness writes.
type heraldTarget struct {
	Name string `json:"name"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// herald is the `worker dev` process under test.
type herald struct {
	*proc
	base         string // http://host:port
	frontendAddr string // embedded Temporal frontend
	targets      []string
}

// startHerald writes a targets file with n webhook targets on the receiver
// and runs `worker dev` with a fresh data directory, defaults otherwise
// (extra, KEY=VAL entries, comes last and so wins).
func startHerald(ctx context.Context, bin, dir, receiverURL string, n int, extra []string) (*herald, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	frontend, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, frontendPort, _ := net.SplitHostPort(frontend)
	var targets []heraldTarget
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("bench-%d", i)
		targets = append(targets, heraldTarget{Name: name, Type: "webhook", URL: receiverURL + "/" + name})
		names = append(names, name)
	}
	tf := filepath.Join(dir, "targets.json")
	b, _ := json.MarshalIndent(targets, "", "  ")
	if err := os.WriteFile(tf, b, 0o600); err != nil {
		return nil, fmt.Errorf("write targets file: %w", err)
	}
	env := []string{
		"HERALD_HTTP_ADDR=" + httpAddr,
		"HERALD_DATA_DIR=" + filepath.Join(dir, "herald-data"),
		"HERALD_TEMPORAL_PORT=" + frontendPort,
		"HERALD_UI_PORT=-1",
		"HERALD_TARGETS_FILE=" + tf,
	}
	env = append(env, extra...)
	p, err := startProc("herald", filepath.Join(dir, "herald.log"), env, bin, "dev")
	if err != nil {
		return nil, err
	}
	h := &herald{proc: p, base: "http://" + httpAddr, frontendAddr: frontend, targets: names}
	if err := waitFor(ctx, "herald /readyz", p, 3*time.Minute, func() bool { return httpOK(h.base + "/readyz") }); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	if err := waitFor(ctx, "herald targets loaded (mode normal)", p, time.Minute, func() bool { return h.modeNormal() }); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return h, nil
}

func (h *herald) modeNormal() bool {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(h.base + "/api/v1/mode")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var m struct {
		Mode    string `json:"mode"`
		Enabled int    `json:"enabled_targets"`
	}
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return false
	}
	return m.Mode == "normal" && m.Enabled == len(h.targets)
}

// startAlertmanager runs Alertmanager with two routes for every generated
// alert: straight to the receiver (continue: true) and to Herald through
// the acknowledgement proxy. group_by ['...'] makes every alert its own
// group, so each new alert is one notification per path.
func startAlertmanager(ctx context.Context, bin, dir, directURL, heraldURL string, groupInterval time.Duration) (*proc, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cfg := fmt.Sprintf(`route:
  receiver: blackhole
  group_by: ['...']
  group_wait: 0s
  group_interval: %s
  repeat_interval: 24h
  routes:
  - receiver: direct
    matchers: ['alertname="%[2]s"']
    continue: true
  - receiver: herald
    matchers: ['alertname="%[2]s"']
receivers:
- name: blackhole
- name: direct
  webhook_configs:
  - url: %[3]s
    send_resolved: false
- name: herald
  webhook_configs:
  - url: %[4]s
    send_resolved: false
`, groupInterval, benchAlertName, directURL, heraldURL)
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, "", fmt.Errorf("write alertmanager config: %w", err)
	}
	p, err := startProc("alertmanager", filepath.Join(dir, "alertmanager.log"), nil, bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "alertmanager-data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
		"--log.level=warn",
	)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitFor(ctx, "alertmanager ready", p, time.Minute, func() bool { return httpOK(base + "/-/ready") }); err != nil {
		p.stop(5 * time.Second)
		return nil, "", err
	}
	return p, base, nil
}

// alertmanagerVersion returns the first line of `alertmanager --version`.
func alertmanagerVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
