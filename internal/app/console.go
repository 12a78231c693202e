package app

import (
	"net/http"
	"strings"

	"github.com/herald-alerts/herald/internal/console"
)

// WithConsole serves the operator console (internal/console) at /ui/
// beside api, which serves everything else. The console reads and acts
// through api's /api/v1 in-process; webUI is the Temporal Web UI's address
// for its workflow links ("" leaves them out).
func (rt *Runtime) WithConsole(api http.Handler, webUI string) http.Handler {
	cfg := rt.Config
	ui := console.New(console.Config{
		API: api, AdminToken: cfg.AdminToken, AdminReads: cfg.AdminReads,
		WebUI: webUI, Namespace: cfg.TemporalNamespace,
		ListenAddr: cfg.HTTPAddr, AllowedHosts: cfg.AllowedHosts, Logger: rt.Log.With("component", "console"),
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ui" || strings.HasPrefix(r.URL.Path, console.Prefix) {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
