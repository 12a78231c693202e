package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/herald-alerts/herald/internal/app/dev"
	"github.com/herald-alerts/herald/internal/cli"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/ingest"
)

// TestEncryptionAtRest runs `worker dev` with its SQLite store in a data
// directory and sends an alert whose annotation (and a receiver's error
// message) hold unique strings. With a key file neither string is anywhere
// in the store's files or in the exported history, while the API, the
// /codec endpoint and `worker replay` still read them; without a key file
// (the control that proves the search works) both are in the store.
func TestEncryptionAtRest(t *testing.T) {
	for _, encrypted := range []bool{true, false} {
		t.Run(fmt.Sprintf("encrypted=%v", encrypted), func(t *testing.T) { testEncryptionAtRest(t, encrypted) })
	}
}

func testEncryptionAtRest(t *testing.T, encrypted bool) {
	secret := "annotation-secret-" + randomHex(t)
	failSecret := "receiver-error-secret-" + randomHex(t)
	const token = "admin-tok"
	ok := newSink(t)
	flaky := newSink(t, response{Status: 500, Body: "rejected: " + failSecret}, response{Status: 200})
	targets := writeTargets(t, fmt.Sprintf(`- name: ok-hook
  type: webhook
  url: %s/hook
- name: flaky-hook
  type: webhook
  url: %s/hook
  retry: {initial_interval: 200ms, backoff: 1.0, max_attempts: 5}
`, ok.URL, flaky.URL))
	dataDir := filepath.Join(t.TempDir(), "data")
	keyFile := filepath.Join(t.TempDir(), "keys")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, []byte("# current\nk2:"+base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, temporalAddr, uiAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	args := []string{"--http-addr", httpAddr, "--data-dir", dataDir, "--temporal-port", port(t, temporalAddr),
		"--targets-file", targets, "--task-queue", "enc", "--admin-token", token, "--log-level", "error", "--ui-port", "-1"}
	if encrypted {
		args = append(args, "--encryption-key-file", keyFile, "--ui-port", port(t, uiAddr))
	}
	cfg := loadConfig(t, args...)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dev.Run(ctx, cfg, discardLogger(), io.Discard) }()
	stopped := false
	stopDev := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker dev: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("worker dev did not stop")
		}
	}
	t.Cleanup(stopDev)
	base := "http://" + httpAddr
	waitReady(t, base)

	fp := "enc" + map[bool]string{true: "1", false: "0"}[encrypted]
	a := firingAlert(fp, "EncryptedAlert")
	a.Annotations["runbook"] = secret
	resp, err := http.Post(base+"/webhook", "application/json", bytes.NewReader(webhookBody(a)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("webhook = %d", resp.StatusCode)
	}
	var view ingest.AlertView
	var raw []byte
	eventually(t, 30*time.Second, "both targets delivered", func() bool {
		r, err := http.Get(base + "/api/v1/alerts/" + fp)
		if err != nil {
			return false
		}
		defer r.Body.Close()
		raw, _ = io.ReadAll(r.Body)
		if json.Unmarshal(raw, &view) != nil || len(view.Targets) != 2 {
			return false
		}
		for _, ts := range view.Targets {
			if ts.Status != contract.DeliveryDelivered {
				return false
			}
		}
		return true
	})
	if !strings.Contains(string(raw), secret) {
		t.Errorf("the API does not show the annotation: %s", raw)
	}
	if flaky.count("firing") < 2 {
		t.Errorf("the flaky receiver saw %d requests, want a failure and a retry", flaky.count("firing"))
	}

	// Export the history as `worker export` does.
	export := filepath.Join(t.TempDir(), "history.json")
	var out, errOut bytes.Buffer
	if code := cli.Worker(context.Background(), []string{"export", "-workflow-id", contract.AlertWorkflowID(fp),
		"-out", export, "-temporal-address", temporalAddr}, &out, &errOut, nil); code != 0 {
		t.Fatalf("worker export = %d: %s", code, errOut.String())
	}
	exported, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	if got := holds(exported, secret); got != !encrypted {
		t.Errorf("exported history holds the annotation: %v, want %v", got, !encrypted)
	}
	if got := holds(exported, failSecret); got != !encrypted {
		t.Errorf("exported history holds the receiver's error message: %v, want %v", got, !encrypted)
	}

	// `worker replay` of the exported history, with and without the key.
	replay := func(extra ...string) (int, string) {
		var o, e bytes.Buffer
		code := cli.Worker(context.Background(), append(append([]string{"replay"}, extra...), export), &o, &e, nil)
		return code, o.String() + e.String()
	}
	if encrypted {
		if code, msg := replay("-encryption-key-file", keyFile); code != 0 {
			t.Errorf("worker replay with the key = %d: %s", code, msg)
		}
		if code, _ := replay(); code == 0 {
			t.Error("worker replay of an encrypted history without the key succeeded")
		}
		checkCodecEndpoint(t, base, export, secret, token)
		checkUICodecSettings(t, "http://"+uiAddr, base+"/codec")
	} else if code, msg := replay(); code != 0 {
		t.Errorf("worker replay = %d: %s", code, msg)
	}

	// Search the store while it runs (database, -wal and -shm files) and
	// once more after a clean stop has checkpointed everything.
	searchStore(t, dataDir, "running", encrypted, secret, failSecret)
	stopDev()
	searchStore(t, dataDir, "stopped", encrypted, secret, failSecret)
}

func searchStore(t *testing.T, dataDir, when string, encrypted bool, secrets ...string) {
	t.Helper()
	store := readDir(t, dataDir)
	t.Logf("store files (%s): %v", when, store.names)
	if !strings.Contains(strings.Join(store.names, " "), "temporal.db") {
		t.Fatalf("no SQLite store in %s: %v", dataDir, store.names)
	}
	for _, s := range secrets {
		if got := holds(store.data, s); got != !encrypted {
			t.Errorf("the %s store (%v) holds %q: %v, want %v", when, store.names, s, got, !encrypted)
		}
	}
}

// checkCodecEndpoint: /codec/decode, as the Web UI calls it, shows the
// annotation of the exported (encrypted) alert signal, only with the token.
func checkCodecEndpoint(t *testing.T, base, export, secret, token string) {
	t.Helper()
	f, err := os.Open(export)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var input *commonpb.Payloads
	for _, ev := range h.GetEvents() {
		if sig := ev.GetWorkflowExecutionSignaledEventAttributes(); sig != nil && input == nil {
			input = sig.GetInput()
		}
	}
	if input == nil {
		t.Fatal("no signal in the exported history")
	}
	body, err := protojson.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	decode := func(auth string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, base+"/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, _ := decode(""); code != http.StatusUnauthorized {
		t.Errorf("/codec/decode without the admin token = %d, want 401", code)
	}
	code, b := decode(token)
	if code != http.StatusOK {
		t.Fatalf("/codec/decode = %d: %s", code, b)
	}
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(b, &decoded); err != nil || len(decoded.GetPayloads()) == 0 {
		t.Fatalf("/codec/decode answered %s: %v", b, err)
	}
	if !bytes.Contains(decoded.GetPayloads()[0].GetData(), []byte(secret)) {
		t.Errorf("decoded alert signal does not hold the annotation: %s", decoded.GetPayloads()[0].GetData())
	}
}

// checkUICodecSettings: the embedded Web UI is told to decode through
// Herald's /codec, sending its session cookie along.
func checkUICodecSettings(t *testing.T, uiURL, endpoint string) {
	t.Helper()
	resp, err := http.Get(uiURL + "/api/v1/settings")
	if err != nil {
		t.Fatalf("web UI settings: %v", err)
	}
	defer resp.Body.Close()
	var settings struct {
		Codec struct {
			Endpoint           string
			IncludeCredentials bool
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&settings); err != nil {
		t.Fatalf("web UI settings: %v", err)
	}
	if settings.Codec.Endpoint != endpoint || !settings.Codec.IncludeCredentials {
		t.Errorf("web UI codec settings = %+v, want endpoint %s with credentials", settings.Codec, endpoint)
	}
}

type dirContents struct {
	names []string
	data  []byte
}

// readDir concatenates every file under dir (temporal.db, -wal, -shm...).
func readDir(t *testing.T, dir string) dirContents {
	t.Helper()
	var c dirContents
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		c.names = append(c.names, fmt.Sprintf("%s (%d bytes)", d.Name(), len(b)))
		c.data = append(c.data, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// holds reports whether data contains s as is, JSON-escaped inside a
// larger string, or base64-encoded at any byte alignment (history JSON
// writes payload data as base64).
func holds(data []byte, s string) bool {
	if bytes.Contains(data, []byte(s)) {
		return true
	}
	for pad := 0; pad < 3; pad++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, pad), s...))
		// Skip the characters that mix in the padding bytes and the last
		// group, which depends on what follows s.
		start := 0
		if pad > 0 {
			start = 4
		}
		if bytes.Contains(data, []byte(enc[start:len(enc)-4])) {
			return true
		}
	}
	return false
}

func randomHex(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
