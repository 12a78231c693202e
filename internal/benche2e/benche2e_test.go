package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestSummarize(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(100 - i) // unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		want percentiles
	}{
		{"empty", nil, percentiles{}},
		{"one", []time.Duration{ms(7)}, percentiles{n: 1, p50: ms(7), p90: ms(7), p99: ms(7), max: ms(7)}},
		{"hundred", hundred, percentiles{n: 100, p50: ms(50), p90: ms(90), p99: ms(99), max: ms(100)}},
		{"three", []time.Duration{ms(3), ms(1), ms(2)}, percentiles{n: 3, p50: ms(2), p90: ms(3), p99: ms(3), max: ms(3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarize(tt.in); got != tt.want {
				t.Errorf("summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRatio(t *testing.T) {
	p50 := func(p percentiles) time.Duration { return p.p50 }
	tests := []struct {
		a, b percentiles
		want string
	}{
		{percentiles{n: 1, p50: ms(30)}, percentiles{n: 1, p50: ms(2)}, "×15"},
		{percentiles{n: 1, p50: ms(3)}, percentiles{n: 1, p50: ms(2)}, "×1.5"},
		{percentiles{}, percentiles{n: 1, p50: ms(2)}, "—"},
		{percentiles{n: 1, p50: ms(3)}, percentiles{}, "—"},
	}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b, p50); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a.p50, tt.b.p50, got, tt.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	// Fields 14 and 15 (utime, stime) are 250 and 50 ticks; the command
	// name holds a space and a parenthesis.
	stat := "1234 (worker (dev)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 5000 100000 2000"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3.0 {
		t.Errorf("cpu = %v s, want 3 s", got)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Error("malformed stat: no error")
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tworker\nVmPeak:\t  900 kB\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n"
	for key, want := range map[string]int64{"VmHWM": 204800, "VmRSS": 102400} {
		got, err := parseStatusKB(strings.NewReader(status), key)
		if err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", key, got, err, want)
		}
	}
	if _, err := parseStatusKB(strings.NewReader(status), "VmSwap"); err == nil {
		t.Error("missing key: no error")
	}
}

func TestReceiverRecordsFirstFiringArrival(t *testing.T) {
	now := time.Unix(100, 0)
	r := newReceiver()
	r.now = func() time.Time { return now }
	sent := strconv.FormatInt(now.Add(-250*time.Millisecond).UnixNano(), 10)
	post := func(path, body string) {
		t.Helper()
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			t.Fatalf("POST %s: %d", path, rec.Code)
		}
	}
	// Alertmanager's webhook shape, twice (the second is a duplicate).
	amBody := `{"version":"4","alerts":[{"status":"firing","fingerprint":"f1","labels":{"bench_id":"a1"},"annotations":{"sent_at":"` + sent + `"}}]}`
	post("/direct", amBody)
	post("/direct", amBody)
	// One alert at the top level; a resolved one; a probe without bench labels.
	post("/bench-1", `{"event":"firing","status":"firing","fingerprint":"f1","labels":{"bench_id":"a1"},"annotations":{"sent_at":"`+sent+`"}}`)
	post("/bench-1", `{"event":"resolved","status":"resolved","fingerprint":"f2","labels":{"bench_id":"a2"},"annotations":{"sent_at":"`+sent+`"}}`)
	post("/bench-1", `{"hello":"probe"}`)
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/bench-1", nil))

	ids := []string{"a1", "a2"}
	if got := r.count([]string{"direct", "bench-1"}, ids); got != 2 {
		t.Errorf("count = %d, want 2 (a1 on each path; resolved a2 not counted)", got)
	}
	d := r.collect("bench-1", ids)
	if len(d) != 1 || d[0].latency != 250*time.Millisecond || d[0].fingerprint != "f1" {
		t.Errorf("bench-1 deliveries = %+v, want one of 250ms with fingerprint f1", d)
	}
	if got := r.duplicates([]string{"direct"}); got != 1 {
		t.Errorf("duplicates = %d, want 1", got)
	}
	if r.resolved != 1 || r.ignored != 2 {
		t.Errorf("resolved %d, ignored %d; want 1, 2", r.resolved, r.ignored)
	}
}

func TestAckProxyTimesAndForwards(t *testing.T) {
	var gotBody, gotAuth string
	herald := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		gotBody, gotAuth = string(b), req.Header.Get("Authorization")
		if strings.Contains(gotBody, "refuse") {
			http.Error(w, `{"error":"temporal unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"accepted":1}`))
	}))
	defer herald.Close()
	log := newAckLog()
	proxy := httptest.NewServer(&ackProxy{upstream: herald.URL, client: herald.Client(), log: log})
	defer proxy.Close()

	body := webhookBody("r0", []string{"r0-0"}, time.Now())
	req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/webhook", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(answer) != `{"accepted":1}` {
		t.Errorf("proxy answered %d %s", resp.StatusCode, answer)
	}
	if gotBody != string(body) || gotAuth != "Bearer x" {
		t.Errorf("herald got body %q auth %q", gotBody, gotAuth)
	}
	acks := log.phase("r0")
	if len(acks) != 1 || acks[0] < 20*time.Millisecond {
		t.Errorf("acks of r0 = %v, want one of at least 20ms", acks)
	}

	resp, err = http.Post(proxy.URL+"/webhook", "application/json", strings.NewReader(`{"refuse":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("refusal passed through as %d", resp.StatusCode)
	}
	if got := log.refusals("other"); got != "HTTP 503 ×1" {
		t.Errorf("refusals = %q", got)
	}
	if got := log.refusals("r0"); got != "none" {
		t.Errorf("refusals of r0 = %q", got)
	}
}

func TestWebhookBodyIsAcceptedShape(t *testing.T) {
	sent := time.Unix(0, 42)
	alerts, err := parseNotified(webhookBody("burst", []string{"burst-0", "burst-1"}, sent))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 {
		t.Fatalf("%d alerts, want 2", len(alerts))
	}
	for i, a := range alerts {
		if a.Labels[labelID] != "burst-"+strconv.Itoa(i) || a.Labels[labelPhase] != "burst" || a.Annotations[annotationSent] != "42" {
			t.Errorf("alert %d: labels %v annotations %v", i, a.Labels, a.Annotations)
		}
		if a.Fingerprint == "" || a.Status != "firing" {
			t.Errorf("alert %d: fingerprint %q status %q", i, a.Fingerprint, a.Status)
		}
	}
	if alerts[0].Fingerprint == alerts[1].Fingerprint {
		t.Error("two alerts share a fingerprint")
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args      []string
		wantRates []int
		wantErr   bool
	}{
		{nil, []int{20, 50, 100}, false},
		{[]string{"-rates", "5, 10"}, []int{5, 10}, false},
		{[]string{"-burst"}, nil, false},
		{[]string{"-ack10", "-rates", "7"}, []int{7}, false},
		{[]string{"-rates", "0"}, nil, true},
		{[]string{"-rates", "x"}, nil, true},
		{[]string{"-duration", "0s"}, nil, true},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !slices.Equal(o.rates, tt.wantRates) {
			t.Errorf("%v: rates = %v, want %v", tt.args, o.rates, tt.wantRates)
		}
	}
}

func TestParseHeraldEnv(t *testing.T) {
	tests := []struct {
		args    []string
		want    []string
		wantErr bool
	}{
		{nil, nil, false},
		{[]string{"-herald-env", "HERALD_ENGINE_SHARD_IO_CONCURRENCY=4"}, []string{"HERALD_ENGINE_SHARD_IO_CONCURRENCY=4"}, false},
		{[]string{"-herald-env", "A=1,B=2", "-herald-env", "C="}, []string{"A=1", "B=2", "C="}, false},
		{[]string{"-herald-env", "HERALD_CODEC_ORIGINS=http://a,http://b,X=y"}, []string{"HERALD_CODEC_ORIGINS=http://a,http://b", "X=y"}, false},
		{[]string{"-herald-env", "A=1,,B=2,"}, []string{"A=1", "B=2"}, false},
		{[]string{"-herald-env", "nokey"}, nil, true},
		{[]string{"-herald-env", "=1"}, nil, true},
		{[]string{"-herald-env", ",x"}, nil, true},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard)
		if (err != nil) != tt.wantErr {
			t.Errorf("%v: err = %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !slices.Equal([]string(o.heraldEnv), tt.want) {
			t.Errorf("%v: herald env = %q, want %q", tt.args, o.heraldEnv, tt.want)
		}
	}
	if got := settings(envList{"A=1", "B=2"}); got != "defaults + env A=1 B=2" {
		t.Errorf("settings = %q", got)
	}
}
