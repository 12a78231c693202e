package ingest

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// mountDevSink adds /dev/sink/{name}: a target for local runs that logs
// what it receives, so `make run` shows deliveries without any external
// service. Only `worker dev` mounts it.
func (s *Server) mountDevSink(r chi.Router) {
	r.HandleFunc("/dev/sink/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusOK, map[string]string{"status": "dev sink ready"})
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		// A webhook target sends the Alertmanager v4 envelope with one
		// alert, plus Herald's own "herald" object.
		var n struct {
			Alerts []struct {
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
				Fingerprint string            `json:"fingerprint"`
			} `json:"alerts"`
			Herald struct {
				Event    string `json:"event"`
				Update   bool   `json:"update"`
				Severity string `json:"severity"`
			} `json:"herald"`
		}
		_ = json.Unmarshal(body, &n)
		var alertname, fingerprint, summary string
		if len(n.Alerts) > 0 {
			a := n.Alerts[0]
			alertname, fingerprint, summary = a.Labels["alertname"], a.Fingerprint, a.Annotations["summary"]
		}
		s.log.Info("dev sink received a notification", "sink", chi.URLParam(r, "name"), "event", n.Herald.Event,
			"update", n.Herald.Update, "alertname", alertname, "severity", n.Herald.Severity, "fingerprint", fingerprint,
			"summary", summary)
		writeJSON(w, http.StatusOK, map[string]string{"status": "received"})
	})
}
