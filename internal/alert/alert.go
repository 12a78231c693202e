// Package alert holds Herald's model of an alert: the Alertmanager webhook
// (version 4) as it arrives, and the per-alert view that workflows carry.
package alert

import (
	"encoding/hex"
	"hash/fnv"
	"sort"
	"strings"
	"time"
)

// Status values of an alert as Alertmanager reports them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Severities Herald knows, most severe first.
const (
	SeverityCritical = "critical"
	SeverityWarning  = "warning"
	SeverityInfo     = "info"
)

// Webhook is the body Alertmanager posts to a webhook receiver (version 4).
type Webhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a webhook.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alert is the state of one alert as Herald publishes it. It holds no
// credentials and is safe to put into workflow history.
type Alert struct {
	Fingerprint  string            `json:"fingerprint"`
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitempty"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	// Receiver, GroupKey and ExternalURL come from the webhook that carried it.
	Receiver    string `json:"receiver,omitempty"`
	GroupKey    string `json:"groupKey,omitempty"`
	ExternalURL string `json:"externalURL,omitempty"`
	// Trimmed lists the values Herald shortened so that the alert fits
	// HERALD_MAX_ALERT_BYTES (Limits.Fit); each also ends with TrimMark.
	Trimmed []Trim `json:"trimmed,omitempty"`
}

// Name is the alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Severity is the normalised severity from the labels (critical, warning or
// info); unknown or missing values map to warning, the conservative middle.
func (a Alert) Severity() string { return NormalizeSeverity(a.Labels["severity"]) }

// Summary is a one-line description: the summary annotation, else the
// description, else the alert name.
func (a Alert) Summary() string {
	for _, k := range []string{"summary", "description", "message"} {
		if v := strings.TrimSpace(a.Annotations[k]); v != "" {
			return v
		}
	}
	if n := a.Name(); n != "" {
		return n
	}
	return "alert " + a.Fingerprint
}

// Resolved reports whether the alert is resolved.
func (a Alert) Resolved() bool { return a.Status == StatusResolved }

// ContentHash identifies what a notification of this alert would say: status,
// labels and annotations. Two notifications with the same hash are repeats.
func (a Alert) ContentHash() string {
	h := fnv.New64a()
	h.Write([]byte(a.Status))
	h.Write([]byte{0xff})
	writeSorted(h, a.Labels)
	h.Write([]byte{0xfe})
	writeSorted(h, a.Annotations)
	return hex.EncodeToString(h.Sum(nil))
}

type byteWriter interface{ Write([]byte) (int, error) }

func writeSorted(w byteWriter, m map[string]string) {
	for _, k := range SortedKeys(m) {
		w.Write([]byte(k))
		w.Write([]byte{0})
		w.Write([]byte(m[k]))
		w.Write([]byte{0})
	}
}

// SortedKeys returns the keys of m in ascending order.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Fingerprint computes a stable identity from a label set, used when the
// webhook does not carry Alertmanager's own fingerprint.
func Fingerprint(labels map[string]string) string {
	h := fnv.New64a()
	writeSorted(h, labels)
	return hex.EncodeToString(h.Sum(nil))
}

// NormalizeSeverity maps the many spellings of severity found in the wild to
// critical, warning or info.
func NormalizeSeverity(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "critical", "crit", "page", "p1", "fatal", "emergency", "alert", "high", "error", "err", "major":
		return SeverityCritical
	case "info", "informational", "notice", "low", "none", "debug", "ok", "p4", "p5":
		return SeverityInfo
	default:
		return SeverityWarning
	}
}
