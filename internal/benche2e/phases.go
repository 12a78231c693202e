package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// usageWindow measures the CPU time and peak RSS of Herald and Alertmanager
// over one phase.
type usageWindow struct {
	start            time.Time
	heraldCPU, amCPU float64
	heraldRSS, amRSS *rssSampler
	heraldPID, amPID int
}

type usage struct {
	wall                time.Duration
	heraldCPU, amCPU    float64 // seconds of user+system time
	heraldRSSKB, amRSSK int64
}

func (b *bench) startUsage() *usageWindow {
	w := &usageWindow{start: time.Now(), heraldPID: b.herald.pid(), amPID: b.am.pid()}
	w.heraldCPU, _ = cpuSeconds(w.heraldPID)
	w.amCPU, _ = cpuSeconds(w.amPID)
	w.heraldRSS = sampleRSS(w.heraldPID, 250*time.Millisecond)
	w.amRSS = sampleRSS(w.amPID, 250*time.Millisecond)
	return w
}

func (w *usageWindow) stop() usage {
	u := usage{wall: time.Since(w.start), heraldRSSKB: w.heraldRSS.stop(), amRSSK: w.amRSS.stop()}
	if c, err := cpuSeconds(w.heraldPID); err == nil {
		u.heraldCPU = c - w.heraldCPU
	}
	if c, err := cpuSeconds(w.amPID); err == nil {
		u.amCPU = c - w.amCPU
	}
	return u
}

func fmtCPU(sec float64, wall time.Duration) string {
	if wall <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fs (%.0f%%)", sec, 100*sec/wall.Seconds())
}

func fmtMB(kb int64) string {
	if kb <= 0 {
		return "—"
	}
	return fmt.Sprintf("%d MB", (kb+512)/1024)
}

func (b *bench) heraldPaths() []string { return b.herald.targets }

// waitDelivered waits until want deliveries of ids arrived on paths, or
// timeout passes. It returns how long it waited.
func (b *bench) waitDelivered(ctx context.Context, paths, ids []string, want int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for b.recv.count(paths, ids) < want && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pathResult is one row of the table.
type pathResult struct {
	delivered, expected int
	dups                int
	e2e                 percentiles
}

func (b *bench) pathResult(paths, ids []string) pathResult {
	var all []delivery
	for _, p := range paths {
		all = append(all, b.recv.collect(p, ids)...)
	}
	return pathResult{delivered: len(all), expected: len(paths) * len(ids), dups: b.recv.duplicates(paths), e2e: summarize(latencies(all))}
}

// fingerprints of ids as Herald's first target saw them.
func (b *bench) fingerprints(ids []string) []string {
	var fps []string
	for _, d := range b.recv.collect(b.heraldPaths()[0], ids) {
		if d.fingerprint != "" {
			fps = append(fps, d.fingerprint)
		}
	}
	return fps
}

// warmUp sends a few alerts through Alertmanager and waits for them on both
// paths: the pipeline works, and the first workflows are not measured.
func (b *bench) warmUp(ctx context.Context) error {
	if b.opts.warmup <= 0 || len(b.opts.rates) == 0 {
		return nil
	}
	ids := phaseIDs("warmup", b.opts.warmup)
	res := generate(ctx, b.client, b.amURL, "warmup", ids, 2)
	if res.errors > 0 {
		return fmt.Errorf("warm-up: posting to alertmanager: %v", res.firstErr)
	}
	paths := append([]string{directPath}, b.heraldPaths()...)
	want := len(ids) * len(paths)
	b.waitDelivered(ctx, paths, ids, want, time.Minute)
	if got := b.recv.count(paths, ids); got < want {
		return fmt.Errorf("warm-up: %d of %d deliveries within 1m (direct %d of %d); herald log:\n%s",
			got, want, b.recv.count([]string{directPath}, ids), len(ids), b.herald.tail(30))
	}
	fmt.Fprintf(b.out, "warm-up: %d alerts delivered on both paths\n", len(ids))
	return nil
}

// rateResult is one constant-rate phase.
type rateResult struct {
	rate          int
	alerts        int
	send          sendResult
	direct        pathResult
	herald        pathResult
	ack           percentiles
	refusals      string
	use           usage
	hist          historyStats
	drainTook     time.Duration
	drainComplete bool
}

func (b *bench) runRate(ctx context.Context, idx, rate int) (rateResult, error) {
	phase := fmt.Sprintf("r%d", idx)
	n := int(float64(rate) * b.opts.duration.Seconds())
	ids := phaseIDs(phase, n)
	fmt.Fprintf(b.out, "\n%d alerts/s for %s (%d alerts) ...\n", rate, b.opts.duration, n)
	w := b.startUsage()
	send := generate(ctx, b.client, b.amURL, phase, ids, rate)
	drainStart := time.Now()
	paths := append([]string{directPath}, b.heraldPaths()...)
	want := n * len(paths)
	b.waitDelivered(ctx, paths, ids, want, b.opts.drain)
	r := rateResult{rate: rate, alerts: n, send: send, drainTook: time.Since(drainStart)}
	r.use = w.stop()
	r.drainComplete = b.recv.count(paths, ids) == want
	if err := ctx.Err(); err != nil {
		return r, err
	}
	r.direct = b.pathResult([]string{directPath}, ids)
	r.herald = b.pathResult(b.heraldPaths(), ids)
	acks := b.acks.phase(phase)
	r.ack, r.refusals = summarize(acks), b.acks.refusals(phase)
	r.hist = sampleHistories(ctx, b.temporal, b.fingerprints(ids), b.opts.histSample)
	return r, nil
}

const tableHeader = "rate\tpath\tdelivered\te2e p50\tp90\tp99\tmax\tack p50\tack p99\tHerald CPU\tHerald max RSS"

func (r rateResult) rows() [2]string {
	d, h := r.direct, r.herald
	return [2]string{
		fmt.Sprintf("%d/s\tAlertmanager → receiver\t%d/%d\t%s\t%s\t%s\t%s\t—\t—\t—\t—", r.rate,
			d.delivered, d.expected, fmtDur(d.e2e.p50, d.e2e.n), fmtDur(d.e2e.p90, d.e2e.n), fmtDur(d.e2e.p99, d.e2e.n), fmtDur(d.e2e.max, d.e2e.n)),
		fmt.Sprintf("%d/s\tAlertmanager → Herald → %d targets\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", r.rate, h.expected/max(1, r.alerts),
			h.delivered, h.expected, fmtDur(h.e2e.p50, h.e2e.n), fmtDur(h.e2e.p90, h.e2e.n), fmtDur(h.e2e.p99, h.e2e.n), fmtDur(h.e2e.max, h.e2e.n),
			fmtDur(r.ack.p50, r.ack.n), fmtDur(r.ack.p99, r.ack.n), fmtCPU(r.use.heraldCPU, r.use.wall), fmtMB(r.use.heraldRSSKB)),
	}
}

func (r rateResult) notes() []string {
	p50 := func(p percentiles) time.Duration { return p.p50 }
	p99 := func(p percentiles) time.Duration { return p.p99 }
	notes := []string{
		fmt.Sprintf("Herald/Alertmanager e2e: p50 %s, p99 %s", ratio(r.herald.e2e, r.direct.e2e, p50), ratio(r.herald.e2e, r.direct.e2e, p99)),
		fmt.Sprintf("sent %d in %s (generator lag max %s, %d errors); window %s incl. drain %s%s",
			r.send.sent, r.send.took.Round(time.Millisecond), r.send.maxLag.Round(time.Millisecond), r.send.errors,
			r.use.wall.Round(100*time.Millisecond), r.drainTook.Round(100*time.Millisecond), map[bool]string{true: " (all delivered)", false: " (drain ended)"}[r.drainComplete]),
		fmt.Sprintf("Herald webhook: %d acks; refused or failed: %s; duplicates seen: direct %d, Herald %d", r.ack.n, r.refusals, r.direct.dups, r.herald.dups),
		fmt.Sprintf("Alertmanager CPU %s, max RSS %s", fmtCPU(r.use.amCPU, r.use.wall), fmtMB(r.use.amRSSK)),
		r.hist.String(),
	}
	if r.send.firstErr != nil {
		notes = append(notes, "first send error: "+r.send.firstErr.Error())
	}
	return notes
}

func (r rateResult) print(out io.Writer, targets int) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, tableHeader)
	for _, row := range r.rows() {
		fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
	for _, n := range r.notes() {
		fmt.Fprintln(out, "  "+n)
	}
}

// printSummary prints all phases as one Markdown table, ready for
// docs/performance.md.
func printSummary(out io.Writer, opts options, results []rateResult, extra []string) {
	fmt.Fprintln(out, "\n## summary")
	if len(results) > 0 {
		md := func(s string) string { return "| " + strings.ReplaceAll(s, "\t", " | ") + " |" }
		fmt.Fprintln(out, md(tableHeader+"\tevents/alert\tratio e2e p50\tratio e2e p99"))
		fmt.Fprintln(out, md(strings.Repeat("---\t", 13)+"---"))
		p50 := func(p percentiles) time.Duration { return p.p50 }
		p99 := func(p percentiles) time.Duration { return p.p99 }
		for _, r := range results {
			rows := r.rows()
			ev := "—"
			if r.hist.sampled > 0 {
				ev = fmt.Sprintf("%.1f", r.hist.events)
			}
			fmt.Fprintln(out, md(rows[0]+"\t—\t\t"))
			fmt.Fprintln(out, md(rows[1]+"\t"+ev+"\t"+ratio(r.herald.e2e, r.direct.e2e, p50)+"\t"+ratio(r.herald.e2e, r.direct.e2e, p99)))
		}
		fmt.Fprintf(out, "\n(%s per rate, drain %s; herald %s; e2e = arrival at the receiver − send time at the load generator; ack = Herald's answer to Alertmanager's webhook)\n", opts.duration, opts.drain, settings(opts.heraldEnv))
	}
	for _, e := range extra {
		fmt.Fprintln(out, e)
	}
}

// burstResult is the -burst phase.
type burstResult struct {
	webhooks, size, targets int
	refusals                string
	accepted                time.Duration // until the last webhook was accepted
	delivered               time.Duration // until the last delivery (or the timeout)
	path                    pathResult
	ack                     percentiles
	use                     usage
	hist                    historyStats
}

func (r burstResult) String() string {
	state := fmt.Sprintf("fully delivered in %s", r.delivered.Round(10*time.Millisecond))
	if r.path.delivered < r.path.expected {
		state = fmt.Sprintf("NOT fully delivered within %s", r.delivered.Round(time.Second))
	}
	return fmt.Sprintf("burst: %d webhooks × %d alerts straight to Herald (%d targets): all accepted in %s (refusals retried: %s), %s; delivered %d/%d; e2e p50 %s p99 %s max %s; ack p50 %s p99 %s; Herald CPU %s, max RSS %s\n  %s",
		r.webhooks, r.size, r.targets, r.accepted.Round(10*time.Millisecond), r.refusals, state, r.path.delivered, r.path.expected,
		fmtDur(r.path.e2e.p50, r.path.e2e.n), fmtDur(r.path.e2e.p99, r.path.e2e.n), fmtDur(r.path.e2e.max, r.path.e2e.n),
		fmtDur(r.ack.p50, r.ack.n), fmtDur(r.ack.p99, r.ack.n), fmtCPU(r.use.heraldCPU, r.use.wall), fmtMB(r.use.heraldRSSKB), r.hist)
}

func (b *bench) runBurst(ctx context.Context) (burstResult, error) {
	const phase = "burst"
	o := b.opts
	fmt.Fprintf(b.out, "\nburst: %d webhooks of %d alerts, %d senders ...\n", o.burstHooks, o.burstSize, o.burstPar)
	all := phaseIDs(phase, o.burstHooks*o.burstSize)
	r := burstResult{webhooks: o.burstHooks, size: o.burstSize, targets: o.targets}
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	w := b.startUsage()
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, o.burstTimeout)
	defer cancel()
	for range o.burstPar {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				body := webhookBody(phase, all[i*o.burstSize:(i+1)*o.burstSize], time.Now())
				if err := postWebhook(sctx, b.client, b.herald.base+"/webhook", phase, body, b.acks); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range o.burstHooks {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	r.accepted = time.Since(start)
	if firstErr != nil {
		w.stop()
		return r, fmt.Errorf("burst: %w", firstErr)
	}
	b.waitDelivered(ctx, b.heraldPaths(), all, len(all)*o.targets, o.burstTimeout-time.Since(start))
	r.delivered = time.Since(start)
	r.use = w.stop()
	r.path = b.pathResult(b.heraldPaths(), all)
	acks := b.acks.phase(phase)
	r.ack, r.refusals = summarize(acks), b.acks.refusals(phase)
	r.hist = sampleHistories(ctx, b.temporal, b.fingerprints(all), o.histSample)
	return r, ctx.Err()
}

// ack10Result is the -ack10 phase.
type ack10Result struct {
	n        int
	ack      percentiles
	refusals string
	path     pathResult
}

func (r ack10Result) String() string {
	return fmt.Sprintf("ack10: %d webhooks of 10 alerts straight to Herald, one after another: ack p50 %s p90 %s p99 %s max %s (refusals retried: %s); delivered %d/%d, e2e p50 %s p99 %s",
		r.n, fmtDur(r.ack.p50, r.ack.n), fmtDur(r.ack.p90, r.ack.n), fmtDur(r.ack.p99, r.ack.n), fmtDur(r.ack.max, r.ack.n), r.refusals,
		r.path.delivered, r.path.expected, fmtDur(r.path.e2e.p50, r.path.e2e.n), fmtDur(r.path.e2e.p99, r.path.e2e.n))
}

func (b *bench) runAck10(ctx context.Context) (ack10Result, error) {
	const phase, size = "ack10", 10
	fmt.Fprintf(b.out, "\nack10: %d webhooks of %d alerts, sequential ...\n", b.opts.ack10N, size)
	all := phaseIDs(phase, b.opts.ack10N*size)
	r := ack10Result{n: b.opts.ack10N}
	for i := range b.opts.ack10N {
		body := webhookBody(phase, all[i*size:(i+1)*size], time.Now())
		if err := postWebhook(ctx, b.client, b.herald.base+"/webhook", phase, body, b.acks); err != nil {
			return r, fmt.Errorf("ack10: %w", err)
		}
	}
	acks := b.acks.phase(phase)
	r.ack, r.refusals = summarize(acks), b.acks.refusals(phase)
	b.waitDelivered(ctx, b.heraldPaths(), all, len(all)*b.opts.targets, b.opts.drain)
	r.path = b.pathResult(b.heraldPaths(), all)
	return r, ctx.Err()
}
