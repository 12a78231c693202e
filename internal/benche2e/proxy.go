package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// ack is one webhook acknowledgement by Herald.
type ack struct {
	phase  string
	took   time.Duration
	status int // 0 when the request failed without an answer
}

// ackLog collects acknowledgements, grouped by load phase.
type ackLog struct {
	mu   sync.Mutex
	acks map[string][]ack
}

func newAckLog() *ackLog { return &ackLog{acks: map[string][]ack{}} }

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	l.acks[a.phase] = append(l.acks[a.phase], a)
	l.mu.Unlock()
}

// phase returns the durations of a phase's 2xx answers.
func (l *ackLog) phase(name string) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ok []time.Duration
	for _, a := range l.acks[name] {
		if a.status >= 200 && a.status < 300 {
			ok = append(ok, a.took)
		}
	}
	return ok
}

// refusals describes the non-2xx outcomes of a phase, e.g. "HTTP 503 ×2"
// ("none" when there were none).
func (l *ackLog) refusals(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[int]int{}
	for _, a := range l.acks[name] {
		if a.status < 200 || a.status >= 300 {
			counts[a.status]++
		}
	}
	if len(counts) == 0 {
		return "none"
	}
	codes := slices.Sorted(maps.Keys(counts))
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		what := fmt.Sprintf("HTTP %d", c)
		if c == 0 {
			what = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", what, counts[c]))
	}
	return strings.Join(parts, ", ")
}

// ackProxy sits between Alertmanager and Herald's /webhook and times each
// request from the first byte sent to Herald to its answer.
type ackProxy struct {
	upstream string // Herald's base URL
	client   *http.Client
	log      *ackLog
}

func (p *ackProxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	phase := phaseOf(body)
	out, err := http.NewRequestWithContext(req.Context(), req.Method, p.upstream+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = req.Header.Clone()
	start := time.Now()
	resp, err := p.client.Do(out)
	if err != nil {
		p.log.add(ack{phase: phase, took: time.Since(start)})
		http.Error(w, "herald: "+err.Error(), http.StatusBadGateway)
		return
	}
	respBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.log.add(ack{phase: phase, took: time.Since(start), status: resp.StatusCode})
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

// phaseOf returns the bench_phase label of the first generated alert in a
// webhook body ("other" when there is none).
func phaseOf(body []byte) string {
	alerts, _ := parseNotified(body)
	for _, a := range alerts {
		if p := a.Labels[labelPhase]; p != "" {
			return p
		}
	}
	return "other"
}
