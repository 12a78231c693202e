package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// consoleAdminToken is the admin token of the console test's server.
const consoleAdminToken = "console-test-admin-token-7f3a"

// newChromium starts a headless Chromium for the test. A missing browser
// fails the test: the console is tested in a real one.
func newChromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium not found (%v): the console tests drive a real headless Chromium; `make deps` installs it", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// countingSink answers 400 while failing is set, 200 otherwise, and
// counts the requests it got.
type countingSink struct {
	*httptest.Server
	requests atomic.Int32
	failing  atomic.Bool
}

func newCountingSink(t *testing.T, failing bool) *countingSink {
	s := &countingSink{}
	s.failing.Store(failing)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if s.failing.Load() {
			http.Error(w, "bad request: the sink refuses this", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.Close)
	return s
}

// startDevWithConsole runs `worker dev` of the built binary (in memory, no
// Web UI) with env and returns its base URL.
func startDevWithConsole(t *testing.T, bin, targets string, env ...string) string {
	t.Helper()
	addr := freeAddr(t)
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "dev")
	cmd.Env = append(os.Environ(), "HERALD_HTTP_ADDR="+addr, "HERALD_IN_MEMORY=true", "HERALD_TEMPORAL_PORT=0",
		"HERALD_UI_PORT=-1", "HERALD_TARGETS_FILE="+writeTargets(t, targets), "HERALD_HEALTH_INTERVAL=1h",
		"HERALD_LOG_FORMAT=json", "HERALD_SHUTDOWN_TIMEOUT=5s")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker dev: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if strings.Contains(logs.String(), consoleAdminToken) {
			t.Errorf("the admin token appears in the server's log")
		}
		if t.Failed() {
			t.Logf("worker dev logs:\n%s", tail(logs.String(), 6000))
		}
	})
	base := "http://" + addr
	waitReady(t, base)
	return base
}

// consoleGetJSON reads an API answer with the admin token.
func consoleGetJSON(t *testing.T, url string, into any) {
	t.Helper()
	if err := tryConsoleGetJSON(url, into); err != nil {
		t.Fatal(err)
	}
}

func tryConsoleGetJSON(url string, into any) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+consoleAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// dlqCount is the number of dead letters, -1 when they cannot be read
// (the dead-letter workflow is starting).
func dlqCount(t *testing.T, base string) int {
	t.Helper()
	var list struct {
		Entries []struct {
			ID string `json:"id"`
		} `json:"entries"`
	}
	if err := tryConsoleGetJSON(base+"/api/v1/dlq", &list); err != nil {
		t.Logf("dead letters not readable: %v", err)
		return -1
	}
	return len(list.Entries)
}

// chromeText runs the Text action on the first element matching css.
func chromeText(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return s
}

func chromeDo(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestConsoleInChromium drives the console of a running `worker dev` with an
// admin token in headless Chromium: an alert delivered to one target and
// dead-lettered at another shows both outcomes; actions without a login are
// refused before they reach the dead-letter workflow; a purge asks first;
// after login, replay delivers the entry exactly once. With
// HERALD_CONSOLE_SCREENSHOTS=dir it also writes the docs' screenshots.
func TestConsoleInChromium(t *testing.T) {
	bin := buildWorkerInBackground(t)
	ctx := newChromium(t)
	good, bad := newCountingSink(t, false), newCountingSink(t, true)
	base := startDevWithConsole(t, bin(),
		webhookTargetsYAML([2]string{"good", good.URL + "/hook"}, [2]string{"bad", bad.URL + "/hook"}),
		"HERALD_ADMIN_TOKEN="+consoleAdminToken)

	fp := "console0001"
	resp, err := http.Post(base+"/webhook", "application/json", strings.NewReader(string(webhookBody(firingAlert(fp, "ConsoleDiskFull")))))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("post webhook: %v %v", err, resp)
	}
	resp.Body.Close()
	eventually(t, 90*time.Second, "one delivery to good and a dead letter for bad", func() bool {
		return good.requests.Load() == 1 && dlqCount(t, base) == 1
	})

	shots := os.Getenv("HERALD_CONSOLE_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("alert page shows both outcomes", func(t *testing.T) {
		chromeDo(t, ctx, "open the alert", chromedp.Navigate(base+"/ui/alerts/"+fp), chromedp.WaitVisible(chromedp.CSS("#target-bad")))
		if got := chromeText(t, ctx, "#target-good"); !strings.Contains(got, "delivered") {
			t.Errorf("good target section: %q, want delivered", got)
		}
		got := chromeText(t, ctx, "#target-bad")
		if !strings.Contains(got, "dead_lettered") || !strings.Contains(got, "HTTP 400") {
			t.Errorf("bad target section: %q, want dead_lettered with HTTP 400", got)
		}
		if labels := chromeText(t, ctx, "#labels"); !strings.Contains(labels, "alertname=ConsoleDiskFull") {
			t.Errorf("labels: %q", labels)
		}
		shot("alert")
		chromeDo(t, ctx, "open the alerts", chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
		if got := chromeText(t, ctx, "#alerts"); !strings.Contains(got, fp) || !strings.Contains(got, "firing") {
			t.Errorf("alert list: %q, want %s firing", got, fp)
		}
		// The counts come from visibility's count of all matching alerts.
		if got := chromeText(t, ctx, ".counts"); got != "firing 1" {
			t.Errorf("counts by status read %q, want \"firing 1\"", got)
		}
		shot("alerts")
	})

	t.Run("actions without login are refused", func(t *testing.T) {
		bad.failing.Store(false)
		before := bad.requests.Load()
		chromeDo(t, ctx, "replay without login",
			chromedp.Navigate(base+"/ui/dead-letters"), chromedp.WaitVisible(chromedp.CSS("#dead-letters button.replay")),
			chromedp.Click(chromedp.CSS("#dead-letters button.replay")), chromedp.WaitVisible(chromedp.CSS("#confirm")),
			chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#message")))
		if got := chromeText(t, ctx, "#message"); !strings.Contains(got, "log in") {
			t.Errorf("replay without login answered %q, want a login request", got)
		}
		if n := sumSamples(scrape(t, base+"/metrics"), "herald_api_requests_total", `POST /api/v1/dlq`); n != 0 {
			t.Errorf("%d dead-letter API requests without login, want none", n)
		}
		var stats struct {
			Replayed int `json:"replayed"`
		}
		consoleGetJSON(t, base+"/api/v1/dlq/stats", &stats)
		if stats.Replayed != 0 || bad.requests.Load() != before || dlqCount(t, base) != 1 {
			t.Errorf("a refused replay changed something: replayed %d, sink requests %d→%d, entries %d",
				stats.Replayed, before, bad.requests.Load(), dlqCount(t, base))
		}
		bad.failing.Store(true)
	})

	t.Run("login", func(t *testing.T) {
		chromeDo(t, ctx, "log in", chromedp.Navigate(base+"/ui/login"), chromedp.WaitVisible(chromedp.CSS("#token")),
			chromedp.SendKeys(chromedp.CSS("#token"), consoleAdminToken), chromedp.Click(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("#alerts")))
		if got := chromeText(t, ctx, "header"); !strings.Contains(got, "Log out") {
			t.Errorf("after login the header reads %q", got)
		}
		chromeDo(t, ctx, "check now", chromedp.Navigate(base+"/ui/targets"), chromedp.WaitVisible(chromedp.CSS("#t-good button")),
			chromedp.Click(chromedp.CSS("#t-good button")), chromedp.WaitVisible(chromedp.CSS("#flash")))
		if got := chromeText(t, ctx, "#flash"); !strings.Contains(got, "Target good is") {
			t.Errorf("check now answered %q", got)
		}
		chromeDo(t, ctx, "open the targets", chromedp.Navigate(base+"/ui/targets"), chromedp.WaitVisible(chromedp.CSS("#t-bad")))
		if got := chromeText(t, ctx, "#t-good"); !strings.Contains(got, "webhook") || !strings.Contains(got, "(probe)") ||
			!strings.Contains(got, "none (slows down on the receiver's 429 / Retry-After)") {
			t.Errorf("targets page after the check: %q", got)
		}
		shot("targets")
	})

	t.Run("purge asks first", func(t *testing.T) {
		chromeDo(t, ctx, "first purge click",
			chromedp.Navigate(base+"/ui/dead-letters"), chromedp.WaitVisible(chromedp.CSS("#purge")),
			chromedp.SetValue(chromedp.CSS("#older-than"), "1ms"),
			chromedp.Click(chromedp.CSS("#purge")), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		if got := chromeText(t, ctx, "#confirm-text"); !strings.Contains(got, "older than 1ms") {
			t.Errorf("confirmation reads %q", got)
		}
		if n := dlqCount(t, base); n != 1 {
			t.Fatalf("after the first purge click %d entries, want the entry still there", n)
		}
		chromeDo(t, ctx, "cancel", chromedp.Click(chromedp.CSS("a.secondary")), chromedp.WaitVisible(chromedp.CSS("#dead-letters button.replay")))
		shot("dead-letters")
	})

	t.Run("replay delivers exactly once", func(t *testing.T) {
		bad.failing.Store(false)
		before := bad.requests.Load()
		chromeDo(t, ctx, "replay",
			chromedp.Click(chromedp.CSS("#dead-letters button.replay")), chromedp.WaitVisible(chromedp.CSS("#confirm")),
			chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#flash")))
		// The answer is a redirect back to the (now empty) list, which
		// says what the replay did.
		if got := chromeText(t, ctx, "#flash"); !strings.Contains(got, "was delivered") {
			t.Fatalf("replay answered %q", got)
		}
		if got := bad.requests.Load() - before; got != 1 {
			t.Errorf("the replay sent %d requests to the sink, want exactly 1", got)
		}
		if n := dlqCount(t, base); n != 0 {
			t.Errorf("%d entries after the replay, want none", n)
		}
		// A reload asks for the list again and replays nothing.
		chromeDo(t, ctx, "reload after replay", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#no-dead-letters")))
		if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#flash").length`)); err != nil || n != 0 {
			t.Errorf("after a reload the outcome shows %d times (%v), want none", n, err)
		}
		if got := bad.requests.Load() - before; got != 1 {
			t.Errorf("after a reload the sink got %d requests, want exactly 1", got)
		}
		// Nothing replays it a second time.
		chromeDo(t, ctx, "alert after replay", chromedp.Navigate(base+"/ui/alerts/"+fp), chromedp.WaitVisible(chromedp.CSS("#target-bad")))
		if got := bad.requests.Load() - before; got != 1 {
			t.Errorf("the sink got %d requests after the replay, want exactly 1", got)
		}
	})

	t.Run("phone width", func(t *testing.T) {
		chromeDo(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
			chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("#alerts")))
		fits, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
		if err != nil {
			t.Fatal(err)
		}
		if !fits {
			t.Errorf("the alerts page scrolls horizontally at 390px")
		}
		shot("alerts-phone")
	})
}
