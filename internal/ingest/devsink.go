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
		var n struct {
			Event       string            `json:"event"`
			Update      bool              `json:"update"`
			AlertName   string            `json:"alertname"`
			Severity    string            `json:"severity"`
			Fingerprint string            `json:"fingerprint"`
			Annotations map[string]string `json:"annotations"`
		}
		_ = json.Unmarshal(body, &n)
		s.log.Info("dev sink received a notification", "sink", chi.URLParam(r, "name"), "event", n.Event,
			"update", n.Update, "alertname", n.AlertName, "severity", n.Severity, "fingerprint", n.Fingerprint,
			"summary", n.Annotations["summary"])
		writeJSON(w, http.StatusOK, map[string]string{"status": "received"})
	})
}
