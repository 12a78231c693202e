// Package cli implements the command lines of the worker and starter
// binaries, so the mains stay tiny and the commands are testable.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/codec"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/history"
	"github.com/herald-alerts/herald/workflows"
)

const workerUsage = `Usage: worker [command] [flags]

Commands:
  run      (default) run the Temporal worker against HERALD_TEMPORAL_ADDRESS
  dev      run everything in one process: embedded Temporal server and Web UI
           (unless HERALD_TEMPORAL_ADDRESS is set), worker and starter
  export   write a workflow's history as JSON: export -workflow-id ID [-run-id R] -out FILE
  replay   replay history JSON files against this build: replay -history FILE [FILE...]
           (-encryption-key-file, env HERALD_ENCRYPTION_KEY_FILE, for encrypted histories)
  alerts   list and show alerts through a running Herald's API: alerts list | get FINGERPRINT
  dlq      dead letters: dlq list | get ID | replay ID | replay-all | drop ID | purge --older-than D
  targets  targets and their health: targets list | check NAME
           (alerts, dlq, targets: --api-url, env HERALD_API_URL, default http://127.0.0.1:8080;
           admin token from HERALD_ADMIN_TOKEN; --json; see "worker dlq help" and docs/cli.md)

Flags of run and dev (each also read from its environment variable):
`

// DevFunc runs the all-in-one local mode (internal/app/dev.Run). It is
// passed in by the worker main so that only the worker binary links the
// embedded Temporal server.
type DevFunc func(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error

// Worker runs the worker command line and returns the exit code.
func Worker(ctx context.Context, args []string, stdout, stderr io.Writer, devRun DevFunc) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run", "dev":
		cfg, err := config.LoadWithUsage("worker "+cmd, workerUsage, args, os.Getenv, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return 0 // the usage, then the flags, went to stderr
		}
		if err != nil {
			fmt.Fprintln(stderr, "worker:", err)
			return 2
		}
		log := cfg.Logger(stderr)
		if cmd == "dev" {
			err = devRun(ctx, cfg, log, stdout)
		} else {
			err = app.RunWorker(ctx, cfg, log)
		}
		if err != nil {
			log.Error("worker failed", "error", err)
			return 1
		}
		return 0
	case "export":
		return export(ctx, args, stdout, stderr)
	case "replay":
		return replay(args, stdout, stderr)
	case "alerts", "dlq", "targets":
		return Operator(ctx, cmd, args, stdout, stderr)
	case "help", "-h", "--help":
		// The same text as `worker run --help`: the commands, then the flags.
		_, _ = config.LoadWithUsage("worker", workerUsage, []string{"-h"}, os.Getenv, stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "worker: unknown command %q\n\n", cmd)
		_, _ = config.LoadWithUsage("worker", workerUsage, []string{"-h"}, os.Getenv, stderr)
		return 2
	}
}

// Starter runs the starter command line and returns the exit code.
func Starter(ctx context.Context, args []string, _, stderr io.Writer) int {
	cfg, err := config.Load("starter", args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "starter:", err)
		return 2
	}
	log := cfg.Logger(stderr)
	if err := app.RunStarter(ctx, cfg, log); err != nil {
		log.Error("starter failed", "error", err)
		return 1
	}
	return 0
}

func export(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("workflow-id", "", "workflow ID (alert workflows: alert-<fingerprint>)")
	runID := fs.String("run-id", "", "run ID (default: latest run)")
	out := fs.String("out", "", "output file (JSON)")
	addr := fs.String("temporal-address", envOr("HERALD_TEMPORAL_ADDRESS", "127.0.0.1:7233"), "Temporal frontend (env HERALD_TEMPORAL_ADDRESS)")
	ns := fs.String("temporal-namespace", envOr("HERALD_TEMPORAL_NAMESPACE", "default"), "namespace (env HERALD_TEMPORAL_NAMESPACE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *id == "" || *out == "" {
		fmt.Fprintln(stderr, "worker export: -workflow-id and -out are required")
		return 2
	}
	cfg := config.Config{TemporalNamespace: *ns, LogLevel: "warn", LogFormat: "text"}
	c, closeClient, err := app.Dial(cfg, *addr, nil, cfg.Logger(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "worker export:", err)
		return 1
	}
	defer closeClient()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := history.Export(ctx, c, *id, *runID, *out)
	if err != nil {
		fmt.Fprintln(stderr, "worker export:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %d events of %s to %s\n", n, *id, *out)
	if h, err := history.ReadFile(*out); err == nil {
		fmt.Fprintf(stdout, "cost: %s\n", history.CostOf(h))
	}
	return 0
}

func replay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files multiFlag
	fs.Var(&files, "history", "history JSON file (repeatable; further files may follow as arguments)")
	keyFile := fs.String("encryption-key-file", os.Getenv("HERALD_ENCRYPTION_KEY_FILE"),
		"key file of the Herald that wrote encrypted histories (env HERALD_ENCRYPTION_KEY_FILE)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	files = append(files, fs.Args()...)
	if len(files) == 0 {
		fmt.Fprintln(stderr, "worker replay: give at least one -history FILE")
		return 2
	}
	var opts history.ReplayOptions
	if *keyFile != "" {
		keys, err := codec.LoadFile(*keyFile)
		if err != nil {
			fmt.Fprintln(stderr, "worker replay:", err)
			return 2
		}
		opts.DataConverter = keys.DataConverter()
		opts.FailureConverter = codec.FailureConverter(opts.DataConverter)
	}
	for _, f := range files {
		if err := history.ReplayWith(opts, workflows.Register, f); err != nil {
			fmt.Fprintln(stderr, "worker replay:", err)
			if *keyFile == "" {
				fmt.Fprintln(stderr, "worker replay: if the history's payloads are encrypted, give -encryption-key-file")
			}
			return 1
		}
		fmt.Fprintf(stdout, "ok %s\n", f)
	}
	return 0
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
