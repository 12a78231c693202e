package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Labels and annotations every generated alert carries.
const (
	benchAlertName = "HeraldBenchE2E"
	labelID        = "bench_id"
	labelPhase     = "bench_phase"
	annotationSent = "sent_at"
)

// Receiver paths: the direct Alertmanager path and one per Herald target.
const directPath = "direct"

// delivery is the first arrival of one alert on one path.
type delivery struct {
	latency     time.Duration
	fingerprint string
}

// receiver is the HTTP endpoint both paths deliver to. It records, per path
// (the URL path below /), the first arrival of each generated alert with
// its end-to-end latency (arrival − the sent_at annotation).
type receiver struct {
	now func() time.Time

	mu       sync.Mutex
	got      map[string]map[string]delivery // path → bench_id → delivery
	dups     map[string]int                 // path → repeated arrivals
	ignored  int                            // requests without generated alerts (health probes)
	resolved int
}

func newReceiver() *receiver {
	return &receiver{now: time.Now, got: map[string]map[string]delivery{}, dups: map[string]int{}}
}

// notifiedAlert is one alert as a receiver sees it, in either of the two
// body shapes that reach it: an Alertmanager webhook (alerts[]) or one
// alert at the top level.
type notifiedAlert struct {
	Status      string            `json:"status"`
	Event       string            `json:"event"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type notifiedBody struct {
	notifiedAlert
	Alerts []notifiedAlert `json:"alerts"`
}

// parseNotified returns the alerts of a notification body.
func parseNotified(body []byte) ([]notifiedAlert, error) {
	var b notifiedBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	if len(b.Alerts) > 0 {
		return b.Alerts, nil
	}
	if b.Labels != nil {
		return []notifiedAlert{b.notifiedAlert}, nil
	}
	return nil, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := r.now()
	body, err := io.ReadAll(req.Body)
	if err != nil || req.Method != http.MethodPost {
		w.WriteHeader(http.StatusOK) // probes of any method are welcome
		r.mu.Lock()
		r.ignored++
		r.mu.Unlock()
		return
	}
	alerts, _ := parseNotified(body)
	r.record(strings.Trim(req.URL.Path, "/"), at, alerts)
	w.WriteHeader(http.StatusOK)
}

func (r *receiver) record(path string, at time.Time, alerts []notifiedAlert) {
	r.mu.Lock()
	defer r.mu.Unlock()
	counted := false
	for _, a := range alerts {
		id := a.Labels[labelID]
		sent, err := strconv.ParseInt(a.Annotations[annotationSent], 10, 64)
		if id == "" || err != nil {
			continue
		}
		counted = true
		if a.Status == "resolved" || a.Event == "resolved" {
			r.resolved++
			continue
		}
		m := r.got[path]
		if m == nil {
			m = map[string]delivery{}
			r.got[path] = m
		}
		if _, seen := m[id]; seen {
			r.dups[path]++
			continue
		}
		m[id] = delivery{latency: at.Sub(time.Unix(0, sent)), fingerprint: a.Fingerprint}
	}
	if !counted {
		r.ignored++
	}
}

// collect returns the deliveries of ids on path (missing ones are left out).
func (r *receiver) collect(path string, ids []string) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.got[path]
	out := make([]delivery, 0, len(ids))
	for _, id := range ids {
		if d, ok := m[id]; ok {
			out = append(out, d)
		}
	}
	return out
}

// count returns how many of ids arrived on each of paths, summed.
func (r *receiver) count(paths, ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range paths {
		m := r.got[p]
		for _, id := range ids {
			if _, ok := m[id]; ok {
				n++
			}
		}
	}
	return n
}

func (r *receiver) duplicates(paths []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range paths {
		n += r.dups[p]
	}
	return n
}
