package classify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
)

const testKey = "sk-test-0123456789abcdef"

// fakeOpenAI is a chat completions endpoint that checks each request and
// answers with a scripted reply.
type fakeOpenAI struct {
	t      *testing.T
	mu     sync.Mutex
	bodies []map[string]any
	reply  func(w http.ResponseWriter, r *http.Request)
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		f.t.Errorf("request %s %s, want POST /v1/chat/completions", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
		f.t.Errorf("Authorization %q", got)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type %q", ct)
	}
	data, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		f.t.Errorf("request body is not JSON: %v", err)
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	f.reply(w, r)
}

func content(s string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-1", "object": "chat.completion",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": s}, "finish_reason": "stop"}},
		})
	}
}

func rawReply(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

func testAlert() alert.Alert {
	return alert.Alert{
		Fingerprint: "abc", Status: "firing",
		Labels:      map[string]string{"alertname": "HighErrorRate", "service": "checkout", "severity": "warning"},
		Annotations: map[string]string{"summary": "5xx ratio above 20% for 10m"},
	}
}

func newFake(t *testing.T, reply func(http.ResponseWriter, *http.Request)) (*fakeOpenAI, *httptest.Server) {
	f := &fakeOpenAI{t: t, reply: reply}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func TestLLMRequest(t *testing.T) {
	f, srv := newFake(t, content(`{"severity":"critical","confidence":0.8,"reason":"checkout errors hit users"}`))
	l := &LLM{URL: srv.URL + "/v1/", Model: "gpt-test", APIKey: testKey, Client: srv.Client()}
	got, err := l.Classify(context.Background(), testAlert())
	if err != nil {
		t.Fatal(err)
	}
	if got.Severity != "critical" || got.Confidence != 0.8 || got.Reason != "checkout errors hit users" || got.Source != SourceLLM {
		t.Fatalf("got %+v", got)
	}
	if len(f.bodies) != 1 {
		t.Fatalf("%d requests", len(f.bodies))
	}
	body := f.bodies[0]
	if body["model"] != "gpt-test" {
		t.Errorf("model %v", body["model"])
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) != 2 {
		t.Fatalf("messages: %v", body["messages"])
	}
	sys, _ := msgs[0].(map[string]any)
	user, _ := msgs[1].(map[string]any)
	if sys["role"] != "system" || !strings.Contains(fmt.Sprint(sys["content"]), `"severity":"critical|warning|info"`) {
		t.Errorf("system message: %v", sys)
	}
	uc := fmt.Sprint(user["content"])
	if user["role"] != "user" {
		t.Errorf("user message role: %v", user["role"])
	}
	for _, want := range []string{`"alertname":"HighErrorRate"`, `"service":"checkout"`, `"severity":"warning"`, `5xx ratio above 20%`, `"status":"firing"`} {
		if !strings.Contains(uc, want) {
			t.Errorf("user message lacks %s: %s", want, uc)
		}
	}
	if strings.Contains(uc, testKey) || strings.Contains(uc, "abc\"") {
		t.Errorf("user message carries more than labels and annotations: %s", uc)
	}
}

func TestLLMAnswers(t *testing.T) {
	tests := []struct {
		name     string
		reply    func(http.ResponseWriter, *http.Request)
		severity string
		conf     float64
		kind     string
		status   int
	}{
		{"plain JSON", content(`{"severity":"info","confidence":0.95,"reason":"heartbeat"}`), "info", 0.95, "", 0},
		{"fenced JSON", content("```json\n{\"severity\": \"warning\", \"confidence\": 0.7, \"reason\": \"slow\"}\n```"), "warning", 0.7, "", 0},
		{"fence without tag", content("```\n{\"severity\":\"critical\",\"confidence\":1,\"reason\":\"x\"}\n```"), "critical", 1, "", 0},
		{"text around JSON", content("Sure! {\"severity\":\"Critical\",\"confidence\":0.9,\"reason\":\"x\"} Hope that helps."), "critical", 0.9, "", 0},
		{"garbage text", content("I think this is pretty bad."), "", 0, LLMInvalidAnswer, 0},
		{"broken JSON", content(`{"severity":"info","confidence":}`), "", 0, LLMInvalidAnswer, 0},
		{"invalid severity", content(`{"severity":"urgent","confidence":0.9,"reason":"x"}`), "", 0, LLMInvalidAnswer, 0},
		{"confidence above 1", content(`{"severity":"info","confidence":7,"reason":"x"}`), "", 0, LLMInvalidAnswer, 0},
		{"confidence missing", content(`{"severity":"info","reason":"x"}`), "", 0, LLMInvalidAnswer, 0},
		{"no choices", rawReply(200, `{"choices":[]}`), "", 0, LLMInvalidAnswer, 0},
		{"not a completion", rawReply(200, `<html>`), "", 0, LLMInvalidAnswer, 0},
		{"500", rawReply(500, `{"error":{"message":"boom","type":"server_error"}}`), "", 0, LLMHTTPStatus, 500},
		{"401", rawReply(401, `{"error":{"message":"Incorrect API key provided: sk-test-0123456789abcdef","type":"invalid_request_error","code":"invalid_api_key"}}`), "", 0, LLMHTTPStatus, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFake(t, tc.reply)
			l := &LLM{URL: srv.URL + "/v1", Model: "m", APIKey: testKey, Timeout: 2 * time.Second}
			got, err := l.Classify(context.Background(), testAlert())
			if tc.kind == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Severity != tc.severity || got.Confidence != tc.conf || got.Source != SourceLLM {
					t.Fatalf("got %+v", got)
				}
				return
			}
			var le *LLMError
			if !errors.As(err, &le) || le.Kind != tc.kind || le.StatusCode != tc.status {
				t.Fatalf("error %v (%#v), want kind %s status %d", err, le, tc.kind, tc.status)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "/v1") {
				t.Errorf("error leaks key or URL path: %v", err)
			}
		})
	}
}

func TestLLMErrorCodeIsMachineReadable(t *testing.T) {
	_, srv := newFake(t, rawReply(404, `{"error":{"message":"The model m does not exist","type":"invalid_request_error","code":"model_not_found"}}`))
	_, err := (&LLM{URL: srv.URL + "/v1", Model: "m", APIKey: testKey}).Classify(context.Background(), testAlert())
	if err == nil || err.Error() != "llm http status 404: model_not_found invalid_request_error" {
		t.Fatalf("error: %v", err)
	}
}

func TestLLMTimeout(t *testing.T) {
	_, srv := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	l := &LLM{URL: srv.URL + "/v1", Model: "m", APIKey: testKey, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := l.Classify(context.Background(), testAlert())
	elapsed := time.Since(start)
	var le *LLMError
	if !errors.As(err, &le) || le.Kind != LLMTimeout {
		t.Fatalf("error %v, want timeout", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout does not wrap context.DeadlineExceeded: %v", err)
	}
	if elapsed < 200*time.Millisecond || elapsed > 2*time.Second {
		t.Errorf("elapsed %v with a 200ms timeout", elapsed)
	}
}

func TestLLMNetworkAndConfigErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		llm  *LLM
		kind string
	}{
		{"refused", &LLM{URL: "http://" + addr + "/v1?key=" + testKey, Model: "m", APIKey: testKey}, LLMNetwork},
		{"no model", &LLM{URL: "http://" + addr + "/v1"}, LLMConfig},
		{"bad url", &LLM{URL: "localhost:8080", Model: "m"}, LLMConfig},
		{"nil", nil, LLMConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.llm.Classify(context.Background(), testAlert())
			var le *LLMError
			if !errors.As(err, &le) || le.Kind != tc.kind {
				t.Fatalf("error %v, want kind %s", err, tc.kind)
			}
			if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "/v1") {
				t.Errorf("error leaks key or URL path: %v", err)
			}
		})
	}
}

func TestAlertPromptBounded(t *testing.T) {
	a := testAlert()
	a.Annotations = map[string]string{}
	for i := 0; i < 100; i++ {
		a.Annotations[fmt.Sprintf("a%d", i)] = strings.Repeat("x", 2000)
	}
	p := alertPrompt(a)
	if len(p) > maxPromptBytes+100 {
		t.Fatalf("prompt is %d bytes", len(p))
	}
	if !strings.Contains(p, `"alertname":"HighErrorRate"`) {
		t.Fatalf("labels dropped: %s", p)
	}
	a.Annotations = map[string]string{"description": strings.Repeat("y", 2000)}
	if p := alertPrompt(a); !strings.Contains(p, strings.Repeat("y", maxValueLen)+"…") || strings.Contains(p, strings.Repeat("y", maxValueLen+1)) {
		t.Fatalf("long value not shortened: %d bytes", len(p))
	}
}
