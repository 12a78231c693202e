package main

import (
	"fmt"
	"slices"
	"time"
)

// percentiles of a sample, by the nearest-rank method.
type percentiles struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func summarize(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return percentiles{n: len(s), p50: rank(s, 50), p90: rank(s, 90), p99: rank(s, 99), max: s[len(s)-1]}
}

// rank returns the nearest-rank p-th percentile of sorted s.
func rank(s []time.Duration, p int) time.Duration {
	// ceil(p/100 * n), 1-based.
	i := (p*len(s) + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}

func latencies(ds []delivery) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.latency
	}
	return out
}

// fmtDur prints a duration with about three significant digits; "—" when
// there is no sample.
func fmtDur(d time.Duration, n int) string {
	if n == 0 {
		return "—"
	}
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// ratio prints a/b as "×N" ("—" when either is missing).
func ratio(a, b percentiles, pick func(percentiles) time.Duration) string {
	if a.n == 0 || b.n == 0 || pick(b) <= 0 {
		return "—"
	}
	r := float64(pick(a)) / float64(pick(b))
	if r >= 10 {
		return fmt.Sprintf("×%.0f", r)
	}
	return fmt.Sprintf("×%.1f", r)
}
