package ingest

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAdminReads(t *testing.T) {
	reads := []string{"/api/v1/dlq", "/api/v1/dlq/stats", "/api/v1/alerts", "/api/v1/alerts/abc123",
		"/api/v1/targets", "/api/v1/targets/team-a/health", "/api/v1/mode"}
	open := []string{"/healthz", "/readyz", "/metrics"}
	ready := func(context.Context) error { return nil }
	tests := []struct {
		name       string
		adminReads bool
		token      string // sent
		readsCode  func(int) bool
	}{
		{"admin reads: no token", true, "", func(c int) bool { return c == http.StatusUnauthorized }},
		{"admin reads: wrong token", true, "nope", func(c int) bool { return c == http.StatusUnauthorized }},
		{"admin reads: right token", true, "adm1n", func(c int) bool { return c != http.StatusUnauthorized }},
		{"reads open by default", false, "", func(c int) bool { return c != http.StatusUnauthorized }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, Config{AdminToken: "adm1n", AdminReads: tc.adminReads, Ready: ready})
			var hdr []string
			if tc.token != "" {
				hdr = []string{"Authorization", "Bearer " + tc.token}
			}
			for _, p := range reads {
				rec := s.do(t, http.MethodGet, p, nil, hdr...)
				assert.True(t, tc.readsCode(rec.Code), "GET %s = %d %s", p, rec.Code, rec.Body.String())
				if rec.Code == http.StatusUnauthorized {
					assert.Equal(t, `Bearer realm="herald-admin"`, rec.Header().Get("WWW-Authenticate"))
				}
			}
			for _, p := range open {
				rec := s.do(t, http.MethodGet, p, nil)
				assert.Equal(t, http.StatusOK, rec.Code, "GET %s stays open: %s", p, rec.Body.String())
			}
			// Changing state needs the token either way: check-now,
			// replay-all, replay and drop of one entry, purge.
			for _, c := range []struct{ method, path string }{
				{http.MethodPost, "/api/v1/targets/team-a/check"},
				{http.MethodPost, "/api/v1/dlq/replay"},
				{http.MethodPost, "/api/v1/dlq/abc.hook.1/replay"},
				{http.MethodDelete, "/api/v1/dlq/abc.hook.1"},
				{http.MethodDelete, "/api/v1/dlq?older_than=1h"},
			} {
				rec := s.do(t, c.method, c.path, nil, hdr...)
				if tc.token == "adm1n" {
					assert.NotEqual(t, http.StatusUnauthorized, rec.Code, "%s %s with the admin token", c.method, c.path)
					continue
				}
				assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s without the admin token: %s", c.method, c.path, rec.Body.String())
				assert.Equal(t, `Bearer realm="herald-admin"`, rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
}
