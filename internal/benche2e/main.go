// Command benche2e is the side-by-side load run of `make bench-e2e`.
//
// In one run it starts a Go receiver (in this process), Herald (`worker dev`
// with a fresh data directory, defaults otherwise, and N webhook targets on
// the receiver) and a real Alertmanager that routes every generated alert
// both straight to the receiver and to Herald's /webhook (through a thin
// proxy here that times Herald's acknowledgements). It posts one new alert
// per request to Alertmanager at constant arrival rates and prints, per
// rate and path: delivered/expected, end-to-end latency percentiles
// (arrival at the receiver − the sent_at annotation), Herald's webhook
// acknowledgement percentiles, Herald's CPU and peak RSS, and the history
// length of a sample of alert workflows.
//
// -burst posts webhooks of many alerts straight to Herald as fast as they
// are accepted and reports the time to full delivery; -ack10 posts 10-alert
// webhooks sequentially and reports the acknowledgement percentiles.
//
// -herald-env KEY=VAL[,KEY=VAL...] (repeatable) adds environment variables
// to `worker dev`, so that a run measures one setting alone, e.g.
// -herald-env HERALD_ENGINE_SHARD_IO_CONCURRENCY=4.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
)

type options struct {
	rates        []int
	ratesSet     bool
	duration     time.Duration
	drain        time.Duration
	targets      int
	warmup       int
	burst        bool
	burstHooks   int
	burstSize    int
	burstPar     int
	burstTimeout time.Duration
	ack10        bool
	ack10N       int
	worker       string
	alertmanager string
	amGroupInt   time.Duration
	histSample   int
	keep         bool
	heraldEnv    envList
}

// envList is the value of -herald-env: KEY=VAL entries, given comma-separated
// or with the flag repeated. A comma-separated piece without "=" continues
// the value before it (HERALD_CODEC_ORIGINS=http://a,http://b).
type envList []string

func (e *envList) String() string { return strings.Join(*e, ",") }

func (e *envList) Set(v string) error {
	first := true
	for _, piece := range strings.Split(v, ",") {
		if strings.TrimSpace(piece) == "" {
			continue
		}
		key, _, hasEq := strings.Cut(piece, "=")
		switch {
		case hasEq && strings.TrimSpace(key) != "" && !strings.ContainsAny(key, " \t"):
			*e = append(*e, piece)
		case !first && len(*e) > 0:
			(*e)[len(*e)-1] += "," + piece
		default:
			return fmt.Errorf("%q is not KEY=VAL", piece)
		}
		first = false
	}
	return nil
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("benche2e", flag.ContinueOnError)
	fs.SetOutput(out)
	rates := fs.String("rates", "20,50,100", "comma-separated arrival rates (alerts per second) through Alertmanager")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long each rate is sent")
	fs.DurationVar(&o.drain, "drain", 15*time.Second, "how long after the last alert of a rate deliveries are waited for")
	fs.IntVar(&o.targets, "targets", 3, "webhook targets Herald delivers each alert to (all on the receiver)")
	fs.IntVar(&o.warmup, "warmup", 3, "alerts sent (and waited for on both paths) before measuring")
	fs.BoolVar(&o.burst, "burst", false, "post -burst-webhooks webhooks of -burst-size alerts straight to Herald as fast as they are accepted; report the time to full delivery")
	fs.IntVar(&o.burstHooks, "burst-webhooks", 100, "webhooks of the burst")
	fs.IntVar(&o.burstSize, "burst-size", 10, "alerts per burst webhook")
	fs.IntVar(&o.burstPar, "burst-parallel", 10, "concurrent senders of the burst")
	fs.DurationVar(&o.burstTimeout, "burst-timeout", 2*time.Minute, "how long burst deliveries are waited for")
	fs.BoolVar(&o.ack10, "ack10", false, "post -ack10-n webhooks of 10 alerts straight to Herald, one after another; report the acknowledgement percentiles")
	fs.IntVar(&o.ack10N, "ack10-n", 100, "webhooks of the -ack10 run")
	fs.StringVar(&o.worker, "worker", "bin/worker", "the Herald worker binary (run as `worker dev`)")
	fs.StringVar(&o.alertmanager, "alertmanager", "", "Alertmanager binary (default: prometheus-alertmanager or alertmanager in PATH)")
	fs.DurationVar(&o.amGroupInt, "am-group-interval", 30*time.Second, "Alertmanager group_interval (also its notification timeout; it does not delay a new alert's first notification)")
	fs.IntVar(&o.histSample, "history-sample", 10, "alert workflows per rate whose history length is read (0: none)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (configs, logs, Herald's data) after the run")
	fs.Var(&o.heraldEnv, "herald-env", "KEY=VAL[,KEY=VAL...] environment of `worker dev` on top of the harness's own (repeatable), e.g. HERALD_ENGINE_SHARD_IO_CONCURRENCY=4")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: benche2e [flags]\n\nRuns Alertmanager → receiver and Alertmanager → Herald → %s side by side.\n"+
			"With -burst or -ack10 only those run, unless -rates is given too.\n\n", "targets")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	fs.Visit(func(f *flag.Flag) { o.ratesSet = o.ratesSet || f.Name == "rates" })
	for _, s := range strings.Split(*rates, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		r, err := strconv.Atoi(s)
		if err != nil || r <= 0 {
			return o, fmt.Errorf("-rates: %q is not a positive integer", s)
		}
		o.rates = append(o.rates, r)
	}
	if (o.burst || o.ack10) && !o.ratesSet {
		o.rates = nil
	}
	switch {
	case o.duration <= 0:
		return o, errors.New("-duration must be positive")
	case o.targets < 1:
		return o, errors.New("-targets must be at least 1")
	case o.burstHooks < 1 || o.burstSize < 1 || o.burstPar < 1:
		return o, errors.New("-burst-webhooks, -burst-size and -burst-parallel must be at least 1")
	case o.ack10N < 1:
		return o, errors.New("-ack10-n must be at least 1")
	case o.amGroupInt <= 0:
		return o, errors.New("-am-group-interval must be positive")
	}
	return o, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benche2e:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benche2e:", err)
		os.Exit(1)
	}
}

// bench is one run: the processes and the instruments.
type bench struct {
	opts     options
	out      io.Writer
	client   *http.Client
	recv     *receiver
	recvURL  string
	acks     *ackLog
	herald   *herald
	am       *proc
	amURL    string
	temporal client.Client
}

func serve(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }, nil
}

func run(ctx context.Context, opts options, out io.Writer) error {
	amBin, err := findAlertmanager(opts.alertmanager)
	if err != nil {
		return err
	}
	if _, err := os.Stat(opts.worker); err != nil {
		return fmt.Errorf("herald worker binary: %w (run `make build` or pass -worker)", err)
	}
	dir, err := os.MkdirTemp("", "herald-bench-e2e-")
	if err != nil {
		return err
	}
	if opts.keep {
		defer fmt.Fprintf(out, "\nkept %s (configs, logs, Herald's data)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	transport := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
	b := &bench{opts: opts, out: out, recv: newReceiver(), acks: newAckLog(),
		client: &http.Client{Transport: transport, Timeout: time.Minute}}

	recvURL, stopRecv, err := serve(b.recv)
	if err != nil {
		return err
	}
	defer stopRecv()
	b.recvURL = recvURL

	printMachine(out, amBin, opts)
	fmt.Fprintf(out, "starting herald (%s dev) ...\n", opts.worker)
	started := time.Now()
	b.herald, err = startHerald(ctx, opts.worker, dir, recvURL, opts.targets, opts.heraldEnv)
	if err != nil {
		return err
	}
	defer b.herald.stop(30 * time.Second)
	fmt.Fprintf(out, "herald ready in %s at %s (temporal %s, pid %d)\n", time.Since(started).Round(100*time.Millisecond), b.herald.base, b.herald.frontendAddr, b.herald.pid())

	proxyURL, stopProxy, err := serve(&ackProxy{upstream: b.herald.base, client: b.client, log: b.acks})
	if err != nil {
		return err
	}
	defer stopProxy()
	b.am, b.amURL, err = startAlertmanager(ctx, amBin, dir, recvURL+"/"+directPath, proxyURL+"/webhook", opts.amGroupInt)
	if err != nil {
		return err
	}
	defer b.am.stop(10 * time.Second)
	fmt.Fprintf(out, "alertmanager ready at %s (pid %d)\n", b.amURL, b.am.pid())

	if b.temporal, err = dialTemporal(ctx, b.herald.frontendAddr); err != nil {
		fmt.Fprintf(out, "no history sampling: %v\n", err)
	} else {
		defer b.temporal.Close()
	}

	if err := b.warmUp(ctx); err != nil {
		return err
	}
	var results []rateResult
	for i, rate := range opts.rates {
		r, err := b.runRate(ctx, i, rate)
		if err != nil {
			return err
		}
		r.print(out, opts.targets)
		results = append(results, r)
	}
	var extra []string
	if opts.burst {
		r, err := b.runBurst(ctx)
		if err != nil {
			return err
		}
		extra = append(extra, r.String())
		fmt.Fprintln(out, "\n"+r.String())
	}
	if opts.ack10 {
		r, err := b.runAck10(ctx)
		if err != nil {
			return err
		}
		extra = append(extra, r.String())
		fmt.Fprintln(out, "\n"+r.String())
	}
	printSummary(out, opts, results, extra)
	return nil
}

func printMachine(out io.Writer, amBin string, opts options) {
	fmt.Fprintf(out, "machine: %s, %d CPUs, load average %s\n", cpuModel(), runtime.NumCPU(), loadAvg())
	fmt.Fprintf(out, "alertmanager: %s (%s), group_wait 0s, group_interval %s, group_by ['...']\n", alertmanagerVersion(amBin), amBin, opts.amGroupInt)
	fmt.Fprintf(out, "herald: %s dev, file store, %s, %d webhook targets\n", opts.worker, settings(opts.heraldEnv), opts.targets)
	if len(opts.rates) > 0 {
		fmt.Fprintf(out, "load: rates %v alerts/s, %s each, drain %s\n", opts.rates, opts.duration, opts.drain)
	}
}

// settings describes Herald's settings in a run: defaults, and the extra
// environment of -herald-env.
func settings(env envList) string {
	if len(env) == 0 {
		return "defaults"
	}
	return "defaults + env " + strings.Join(env, " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
