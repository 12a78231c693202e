package guard

import (
	"math"
	"time"
)

// limiter spaces deliveries to one receiver: a virtual schedule where each
// slot is one interval after the previous one, with up to burst slots
// allowed to catch up with the present (the generic cell rate algorithm).
// Slots are reserved in order, so deferred deliveries come back one after
// another instead of all at once.
//
// A receiver's own throttling (429, 503 with Retry-After) pauses the
// schedule for the time it asked, and it also sets a learned rate: half
// the rate it was just taking (at most the configured limit), raised again
// by half every quiet period until it no longer binds.
type limiter struct {
	limit Limit

	next        time.Time // the schedule's theoretical arrival time
	reserved    time.Time // next as the last reservation left it
	undo        time.Time // next before the last reservation
	pausedUntil time.Time

	learned      float64 // deliveries per second; 0 = none
	lastThrottle time.Time
	lastRaise    time.Time

	// admissions in the current and the previous second, to estimate the
	// rate the receiver was taking when it pushed back.
	windowStart   time.Time
	windowCount   int
	previousCount int
}

// Learned-rate bounds.
const (
	minLearnedRate = 0.2
	raiseAfter     = 5 * time.Second
	raiseFactor    = 1.5
	// learned rates above this are dropped: the receiver takes it all.
	maxLearnedRate = 1000
)

func (l *limiter) configure(want Limit) {
	if l.limit != want {
		// A new limit applies at once, from a fresh schedule.
		l.limit, l.next = want, time.Time{}
	}
}

// perSecond is the rate in force (0 = unlimited).
func (l *limiter) perSecond() float64 {
	r := l.limit.PerSecond
	if l.learned > 0 && (r == 0 || l.learned < r) {
		r = l.learned
	}
	return r
}

func (l *limiter) burst() int {
	if l.learned > 0 && (l.limit.PerSecond == 0 || l.learned < l.limit.PerSecond) {
		return 1
	}
	return max(1, l.limit.Burst)
}

// reserve returns the time of the next slot and takes it. next is the
// schedule's theoretical arrival time: a slot is free once next is at most
// burst-1 intervals ahead of it.
func (l *limiter) reserve(now time.Time) time.Time {
	l.count(now)
	l.maybeRaise(now)
	at := now
	if at.Before(l.pausedUntil) {
		at = l.pausedUntil
	}
	r := l.perSecond()
	if r <= 0 {
		return at
	}
	interval := time.Duration(float64(time.Second) / r)
	tat := l.next
	if tat.Before(now) {
		tat = now
	}
	if allowed := tat.Add(-time.Duration(l.burst()-1) * interval); allowed.After(at) {
		at = allowed
	}
	if at.After(tat) {
		tat = at
	}
	l.undo = l.next
	l.next = tat.Add(interval)
	l.reserved = l.next
	return at
}

// cancel gives back the slot at, when it is the last one reserved.
func (l *limiter) cancel(time.Time) {
	if !l.reserved.IsZero() && l.next.Equal(l.reserved) {
		l.next, l.reserved = l.undo, time.Time{}
	}
}

// throttled applies a receiver's pushback: pause for the Retry-After it
// gave, if any, and learn a rate below the one it was taking. A configured
// limit is a ceiling, not a promise of the receiver: one that pushes back
// under it gets a learned rate too. A pushback to a delivery scheduled
// (basis) before the last pushback answers the pace from before it: it
// pauses but does not lower the rate again.
func (l *limiter) throttled(now time.Time, retryAfter time.Duration, basis time.Time) {
	if until := now.Add(retryAfter); retryAfter > 0 && until.After(l.pausedUntil) {
		l.pausedUntil = until
	}
	l.lastRaise = now
	if !l.lastThrottle.IsZero() && !basis.After(l.lastThrottle) {
		return
	}
	l.lastThrottle = now
	taking := l.takingRate(now)
	if l.limit.PerSecond > 0 {
		taking = math.Min(taking, l.limit.PerSecond)
	}
	switch {
	case l.learned > 0:
		l.learned = math.Max(minLearnedRate, l.learned/2)
	default:
		l.learned = math.Max(minLearnedRate, taking/2)
	}
}

// takingRate estimates the rate the receiver was just taking: the
// admissions of the previous second, or those of the current one over the
// part of it that has passed (at least a quarter second), whichever is
// higher. A storm that has only begun is not mistaken for a trickle.
func (l *limiter) takingRate(now time.Time) float64 {
	elapsed := max(now.Sub(l.windowStart).Seconds(), 0.25)
	return math.Max(float64(l.previousCount), float64(l.windowCount)/math.Min(elapsed, 1))
}

func (l *limiter) maybeRaise(now time.Time) {
	if l.learned <= 0 || now.Sub(l.lastRaise) < raiseAfter || now.Sub(l.lastThrottle) < raiseAfter {
		return
	}
	l.lastRaise = now
	l.learned *= raiseFactor
	if l.learned > maxLearnedRate || (l.limit.PerSecond > 0 && l.learned >= l.limit.PerSecond) {
		l.learned = 0
	}
}

func (l *limiter) count(now time.Time) {
	switch {
	case now.Sub(l.windowStart) >= 2*time.Second:
		l.windowStart, l.previousCount, l.windowCount = now, 0, 0
	case now.Sub(l.windowStart) >= time.Second:
		l.windowStart, l.previousCount, l.windowCount = l.windowStart.Add(time.Second), l.windowCount, 0
	}
	l.windowCount++
}
