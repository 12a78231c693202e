// Package guard protects targets from Herald: a rate limiter and a circuit
// breaker per target. It implements the activities' Guard: Acquire waits for
// a delivery slot and reports an open breaker as a retryable error, so a
// delivery is delayed, never dropped.
package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limit is a sustained rate with a burst. A zero PerSecond means no limit.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Defaults of Options.
const (
	DefaultFailureThreshold = 5
	DefaultOpenTimeout      = 30 * time.Second
	DefaultMaxWait          = 10 * time.Second
	DefaultInlineWait       = time.Second
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
	// InlineWait is the longest Admit waits for a slot before it answers
	// "come back later" (a deferral) instead.
	InlineWait time.Duration
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
	tickets  map[string]reservation
	seq      uint64
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
	if opts.InlineWait <= 0 {
		opts.InlineWait = DefaultInlineWait
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Guard{opts: opts, limiters: map[string]*limiter{}, breakers: map[string]*breaker{}, tickets: map[string]reservation{}}
}

// MetricsHook returns an OnStateChange that sets a gauge labelled by target
// (herald_circuit_breaker_state: 0 closed, 1 half-open, 2 open).
func MetricsHook(gauge *prometheus.GaugeVec) func(string, State) {
	return func(name string, s State) { gauge.WithLabelValues(name).Set(float64(s)) }
}

// LimitFor returns the rate limit of t: its rate_limit, else the default of
// its type.
func (g *Guard) LimitFor(t target.Target) Limit {
	l, ok := t.Limit()
	if o, set := g.opts.Limits[t.Type]; set && (!ok || l.Source != target.LimitFromTarget) {
		return o
	}
	return Limit{PerSecond: l.PerSecond, Burst: l.Burst}
}

// DefaultLimit is the delivery rate of a target type whose targets set
// none: the provider's, from its published limits (Slack about one message
// per second per channel, PagerDuty 120 events per minute per routing key,
// Rootly 3000 requests per minute). Generic webhooks and Alertmanagers
// have no published limit, so they get none; when such a receiver answers
// 429 or 503 with Retry-After, the guard learns a rate from it (see
// Admission).
func DefaultLimit(typ string) Limit {
	l, _ := target.Target{Type: typ}.Limit()
	return Limit{PerSecond: l.PerSecond, Burst: l.Burst}
}

// LimiterKey is the key deliveries share a rate limit by: the provider's
// (PagerDuty's limit is per integration key), else the target name.
func LimiterKey(t target.Target) string {
	if k, ok := target.KindOf(t.Type); ok {
		if key := k.LimiterKey(t); key != "" {
			return key
		}
	}
	return "target/" + t.Name
}

// Acquire is Admit without deferral: it waits for a rate-limit slot up to
// MaxWait (and ctx's deadline), and reports anything longer, or an open
// breaker, as a retryable *publish.Error with RetryAfter. Deliveries of
// workflows from before deferrals use it.
func (g *Guard) Acquire(ctx context.Context, t target.Target) (func(err error), error) {
	ad, err := g.Admit(ctx, t, Request{})
	if err != nil {
		return nil, err
	}
	if ad.Deferred() {
		return nil, ad.Error()
	}
	return ad.Done, nil
}

// Request asks Admit for a delivery slot.
type Request struct {
	// Ticket is the reservation of an earlier deferral, if any.
	Ticket string
	// Defer allows Admit to answer "come back later" for waits longer
	// than InlineWait instead of waiting or failing.
	Defer bool
}

// Admission is Admit's answer: either admitted (Done is set and must be
// called with the outcome of the delivery), or deferred: come back after
// Delay, presenting Ticket. A deferral is Herald's own throttling, not a
// failed delivery: it must not use up the delivery's attempts.
type Admission struct {
	Done   func(err error)
	Delay  time.Duration
	Ticket string
	// Kind is rate_limited or circuit_open for a deferral.
	Kind   string
	Reason string
	// Waited is, for an admitted delivery, how long it waited for its
	// rate-limit slot: from the first Admit that found the slot taken
	// (named by the ticket) until now, deferrals and the inline wait
	// included. The time spent asleep in the workflow between deferrals is
	// delay the alert really suffered, so herald_rate_limit_wait_seconds
	// must see it, not only the last inline part.
	Waited time.Duration

	// basis is when the schedule that gave this delivery its slot was
	// made: its reservation, or its admission. A receiver's pushback to a
	// delivery scheduled before the last pushback answers the old pace.
	basis time.Time
}

// Deferred reports whether the delivery must come back later.
func (a Admission) Deferred() bool { return a.Kind != "" }

// Error is the deferral as a retryable error (for callers that cannot defer).
func (a Admission) Error() error {
	return &publish.Error{Kind: a.Kind, Retryable: true, RetryAfter: a.Delay, Msg: a.Reason}
}

// Admit asks for a delivery slot for t. An open breaker defers until it
// half-opens; a rate-limit slot further away than InlineWait (or beyond
// ctx's deadline) defers until that slot, which stays reserved for the
// returned Ticket. Without req.Defer, Admit behaves like Acquire.
func (g *Guard) Admit(ctx context.Context, t target.Target, req Request) (Admission, error) {
	b := g.breaker(t)
	tk, err := b.admit(g.opts.Now())
	if err != nil {
		pe := publish.AsError(err)
		return Admission{Delay: pe.RetryAfter, Kind: pe.Kind, Reason: pe.Msg}, nil
	}
	ad, err := g.wait(ctx, t, req)
	if err != nil || ad.Deferred() {
		b.release(tk)
		return ad, err
	}
	var once sync.Once
	ad.Done = func(err error) {
		once.Do(func() {
			if err != nil && ctx.Err() == context.Canceled {
				// The delivery was abandoned, not failed by the target.
				b.release(tk)
				return
			}
			b.record(tk, err, g.opts.Now())
			g.observe(t, err, ad.basis)
		})
	}
	return ad, nil
}

// observe lets a receiver's own throttling (429, or 503 with Retry-After)
// slow every later delivery to it, so the others wait in Herald (without
// using attempts) instead of running into the same answer.
func (g *Guard) observe(t target.Target, err error, basis time.Time) {
	if err == nil {
		return
	}
	pe := publish.AsError(err)
	if pe.StatusCode != http.StatusTooManyRequests && (pe.StatusCode != http.StatusServiceUnavailable || pe.RetryAfter <= 0) {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.limiterLocked(t).throttled(g.opts.Now(), pe.RetryAfter, basis)
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

// slack is how early a reserved slot may be used.
const slack = 20 * time.Millisecond

// wait takes a rate-limit slot: at once, after a short wait, or as a
// deferral (req.Defer) or a retryable error (otherwise) when the slot is
// further away.
func (g *Guard) wait(ctx context.Context, t target.Target, req Request) (Admission, error) {
	now := g.opts.Now()
	g.mu.Lock()
	l := g.limiterLocked(t)
	at, asked, basis := g.slotLocked(l, req.Ticket, now)
	d := at.Sub(now)
	waited := max(now.Sub(asked), 0)
	if d <= slack {
		g.mu.Unlock()
		return Admission{Waited: waited, basis: basis}, nil
	}
	limit := d.Round(time.Millisecond)
	deadline, hasDeadline := ctx.Deadline()
	beyondDeadline := hasDeadline && at.After(deadline)
	if req.Defer && (d > g.opts.InlineWait || beyondDeadline) {
		g.seq++
		id := ticketID(LimiterKey(t), g.seq, asked)
		g.tickets[id] = reservation{at: at, asked: asked, made: basis}
		g.gcTicketsLocked(now)
		g.mu.Unlock()
		return Admission{Delay: d, Ticket: id, Kind: publish.KindRateLimited,
			Reason: fmt.Sprintf("rate limit of target %q: next slot in %s", t.Name, limit)}, nil
	}
	if !req.Defer && (d > g.opts.MaxWait || beyondDeadline) {
		l.cancel(at)
		g.mu.Unlock()
		return Admission{}, publish.Retryable(publish.KindRateLimited, d, "rate limit of target %q: next slot in %s", t.Name, limit)
	}
	g.mu.Unlock()
	// The inline part runs on the real clock (the timer's), whatever
	// clock the breakers use.
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return Admission{Waited: waited + time.Since(start), basis: basis}, nil
	case <-ctx.Done():
		g.mu.Lock()
		l.cancel(at)
		g.mu.Unlock()
		return Admission{}, publish.Retryable(publish.KindRateLimited, 0, "waiting for the rate limit of target %q: %v", t.Name, ctx.Err())
	}
}

// slotLocked returns the delivery's slot, and when it first asked for one:
// the reservation its ticket names, else a new slot, asked now unless the
// ticket says otherwise (a ticket this Guard does not hold comes from
// another worker or an earlier process, and still carries the time).
func (g *Guard) slotLocked(l *limiter, ticket string, now time.Time) (at, asked, made time.Time) {
	if r, ok := g.tickets[ticket]; ok && ticket != "" {
		delete(g.tickets, ticket)
		at, asked, made = r.at, r.asked, r.made
		if l.pausedUntil.After(at) {
			// The receiver asked for a pause after this slot was reserved.
			at, made = l.reserve(now), now
		}
		return at, asked, made
	}
	asked = now
	if t, ok := ticketAsked(ticket); ok && t.Before(now) {
		asked = t
	}
	return l.reserve(now), asked, now
}

// reservation is a slot held for a deferred delivery, and when the
// delivery first found its slot taken (kept across re-deferrals).
// made is when the slot was reserved.
type reservation struct{ at, asked, made time.Time }

// ticketID names a reservation. It ends in the first-asked time (Unix
// milliseconds), so that a delivery that comes back to another worker is
// still measured from its first wait.
func ticketID(key string, seq uint64, asked time.Time) string {
	return fmt.Sprintf("%s#%d@%d", key, seq, asked.UnixMilli())
}

// ticketAsked reads the first-asked time from a ticket; tickets of earlier
// versions have none.
func ticketAsked(ticket string) (time.Time, bool) {
	i := strings.LastIndexByte(ticket, '@')
	if i < 0 || !strings.Contains(ticket[:i], "#") {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(ticket[i+1:], 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// ticketTTL: a reservation nobody came back for is dropped after this.
const ticketTTL = 10 * time.Minute

func (g *Guard) gcTicketsLocked(now time.Time) {
	if len(g.tickets) < 1024 || g.seq%256 != 0 {
		return
	}
	for id, r := range g.tickets {
		if now.Sub(r.at) > ticketTTL {
			delete(g.tickets, id)
		}
	}
}

func (g *Guard) limiterLocked(t target.Target) *limiter {
	key, want := LimiterKey(t), g.LimitFor(t)
	l, ok := g.limiters[key]
	if !ok {
		l = &limiter{}
		g.limiters[key] = l
	}
	l.configure(want)
	return l
}

// configFingerprint identifies what a breaker protects: a target whose
// address or credentials change starts with a closed breaker.
func configFingerprint(t target.Target) string {
	h := sha256.New()
	parts := []string{t.Type, t.Endpoint()}
	if t.Config != nil {
		// The type's own config: its address and credentials.
		if b, err := json.Marshal(t.Config); err == nil {
			parts = append(parts, string(b))
		}
	}
	for _, s := range parts {
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
