package guard

import (
	"sync"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
)

// State of a circuit breaker; the values are those of the
// herald_circuit_breaker_state gauge.
type State int

// Breaker states.
const (
	Closed   State = 0
	HalfOpen State = 1
	Open     State = 2
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "unknown"
}

// IsFailure reports whether a delivery outcome counts against the breaker:
// retryable network errors, timeouts, 5xx and provider-side failures. A
// permanent error (a 4xx: the target answered) and a rate limit do not.
func IsFailure(err error) bool {
	if err == nil {
		return false
	}
	pe := publish.AsError(err)
	if !pe.Retryable {
		return false
	}
	switch pe.Kind {
	case publish.KindNetwork, publish.KindTimeout, publish.KindHTTPServer, publish.KindProvider:
		return true
	}
	return false
}

// breaker is a consecutive-failures circuit breaker. Outcomes of deliveries
// admitted before the last state change are ignored (generation), so a
// slow success from before an outage cannot close an open breaker.
type breaker struct {
	name      string
	threshold int
	timeout   time.Duration
	notify    func(string, State)

	mu          sync.Mutex
	state       State
	generation  uint64
	failures    int
	openedAt    time.Time
	probing     bool
	probeAt     time.Time
	fingerprint string
}

// ticket identifies an admitted delivery.
type ticket struct {
	generation uint64
	probe      bool
}

func (b *breaker) emit() {
	if b.notify != nil {
		b.notify(b.name, b.state)
	}
}

func (b *breaker) setState(s State, now time.Time) {
	if s == b.state {
		return
	}
	b.state = s
	b.generation++
	b.probing = false
	if s == Open {
		b.openedAt = now
	}
	if s == Closed {
		b.failures = 0
	}
	b.emit()
}

// advance moves an open breaker whose timeout has passed to half-open.
func (b *breaker) advance(now time.Time) {
	if b.state == Open && !now.Before(b.openedAt.Add(b.timeout)) {
		b.setState(HalfOpen, now)
	}
}

func (b *breaker) current(now time.Time) State {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	return b.state
}

// admit lets a delivery through or returns the retryable circuit-open error.
func (b *breaker) admit(now time.Time) (ticket, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.advance(now)
	switch b.state {
	case Open:
		wait := b.openedAt.Add(b.timeout).Sub(now)
		return ticket{}, &publish.Error{Kind: publish.KindCircuitOpen, Retryable: true, RetryAfter: wait,
			Msg: "circuit breaker of target " + quote(b.name) + " is open after repeated failures; retry in " + wait.Round(time.Millisecond).String()}
	case HalfOpen:
		// One probe at a time; a probe whose outcome never came back is
		// replaced after the open timeout.
		if b.probing && now.Before(b.probeAt.Add(b.timeout)) {
			wait := b.probeAt.Add(b.timeout).Sub(now)
			if wait > halfOpenRetry {
				wait = halfOpenRetry
			}
			return ticket{}, &publish.Error{Kind: publish.KindCircuitOpen, Retryable: true, RetryAfter: wait,
				Msg: "circuit breaker of target " + quote(b.name) + " is half-open and probing; retry in " + wait.Round(time.Millisecond).String()}
		}
		b.probing, b.probeAt = true, now
		return ticket{generation: b.generation, probe: true}, nil
	}
	return ticket{generation: b.generation}, nil
}

// release returns a ticket whose delivery never happened.
func (b *breaker) release(tk ticket) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tk.probe && tk.generation == b.generation {
		b.probing = false
	}
}

// record takes the outcome of an admitted delivery.
func (b *breaker) record(tk ticket, err error, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if tk.generation != b.generation {
		return
	}
	failed := IsFailure(err)
	switch b.state {
	case HalfOpen:
		if !tk.probe {
			return
		}
		if failed {
			b.setState(Open, now)
		} else {
			b.setState(Closed, now)
		}
	case Closed:
		if !failed {
			b.failures = 0
			return
		}
		b.failures++
		if b.failures >= b.threshold {
			b.setState(Open, now)
		}
	}
}

// reconfigure resets the breaker when the target's address or credentials
// changed: the failures were those of the old configuration.
func (b *breaker) reconfigure(fp string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if fp == b.fingerprint {
		return
	}
	b.fingerprint = fp
	b.failures = 0
	if b.state != Closed {
		b.setState(Closed, time.Time{})
	} else {
		b.generation++
	}
}

func quote(s string) string { return "\"" + s + "\"" }
