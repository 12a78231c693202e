package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/herald-alerts/herald/internal/ingest"
)

// ServePprof serves Go's profiling endpoints on addr until ctx ends (off
// when addr is empty). Bind it to loopback: profiles reveal internals.
func ServePprof(ctx context.Context, addr string, log *slog.Logger) {
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// Profiles are for this machine: no rebinding page may read them.
	h := ingest.BodyDeadline(ingest.DefaultBodyReadTimeout)(ingest.HostGuard(addr, nil, log.Warn)(mux))
	go func() {
		if err := Serve(ctx, addr, h, time.Second, log); err != nil {
			log.Warn("pprof server stopped", "addr", addr, "error", err)
		}
	}()
	log.Info("serving Go profiles", "addr", addr)
}
