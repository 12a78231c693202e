// Package dev runs all of Herald in one process for local use: an embedded
// Temporal server with its Web UI (unless an existing cluster is named),
// the worker and the starter.
package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/devserver"
	"github.com/herald-alerts/herald/workflows"
)

// Run starts everything and blocks until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	address, uiURL := cfg.TemporalAddress, ""
	if cfg.Embedded() {
		log.Info("starting embedded Temporal server", "data_dir", cfg.DataDir, "in_memory", cfg.InMemory)
		srv, err := devserver.Start(devserver.Config{
			FrontendPort:     cfg.TemporalPort,
			UIPort:           cfg.UIPort,
			DataDir:          cfg.DataDir,
			InMemory:         cfg.InMemory,
			Synchronous:      cfg.SQLiteSynchronous,
			Namespace:        cfg.TemporalNamespace,
			SearchAttributes: workflows.SearchAttributes,
			Logger:           log,
		})
		if err != nil {
			return fmt.Errorf("embedded temporal: %w", err)
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Warn("embedded temporal stop", "error", err)
			}
		}()
		address, uiURL = srv.FrontendAddress(), srv.UIURL()
	}

	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt, err := app.NewRuntime(rctx, cfg, log)
	if err != nil {
		return err
	}
	if err := rt.Connect(rctx, address); err != nil {
		cancel()
		rt.Close()
		return err
	}
	if _, err := rt.StartWorker(rctx); err != nil {
		cancel()
		rt.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		cancel()
		rt.Close()
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	printBanner(out, cfg, address, uiURL, ln.Addr().String())
	err = app.ServeListener(rctx, ln, rt.Handler(true), cfg.ShutdownTimeout, log)
	cancel()
	rt.Close()
	log.Info("herald stopped")
	return err
}

func printBanner(out io.Writer, cfg config.Config, temporalAddr, uiURL, httpAddr string) {
	base := "http://" + httpAddr
	fmt.Fprintf(out, "\nHerald is running (Ctrl-C stops it)\n")
	fmt.Fprintf(out, "  webhook      POST %s/webhook\n", base)
	fmt.Fprintf(out, "  API          %s/api/v1/targets  /api/v1/mode  /api/v1/alerts/{fingerprint}  /api/v1/dlq\n", base)
	fmt.Fprintf(out, "  health       %s/healthz  %s/readyz\n", base, base)
	fmt.Fprintf(out, "  metrics      %s/metrics\n", base)
	fmt.Fprintf(out, "  temporal     %s (namespace %s, task queue %s)\n", temporalAddr, cfg.TemporalNamespace, cfg.TaskQueue)
	if uiURL != "" {
		fmt.Fprintf(out, "  web UI       %s/namespaces/%s/workflows\n", uiURL, cfg.TemporalNamespace)
	}
	if cfg.Embedded() {
		if cfg.InMemory {
			fmt.Fprintf(out, "  state        in memory (lost on exit)\n")
		} else {
			abs, _ := filepath.Abs(cfg.DataDir)
			fmt.Fprintf(out, "  state        %s\n", abs)
		}
	}
	if cfg.TargetsFile != "" {
		fmt.Fprintf(out, "  targets      %s\n", cfg.TargetsFile)
	} else {
		fmt.Fprintf(out, "  targets      none configured: metrics-only mode (set HERALD_TARGETS_FILE)\n")
	}
	fmt.Fprintln(out)
}
