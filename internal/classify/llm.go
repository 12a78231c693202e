package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// DefaultLLMTimeout bounds one LLM call when LLM.Timeout is zero.
const DefaultLLMTimeout = 3 * time.Second

// Limits on what is sent to and read from the LLM.
const (
	maxValueLen    = 500
	maxPromptBytes = 8 << 10
	maxAnswerBytes = 1 << 20
	maxReasonLen   = 200
)

// LLM classifies alerts with an OpenAI-compatible chat completions API
// (OpenAI, Azure OpenAI behind a compatible gateway, vLLM, Ollama,
// llama.cpp server...). Only the alert's status, labels and annotations are
// sent: never targets or credentials.
type LLM struct {
	// URL is the API base, e.g. https://api.openai.com/v1; requests go to
	// {URL}/chat/completions.
	URL   string
	Model string
	// APIKey is sent as a bearer token when set.
	APIKey string
	// Timeout bounds one call; 0 means DefaultLLMTimeout.
	Timeout time.Duration
	// Client sends the request; nil means a client on http.DefaultTransport.
	Client *http.Client
}

// Kinds of LLM failure (LLMError.Kind).
const (
	LLMTimeout       = "timeout"
	LLMNetwork       = "network"
	LLMHTTPStatus    = "http_status"
	LLMInvalidAnswer = "invalid_answer"
	LLMConfig        = "config"
)

// LLMError is a failed LLM classification. Its message holds no API key, URL
// path or query.
type LLMError struct {
	Kind       string
	StatusCode int
	Msg        string
	Err        error
}

func (e *LLMError) Error() string {
	var b strings.Builder
	b.WriteString("llm ")
	b.WriteString(strings.ReplaceAll(e.Kind, "_", " "))
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " %d", e.StatusCode)
	}
	if e.Msg != "" {
		b.WriteString(": ")
		b.WriteString(e.Msg)
	}
	return b.String()
}

func (e *LLMError) Unwrap() error { return e.Err }

// SystemPrompt instructs the model; the user message is the alert as JSON.
const SystemPrompt = `You classify Prometheus alerts for an on-call team.
Answer with exactly one JSON object and nothing else:
{"severity":"critical|warning|info","confidence":<number from 0 to 1>,"reason":"<one short sentence>"}
- critical: users are affected or data is at risk now; someone must act immediately.
- warning: needs attention within hours; no immediate user impact.
- info: no action needed (heartbeats, informational notices, expected conditions).
The alert's own "severity" label is its author's opinion and may be wrong.
Base your answer only on the alert's labels and annotations.`

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model    string        `json:"model"`
	Messages []chatMessage `json:"messages"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
}

// answer is the JSON the model is asked for.
type answer struct {
	Severity   string   `json:"severity"`
	Confidence *float64 `json:"confidence"`
	Reason     string   `json:"reason"`
}

// Classify asks the model for the alert's severity. Errors are *LLMError.
func (l *LLM) Classify(ctx context.Context, a alert.Alert) (publish.Classification, error) {
	if err := l.validate(); err != nil {
		return publish.Classification{}, err
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = DefaultLLMTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	body, err := json.Marshal(chatRequest{Model: l.Model, Messages: []chatMessage{
		{Role: "system", Content: SystemPrompt},
		{Role: "user", Content: alertPrompt(a)},
	}})
	if err != nil {
		return publish.Classification{}, &LLMError{Kind: LLMConfig, Msg: "encode request", Err: err}
	}
	endpoint := strings.TrimRight(l.URL, "/") + "/chat/completions"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return publish.Classification{}, &LLMError{Kind: LLMConfig, Msg: "build request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", publish.UserAgent)
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return publish.Classification{}, l.transportError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return publish.Classification{}, l.transportError(fmt.Errorf("read answer: %w", err))
	}
	if resp.StatusCode/100 != 2 {
		return publish.Classification{}, &LLMError{Kind: LLMHTTPStatus, StatusCode: resp.StatusCode, Msg: apiErrorCode(data)}
	}
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return publish.Classification{}, &LLMError{Kind: LLMInvalidAnswer, Msg: "response is not a chat completion", Err: err}
	}
	if len(cr.Choices) == 0 {
		return publish.Classification{}, &LLMError{Kind: LLMInvalidAnswer, Msg: "response has no choices"}
	}
	c, err := parseAnswer(cr.Choices[0].Message.Content)
	if err != nil {
		return publish.Classification{}, &LLMError{Kind: LLMInvalidAnswer, Msg: l.redact(err.Error()), Err: err}
	}
	return c, nil
}

// validate checks the settings; errors are *LLMError of kind config.
func (l *LLM) validate() error {
	if l == nil || l.URL == "" || l.Model == "" {
		return &LLMError{Kind: LLMConfig, Msg: "url and model are required"}
	}
	u, err := url.Parse(l.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &LLMError{Kind: LLMConfig, Msg: "url must be an absolute http(s) URL"}
	}
	return nil
}

// transportError classifies a failed request without its URL.
func (l *LLM) transportError(err error) *LLMError {
	kind := LLMNetwork
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		kind = LLMTimeout
	}
	cause := err
	var ue *url.Error
	if errors.As(err, &ue) {
		cause = ue.Err
	}
	msg := ""
	if kind == LLMNetwork {
		msg = fmt.Sprintf("%s: %s", target.RedactURL(l.URL), l.redact(cause.Error()))
	}
	return &LLMError{Kind: kind, Msg: msg, Err: err}
}

func (l *LLM) redact(s string) string {
	if len(l.APIKey) >= 4 {
		s = strings.ReplaceAll(s, l.APIKey, target.Redacted)
	}
	return s
}

// apiErrorCode extracts the machine-readable code of an OpenAI-style error
// body ({"error":{"code":"...","type":"..."}}); never the free-text message,
// which may echo parts of the key.
func apiErrorCode(body []byte) string {
	var e struct {
		Error struct {
			Code any    `json:"code"`
			Type string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var parts []string
	if s, ok := e.Error.Code.(string); ok && isIdent(s) {
		parts = append(parts, s)
	}
	if isIdent(e.Error.Type) && (len(parts) == 0 || parts[0] != e.Error.Type) {
		parts = append(parts, e.Error.Type)
	}
	return strings.Join(parts, " ")
}

func isIdent(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r == '-' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// alertPrompt renders what the model sees: status, labels and annotations,
// values shortened, the whole bounded.
func alertPrompt(a alert.Alert) string {
	doc := struct {
		Status      string            `json:"status,omitempty"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}{Status: a.Status, Labels: shorten(a.Labels), Annotations: shorten(a.Annotations)}
	b, err := json.Marshal(doc)
	if err != nil || len(b) > maxPromptBytes {
		// Too big: labels only.
		doc.Annotations = nil
		b, _ = json.Marshal(doc)
	}
	return "Classify this alert:\n" + string(b)
}

func shorten(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = truncate(v, maxValueLen)
	}
	return out
}

// parseAnswer reads the model's JSON, tolerating code fences and text around
// the object, and validates it.
func parseAnswer(content string) (publish.Classification, error) {
	s := strings.TrimSpace(content)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(s, "```")
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:] // drop the fence's language tag
		}
		s = strings.TrimSuffix(strings.TrimSpace(s), "```")
	}
	start, end := strings.IndexByte(s, '{'), strings.LastIndexByte(s, '}')
	if start < 0 || end < start {
		return publish.Classification{}, fmt.Errorf("answer holds no JSON object: %q", truncate(content, 80))
	}
	var ans answer
	if err := json.Unmarshal([]byte(s[start:end+1]), &ans); err != nil {
		return publish.Classification{}, fmt.Errorf("answer is not valid JSON: %v", err)
	}
	sev := strings.ToLower(strings.TrimSpace(ans.Severity))
	if !validSeverity(sev) {
		return publish.Classification{}, fmt.Errorf("severity %q is not one of %s", truncate(ans.Severity, 40), strings.Join(Severities, ", "))
	}
	if ans.Confidence == nil {
		return publish.Classification{}, errors.New("confidence is missing")
	}
	conf := *ans.Confidence
	if conf < 0 || conf > 1 {
		return publish.Classification{}, fmt.Errorf("confidence %v is outside 0..1", conf)
	}
	reason := strings.Join(strings.Fields(ans.Reason), " ")
	return publish.Classification{Severity: sev, Confidence: conf, Reason: truncate(reason, maxReasonLen), Source: SourceLLM}, nil
}
