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
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/herald-alerts/herald/internal/app"
	"github.com/herald-alerts/herald/internal/codec"
	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/devserver"
)

// Run starts everything and blocks until ctx ends.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, out io.Writer) error {
	applyGC(cfg, os.Getenv, log)
	app.ServePprof(ctx, cfg.PprofAddr, log)
	// Listen first: the embedded Web UI is told the address of /codec.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	address, uiURL, visFile := cfg.TemporalAddress, cfg.TemporalUIURL, ""
	if cfg.Embedded() {
		engine := engineSettings(cfg)
		log.Info("starting embedded Temporal server", "data_dir", cfg.DataDir, "in_memory", cfg.InMemory,
			"visibility_store", engine.VisibilityStore, "shard_io_concurrency", engine.ShardIOConcurrency,
			"raise_rate_limits", engine.RaiseRateLimits, "sa_cache_force_refresh", !engine.NoForceSearchAttributesRefresh,
			"sqlite_synchronous", cfg.SQLiteSynchronous, "sqlite_cache_size", engine.SQLiteCacheSize, "sqlite_mmap_size", engine.SQLiteMmapSize)
		srv, err := devserver.Start(devserver.Config{
			FrontendPort:     cfg.TemporalPort,
			UIPort:           cfg.UIPort,
			DataDir:          cfg.DataDir,
			InMemory:         cfg.InMemory,
			Synchronous:      cfg.SQLiteSynchronous,
			Namespace:        cfg.TemporalNamespace,
			SearchAttributes: contract.SearchAttributes,
			Logger:           log,
			CodecEndpoint:    codecEndpoint(cfg, ln.Addr()),
			Engine:           engine,
		})
		if err != nil {
			return fmt.Errorf("embedded temporal: %w", err)
		}
		defer func() {
			if err := srv.Stop(); err != nil {
				log.Warn("embedded temporal stop", "error", err)
			}
		}()
		address, visFile = srv.FrontendAddress(), srv.VisibilityFile()
		if u := srv.UIURL(); u != "" {
			uiURL = u
			cfg.CodecOrigins = append(cfg.CodecOrigins, uiOrigins(uiURL)...)
		}
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
	printBanner(out, cfg, address, uiURL, visFile, ln.Addr().String())
	err = app.ServeListener(rctx, ln, rt.WithConsole(rt.Handler(true), uiURL), cfg.ShutdownTimeout, log)
	cancel()
	rt.Close()
	log.Info("herald stopped")
	return err
}

// engineSettings are the engine settings of the embedded server.
func engineSettings(cfg config.Config) devserver.Engine {
	return devserver.Engine{
		VisibilityStore:                cfg.EngineVisibilityStore,
		ShardIOConcurrency:             cfg.EngineShardIOConcurrency,
		RaiseRateLimits:                cfg.EngineRaiseRateLimits,
		SQLiteCacheSize:                cfg.SQLiteCacheSize,
		SQLiteMmapSize:                 cfg.SQLiteMmapSize,
		NoForceSearchAttributesRefresh: !cfg.EngineSACacheForceRefresh,
	}
}

// applyGC sets the garbage collector of this process from --engine-gogc and
// --engine-gomemlimit, unless GOGC / GOMEMLIMIT are in the environment (the
// Go runtime has applied those already, and they win).
func applyGC(cfg config.Config, getenv func(string) string, log *slog.Logger) {
	if pct, ok, _ := config.ParseGOGC(cfg.EngineGOGC); ok {
		if env := getenv("GOGC"); env != "" {
			log.Info("GOGC is set in the environment: --engine-gogc ignored", "GOGC", env, "engine_gogc", cfg.EngineGOGC)
		} else {
			debug.SetGCPercent(pct)
			log.Info("GC percent set", "gogc", cfg.EngineGOGC)
		}
	}
	if limit, ok, _ := config.ParseMemoryLimit(cfg.EngineGOMemLimit); ok {
		if env := getenv("GOMEMLIMIT"); env != "" {
			log.Info("GOMEMLIMIT is set in the environment: --engine-gomemlimit ignored", "GOMEMLIMIT", env, "engine_gomemlimit", cfg.EngineGOMemLimit)
		} else {
			debug.SetMemoryLimit(limit)
			log.Info("Go memory limit set", "gomemlimit", cfg.EngineGOMemLimit)
		}
	}
}

// codecEndpoint is the /codec URL a browser on this machine reaches, ""
// without encryption.
func codecEndpoint(cfg config.Config, addr net.Addr) string {
	if cfg.EncryptionKeyFile == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + codec.PathPrefix
}

// uiOrigins are the browser origins of the embedded Web UI.
func uiOrigins(uiURL string) []string {
	if uiURL == "" {
		return nil
	}
	return []string{uiURL, strings.Replace(uiURL, "127.0.0.1", "localhost", 1)}
}

func printBanner(out io.Writer, cfg config.Config, temporalAddr, uiURL, visFile, httpAddr string) {
	base := "http://" + httpAddr
	fmt.Fprintf(out, "\nHerald is running (Ctrl-C stops it)\n")
	fmt.Fprintf(out, "  webhook      POST %s/webhook\n", base)
	fmt.Fprintf(out, "  API          %s/api/v1/targets  /api/v1/mode  /api/v1/alerts/{fingerprint}  /api/v1/dlq\n", base)
	fmt.Fprintf(out, "  health       %s/healthz  %s/readyz\n", base, base)
	fmt.Fprintf(out, "  metrics      %s/metrics\n", base)
	fmt.Fprintf(out, "  console      %s/ui/\n", base)
	fmt.Fprintf(out, "  temporal     %s (namespace %s, task queue %s)\n", temporalAddr, cfg.TemporalNamespace, cfg.TaskQueue)
	if uiURL != "" {
		fmt.Fprintf(out, "  web UI       %s/namespaces/%s/workflows\n", uiURL, cfg.TemporalNamespace)
	}
	if cfg.Embedded() {
		if cfg.InMemory {
			fmt.Fprintf(out, "  state        in memory (lost on exit)\n")
		} else {
			abs, _ := filepath.Abs(cfg.DataDir)
			fmt.Fprintf(out, "  state        %s (workflow list in %s)\n", abs, filepath.Base(visFile))
		}
	}
	if cfg.EncryptionKeyFile != "" {
		fmt.Fprintf(out, "  encryption   payloads encrypted with the keys in %s; codec %s%s\n", cfg.EncryptionKeyFile, base, codec.PathPrefix)
		if cfg.AdminToken != "" {
			fmt.Fprintf(out, "               sign in at %s%s/login so the web UI can decrypt\n", base, codec.PathPrefix)
		}
	}
	if cfg.TargetsFile != "" {
		fmt.Fprintf(out, "  targets      %s\n", cfg.TargetsFile)
	} else {
		fmt.Fprintf(out, "  targets      none configured: metrics-only mode (set HERALD_TARGETS_FILE)\n")
	}
	fmt.Fprintln(out)
}
