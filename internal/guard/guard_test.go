package guard_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/herald-alerts/herald/internal/publish/pagerduty"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

// clock is a settable time source for the breakers.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func fast(name, typ string) target.Target {
	return target.Target{Name: name, Type: typ, URL: "https://example.com/" + name,
		RateLimit: &target.RateLimitSpec{PerSecond: 1e6, Burst: 1000}}
}

func TestLimitFor(t *testing.T) {
	g := guard.New(guard.Options{Limits: map[string]guard.Limit{"rootly": {PerSecond: 5, Burst: 2}}})
	for _, tc := range []struct {
		name string
		t    target.Target
		want guard.Limit
	}{
		{"slack default", target.Target{Type: "slack"}, guard.Limit{PerSecond: 1, Burst: 1}},
		{"pagerduty default: 120/min", target.Target{Type: "pagerduty"}, guard.Limit{PerSecond: 2, Burst: 2}},
		// No published limit: none unless configured.
		{"webhook: no limit", target.Target{Type: "webhook"}, guard.Limit{}},
		{"alertmanager: no limit", target.Target{Type: "alertmanager"}, guard.Limit{}},
		{"options override the type default", target.Target{Type: "rootly"}, guard.Limit{PerSecond: 5, Burst: 2}},
		{"unknown type", target.Target{Type: "carrier-pigeon"}, guard.Limit{}},
		{"target rate_limit wins", target.Target{Type: "slack", RateLimit: &target.RateLimitSpec{PerSecond: 3, Burst: 7}}, guard.Limit{PerSecond: 3, Burst: 7}},
		{"burst defaults to the rate", target.Target{Type: "slack", RateLimit: &target.RateLimitSpec{PerSecond: 2.5}}, guard.Limit{PerSecond: 2.5, Burst: 3}},
		{"burst at least 1", target.Target{Type: "slack", RateLimit: &target.RateLimitSpec{PerSecond: 0.2}}, guard.Limit{PerSecond: 0.2, Burst: 1}},
	} {
		if got := g.LimitFor(tc.t); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if got := guard.DefaultLimit("rootly"); got.PerSecond*60 != 3000 {
		t.Errorf("rootly default = %v/min, want 3000/min", got.PerSecond*60)
	}
}

func TestLimiterKey(t *testing.T) {
	const key = "R0UTINGKEY0123456789abcdefABCDEF"
	a := target.Target{Name: "pd-a", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: key}}
	b := target.Target{Name: "pd-b", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: key}}
	c := target.Target{Name: "pd-c", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "another-key-0000000000000000000"}}
	if guard.LimiterKey(a) != guard.LimiterKey(b) {
		t.Error("pagerduty targets sharing a routing key must share a limiter")
	}
	if guard.LimiterKey(a) == guard.LimiterKey(c) {
		t.Error("different routing keys must not share a limiter")
	}
	if strings.Contains(guard.LimiterKey(a), key) {
		t.Error("the limiter key must not contain the routing key")
	}
	s1, s2 := target.Target{Name: "s1", Type: "slack"}, target.Target{Name: "s2", Type: "slack"}
	if guard.LimiterKey(s1) == guard.LimiterKey(s2) {
		t.Error("other targets are limited by name")
	}
}

func TestRateLimit(t *testing.T) {
	slow := func(name string, perSecond float64) target.Target {
		return target.Target{Name: name, Type: "webhook", URL: "https://example.com",
			RateLimit: &target.RateLimitSpec{PerSecond: perSecond, Burst: 1}}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, g *guard.Guard)
	}{
		{"waits for the next slot", func(t *testing.T, g *guard.Guard) {
			tg := slow("w", 20)
			mustAcquire(t, g, context.Background(), tg)
			start := time.Now()
			mustAcquire(t, g, context.Background(), tg)
			if waited := time.Since(start); waited < 30*time.Millisecond {
				t.Errorf("second delivery waited %v, want about 50ms", waited)
			}
		}},
		{"a wait beyond the deadline is a retryable error with RetryAfter", func(t *testing.T, g *guard.Guard) {
			tg := slow("d", 0.1)
			mustAcquire(t, g, context.Background(), tg)
			for i := 0; i < 2; i++ { // the failed reservation is given back
				// The deadline (5s) is before the slot (10s): Acquire answers
				// at once, long before the deadline, instead of waiting for it.
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := g.Acquire(ctx, tg)
				waitedForDeadline := ctx.Err() != nil
				cancel()
				pe := publishtest.AssertError(t, err, publish.KindRateLimited, true, -1)
				if pe.RetryAfter < 9*time.Second || pe.RetryAfter > 10*time.Second {
					t.Errorf("attempt %d: RetryAfter = %v, want about 10s", i, pe.RetryAfter)
				}
				if waitedForDeadline {
					t.Error("Acquire must not wait when the slot is beyond the deadline")
				}
			}
		}},
		{"a wait beyond MaxWait is a retryable error", func(t *testing.T, _ *guard.Guard) {
			g := guard.New(guard.Options{MaxWait: 20 * time.Millisecond})
			tg := slow("m", 1)
			mustAcquire(t, g, context.Background(), tg)
			_, err := g.Acquire(context.Background(), tg)
			pe := publishtest.AssertError(t, err, publish.KindRateLimited, true, -1)
			if pe.RetryAfter < 900*time.Millisecond {
				t.Errorf("RetryAfter = %v, want about 1s", pe.RetryAfter)
			}
		}},
		{"cancellation ends the wait", func(t *testing.T, _ *guard.Guard) {
			tg := slow("c", 0.5)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(30*time.Millisecond, cancel)
			g2 := guard.New(guard.Options{MaxWait: time.Minute})
			mustAcquire(t, g2, context.Background(), tg)
			_, err := g2.Acquire(ctx, tg)
			publishtest.AssertError(t, err, publish.KindRateLimited, true, 0)
		}},
		{"a new rate limit applies at once", func(t *testing.T, g *guard.Guard) {
			tg := slow("u", 0.1)
			mustAcquire(t, g, context.Background(), tg)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := g.Acquire(ctx, tg); err == nil {
				t.Fatal("want the old limit to hold")
			}
			tg.RateLimit = &target.RateLimitSpec{PerSecond: 1000, Burst: 5}
			mustAcquire(t, g, ctx, tg)
		}},
		{"pagerduty targets share the routing key's limit", func(t *testing.T, g *guard.Guard) {
			a := target.Target{Name: "pd-a", Type: "pagerduty", Config: &pagerduty.Config{RoutingKey: "shared-key-000000000000000000000"},
				RateLimit: &target.RateLimitSpec{PerSecond: 0.1, Burst: 1}}
			b := a
			b.Name = "pd-b"
			mustAcquire(t, g, context.Background(), a)
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := g.Acquire(ctx, b)
			pe := publishtest.AssertError(t, err, publish.KindRateLimited, true, -1)
			if strings.Contains(pe.Error(), pagerduty.ConfigOf(a).RoutingKey) {
				t.Error("error names the routing key")
			}
		}},
		{"targets do not share limits", func(t *testing.T, g *guard.Guard) {
			mustAcquire(t, g, context.Background(), slow("x1", 0.1))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			mustAcquire(t, g, ctx, slow("x2", 0.1))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, guard.New(guard.Options{}))
		})
	}
}

func mustAcquire(t *testing.T, g *guard.Guard, ctx context.Context, tg target.Target) func(error) {
	t.Helper()
	done, err := g.Acquire(ctx, tg)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", tg.Name, err)
	}
	return done
}

var (
	errNetwork   = publish.ClassifyTransport(errors.New("connection refused"))
	errTimeout   = publish.ClassifyTransport(context.DeadlineExceeded)
	err500       = publish.ClassifyStatus(500, nil, nil, time.Time{})
	err503       = publish.ClassifyStatus(503, nil, nil, time.Time{})
	err404       = publish.ClassifyStatus(404, nil, nil, time.Time{})
	err400       = publish.ClassifyStatus(400, nil, nil, time.Time{})
	err429       = publish.ClassifyStatus(429, nil, nil, time.Time{})
	errSlackDown = &publish.Error{Kind: publish.KindProvider, Retryable: true, Msg: "slack: internal_error"}
	errSlackAuth = &publish.Error{Kind: publish.KindProvider, Msg: "slack: invalid_auth"}
	errTemplate  = publish.Permanent(publish.KindConfig, "template")
)

func TestIsFailure(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errNetwork, true},
		{errTimeout, true},
		{err500, true},
		{err503, true},
		{errSlackDown, true},
		{errors.New("unclassified"), true},
		{err404, false},
		{err400, false},
		{err429, false},
		{errSlackAuth, false},
		{errTemplate, false},
		{publish.ClassifyStatus(408, nil, nil, time.Time{}), false},
	} {
		if got := guard.IsFailure(tc.err); got != tc.want {
			t.Errorf("IsFailure(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// step is one action on a breaker in a scenario.
type step struct {
	outcome error         // delivered with this outcome (when acquire succeeds)
	advance time.Duration // move the clock first
	want    guard.State   // state after the step
	denied  bool          // Acquire must fail with circuit_open
	after   time.Duration // RetryAfter of the denial (checked when > 0)
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

// trip is five network failures: the breaker opens on the last.
func trip() []step {
	return append(repeat(4, step{outcome: errNetwork, want: guard.Closed}), step{outcome: errNetwork, want: guard.Open})
}

func concat(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestBreakerScenarios(t *testing.T) {
	open30 := step{denied: true, want: guard.Open, after: 30 * time.Second}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"five network failures open it", concat(
			repeat(4, step{outcome: errNetwork, want: guard.Closed}),
			[]step{{outcome: errNetwork, want: guard.Open}, open30})},
		{"timeouts and 5xx count", concat(
			repeat(2, step{outcome: errTimeout, want: guard.Closed}),
			repeat(2, step{outcome: err500, want: guard.Closed}),
			[]step{{outcome: errSlackDown, want: guard.Open}})},
		{"a success resets the count", concat(
			repeat(4, step{outcome: err503, want: guard.Closed}),
			[]step{{outcome: nil, want: guard.Closed}},
			repeat(4, step{outcome: err503, want: guard.Closed}))},
		{"permanent 4xx never trip it", repeat(12, step{outcome: err404, want: guard.Closed})},
		{"429s never trip it", repeat(12, step{advance: 10 * time.Second, outcome: err429, want: guard.Closed})},
		{"permanent provider errors never trip it", repeat(12, step{outcome: errSlackAuth, want: guard.Closed})},
		{"a 4xx between failures resets the count", concat(
			repeat(4, step{outcome: errNetwork, want: guard.Closed}),
			[]step{{outcome: err400, want: guard.Closed}},
			repeat(4, step{outcome: errNetwork, want: guard.Closed}))},
		{"retry-after counts down while open", concat(
			trip(),
			[]step{{advance: 10 * time.Second, denied: true, want: guard.Open, after: 20 * time.Second}})},
		{"half-open probe success closes it", concat(
			trip(),
			[]step{{advance: 30 * time.Second, outcome: nil, want: guard.Closed},
				{outcome: nil, want: guard.Closed}})},
		{"half-open probe failure reopens it for a full timeout", concat(
			trip(),
			[]step{{advance: 30 * time.Second, outcome: err500, want: guard.Open}, open30})},
		{"half-open probe answered with a 4xx closes it (the target answers)", concat(
			trip(),
			[]step{{advance: 31 * time.Second, outcome: err404, want: guard.Closed}})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			g := guard.New(guard.Options{Now: clk.Now})
			tg := fast("svc", "webhook")
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				done, err := g.Acquire(context.Background(), tg)
				if s.denied {
					if err == nil {
						t.Fatalf("step %d: Acquire succeeded, want circuit_open", i)
					}
					want := time.Duration(-1)
					if s.after > 0 {
						want = s.after
					}
					publishtest.AssertError(t, err, publish.KindCircuitOpen, true, want)
				} else {
					if err != nil {
						t.Fatalf("step %d: Acquire: %v", i, err)
					}
					done(s.outcome)
				}
				if got := g.State(tg.Name); got != s.want {
					t.Fatalf("step %d: state %v, want %v", i, got, s.want)
				}
			}
		})
	}
}

func openBreaker(t *testing.T, g *guard.Guard, tg target.Target) {
	t.Helper()
	for i := 0; i < guard.DefaultFailureThreshold; i++ {
		mustAcquire(t, g, context.Background(), tg)(errNetwork)
	}
	if g.State(tg.Name) != guard.Open {
		t.Fatal("breaker did not open")
	}
}

func TestBreakerHalfOpenAdmitsOneProbe(t *testing.T) {
	clk := newClock()
	g := guard.New(guard.Options{Now: clk.Now})
	tg := fast("probe", "webhook")
	openBreaker(t, g, tg)
	clk.Advance(guard.DefaultOpenTimeout)
	probe := mustAcquire(t, g, context.Background(), tg)
	_, err := g.Acquire(context.Background(), tg)
	pe := publishtest.AssertError(t, err, publish.KindCircuitOpen, true, -1)
	if pe.RetryAfter <= 0 || pe.RetryAfter > 5*time.Second {
		t.Errorf("RetryAfter while probing = %v", pe.RetryAfter)
	}
	// A probe whose outcome never comes back is replaced after the timeout.
	clk.Advance(guard.DefaultOpenTimeout)
	second := mustAcquire(t, g, context.Background(), tg)
	second(nil)
	probe(errNetwork) // stale: the breaker already closed
	if g.State(tg.Name) != guard.Closed {
		t.Errorf("state = %v, want closed", g.State(tg.Name))
	}
}

func TestBreakerIgnoresStaleAndAbandonedOutcomes(t *testing.T) {
	clk := newClock()
	g := guard.New(guard.Options{Now: clk.Now})
	tg := fast("stale", "webhook")
	early := mustAcquire(t, g, context.Background(), tg)
	openBreaker(t, g, tg)
	early(nil) // admitted before the breaker opened
	if g.State(tg.Name) != guard.Open {
		t.Error("a success admitted before the outage closed the breaker")
	}

	g2 := guard.New(guard.Options{Now: clk.Now})
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		done := mustAcquire(t, g2, ctx, tg)
		cancel()
		done(errTimeout) // the delivery was abandoned (worker shutdown)
	}
	if g2.State(tg.Name) != guard.Closed {
		t.Error("abandoned deliveries tripped the breaker")
	}

	g3 := guard.New(guard.Options{Now: clk.Now})
	for i := 0; i < 4; i++ {
		done := mustAcquire(t, g3, context.Background(), tg)
		done(errNetwork)
		done(errNetwork) // a second call is ignored
	}
	if g3.State(tg.Name) != guard.Closed {
		t.Error("done counted twice")
	}
}

func TestBreakerResetsOnConfigChange(t *testing.T) {
	clk := newClock()
	g := guard.New(guard.Options{Now: clk.Now})
	tg := fast("moved", "webhook")
	openBreaker(t, g, tg)
	same := tg
	same.RateLimit = &target.RateLimitSpec{PerSecond: 1e6, Burst: 999}
	if _, err := g.Acquire(context.Background(), same); err == nil {
		t.Fatal("a rate-limit change must not reset the breaker")
	}
	tg.URL = "https://example.com/fixed"
	mustAcquire(t, g, context.Background(), tg)(nil)
	if g.State(tg.Name) != guard.Closed {
		t.Errorf("state = %v after the URL changed, want closed", g.State(tg.Name))
	}
}

func TestStateChangesReachMetrics(t *testing.T) {
	clk := newClock()
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "herald_circuit_breaker_state"}, []string{"target"})
	var mu sync.Mutex
	var seen []guard.State
	hook := guard.MetricsHook(gauge)
	g := guard.New(guard.Options{Now: clk.Now, OnStateChange: func(name string, s guard.State) {
		hook(name, s)
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}})
	tg := fast("metered", "slack")
	mustAcquire(t, g, context.Background(), tg)(nil)
	if v := gaugeValue(t, gauge, "metered"); v != 0 {
		t.Errorf("gauge = %v, want 0 (closed)", v)
	}
	openBreaker(t, g, tg)
	if v := gaugeValue(t, gauge, "metered"); v != 2 {
		t.Errorf("gauge = %v, want 2 (open)", v)
	}
	clk.Advance(guard.DefaultOpenTimeout)
	if g.State(tg.Name) != guard.HalfOpen {
		t.Fatal("want half-open")
	}
	if v := gaugeValue(t, gauge, "metered"); v != 1 {
		t.Errorf("gauge = %v, want 1 (half-open)", v)
	}
	mustAcquire(t, g, context.Background(), tg)(nil)
	want := []guard.State{guard.Closed, guard.Open, guard.HalfOpen, guard.Closed}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(want) {
		t.Fatalf("transitions %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("transitions %v, want %v", seen, want)
		}
	}
	if guard.Open.String() != "open" || guard.HalfOpen.String() != "half-open" || guard.Closed.String() != "closed" {
		t.Error("state names")
	}
}

func TestConcurrentUse(t *testing.T) {
	clk := newClock()
	g := guard.New(guard.Options{Now: clk.Now, OnStateChange: func(string, guard.State) {}})
	targets := []target.Target{fast("a", "slack"), fast("b", "webhook"), fast("c", "rootly")}
	outcomes := []error{nil, errNetwork, err404, err500, nil, err429}
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tg := targets[(w+i)%len(targets)]
				if i%50 == 0 {
					clk.Advance(time.Second)
				}
				// Deferrals, not inline waits: the 429s teach a rate that
				// binds on the real clock.
				ad, err := g.Admit(context.Background(), tg, guard.Request{Defer: true})
				if err != nil {
					t.Errorf("unexpected error %v", err)
					continue
				}
				if ad.Deferred() {
					if ad.Kind != publish.KindCircuitOpen && ad.Kind != publish.KindRateLimited {
						t.Errorf("unexpected deferral %+v", ad)
					}
					continue
				}
				ad.Done(outcomes[(w*7+i)%len(outcomes)])
				_ = g.State(tg.Name)
			}
		}(w)
	}
	wg.Wait()
	g.Forget(targets[0])
	if g.State("a") != guard.Closed {
		t.Error("a forgotten target starts closed")
	}
}

func gaugeValue(t *testing.T, vec *prometheus.GaugeVec, name string) float64 {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(name).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func admit(t *testing.T, g *guard.Guard, tg target.Target, ticket string) guard.Admission {
	t.Helper()
	ad, err := g.Admit(context.Background(), tg, guard.Request{Ticket: ticket, Defer: true})
	if err != nil {
		t.Fatalf("Admit(%s): %v", tg.Name, err)
	}
	return ad
}

// Herald's own throttling defers deliveries (no attempt used) instead of
// failing them, and the deferred ones come back in the order of their
// reserved slots.
func TestAdmitDefers(t *testing.T) {
	slack := target.Target{Name: "s", Type: "slack", URL: "https://hooks.example.com/x"}
	webhook := target.Target{Name: "w", Type: "webhook", URL: "https://example.com"}
	retryAfter := func(status int, d time.Duration) error {
		h := http.Header{}
		h.Set("Retry-After", fmt.Sprint(int(d.Seconds())))
		return publish.ClassifyStatus(status, h, nil, time.Now())
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, g *guard.Guard)
	}{
		{"an unlimited webhook is never held", func(t *testing.T, g *guard.Guard) {
			for i := 0; i < 500; i++ {
				ad := admit(t, g, webhook, "")
				if ad.Deferred() {
					t.Fatalf("delivery %d deferred: %s", i, ad.Reason)
				}
				ad.Done(nil)
			}
		}},
		{"slots beyond the inline wait are reserved, in order", func(t *testing.T, _ *guard.Guard) {
			g := guard.New(guard.Options{InlineWait: 10 * time.Millisecond})
			admit(t, g, slack, "").Done(nil) // takes the 1/s burst
			var prev time.Duration
			var tickets []guard.Admission
			for i := 0; i < 5; i++ {
				ad := admit(t, g, slack, "")
				if !ad.Deferred() || ad.Kind != publish.KindRateLimited || ad.Ticket == "" {
					t.Fatalf("delivery %d: %+v, want a rate_limited deferral with a ticket", i, ad)
				}
				if ad.Delay <= prev {
					t.Fatalf("delivery %d: delay %v not after the previous %v", i, ad.Delay, prev)
				}
				prev = ad.Delay
				tickets = append(tickets, ad)
			}
			if prev < 4500*time.Millisecond || prev > 5*time.Second {
				t.Errorf("fifth reserved slot in %v, want about 5s at 1/s", prev)
			}
			time.Sleep(tickets[0].Delay)
			if ad := admit(t, g, slack, tickets[0].Ticket); ad.Deferred() {
				t.Fatalf("a delivery back at its reserved slot was deferred again: %+v", ad)
			}
		}},
		{"an open breaker defers until it half-opens", func(t *testing.T, g *guard.Guard) {
			tg := fast("b", "webhook")
			openBreaker(t, g, tg)
			ad := admit(t, g, tg, "")
			if !ad.Deferred() || ad.Kind != publish.KindCircuitOpen || ad.Delay <= 0 || ad.Delay > guard.DefaultOpenTimeout {
				t.Fatalf("%+v, want a circuit_open deferral up to the open timeout", ad)
			}
		}},
		{"a receiver's 429 with Retry-After pauses the others", func(t *testing.T, g *guard.Guard) {
			admit(t, g, webhook, "").Done(retryAfter(http.StatusTooManyRequests, 3*time.Second))
			ad := admit(t, g, webhook, "")
			if !ad.Deferred() || ad.Delay < 2*time.Second || ad.Delay > 3*time.Second {
				t.Fatalf("%+v, want a deferral of about 3s", ad)
			}
		}},
		{"a 503 with Retry-After pauses too, a plain 503 does not", func(t *testing.T, g *guard.Guard) {
			admit(t, g, webhook, "").Done(publish.ClassifyStatus(503, nil, nil, time.Time{}))
			if ad := admit(t, g, webhook, ""); ad.Deferred() {
				t.Fatalf("plain 503 paused the target: %+v", ad)
			}
			admit(t, g, webhook, "").Done(retryAfter(http.StatusServiceUnavailable, 2*time.Second))
			if ad := admit(t, g, webhook, ""); !ad.Deferred() {
				t.Fatal("503 with Retry-After did not pause the target")
			}
		}},
		{"an unlimited receiver that pushes back gets a learned rate", func(t *testing.T, _ *guard.Guard) {
			g := guard.New(guard.Options{InlineWait: 10 * time.Millisecond})
			for i := 0; i < 40; i++ {
				admit(t, g, webhook, "").Done(nil)
			}
			admit(t, g, webhook, "").Done(publish.ClassifyStatus(http.StatusTooManyRequests, nil, nil, time.Time{}))
			deferred := 0
			for i := 0; i < 40; i++ {
				if ad := admit(t, g, webhook, ""); ad.Deferred() {
					deferred++
				} else {
					ad.Done(nil)
				}
			}
			// About 20/s learned (half of the ~41/s it was taking): the
			// next 40 cannot all go at once.
			if deferred < 20 {
				t.Errorf("%d of 40 deferred after pushback, want most", deferred)
			}
		}},
		{"a configured burst goes at once, then the rate applies", func(t *testing.T, _ *guard.Guard) {
			clk := newClock()
			g := guard.New(guard.Options{Now: clk.Now, InlineWait: 10 * time.Millisecond})
			bursty := target.Target{Name: "b", Type: "webhook", URL: "https://example.com/b",
				RateLimit: &target.RateLimitSpec{PerSecond: 4, Burst: 8}}
			admitted, deferred := 0, []time.Duration{}
			for i := 0; i < 10; i++ {
				if ad := admit(t, g, bursty, ""); ad.Deferred() {
					deferred = append(deferred, ad.Delay)
				} else {
					admitted++
					ad.Done(nil)
				}
			}
			if admitted != 8 || len(deferred) != 2 || deferred[0] != 250*time.Millisecond || deferred[1] != 500*time.Millisecond {
				t.Errorf("admitted %d at once, deferred by %v; want the burst of 8, then 250ms and 500ms at 4/s", admitted, deferred)
			}
			// A second after the last reserved slot (at 500ms) earns back
			// 4 slots of the burst, not the whole burst.
			clk.Advance(time.Second + 500*time.Millisecond)
			admitted = 0
			for i := 0; i < 8; i++ {
				if ad := admit(t, g, bursty, ""); !ad.Deferred() {
					admitted++
					ad.Done(nil)
				}
			}
			if admitted != 4 {
				t.Errorf("admitted %d a second after the last reserved slot at 4/s, want 4", admitted)
			}
		}},
		{"a receiver that pushes back under its configured limit gets a learned rate below it", func(t *testing.T, _ *guard.Guard) {
			clk := newClock()
			g := guard.New(guard.Options{Now: clk.Now, InlineWait: 10 * time.Millisecond})
			limited := target.Target{Name: "l", Type: "webhook", URL: "https://example.com/l",
				RateLimit: &target.RateLimitSpec{PerSecond: 10, Burst: 10}}
			for i := 0; i < 10; i++ {
				admit(t, g, limited, "").Done(nil)
			}
			// A second of requests: the receiver wanted fewer than 10/s.
			// Three 429s answer requests already in flight: they pause
			// but do not halve the rate again.
			clk.Advance(time.Second)
			inFlight := []guard.Admission{admit(t, g, limited, ""), admit(t, g, limited, ""), admit(t, g, limited, "")}
			for i, ad := range inFlight {
				if ad.Deferred() {
					t.Fatalf("in-flight delivery %d deferred before any pushback: %+v", i, ad)
				}
				ad.Done(publish.ClassifyStatus(http.StatusTooManyRequests, nil, nil, time.Time{}))
				clk.Advance(100 * time.Millisecond)
			}
			// 5/s learned (half of the 10/s configured and taken): ten
			// deliveries at once are spread over about 1.8s (at 10/s it
			// would be 0.9s; halved per 429, at 1.25/s, 7.2s).
			clk.Advance(time.Second)
			var last time.Duration
			for i := 0; i < 10; i++ {
				if ad := admit(t, g, limited, ""); ad.Deferred() {
					last = ad.Delay
				} else {
					ad.Done(nil)
				}
			}
			if last < 1500*time.Millisecond || last > 2200*time.Millisecond {
				t.Errorf("tenth delivery after pushback under a 10/s limit deferred by %v, want about 1.8s (a learned 5/s)", last)
			}
		}},
		{"only a pushback to a delivery scheduled after the last one lowers the rate again", func(t *testing.T, _ *guard.Guard) {
			clk := newClock()
			g := guard.New(guard.Options{Now: clk.Now, InlineWait: 10 * time.Millisecond})
			tg := target.Target{Name: "p", Type: "webhook", URL: "https://example.com/p"}
			push := publish.ClassifyStatus(http.StatusTooManyRequests, nil, nil, time.Time{})
			// 8 deliveries in the first quarter second: a storm begun, not
			// a trickle of 8/s.
			for i := 0; i < 8; i++ {
				admit(t, g, tg, "").Done(nil)
			}
			early := admit(t, g, tg, "") // scheduled before any pushback
			clk.Advance(250 * time.Millisecond)
			admit(t, g, tg, "").Done(push) // learns half of ~36/s
			clk.Advance(2 * time.Second)
			early.Done(push) // answers the old pace: no further halving
			spacing := func() time.Duration {
				a := admit(t, g, tg, "")
				b := admit(t, g, tg, "")
				if a.Deferred() {
					t.Fatalf("first delivery deferred: %+v", a)
				}
				a.Done(nil)
				return b.Delay
			}
			if d := spacing(); d < 40*time.Millisecond || d > 70*time.Millisecond {
				t.Errorf("spacing after the first pushback %v, want about 56ms (a learned 18/s)", d)
			}
			// A delivery scheduled after the pushback that is pushed back
			// too halves the rate.
			clk.Advance(2 * time.Second)
			late := admit(t, g, tg, "")
			clk.Advance(2 * time.Second)
			late.Done(push)
			clk.Advance(time.Second)
			if d := spacing(); d < 90*time.Millisecond || d > 130*time.Millisecond {
				t.Errorf("spacing after a second, fresh pushback %v, want about 111ms (a learned 9/s)", d)
			}
		}},
		{"a learned rate has a floor, rises after quiet periods and is released", func(t *testing.T, _ *guard.Guard) {
			clk := newClock()
			g := guard.New(guard.Options{Now: clk.Now, InlineWait: 10 * time.Millisecond})
			push := publish.ClassifyStatus(http.StatusTooManyRequests, nil, nil, time.Time{})
			limited := func(name string, perSecond float64) target.Target {
				return target.Target{Name: name, Type: "webhook", URL: "https://example.com/" + name,
					RateLimit: &target.RateLimitSpec{PerSecond: perSecond, Burst: 1}}
			}
			// spacing is the interval between two deliveries asked at once.
			spacing := func(tg target.Target) time.Duration {
				a, b := admit(t, g, tg, ""), admit(t, g, tg, "")
				if a.Deferred() {
					t.Fatalf("first delivery to %s deferred: %+v", tg.Name, a)
				}
				a.Done(nil)
				return b.Delay
			}
			near := func(what string, got, want time.Duration) {
				t.Helper()
				if got < want-want/20 || got > want+want/20 {
					t.Errorf("%s: spacing %v, want %v", what, got, want)
				}
			}
			// Floor: half of 0.3/s would be 0.15/s; the learned rate stops at 0.2/s.
			floor := limited("floor", 0.3)
			admit(t, g, floor, "").Done(push)
			clk.Advance(4 * time.Second) // the next 0.3/s slot is free; no rise yet
			near("at the floor", spacing(floor), 5*time.Second)

			// Rise and release: 1/s configured, 0.5/s learned; after 5
			// quiet seconds 0.75/s; after 5 more it would be 1.125/s, above
			// the configured limit, so it is dropped.
			tg := limited("rise", 1)
			admit(t, g, tg, "").Done(push)
			clk.Advance(2 * time.Second)
			near("learned", spacing(tg), 2*time.Second)
			clk.Advance(6 * time.Second)
			near("risen once", spacing(tg), 1333*time.Millisecond)
			clk.Advance(6 * time.Second)
			near("released", spacing(tg), time.Second)
		}},
		{"Acquire (no deferral) still fails retryably", func(t *testing.T, g *guard.Guard) {
			g2 := guard.New(guard.Options{MaxWait: 10 * time.Millisecond})
			mustAcquire(t, g2, context.Background(), slack)
			_, err := g2.Acquire(context.Background(), slack)
			publishtest.AssertError(t, err, publish.KindRateLimited, true, -1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, guard.New(guard.Options{})) })
	}
}
