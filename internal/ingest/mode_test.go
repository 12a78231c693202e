package ingest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

// modeAnswer is the JSON of GET /api/v1/mode.
type modeAnswer struct {
	Mode           string   `json:"mode"`
	Reason         string   `json:"reason"`
	EnabledTargets int      `json:"enabled_targets"`
	Unsynced       []string `json:"unsynced_sources"`
}

func getMode(t *testing.T, reg *target.Registry) modeAnswer {
	t.Helper()
	s := newTestServer(t, Config{Registry: reg})
	rec := s.do(t, http.MethodGet, "/api/v1/mode", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/mode = %d %s", rec.Code, rec.Body)
	}
	var m modeAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return m
}

func webhookTarget(name string, enabled bool) target.Target {
	return target.Target{Name: name, Type: "webhook", URL: "http://" + name + ".test/hook", Enabled: &enabled}
}

// While a target source has not synced, alerts wait for it (ResolveTargets
// fails retryably) and are delivered later: the mode must say so, naming
// the sources, not claim "no targets configured" (which would mean the
// alerts are never published).
func TestMode_WaitingForDiscovery(t *testing.T) {
	t.Run("nothing synced yet", func(t *testing.T) {
		reg := target.NewRegistry()
		reg.Expect("kubernetes")
		m := getMode(t, reg)
		if m.Mode != ModeWaitingForDiscovery {
			t.Errorf("mode = %q, want %q", m.Mode, ModeWaitingForDiscovery)
		}
		if len(m.Unsynced) != 1 || m.Unsynced[0] != "kubernetes" {
			t.Errorf("unsynced_sources = %v, want [kubernetes]", m.Unsynced)
		}
		if !strings.Contains(m.Reason, "waiting for discovery") || !strings.Contains(m.Reason, "kubernetes") {
			t.Errorf("reason = %q, want it to say waiting for discovery of kubernetes", m.Reason)
		}
		if strings.Contains(m.Reason, "no targets configured") {
			t.Errorf("reason = %q claims no targets are configured", m.Reason)
		}
	})
	t.Run("targets file synced, discovery not", func(t *testing.T) {
		reg := target.NewRegistry()
		reg.Update("file:targets.yaml", []target.Target{webhookTarget("a", true)}, nil)
		reg.Expect("kubernetes")
		m := getMode(t, reg)
		if m.Mode != ModeWaitingForDiscovery || m.EnabledTargets != 1 {
			t.Errorf("mode = %+v, want %s with 1 enabled target so far", m, ModeWaitingForDiscovery)
		}
	})
	t.Run("synced with no targets", func(t *testing.T) {
		reg := target.NewRegistry()
		reg.Expect("kubernetes")
		reg.Update("kubernetes", nil, nil)
		m := getMode(t, reg)
		if m.Mode != ModeMetricsOnly || m.Reason != "no targets configured" || len(m.Unsynced) != 0 {
			t.Errorf("mode = %+v, want metrics-only: no targets configured", m)
		}
	})
}

func TestMode_NormalAndMetricsOnly(t *testing.T) {
	tests := []struct {
		name    string
		targets []target.Target
		mode    string
		reason  string
		enabled int
	}{
		{"no targets", nil, ModeMetricsOnly, "no targets configured", 0},
		{"all disabled", []target.Target{webhookTarget("a", false), webhookTarget("b", false)}, ModeMetricsOnly, "no enabled targets (2 disabled)", 0},
		{"enabled", []target.Target{webhookTarget("a", true), webhookTarget("b", false)}, ModeNormal, "1 enabled targets", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := target.NewRegistry()
			reg.Update("file:targets.yaml", tc.targets, nil)
			m := getMode(t, reg)
			if m.Mode != tc.mode || m.Reason != tc.reason || m.EnabledTargets != tc.enabled || len(m.Unsynced) != 0 {
				t.Errorf("mode = %+v, want %s / %q / %d", m, tc.mode, tc.reason, tc.enabled)
			}
		})
	}
}
