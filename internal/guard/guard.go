// Package guard protects targets from Herald: a rate limiter and a circuit
// breaker per target. It implements the activities' Guard: Acquire waits for
// a delivery slot and reports an open breaker as a retryable error, so a
// delivery is delayed, never dropped.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limit is a sustained rate with a burst.
type Limit struct {
	PerSecond float64
	Burst     int
}

// DefaultLimits are the per-type delivery rates, from the providers' own
// limits: Slack about one message per second per channel, PagerDuty 120
// events per minute per routing key, Rootly 3000 requests per minute.
var DefaultLimits = map[string]Limit{
	target.TypeSlack:        {PerSecond: 1, Burst: 1},
	target.TypePagerDuty:    {PerSecond: 2, Burst: 2},
	target.TypeRootly:       {PerSecond: 50, Burst: 50},
	target.TypeWebhook:      {PerSecond: 10, Burst: 10},
	target.TypeAlertmanager: {PerSecond: 10, Burst: 10},
}

// Defaults of Options.
const (
	DefaultFailureThreshold = 5
	DefaultOpenTimeout      = 30 * time.Second
	DefaultMaxWait          = 10 * time.Second
	// halfOpenRetry is the longest delay given to deliveries that arrive
	// while the half-open probe is in flight.
	halfOpenRetry = 5 * time.Second
)

// Options configure a Guard; zero values take the defaults.
type Options struct {
	// Limits overrides DefaultLimits per target type. A target's own
	// rate_limit wins over both.
	Limits map[string]Limit
	// FailureThreshold is how many consecutive failures open a breaker.
	FailureThreshold int
	// OpenTimeout is how long a breaker stays open before it lets one
	// probe delivery through (half-open).
	OpenTimeout time.Duration
	// MaxWait is the longest Acquire waits for a rate-limit slot; a longer
	// wait returns a retryable error with RetryAfter instead.
	MaxWait time.Duration
	// OnStateChange is called with a target's breaker state whenever it
	// changes (and once, closed, when the target is first seen). It runs
	// under the breaker's lock: it must be fast and must not call the Guard.
	OnStateChange func(target string, s State)
	// Now is the clock of the breakers (tests); nil means time.Now.
	Now func() time.Time
}

// Guard holds the limiters and breakers. It is safe for concurrent use.
type Guard struct {
	opts Options

	mu       sync.Mutex
	limiters map[string]*limiter
	breakers map[string]*breaker
}

type limiter struct {
	lim   *rate.Limiter
	limit Limit
}

// New returns a Guard.
func New(opts Options) *Guard {
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = DefaultFailureThreshold
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = DefaultOpenTimeout
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Guard{opts: opts, limiters: map[string]*limiter{}, breakers: map[string]*breaker{}}
}

// MetricsHook returns an OnStateChange that sets a gauge labelled by target
// (herald_circuit_breaker_state: 0 closed, 1 half-open, 2 open).
func MetricsHook(gauge *prometheus.GaugeVec) func(string, State) {
	return func(name string, s State) { gauge.WithLabelValues(name).Set(float64(s)) }
}

// LimitFor returns the rate limit of t: its rate_limit, else the default of
// its type.
func (g *Guard) LimitFor(t target.Target) Limit {
	if r := t.RateLimit; r != nil && r.PerSecond > 0 {
		l := Limit{PerSecond: r.PerSecond, Burst: r.Burst}
		if l.Burst <= 0 {
			l.Burst = int(math.Max(1, math.Ceil(r.PerSecond)))
		}
		return l
	}
	if l, ok := g.opts.Limits[t.Type]; ok {
		return l
	}
	if l, ok := DefaultLimits[t.Type]; ok {
		return l
	}
	return DefaultLimits[target.TypeWebhook]
}

// LimiterKey is the key deliveries share a rate limit by: the routing key
// (hashed) for PagerDuty, whose limit is per integration key, else the
// target name.
func LimiterKey(t target.Target) string {
	if t.Type == target.TypePagerDuty && t.RoutingKey != "" {
		sum := sha256.Sum256([]byte(t.RoutingKey))
		return "pagerduty/" + hex.EncodeToString(sum[:8])
	}
	return "target/" + t.Name
}

// Acquire implements the activities' Guard. It fails with a retryable
// *publish.Error of kind circuit_open (RetryAfter: time until the breaker
// half-opens) when t's breaker is open, then waits for a rate-limit slot.
// done must be called with the outcome of the delivery.
func (g *Guard) Acquire(ctx context.Context, t target.Target) (func(err error), error) {
	b := g.breaker(t)
	ticket, err := b.admit(g.opts.Now())
	if err != nil {
		return nil, err
	}
	if err := g.wait(ctx, t); err != nil {
		b.release(ticket)
		return nil, err
	}
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			if err != nil && ctx.Err() == context.Canceled {
				// The delivery was abandoned, not failed by the target.
				b.release(ticket)
				return
			}
			b.record(ticket, err, g.opts.Now())
		})
	}, nil
}

// State returns the breaker state of the named target (closed if unknown).
func (g *Guard) State(name string) State {
	g.mu.Lock()
	b := g.breakers[name]
	g.mu.Unlock()
	if b == nil {
		return Closed
	}
	return b.current(g.opts.Now())
}

// Forget drops the state kept for a target that no longer exists.
func (g *Guard) Forget(t target.Target) {
	g.mu.Lock()
	delete(g.breakers, t.Name)
	if key := LimiterKey(t); key == "target/"+t.Name {
		delete(g.limiters, key)
	}
	g.mu.Unlock()
}

func (g *Guard) breaker(t target.Target) *breaker {
	fp := configFingerprint(t)
	g.mu.Lock()
	b, ok := g.breakers[t.Name]
	if !ok {
		b = &breaker{name: t.Name, threshold: g.opts.FailureThreshold, timeout: g.opts.OpenTimeout,
			notify: g.opts.OnStateChange, fingerprint: fp}
		g.breakers[t.Name] = b
	}
	g.mu.Unlock()
	if !ok {
		b.mu.Lock()
		b.emit()
		b.mu.Unlock()
	} else {
		b.reconfigure(fp)
	}
	return b
}

// wait takes a rate-limit slot, waiting for it when the wait fits both
// MaxWait and ctx's deadline.
func (g *Guard) wait(ctx context.Context, t target.Target) error {
	lim := g.limiter(t)
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return publish.Retryable(publish.KindRateLimited, time.Second, "rate limit of target %q admits no delivery", t.Name)
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	deadline, hasDeadline := ctx.Deadline()
	if d > g.opts.MaxWait || (hasDeadline && now.Add(d).After(deadline)) {
		r.CancelAt(now)
		return publish.Retryable(publish.KindRateLimited, d, "rate limit of target %q: next slot in %s", t.Name, d.Round(time.Millisecond))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return publish.Retryable(publish.KindRateLimited, 0, "waiting for the rate limit of target %q: %v", t.Name, ctx.Err())
	}
}

func (g *Guard) limiter(t target.Target) *rate.Limiter {
	key, want := LimiterKey(t), g.LimitFor(t)
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.limiters[key]
	if !ok {
		l = &limiter{lim: rate.NewLimiter(rate.Limit(want.PerSecond), want.Burst), limit: want}
		g.limiters[key] = l
		return l.lim
	}
	if l.limit != want {
		now := time.Now()
		l.lim.SetLimitAt(now, rate.Limit(want.PerSecond))
		l.lim.SetBurstAt(now, want.Burst)
		l.limit = want
	}
	return l.lim
}

// configFingerprint identifies what a breaker protects: a target whose
// address or credentials change starts with a closed breaker.
func configFingerprint(t target.Target) string {
	h := sha256.New()
	for _, s := range []string{t.Type, t.Endpoint(), t.RoutingKey, t.Token, t.Channel} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	keys := make([]string, 0, len(t.Headers))
	for k := range t.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(t.Headers[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
