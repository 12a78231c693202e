package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// buildWorkerInBackground starts `go build ./worker` into a temp dir and
// returns a function that waits for it and gives the binary's path.
func buildWorkerInBackground(t *testing.T) func() string {
	t.Helper()
	// make test builds bin/worker once and names it here (the scenario
	// suite uses the same binary).
	if prebuilt := os.Getenv("HERALD_WORKER_BIN"); prebuilt != "" {
		abs, err := filepath.Abs(prebuilt)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			t.Fatalf("HERALD_WORKER_BIN: %v", err)
		}
		return func() string { return abs }
	}
	bin := filepath.Join(t.TempDir(), "worker")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out []byte
	var buildErr error
	var took time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		begin := time.Now()
		out, buildErr = exec.CommandContext(ctx, goCmd, "build", "-o", bin, "github.com/herald-alerts/herald/worker").CombinedOutput()
		took = time.Since(begin)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() string {
		t.Helper()
		<-done
		if buildErr != nil {
			t.Fatalf("go build ./worker: %v\n%s", buildErr, out)
		}
		t.Logf("built the worker binary in %s (in the background)", took.Round(time.Millisecond))
		return bin
	}
}

// workerProcess is a `worker run` process of the built binary.
type workerProcess struct {
	name   string
	base   string
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan struct{}
}

func startWorkerProcess(t *testing.T, bin, name string, env ...string) *workerProcess {
	t.Helper()
	addr := freeAddr(t)
	w := &workerProcess{name: name, base: "http://" + addr, logs: &syncBuffer{}, exited: make(chan struct{})}
	w.cmd = exec.Command(bin, "run")
	w.cmd.Env = append(append(os.Environ(), "HERALD_HTTP_ADDR="+addr, "HERALD_LOG_FORMAT=json", "HERALD_LOG_LEVEL=info",
		"HERALD_SHUTDOWN_TIMEOUT=5s"), env...)
	w.cmd.Stdout, w.cmd.Stderr = w.logs, w.logs
	// A test process that dies takes its workers with it.
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-w.exited:
		case <-time.After(20 * time.Second):
			_ = w.cmd.Process.Kill()
			<-w.exited
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", name, tail(w.logs.String(), 6000))
		}
	})
	return w
}

// kill9 kills the process with SIGKILL and waits for it.
func (w *workerProcess) kill9(t *testing.T) {
	t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %s: %v", w.name, err)
	}
	<-w.exited
}

// metric sums the samples of the named metric in the process's /metrics
// whose labels contain every one of labels (e.g. `outcome="success"`).
func (w *workerProcess) metric(t *testing.T, name string, labels ...string) int {
	t.Helper()
	return sumSamples(scrape(t, w.base+"/metrics"), name, labels...)
}

func sumSamples(exposition, name string, labels ...string) int {
	total := 0
	sc := bufio.NewScanner(strings.NewReader(exposition))
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(line, l) {
				continue next
			}
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64); err == nil {
			total += int(v)
		}
	}
	return total
}

func (w *workerProcess) deliveries(t *testing.T) int {
	t.Helper()
	return w.metric(t, "herald_deliveries_total", `outcome="success"`)
}

// delivered counts the worker's "delivered" log lines (they survive the
// process) for fingerprints with prefix, and the target/fingerprint pairs.
func (w *workerProcess) delivered(prefix string) (all int, pairs map[string]bool) {
	pairs = map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(w.logs.String()))
	for sc.Scan() {
		var line struct {
			Msg         string `json:"msg"`
			Fingerprint string `json:"fingerprint"`
			Target      string `json:"target"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "delivered" || !strings.HasPrefix(line.Fingerprint, prefix) {
			continue
		}
		all++
		pairs[line.Target+"/"+line.Fingerprint] = true
	}
	return all, pairs
}

// gate holds the requests to a receiver back while closed, and counts
// the held requests whose sender died meanwhile (by target/fingerprint):
// those are not passed on, the receiver never sees them.
type gate struct {
	mu        sync.Mutex
	closed    chan struct{}
	held      atomic.Int32
	abandoned atomic.Int32
	lost      map[string]bool
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed == nil {
		g.closed = make(chan struct{})
	}
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed != nil {
		close(g.closed)
		g.closed = nil
	}
}

// abandonedDeliveries returns the target/fingerprint of every abandoned
// request.
func (g *gate) abandonedDeliveries() map[string]bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.lost)
}

func (g *gate) in(name string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// With the body read, the server notices a sender that dies.
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		g.mu.Lock()
		closed := g.closed
		g.mu.Unlock()
		if closed != nil && r.Method == http.MethodPost {
			g.held.Add(1)
			select {
			case <-closed:
			case <-r.Context().Done():
				g.abandoned.Add(1)
				var hook struct {
					Alerts []struct {
						Fingerprint string `json:"fingerprint"`
					} `json:"alerts"`
				}
				_ = json.Unmarshal(body, &hook)
				g.mu.Lock()
				if g.lost == nil {
					g.lost = map[string]bool{}
				}
				for _, a := range hook.Alerts {
					g.lost[name+"/"+a.Fingerprint] = true
				}
				g.mu.Unlock()
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

const (
	pgWarmupAlerts = 20
	pgBurstAlerts  = 200
)

// testTwoWorkerProcesses runs two `worker run` processes of the built
// binary on one task queue against the PostgreSQL-backed server and a
// starter (in-process, no worker). Both take work; then one is killed with
// SIGKILL in the middle of a burst of 200 alerts to 2 targets, and the
// other completes every delivery: nothing is missing (duplicates, which
// at-least-once delivery allows after a kill, are counted and reported).
func testTwoWorkerProcesses(t *testing.T, tc *pgTemporal, bin string) {
	const queue = "pg-two-workers"
	// Receivers answer after 50ms, behind a gate that holds requests back
	// around the kill, so the killed worker dies with deliveries on the
	// wire.
	sinks := map[string]*sink{"ka": newSink(t, response{Status: 200, Delay: 50 * time.Millisecond}),
		"kb": newSink(t, response{Status: 200, Delay: 50 * time.Millisecond})}
	g := &gate{}
	var urls []string
	for _, name := range []string{"ka", "kb"} {
		urls = append(urls, newTestServer(t, g.in(name, sinks[name].Config.Handler)).URL+"/hook")
	}
	t.Cleanup(g.release)
	targets := webhookTargetsYAML([2]string{"ka", urls[0]}, [2]string{"kb", urls[1]})
	targetsFile := writeTargets(t, targets)
	// A delivery attempt of the killed worker is retried by the other once
	// its start-to-close timeout (the delivery timeout) passes: 5s here
	// instead of the default 30s.
	env := []string{"HERALD_TEMPORAL_ADDRESS=" + tc.frontend, "HERALD_TEMPORAL_NAMESPACE=" + tc.namespace,
		"HERALD_TASK_QUEUE=" + queue, "HERALD_TARGETS_FILE=" + targetsFile, "HERALD_DELIVERY_TIMEOUT=5s",
		"HERALD_HEALTH_INTERVAL=1h"}
	workers := []*workerProcess{startWorkerProcess(t, bin, "worker-1", env...), startWorkerProcess(t, bin, "worker-2", env...)}
	for _, w := range workers {
		waitReady(t, w.base)
	}
	starter := startPGHerald(t, tc, queue, targets, false)

	received := func(prefix string) (distinct, total, dups int) {
		for _, s := range sinks {
			for fp, n := range perFingerprint(s) {
				if strings.HasPrefix(fp, prefix) {
					distinct++
					total += n
					dups += n - 1
				}
			}
		}
		return
	}

	// Both take work.
	begin := time.Now()
	starter.post(webhookBody(alertBatch("warm", 0, pgWarmupAlerts)...))
	eventually(t, 120*time.Second, "warm-up alerts delivered to both targets", func() bool {
		d, _, _ := received("warm")
		return d == pgWarmupAlerts*len(sinks)
	})
	var share []int
	eventually(t, 10*time.Second, "the workers count every warm-up delivery", func() bool {
		share = []int{workers[0].deliveries(t), workers[1].deliveries(t)}
		return share[0]+share[1] >= pgWarmupAlerts*len(sinks)
	})
	t.Logf("warm-up: %d deliveries in %s; herald_deliveries_total: worker-1 %d, worker-2 %d",
		pgWarmupAlerts*len(sinks), time.Since(begin).Round(time.Millisecond), share[0], share[1])
	for i, n := range share {
		if n == 0 {
			t.Errorf("%s delivered nothing: both workers on the queue must take work", workers[i].name)
		}
	}

	// The burst, posted as Alertmanager would (groups of 20), while
	// worker-1 is killed once a quarter of it is delivered, holding
	// deliveries.
	victim, survivor := workers[0], workers[1]
	const want = pgBurstAlerts * 2
	var posting sync.WaitGroup
	var postErr error // read after posting.Wait
	posting.Add(1)
	burstBegin := time.Now()
	go func() {
		defer posting.Done()
		// Not t.Fatal: this is not the test's goroutine.
		for from := 0; from < pgBurstAlerts && postErr == nil; from += 20 {
			postErr = starter.tryPost(webhookBody(alertBatch("burst", from, 20)...))
		}
	}()
	eventually(t, 120*time.Second, "a quarter of the burst delivered", func() bool {
		d, _, _ := received("burst")
		return d >= want/4
	})
	// Hold the receivers' answers (for less than the 5s delivery timeout,
	// so the survivor's held requests do not time out), and kill the
	// victim while both workers have requests waiting there.
	g.hold()
	held := time.Now()
	inFlight := 0
	eventually(t, 10*time.Second, victim.name+" has activities in flight", func() bool {
		// First attempts run as local activities, later ones as
		// activities: both hold deliveries.
		inFlight = victim.metric(t, "temporal_worker_task_slots_used", `worker_type="ActivityWorker"`) +
			victim.metric(t, "temporal_worker_task_slots_used", `worker_type="LocalActivityWorker"`)
		return inFlight > 0 && (g.held.Load() >= 10 || time.Since(held) > 2500*time.Millisecond)
	})
	victimBurst, _ := victim.delivered("burst")
	victim.kill9(t)
	killedAt := time.Now()
	time.Sleep(500 * time.Millisecond) // the receivers notice the dead sender's connections
	g.release()
	abandoned := int(g.abandoned.Load())
	// From here on only the survivor reaches the receivers.
	distinctAtKill, _, _ := received("burst")
	t.Logf("kill -9 %s after %s with %d activities in flight, %d of its deliveries held on the wire "+
		"(of %d held): %d/%d burst deliveries received, %d of them completed by %s",
		victim.name, killedAt.Sub(burstBegin).Round(time.Millisecond), inFlight, abandoned, g.held.Load(),
		distinctAtKill, want, victimBurst, victim.name)
	if victimBurst == 0 {
		t.Errorf("%s took no part in the burst before it was killed", victim.name)
	}
	if abandoned == 0 {
		t.Errorf("%s died with no delivery on the wire: the kill interrupted nothing", victim.name)
	}
	posting.Wait()
	if postErr != nil {
		t.Fatalf("posting the burst: %v", postErr)
	}
	// Activities the victim held are retried after 5s, workflow tasks after
	// their 10s timeout; the rest is throughput.
	eventually(t, 150*time.Second, fmt.Sprintf("every burst alert at every target (%d deliveries)", want), func() bool {
		d, _, _ := received("burst")
		return d == want
	})
	recovered := time.Since(killedAt)
	time.Sleep(time.Second) // late duplicates would show now
	distinct, total, dups := received("burst")
	survivorTotal := survivor.deliveries(t)
	// Every delivery the victim died with is sent again by the survivor:
	// an activity attempt after its timeout, or the first attempt (a local
	// activity) again when the survivor takes over the timed-out workflow
	// task.
	_, survived := survivor.delivered("burst")
	lost := g.abandonedDeliveries()
	retried := 0
	for k := range lost {
		if survived[k] {
			retried++
		}
	}
	t.Logf("burst: %d alerts x 2 targets: %d/%d delivered (missing %d), %d requests, %d duplicates; "+
		"complete %s after the kill, %s after the burst began; %s sent %d of the killed worker's abandoned deliveries again and counts %d successful deliveries in all",
		pgBurstAlerts, distinct, want, want-distinct, total, dups, recovered.Round(time.Millisecond),
		time.Since(burstBegin).Round(time.Millisecond), survivor.name, retried, survivorTotal)
	if distinct != want {
		t.Errorf("%d of %d burst deliveries missing", want-distinct, want)
	}
	if len(lost) == 0 || retried < len(lost) {
		t.Errorf("%s died with %d deliveries on the wire, but %s sent only %d of them again", victim.name, len(lost), survivor.name, retried)
	}
	if survivorTotal <= share[1] {
		t.Errorf("%s delivered nothing after the kill (%d before, %d now)", survivor.name, share[1], survivorTotal)
	}
	if outstanding := want - distinctAtKill; survivorTotal-share[1] < outstanding {
		t.Errorf("%s counts %d successful burst deliveries, but %d were outstanding at the kill", survivor.name,
			survivorTotal-share[1], outstanding)
	}
}
