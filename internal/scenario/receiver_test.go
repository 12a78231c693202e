package scenario

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// ReceiverConfig sets how a receiver answers.
type ReceiverConfig struct {
	// Down answers every request with 503.
	Down bool
	// HeadStatus and GetStatus answer HEAD and GET (default 200).
	HeadStatus, GetStatus int
	// PerSecond limits accepted POSTs; beyond it a POST gets 429 with
	// Retry-After: 1. Zero means no limit.
	PerSecond float64
	// Redirect answers every request with this 3xx status and Location.
	Redirect int
	Location string
	// Slack decodes Slack incoming-webhook messages and answers "ok".
	Slack bool
}

// Receiver is a loopback HTTP server that records every delivery it accepts,
// keyed by event and fingerprint.
type Receiver struct {
	Name string
	URL  string
	cfg  ReceiverConfig

	mu         sync.Mutex
	got        map[string]map[string]int // event → fingerprint → accepted deliveries
	bodies     map[string][]byte         // fingerprint → body of its last accepted delivery
	methods    map[string]int            // every request by method
	answers    map[int]int               // status of every POST answer
	undecoded  int
	lastAccept time.Time
	first      time.Time
	last       time.Time
}

// NewReceiver starts a receiver; it stops when the test ends.
func NewReceiver(t *testing.T, name string, cfg ReceiverConfig) *Receiver {
	t.Helper()
	r := &Receiver{Name: name, cfg: cfg, got: map[string]map[string]int{}, bodies: map[string][]byte{}, methods: map[string]int{}, answers: map[int]int{}}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hook/" + name
	return r
}

// Host is the host:port of the receiver.
func (r *Receiver) Host() string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	return u.Host
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.methods[req.Method]++
	if r.cfg.Redirect != 0 {
		w.Header().Set("Location", r.cfg.Location)
		w.WriteHeader(r.cfg.Redirect)
		if req.Method == http.MethodPost {
			r.answers[r.cfg.Redirect]++
		}
		return
	}
	if r.cfg.Down {
		w.WriteHeader(http.StatusServiceUnavailable)
		if req.Method == http.MethodPost {
			r.answers[http.StatusServiceUnavailable]++
		}
		return
	}
	switch req.Method {
	case http.MethodHead:
		w.WriteHeader(orDefault(r.cfg.HeadStatus, http.StatusOK))
		return
	case http.MethodGet:
		w.WriteHeader(orDefault(r.cfg.GetStatus, http.StatusOK))
		return
	case http.MethodPost:
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	now := time.Now()
	status := http.StatusOK
	switch {
	case r.cfg.PerSecond > 0 && !r.lastAccept.IsZero() &&
		now.Sub(r.lastAccept) < time.Duration(float64(time.Second)/r.cfg.PerSecond*0.95):
		// 5% tolerance for scheduling jitter between a sender pacing at
		// exactly the limit and this clock.
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	}
	r.answers[status]++
	if status != http.StatusOK {
		w.WriteHeader(status)
		return
	}
	r.lastAccept = now
	deliveries, ok := decodeDelivery(body, r.cfg.Slack)
	if !ok {
		r.undecoded++
	}
	for _, d := range deliveries {
		if r.got[d.event] == nil {
			r.got[d.event] = map[string]int{}
		}
		r.got[d.event][d.fp]++
		r.bodies[d.fp] = body
	}
	if r.first.IsZero() {
		r.first = now
	}
	r.last = now
	if r.cfg.Slack {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

type delivery struct{ fp, event string }

var slackFingerprint = regexp.MustCompile("Fingerprint `([0-9A-Za-z]+)`")

// decodeDelivery reads the fingerprint(s) and event of a delivery body: a
// Herald webhook (flat object with fingerprint and event), an Alertmanager
// v4 envelope (alerts[].fingerprint and status), or a Slack message.
func decodeDelivery(body []byte, slack bool) ([]delivery, bool) {
	if slack {
		var m struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(body, &m)
		match := slackFingerprint.FindSubmatch(body)
		if match == nil {
			return nil, false
		}
		event := "firing"
		if strings.Contains(m.Text, "[RESOLVED]") {
			event = "resolved"
		}
		return []delivery{{fp: string(match[1]), event: event}}, true
	}
	var m struct {
		Fingerprint string `json:"fingerprint"`
		Event       string `json:"event"`
		Status      string `json:"status"`
		Alerts      []struct {
			Fingerprint string `json:"fingerprint"`
			Status      string `json:"status"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, false
	}
	if len(m.Alerts) > 0 {
		out := make([]delivery, 0, len(m.Alerts))
		for _, a := range m.Alerts {
			ev := a.Status
			if ev == "" {
				ev = m.Status
			}
			out = append(out, delivery{fp: a.Fingerprint, event: ev})
		}
		return out, true
	}
	if m.Fingerprint == "" {
		return nil, false
	}
	ev := m.Event
	if ev == "" {
		ev = m.Status
	}
	return []delivery{{fp: m.Fingerprint, event: ev}}, true
}

// Count is how often fp was accepted for event.
func (r *Receiver) Count(fp, event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[event][fp]
}

// Body is the body of the last accepted delivery of fp (nil when none).
func (r *Receiver) Body(fp string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bodies[fp]
}

// Delivered is the number of distinct fingerprints accepted for event.
func (r *Receiver) Delivered(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[event])
}

// Tally compares the accepted deliveries of event with the expected
// fingerprints.
type Tally struct {
	Expected, Got, Missing, Duplicates int
	MissingSample                      []string
}

func (c Tally) String() string {
	s := fmt.Sprintf("%d/%d delivered, %d missing, %d duplicates", c.Got, c.Expected, c.Missing, c.Duplicates)
	if len(c.MissingSample) > 0 {
		s += fmt.Sprintf(" (missing e.g. %s)", strings.Join(c.MissingSample, ", "))
	}
	return s
}

// Tally counts expected fingerprints of event: how many arrived, are missing
// or arrived more than once.
func (r *Receiver) Tally(event string, expected []string) Tally {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := Tally{Expected: len(expected)}
	for _, fp := range expected {
		n := r.got[event][fp]
		switch {
		case n == 0:
			c.Missing++
			if len(c.MissingSample) < 5 {
				c.MissingSample = append(c.MissingSample, fp)
			}
		default:
			c.Got++
			c.Duplicates += n - 1
		}
	}
	return c
}

// Requests counts requests of a method ("" for all).
func (r *Receiver) Requests(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if method != "" {
		return r.methods[method]
	}
	n := 0
	for _, c := range r.methods {
		n += c
	}
	return n
}

// Methods describes the requests seen, e.g. "HEAD=3 POST=10".
func (r *Receiver) Methods() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return describeCounts(r.methods)
}

// Answered is how many POSTs were answered with status.
func (r *Receiver) Answered(status int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answers[status]
}

// Answers describes the statuses given to POSTs, e.g. "200=300 429=12".
func (r *Receiver) Answers() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.answers {
		m[fmt.Sprint(k)] = v
	}
	return describeCounts(m)
}

// Undecoded counts accepted bodies without a recognisable fingerprint.
func (r *Receiver) Undecoded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.undecoded
}

func describeCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// webhookTarget is a webhook target object for the targets file.
func webhookTarget(name, url string) map[string]any {
	return map[string]any{"name": name, "type": "webhook", "url": url}
}
