package app

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/config"
	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/target"
)

// The composition of `make run` (defaults: no tokens, 127.0.0.1:8080)
// serves its own address and localhost, and refuses a DNS-rebinding page
// (issue 17.3: a request with Host evil.example:8080 purged the dead
// letters). On a wildcard address the Host is not checked, but a browser's
// cross-origin change still is.
func TestHTTPCompositionAgainstBrowsers(t *testing.T) {
	tests := []struct {
		name           string
		env            map[string]string
		method, path   string
		host, origin   string
		want           int
		wantBodySubstr string
	}{
		{"make run: own address", nil, http.MethodGet, "/healthz", "127.0.0.1:8080", "", http.StatusOK, `"ok"`},
		{"make run: localhost", nil, http.MethodGet, "/healthz", "localhost:8080", "", http.StatusOK, `"ok"`},
		{"make run: rebinding purge", nil, http.MethodDelete, "/api/v1/dlq?older_than=1s", "evil.example:8080", "http://evil.example:8080",
			http.StatusForbidden, "is not served here"},
		{"make run: rebinding webhook", nil, http.MethodPost, "/webhook", "evil.example:8080", "http://evil.example:8080",
			http.StatusForbidden, "is not served here"},
		{"make run: rebinding read", nil, http.MethodGet, "/api/v1/alerts", "evil.example:8080", "", http.StatusForbidden, "HERALD_ALLOWED_HOSTS"},
		{"allowed host", map[string]string{"HERALD_ALLOWED_HOSTS": "herald.test"}, http.MethodGet, "/healthz", "herald.test:8080", "",
			http.StatusOK, `"ok"`},
		{"wildcard address: any host", map[string]string{"HERALD_HTTP_ADDR": ":8080"}, http.MethodGet, "/healthz", "herald.monitoring.svc:8080", "",
			http.StatusOK, `"ok"`},
		{"wildcard address: cross-origin purge", map[string]string{"HERALD_HTTP_ADDR": ":8080"}, http.MethodDelete, "/api/v1/dlq?older_than=1s",
			"herald.monitoring.svc:8080", "http://evil.example", http.StatusForbidden, "cross-origin request refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load("starter", nil, func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			h := NewHTTP(cfg, nil, target.NewRegistry(), metrics.New(), slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader("{}"))
			req.Host = tc.host
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.wantBodySubstr) {
				t.Errorf("%s %s (Host %s) = %d %s, want %d with %q", tc.method, tc.path, tc.host, rec.Code, rec.Body.String(), tc.want, tc.wantBodySubstr)
			}
		})
	}
}

// A worker's ops server on a loopback address refuses unknown Hosts too.
func TestWorkerHandlerRefusesUnknownHosts(t *testing.T) {
	m := metrics.New()
	rt := &Runtime{
		Config:   config.Config{HTTPAddr: "127.0.0.1:8081", TemporalNamespace: "default", TaskQueue: "herald"},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:  m,
		Registry: target.NewRegistry(),
	}
	h := workerHandler(rt)
	for host, want := range map[string]int{"127.0.0.1:8081": http.StatusOK, "localhost:8081": http.StatusOK, "evil.example:8081": http.StatusForbidden} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("GET /metrics with Host %s = %d, want %d", host, rec.Code, want)
		}
	}
}
