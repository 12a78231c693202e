package scenario

import (
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of Herald's /metrics.
type Metrics map[string]*dto.MetricFamily

// Scrape reads /metrics in the text exposition format.
func (h *Herald) Scrape() Metrics {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.Base+"/metrics", nil)
	if err != nil {
		h.t.Fatalf("metrics request: %v", err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := apiClient.Do(req)
	if err != nil {
		h.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		h.t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// Sum adds the values of every series of the families named name (with or
// without a _total suffix) whose labels include match.
func (m Metrics) Sum(name string, match map[string]string) float64 {
	total := 0.0
	base := strings.TrimSuffix(name, "_total")
	for _, n := range []string{base, base + "_total"} {
		fam := m[n]
		if fam == nil {
			continue
		}
		for _, s := range fam.GetMetric() {
			if !hasLabels(s, match) {
				continue
			}
			switch {
			case s.GetCounter() != nil:
				total += s.GetCounter().GetValue()
			case s.GetGauge() != nil:
				total += s.GetGauge().GetValue()
			case s.GetUntyped() != nil:
				total += s.GetUntyped().GetValue()
			}
		}
	}
	return total
}

// Has reports whether a family of that name (with or without _total) exists.
func (m Metrics) Has(name string) bool {
	base := strings.TrimSuffix(name, "_total")
	return m[base] != nil || m[base+"_total"] != nil
}

func hasLabels(s *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		found := false
		for _, lp := range s.GetLabel() {
			if lp.GetName() == k && lp.GetValue() == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// workflowTaskFailures is the SDK's count of failed workflow tasks (a panic
// in workflow code repeats on every retry of the task).
func (h *Herald) workflowTaskFailures() float64 {
	return h.Scrape().Sum("temporal_workflow_task_execution_failed_total", nil)
}
