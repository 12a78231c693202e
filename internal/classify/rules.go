// Package classify decides an alert's severity: operator rules first, then
// an optional LLM (any OpenAI-compatible chat completions endpoint), then the
// alert's own severity label. The result feeds the notification formats, the
// HeraldSeverity search attribute and the Temporal priority of deliveries.
package classify

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
)

// Sources of a classification.
const (
	SourceRules  = "rules"
	SourceLabels = "labels"
	SourceLLM    = "llm"
)

// Severities a rule or the LLM may assign.
var Severities = []string{alert.SeverityCritical, alert.SeverityWarning, alert.SeverityInfo}

// Rule assigns a severity to alerts whose labels match every matcher.
type Rule struct {
	// Matchers maps a label name to a regular expression the label's value
	// must match in full (anchored, like Alertmanager's =~). A missing label
	// has the value "".
	Matchers map[string]string `json:"match"`
	Severity string            `json:"severity"`
	Reason   string            `json:"reason,omitempty"`
}

// Rules is an ordered rule list: the first matching rule wins.
type Rules struct {
	Rules []Rule `json:"rules"`

	compiled []compiledRule
}

type compiledRule struct {
	matchers []labelMatcher
	severity string
	reason   string
}

type labelMatcher struct {
	label string
	re    *regexp.Regexp
}

// LoadRules reads a rules file (YAML or JSON):
//
//	rules:
//	  - match: {alertname: "Watchdog|InfoInhibitor"}
//	    severity: info
//	    reason: heartbeat alerts never page
//
// and validates it. Unknown keys are errors.
func LoadRules(path string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("classifier rules: %w", err)
	}
	r, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("classifier rules %s: %w", path, err)
	}
	return r, nil
}

// ParseRules parses and validates a rules document (YAML or JSON).
func ParseRules(data []byte) (*Rules, error) {
	var r Rules
	if err := yaml.UnmarshalStrict(data, &r); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if err := r.Compile(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Compile validates every rule and prepares the matchers. LoadRules and
// ParseRules call it; call it after building Rules in code.
func (r *Rules) Compile() error {
	if r == nil {
		return nil
	}
	out := make([]compiledRule, 0, len(r.Rules))
	for i, rule := range r.Rules {
		c, err := compileRule(rule)
		if err != nil {
			return fmt.Errorf("rule %d: %w", i, err)
		}
		out = append(out, c)
	}
	r.compiled = out
	return nil
}

func compileRule(rule Rule) (compiledRule, error) {
	c := compiledRule{severity: rule.Severity, reason: strings.TrimSpace(rule.Reason)}
	if !validSeverity(rule.Severity) {
		return c, fmt.Errorf("severity %q is not one of %s", rule.Severity, strings.Join(Severities, ", "))
	}
	if len(rule.Matchers) == 0 {
		return c, errors.New("match is empty: a rule needs at least one label matcher")
	}
	labels := make([]string, 0, len(rule.Matchers))
	for l := range rule.Matchers {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		if strings.TrimSpace(l) == "" {
			return c, errors.New("match has an empty label name")
		}
		re, err := regexp.Compile("^(?:" + rule.Matchers[l] + ")$")
		if err != nil {
			return c, fmt.Errorf("match %s: invalid regular expression %q: %w", l, rule.Matchers[l], err)
		}
		c.matchers = append(c.matchers, labelMatcher{label: l, re: re})
	}
	if c.reason == "" {
		parts := make([]string, len(labels))
		for i, l := range labels {
			parts[i] = fmt.Sprintf("%s=~%q", l, rule.Matchers[l])
		}
		c.reason = "matched " + strings.Join(parts, ", ")
	}
	return c, nil
}

func validSeverity(s string) bool {
	for _, v := range Severities {
		if s == v {
			return true
		}
	}
	return false
}

// Classify returns the severity of an alert with these labels: the first
// matching rule (Source rules, Confidence 1), else the severity label
// normalised (Source labels, Confidence 0.9), else warning (Source labels,
// Confidence 0.5). A nil *Rules classifies by labels only. annotations are
// not used by rules today; they are accepted so callers need not change when
// rules learn to match them.
func (r *Rules) Classify(labels, annotations map[string]string) publish.Classification {
	if c, ok := r.match(labels); ok {
		return c
	}
	return ByLabels(labels)
}

func (r *Rules) match(labels map[string]string) (publish.Classification, bool) {
	if r == nil || len(r.Rules) == 0 {
		return publish.Classification{}, false
	}
	compiled := r.compiled
	if len(compiled) != len(r.Rules) {
		// Built in code without Compile: compile a local copy (invalid
		// rules are skipped), leaving r untouched for concurrent callers.
		for _, rule := range r.Rules {
			if c, err := compileRule(rule); err == nil {
				compiled = append(compiled, c)
			}
		}
	}
	for _, c := range compiled {
		if c.matches(labels) {
			return publish.Classification{Severity: c.severity, Confidence: 1, Reason: c.reason, Source: SourceRules}, true
		}
	}
	return publish.Classification{}, false
}

func (c compiledRule) matches(labels map[string]string) bool {
	for _, m := range c.matchers {
		if !m.re.MatchString(labels[m.label]) {
			return false
		}
	}
	return true
}

// ByLabels classifies by the severity label alone.
func ByLabels(labels map[string]string) publish.Classification {
	v, ok := labels["severity"]
	if !ok || strings.TrimSpace(v) == "" {
		return publish.Classification{Severity: alert.SeverityWarning, Confidence: 0.5,
			Reason: "no severity label: default warning", Source: SourceLabels}
	}
	sev := alert.NormalizeSeverity(v)
	reason := "severity label"
	if sev != v {
		reason = fmt.Sprintf("severity label %q normalised to %s", truncate(v, 40), sev)
	}
	return publish.Classification{Severity: sev, Confidence: 0.9, Reason: reason, Source: SourceLabels}
}

// Priority maps a severity to a Temporal priority key (lower runs first):
// critical 1, warning 3, info 5. Other spellings are normalised first
// ("page" is critical); unknown values are 3.
func Priority(severity string) int {
	switch alert.NormalizeSeverity(severity) {
	case alert.SeverityCritical:
		return 1
	case alert.SeverityInfo:
		return 5
	default:
		return 3
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
