package guard_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/target"
)

// slow is a target with a slot every 10 seconds: the second delivery in a
// row is deferred by 10s.
func slow() target.Target {
	return target.Target{Name: "slow", Type: "webhook", URL: "https://example.com/slow",
		RateLimit: &target.RateLimitSpec{PerSecond: 0.1, Burst: 1}}
}

// Admission.Waited is the wait a delivery really felt, from its first
// rate-limited Admit to its admission, deferrals included: the workflow's
// sleep between a deferral and the delivery's return is delay too, and
// herald_rate_limit_wait_seconds (and HeraldRateLimitWaitHigh) must see it.
func TestAdmitMeasuresTheWholeWait(t *testing.T) {
	for _, tc := range []struct {
		name string
		// run returns the admission of the delivery under test, and the
		// least and the most it may report as waited.
		run func(t *testing.T, clk *clock, g *guard.Guard) (ad guard.Admission, least, most time.Duration)
	}{
		{"admitted at once: no wait", func(t *testing.T, _ *clock, g *guard.Guard) (guard.Admission, time.Duration, time.Duration) {
			return admit(t, g, slow(), ""), 0, 0
		}},
		{"deferred, then admitted with its ticket: the deferral counts", func(t *testing.T, clk *clock, g *guard.Guard) (guard.Admission, time.Duration, time.Duration) {
			admit(t, g, slow(), "").Done(nil)
			d := mustDefer(t, g, "")
			clk.Advance(d.Delay)
			return admit(t, g, slow(), d.Ticket), d.Delay, d.Delay
		}},
		{"deferred twice (back too early): measured from the first ask", func(t *testing.T, clk *clock, g *guard.Guard) (guard.Admission, time.Duration, time.Duration) {
			admit(t, g, slow(), "").Done(nil)
			first := mustDefer(t, g, "")
			clk.Advance(3 * time.Second)
			again := mustDefer(t, g, first.Ticket)
			clk.Advance(again.Delay)
			return admit(t, g, slow(), again.Ticket), first.Delay, first.Delay
		}},
		{"a ticket of another worker still carries its first ask", func(t *testing.T, clk *clock, g *guard.Guard) (guard.Admission, time.Duration, time.Duration) {
			other := guard.New(guard.Options{Now: clk.Now, InlineWait: 10 * time.Millisecond})
			admit(t, other, slow(), "").Done(nil)
			d := mustDefer(t, other, "")
			clk.Advance(d.Delay)
			// g holds no reservation for it, and its own slot is free.
			return admit(t, g, slow(), d.Ticket), d.Delay, d.Delay
		}},
		{"a ticket of an earlier version (no time in it): measured from now", func(t *testing.T, _ *clock, g *guard.Guard) (guard.Admission, time.Duration, time.Duration) {
			return admit(t, g, slow(), "target/slow#7"), 0, 0
		}},
		{"a ticket with a time in the future: no negative wait", func(t *testing.T, clk *clock, g *guard.Guard) (guard.Admission, time.Duration, time.Duration) {
			future := clk.Now().Add(time.Hour).UnixMilli()
			return admit(t, g, slow(), "target/slow#7@"+strconv.FormatInt(future, 10)), 0, 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			g := guard.New(guard.Options{Now: clk.Now, InlineWait: 10 * time.Millisecond})
			ad, least, most := tc.run(t, clk, g)
			if ad.Deferred() {
				t.Fatalf("the delivery under test was deferred: %+v", ad)
			}
			if ad.Waited < least || ad.Waited > most+time.Millisecond {
				t.Errorf("Waited = %v, want between %v and %v", ad.Waited, least, most)
			}
		})
	}
}

// An inline wait (shorter than InlineWait) is measured on the real clock,
// as before deferrals existed.
func TestAdmitMeasuresTheInlineWait(t *testing.T) {
	g := guard.New(guard.Options{})
	tg := target.Target{Name: "ten", Type: "webhook", URL: "https://example.com/ten",
		RateLimit: &target.RateLimitSpec{PerSecond: 10, Burst: 1}}
	admit(t, g, tg, "").Done(nil)
	start := time.Now()
	ad := admit(t, g, tg, "")
	if ad.Deferred() {
		t.Fatalf("a 100ms slot was deferred: %+v", ad)
	}
	if elapsed := time.Since(start); ad.Waited < 50*time.Millisecond || ad.Waited > elapsed {
		t.Errorf("Waited = %v after an inline wait of %v, want about 100ms", ad.Waited, elapsed)
	}
}

func mustDefer(t *testing.T, g *guard.Guard, ticket string) guard.Admission {
	t.Helper()
	ad, err := g.Admit(context.Background(), slow(), guard.Request{Ticket: ticket, Defer: true})
	if err != nil || !ad.Deferred() || ad.Ticket == "" {
		t.Fatalf("Admit(ticket %q) = %+v, %v; want a deferral with a ticket", ticket, ad, err)
	}
	return ad
}
