package scenario

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FakeKube is a loopback stand-in for the Kubernetes API server, serving just
// what a Secret informer asks for: list and watch of secrets in one
// namespace. It answers 403 Forbidden until Allow is called, then serves one
// labelled Secret and holds watches open.
type FakeKube struct {
	URL       string
	namespace string
	secret    map[string]any

	allowed   atomic.Bool
	forbidden atomic.Int64 // answers 403 given
	served    atomic.Int64 // list/watch answers 200 given
	stop      chan struct{}

	mu       sync.Mutex
	requests []string
}

// NewFakeKube serves namespace with one Secret whose config key holds the
// target object.
func NewFakeKube(t *testing.T, namespace string, targetConfig map[string]any) *FakeKube {
	t.Helper()
	cfg, err := json.Marshal(targetConfig)
	if err != nil {
		t.Fatal(err)
	}
	k := &FakeKube{namespace: namespace, stop: make(chan struct{})}
	k.secret = map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{
			"name": "scenario-target", "namespace": namespace, "uid": "6f1c1d6e-0000-4000-8000-000000000001",
			"resourceVersion": "2", "creationTimestamp": "2024-01-01T00:00:00Z",
			"labels": map[string]string{"publishing-target": "true"},
		},
		"data": map[string]string{"config": base64.StdEncoding.EncodeToString(cfg)},
	}
	srv := httptest.NewServer(http.HandlerFunc(k.serve))
	t.Cleanup(func() {
		close(k.stop)
		srv.Close()
	})
	k.URL = srv.URL
	return k
}

// Allow ends the Forbidden phase.
func (k *FakeKube) Allow() { k.allowed.Store(true) }

// Forbidden counts the 403 answers given.
func (k *FakeKube) Forbidden() int64 { return k.forbidden.Load() }

// Served counts list/watch answers with 200.
func (k *FakeKube) Served() int64 { return k.served.Load() }

// Requests lists the requests seen (method, path and query), first 40.
func (k *FakeKube) Requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.requests...)
}

// Kubeconfig writes a kubeconfig for the fake server into dir.
func (k *FakeKube) Kubeconfig(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: %s
contexts:
- name: fake
  context:
    cluster: fake
    user: fake
    namespace: %s
current-context: fake
users:
- name: fake
  user:
    token: scenario-token
`, k.URL, k.namespace)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (k *FakeKube) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	if len(k.requests) < 40 {
		k.requests = append(k.requests, r.Method+" "+r.URL.RequestURI())
	}
	k.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	secretsPath := "/api/v1/namespaces/" + k.namespace + "/secrets"
	if r.Method != http.MethodGet || r.URL.Path != secretsPath {
		w.WriteHeader(http.StatusNotFound)
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	q := r.URL.Query()
	watch := q.Get("watch") == "true" || q.Get("watch") == "1"
	if !k.allowed.Load() {
		k.forbidden.Add(1)
		verb := "list"
		if watch {
			verb = "watch"
		}
		w.WriteHeader(http.StatusForbidden)
		writeStatus(w, http.StatusForbidden, "Forbidden", fmt.Sprintf(
			`secrets is forbidden: User "system:serviceaccount:herald:herald" cannot %s resource "secrets" in API group "" in the namespace %q`,
			verb, k.namespace))
		return
	}
	k.served.Add(1)
	if !watch {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"apiVersion": "v1", "kind": "SecretList",
			"metadata": map[string]any{"resourceVersion": "2"},
			"items":    []any{k.secret},
		})
		return
	}
	// A watch: a streaming list (sendInitialEvents) first gets the Secret
	// and the bookmark that ends the initial events; then the stream stays
	// open until the client leaves or its timeout passes.
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	if q.Get("sendInitialEvents") == "true" {
		_ = enc.Encode(map[string]any{"type": "ADDED", "object": k.secret})
		_ = enc.Encode(map[string]any{"type": "BOOKMARK", "object": map[string]any{
			"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{
				"resourceVersion": "2",
				"annotations":     map[string]string{"k8s.io/initial-events-end": "true"},
			},
		}})
	}
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	timeout := 5 * time.Minute
	if s := q.Get("timeoutSeconds"); s != "" {
		if d, err := time.ParseDuration(s + "s"); err == nil && d > 0 {
			timeout = d
		}
	}
	select {
	case <-r.Context().Done():
	case <-k.stop:
	case <-time.After(timeout):
	}
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	_ = json.NewEncoder(w).Encode(map[string]any{
		"apiVersion": "v1", "kind": "Status", "metadata": map[string]any{},
		"status": "Failure", "message": msg, "reason": reason,
		"details": map[string]any{"kind": "secrets"}, "code": code,
	})
}

// containsFold reports whether s contains sub, ignoring case.
func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
