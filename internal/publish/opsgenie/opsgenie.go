// Package opsgenie publishes alerts to the Opsgenie Alert API (and the
// same API of Jira Service Management Operations integrations): a Create
// Alert request while an alert fires, a note when its content changes, and
// a Close Alert request by alias when it resolves
// (https://docs.opsgenie.com/docs/alert-api).
package opsgenie

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/herald-alerts/herald/internal/alert"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/target"
)

// Limits of the Alert API (characters, counted as UTF-16 code units, which
// is never less than the count of Unicode characters).
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxEntity      = 512
	MaxNote        = 25000
	// MaxDetails bounds the details map: keys and values together.
	MaxDetails = 8000
	// MaxDetailValue bounds one details value before the map is fitted.
	MaxDetailValue = 1024
)

// Paths and fixed values.
const (
	AlertsPath = "/v2/alerts"
	// Source is the alert's and the actions' source.
	Source = "Herald"
	// TruncatedDetail is the details key that says labels were cut or
	// left out to fit MaxDetails.
	TruncatedDetail = "herald_truncated"
)

// ProviderState keys.
const (
	// StateAlias is the alias of the alert Opsgenie accepted.
	StateAlias = "opsgenie_alias"
	// StateRequestID is the requestId of the last accepted request: its
	// outcome is at GET {url}/v2/alerts/requests/{requestId}.
	StateRequestID = "opsgenie_request_id"
)

// CreateAlert is the body of POST /v2/alerts.
type CreateAlert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description,omitempty"`
	Responders  []Responder       `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

// Action is the body of a close or add-note request.
type Action struct {
	Source string `json:"source"`
	Note   string `json:"note,omitempty"`
}

// Accepted is Opsgenie's 202 answer.
type Accepted struct {
	Result    string  `json:"result"`
	Took      float64 `json:"took"`
	RequestID string  `json:"requestId"`
}

// Request is one HTTP request of a delivery.
type Request struct {
	// Path is appended to the target's url (already escaped).
	Path  string
	Query string
	Body  any
	// Alias is the alert the request is about.
	Alias string
}

// Publisher sends alerts to {url}/v2/alerts.
type Publisher struct {
	Client *http.Client
	// ObserveFormat, when set, is told how long each Build took.
	ObserveFormat publish.FormatObserver
}

// Alias is the alias of n's alert: herald-<fingerprint>-<episode>, so that
// every notification of one firing episode lands on one Opsgenie alert and
// a re-fire opens a new one. Without an episode number the alias the state
// recorded is kept, else herald-<fingerprint>. At most MaxAlias bytes.
func Alias(n publish.Notification) string {
	fp := n.Alert.Fingerprint
	if fp == "" {
		fp = alert.Fingerprint(n.Alert.Labels)
	}
	var a string
	switch {
	case n.Episode > 0:
		a = "herald-" + fp + "-" + strconv.Itoa(n.Episode)
	case n.State[StateAlias] != "":
		a = n.State[StateAlias]
	default:
		a = "herald-" + fp
	}
	if len(a) > MaxAlias {
		a = a[:MaxAlias]
		for !utf8.ValidString(a) {
			a = a[:len(a)-1]
		}
	}
	return a
}

// Priority is the Opsgenie priority of n's severity: the target's
// priority mapping, else DefaultPriority.
func Priority(cfg *Config, n publish.Notification) string {
	sev := n.Severity()
	if p := cfg.Priority[sev]; p != "" {
		return p
	}
	if p := DefaultPriority[sev]; p != "" {
		return p
	}
	return "P3"
}

// Build returns the request for n:
//   - firing: POST /v2/alerts (Create Alert);
//   - firing update of an alert Opsgenie accepted (the state holds its
//     alias): POST /v2/alerts/{alias}/notes?identifierType=alias with the
//     new message and description (Opsgenie keeps an open alert's message
//     and description, a repeated create only counts up);
//   - resolved: POST /v2/alerts/{alias}/close?identifierType=alias.
func Build(t target.Target, n publish.Notification) (Request, error) {
	cfg := configOf(t)
	if cfg == nil {
		return Request{}, publish.Permanent(publish.KindConfig, "opsgenie target has no api_key")
	}
	alias := Alias(n)
	if n.Event == publish.EventResolved {
		return Request{Path: actionPath(alias, "close"), Query: "identifierType=alias", Alias: alias,
			Body: Action{Source: Source, Note: resolveNote(n)}}, nil
	}
	title, body, err := publish.Render(t.Template, n)
	if err != nil {
		return Request{}, err
	}
	message := title
	if message == "" {
		message = defaultMessage(n.Alert)
	}
	message = publish.TruncateUTF16(strings.Join(strings.Fields(message), " "), MaxMessage)
	description := publish.TruncateUTF16(describe(n, body), MaxDescription)
	if n.Update && n.State[StateAlias] == alias {
		note := publish.TruncateUTF16("Updated: "+message+"\n\n"+description, MaxNote)
		return Request{Path: actionPath(alias, "notes"), Query: "identifierType=alias", Alias: alias,
			Body: Action{Source: Source, Note: note}}, nil
	}
	a := n.Alert
	return Request{Path: AlertsPath, Alias: alias, Body: CreateAlert{
		Message:     message,
		Alias:       alias,
		Description: description,
		Responders:  cfg.Responders,
		Tags:        cfg.Tags,
		Details:     Details(a.Labels),
		Entity:      publish.TruncateUTF16(firstLabel(a.Labels, "service", "job", "instance"), MaxEntity),
		Source:      Source,
		Priority:    Priority(cfg, n),
	}}, nil
}

func actionPath(alias, action string) string {
	return AlertsPath + "/" + url.PathEscape(alias) + "/" + action
}

func defaultMessage(a alert.Alert) string {
	name, summary := a.Name(), a.Summary()
	if name == "" || summary == name {
		return summary
	}
	return name + ": " + summary
}

// describe is the description: the template body, else the description
// annotation (or the summary), then the alert's times and links.
func describe(n publish.Notification, body string) string {
	a := n.Alert
	var b strings.Builder
	text := body
	if text == "" {
		text = a.Annotations["description"]
	}
	if text == "" {
		text = a.Summary()
	}
	b.WriteString(text)
	b.WriteString("\n\nSeverity: " + n.Severity())
	if !a.StartsAt.IsZero() {
		b.WriteString("\nStarted: " + a.StartsAt.UTC().Format(time.RFC3339))
	}
	for _, l := range []struct{ name, url string }{
		{"Source", a.GeneratorURL}, {"Runbook", a.Annotations["runbook_url"]},
		{"Dashboard", a.Annotations["dashboard_url"]}, {"Alertmanager", a.ExternalURL},
	} {
		if l.url != "" {
			b.WriteString("\n" + l.name + ": " + l.url)
		}
	}
	if a.Fingerprint != "" {
		b.WriteString("\nFingerprint: " + a.Fingerprint)
	}
	return b.String()
}

func resolveNote(n publish.Notification) string {
	note := "Resolved in Alertmanager"
	if !n.Alert.EndsAt.IsZero() {
		note += " at " + n.Alert.EndsAt.UTC().Format(time.RFC3339)
	}
	return note
}

func firstLabel(labels map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return ""
}

// Details are the alert's labels as the alert's details, within MaxDetails
// characters (keys and values together). Labels are taken in name order,
// each value at most MaxDetailValue characters; a label that no longer
// fits is cut or left out, and TruncatedDetail says how many were.
func Details(labels map[string]string) map[string]string {
	if len(labels) == 0 {
		return nil
	}
	const reserve = 64 // room for the TruncatedDetail entry
	out := make(map[string]string, len(labels))
	used, cut, omitted := 0, 0, 0
	total, long := 0, false
	for k, v := range labels {
		total += publish.UTF16Len(k) + publish.UTF16Len(v)
		long = long || publish.UTF16Len(v) > MaxDetailValue
	}
	budget := MaxDetails
	if total > MaxDetails || long {
		budget -= reserve
	}
	for _, k := range alert.SortedKeys(labels) {
		v := labels[k]
		if publish.UTF16Len(v) > MaxDetailValue {
			v, cut = publish.TruncateUTF16(v, MaxDetailValue), cut+1
		}
		kl, vl := publish.UTF16Len(k), publish.UTF16Len(v)
		switch room := budget - used - kl; {
		case vl <= room:
		case room >= 16:
			v, cut = publish.TruncateUTF16(v, room), cut+1
			vl = publish.UTF16Len(v)
		default:
			omitted++
			continue
		}
		out[k] = v
		used += kl + vl
	}
	if cut > 0 || omitted > 0 {
		out[TruncatedDetail] = strconv.Itoa(cut) + " cut, " + strconv.Itoa(omitted) + " left out"
	}
	return out
}

// Publish implements publish.Publisher.
func (p *Publisher) Publish(ctx context.Context, t target.Target, n publish.Notification) (publish.Result, error) {
	cfg := configOf(t)
	if cfg == nil || cfg.APIKey == "" {
		return publish.Result{}, publish.Permanent(publish.KindConfig, "opsgenie target has no api_key")
	}
	start := time.Now()
	req, err := Build(t, n)
	var body []byte
	if err == nil {
		body, err = json.Marshal(req.Body)
		if err != nil {
			err = publish.Permanent(publish.KindConfig, "encode opsgenie request: %v", err)
		}
	}
	p.ObserveFormat.Since(Type, start)
	if err != nil {
		return publish.Result{}, publish.RedactError(err, t.Secrets())
	}
	rawURL := strings.TrimRight(t.Endpoint(), "/") + req.Path
	if req.Query != "" {
		rawURL += "?" + req.Query
	}
	headers := make(map[string]string, len(t.Headers)+1)
	for k, v := range t.Headers {
		headers[k] = v
	}
	headers["Authorization"] = "GenieKey " + cfg.APIKey
	resp, err := publish.Send(ctx, p.Client, http.MethodPost, rawURL, headers, body)
	if err != nil {
		return publish.Result{}, classify(t, resp, err)
	}
	var acc Accepted
	_ = json.Unmarshal(resp.Body, &acc)
	state := publish.ProviderState{StateAlias: req.Alias}
	if id := strings.TrimSpace(acc.RequestID); id != "" && len(id) <= 128 {
		state[StateRequestID] = id
	}
	return publish.Result{StatusCode: resp.StatusCode, State: state}, nil
}

// errorBody is Opsgenie's error answer.
type errorBody struct {
	Message string            `json:"message"`
	Errors  map[string]string `json:"errors"`
}

// classify keeps the shared classification (429 with Retry-After rate
// limited, 5xx retried, 401/403/422 and other 4xx permanent) and names
// Opsgenie's message and field errors. Secrets never reach the message.
func classify(t target.Target, resp publish.Response, err error) error {
	pe := publish.AsError(err)
	out := *pe
	var eb errorBody
	if pe.StatusCode >= 400 && json.Unmarshal(resp.Body, &eb) == nil && (eb.Message != "" || len(eb.Errors) > 0) {
		msg := "opsgenie: " + eb.Message
		fields := make([]string, 0, len(eb.Errors))
		for k := range eb.Errors {
			fields = append(fields, k)
		}
		sort.Strings(fields)
		for i, k := range fields {
			sep := "; "
			if i == 0 {
				sep = ": "
			}
			msg += sep + k + ": " + eb.Errors[k]
		}
		out.Msg = publish.RedactedExcerpt([]byte(msg), t.Secrets())
	}
	out.Msg = publish.Redact(out.Msg, t.Secrets())
	return &out
}
