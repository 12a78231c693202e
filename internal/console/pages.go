package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/ingest"
	"github.com/herald-alerts/herald/internal/target"
	"github.com/herald-alerts/herald/workflows"
)

//go:embed assets
var assets embed.FS

func staticFS() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	return sub
}

type page struct{ t *template.Template }

var pageNames = []string{"alerts", "alert", "deadletters", "confirm", "targets", "login", "message"}

func parsePages() map[string]*page {
	out := map[string]*page{}
	for _, name := range pageNames {
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets,
			"assets/templates/layout.html", "assets/templates/"+name+".html"))
		out[name] = &page{t: t}
	}
	return out
}

var funcs = template.FuncMap{
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"tone":    tone,
	"dur":     func(d target.Duration) string { return time.Duration(d).String() },
	"join":    strings.Join,
	"sortedKV": func(m map[string]string) [][2]string {
		out := make([][2]string, 0, len(m))
		for k, v := range m {
			out = append(out, [2]string{k, v})
		}
		sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
		return out
	},
	"age": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return time.Since(t).Round(time.Second).String()
	},
}

// tone is the colour class of a status word (the word itself is always
// shown as text too).
func tone(status string) string {
	switch status {
	case "delivered", "resolved", "healthy", ingest.ModeNormal, "completed", "replayed":
		return "ok"
	case "failed", "dead_lettered", "unhealthy", "firing", "timed_out", "terminated":
		return "bad"
	case "pending", "delivering", "waiting_for_target", "deferred", "degraded", ingest.ModeMetricsOnly,
		ingest.ModeWaitingForDiscovery, "running":
		return "warn"
	}
	return "neutral"
}

// view is what every page template gets.
type view struct {
	Title     string
	Nav       string
	CSRF      string
	LoggedIn  bool
	NeedLogin bool   // an admin token is set and there is no session
	Flash     *flash // the outcome of the action that redirected here
	HasToken  bool
	Data      any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	sess := c.session(r) != ""
	v := view{Title: name, Nav: name, CSRF: c.csrfToken(w, r), LoggedIn: sess, HasToken: c.cfg.AdminToken != "",
		NeedLogin: c.cfg.AdminToken != "" && !sess, Flash: c.takeFlash(w, r), Data: data}
	var buf bytes.Buffer
	if err := c.pages[name].t.Execute(&buf, v); err != nil {
		c.log.Error("console template", "page", name, "error", err)
		http.Error(w, "page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) message(w http.ResponseWriter, r *http.Request, status int, title, text string) {
	c.render(w, r, status, "message", map[string]any{"Title": title, "Text": text, "Status": status})
}

// apiFailed renders an API error as a page.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		title := what + " failed"
		if ae.Status == http.StatusUnauthorized {
			c.needLogin(w, r)
			return
		}
		c.message(w, r, ae.Status, title, ae.Message)
		return
	}
	c.log.Error("console", "what", what, "error", err)
	c.message(w, r, http.StatusInternalServerError, what+" failed", "internal error (see the server log)")
}

func timeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

// alertListLimit bounds the alerts a page lists.
const alertListLimit = 200

type alertsData struct {
	Mode      ingest.ModeState
	Unhealthy []ingest.TargetView
	Alerts    []ingest.AlertSummary
	// Matched counts the alerts the filters match on all pages; Counts
	// are by status over the other filters.
	Matched int64
	Counts  [][2]string
	Filter  map[string]string
	// Newest (on a later page) and Next link the first and the next page
	// with the same filters.
	Newest, Next string
	Error        string
}

// alertStatuses are the statuses the alerts page counts.
var alertStatuses = []string{"firing", "resolved"}

func (c *Console) handleAlerts(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := timeout(r, 15*time.Second)
	defer cancel()
	d := alertsData{Filter: map[string]string{}}
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/mode", nil, &d.Mode); err != nil {
		c.apiFailed(w, r, "Mode", err)
		return
	}
	var targets targetList
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/targets", nil, &targets); err == nil {
		for _, t := range targets.Targets {
			if t.Health != nil && (t.Health.State == health.StateUnhealthy || t.Health.State == health.StateDegraded) {
				d.Unhealthy = append(d.Unhealthy, t)
			}
		}
	}
	filters := url.Values{}
	for _, k := range []string{"status", "severity", "name", "target"} {
		if v := strings.TrimSpace(r.URL.Query().Get(k)); v != "" {
			filters.Set(k, v)
			d.Filter[k] = v
		}
	}
	q := maps.Clone(filters)
	q.Set("limit", strconv.Itoa(alertListLimit))
	token := r.URL.Query().Get("page_token")
	if token != "" {
		q.Set("page_token", token)
		d.Newest = alertsPage(filters, "")
	}
	var list ingest.AlertList
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/alerts", q, &list); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
			d.Error = ae.Message
			c.render(w, r, http.StatusBadRequest, "alerts", d)
			return
		}
		c.apiFailed(w, r, "Alert list", err)
		return
	}
	d.Alerts, d.Matched = list.Alerts, list.Matched
	sort.SliceStable(d.Alerts, func(i, j int) bool { return d.Alerts[i].StartedAt.After(d.Alerts[j].StartedAt) })
	if list.NextPageToken != "" {
		d.Next = alertsPage(filters, list.NextPageToken)
	}
	// Counts by status over the other filters, on all pages.
	for _, st := range alertStatuses {
		n := ingest.AlertList{Matched: list.Matched} // filtered by this status: the count is in hand
		if filters.Get("status") != st {
			cq := maps.Clone(filters)
			cq.Set("status", st)
			cq.Set("limit", "1")
			if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/alerts", cq, &n); err != nil {
				continue
			}
		}
		if n.Matched > 0 {
			d.Counts = append(d.Counts, [2]string{st, strconv.FormatInt(n.Matched, 10)})
		}
	}
	c.render(w, r, http.StatusOK, "alerts", d)
}

// alertsPage is the alerts page with filters, at page token (or the first).
func alertsPage(filters url.Values, token string) string {
	q := maps.Clone(filters)
	if token != "" {
		q.Set("page_token", token)
	}
	return withQuery(Prefix, q)
}

// withQuery is path with the query q, or path alone when q is empty.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

var fingerprintRE = regexp.MustCompile(`^[0-9A-Za-z]{1,64}$`)

type alertData struct {
	A        ingest.AlertView
	Labels   map[string]string
	Annots   map[string]string
	WebUIURL string
}

func (c *Console) handleAlert(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fingerprint")
	if !fingerprintRE.MatchString(fp) {
		c.message(w, r, http.StatusBadRequest, "Bad fingerprint", "A fingerprint is 1-64 letters and digits.")
		return
	}
	ctx, cancel := timeout(r, 15*time.Second)
	defer cancel()
	var d alertData
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/alerts/"+fp, nil, &d.A); err != nil {
		c.apiFailed(w, r, "Alert "+fp, err)
		return
	}
	d.Labels, d.Annots = map[string]string(d.A.Alert.Labels), map[string]string(d.A.Alert.Annotations)
	if c.cfg.WebUI != "" && d.A.WorkflowID != "" {
		d.WebUIURL = strings.TrimRight(c.cfg.WebUI, "/") + "/namespaces/" + url.PathEscape(c.cfg.Namespace) +
			"/workflows/" + url.PathEscape(d.A.WorkflowID) + "/" + url.PathEscape(d.A.RunID) + "/history"
	}
	c.render(w, r, http.StatusOK, "alert", d)
}

type targetList struct {
	Targets  []ingest.TargetView `json:"targets"`
	Problems []target.Problem    `json:"problems"`
}

// dlqListLimit bounds the dead letters a page lists.
const dlqListLimit = 200

type deadLettersData struct {
	List  workflows.ListResponse
	Stats workflows.Stats
	// The filters, and the values the selects offer (from the stats).
	Target, Kind, OlderThan string
	Targets, Kinds          []string
	// First and Last number the entries shown (1-based); Prev and Next
	// are the neighbouring pages with the same filters ("" at either end).
	First, Last int
	Prev, Next  string
}

// filters are the page's filters as query parameters (the API's names).
func (d *deadLettersData) filters() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"target": d.Target, "kind": d.Kind, "older_than": d.OlderThan} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// page numbers the entries shown and links the neighbouring pages.
func (d *deadLettersData) page() {
	link := func(offset int) string {
		q := d.filters()
		if offset > 0 {
			q.Set("offset", strconv.Itoa(offset))
		}
		return withQuery("/ui/dead-letters", q)
	}
	n := len(d.List.Entries)
	if n == 0 {
		if d.List.Offset > 0 {
			d.Prev = link(0) // past the end: back to the first page
		}
		return
	}
	d.First, d.Last = d.List.Offset+1, d.List.Offset+n
	if d.List.Offset > 0 {
		d.Prev = link(max(0, d.List.Offset-dlqListLimit))
	}
	if d.Last < d.List.Matched {
		d.Next = link(d.Last)
	}
}

func (c *Console) handleDeadLetters(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := timeout(r, 15*time.Second)
	defer cancel()
	in := r.URL.Query()
	d := deadLettersData{Target: strings.TrimSpace(in.Get("target")), Kind: strings.TrimSpace(in.Get("kind")),
		OlderThan: strings.TrimSpace(in.Get("older_than"))}
	q := d.filters() // the API checks them and names what is wrong
	q.Set("limit", strconv.Itoa(dlqListLimit))
	if v := strings.TrimSpace(in.Get("offset")); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			c.message(w, r, http.StatusBadRequest, "Cannot list that", "offset must be a whole number, 0 or more")
			return
		}
		q.Set("offset", v)
	}
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/dlq", q, &d.List); err != nil {
		c.apiFailed(w, r, "Dead letters", err)
		return
	}
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/dlq/stats", nil, &d.Stats); err == nil {
		d.Targets, d.Kinds = slices.Sorted(maps.Keys(d.Stats.ByTarget)), slices.Sorted(maps.Keys(d.Stats.ByKind))
	}
	d.page()
	c.render(w, r, http.StatusOK, "deadletters", d)
}

// dlqActions are the dead-letter actions and what their confirmation says.
var dlqActions = map[string]string{
	"replay":     "Replay dead letter %s: deliver it to its target again?",
	"drop":       "Drop dead letter %s? It is deleted and not delivered.",
	"replay-all": "Replay every dead letter%s?",
	"purge":      "Delete every dead letter older than %s? They are not delivered.",
}

// dlqParams are the checked parameters of a dead-letter action.
type dlqParams struct {
	Action, ID, Target, OlderThan string
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,200}$`)

func parseDLQParams(action string, get func(string) string) (dlqParams, string) {
	p := dlqParams{Action: action, ID: get("id"), Target: get("target"), OlderThan: strings.TrimSpace(get("older_than"))}
	if _, ok := dlqActions[action]; !ok {
		return p, "unknown action"
	}
	switch action {
	case "replay", "drop":
		if !idRE.MatchString(p.ID) {
			return p, "a dead-letter ID is required"
		}
	case "replay-all":
		if p.Target != "" && !idRE.MatchString(p.Target) {
			return p, "bad target name"
		}
	case "purge":
		if d, err := time.ParseDuration(p.OlderThan); err != nil || d <= 0 {
			return p, "older than must be a positive duration such as 24h or 30m"
		}
	}
	return p, ""
}

func (c *Console) handleConfirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, bad := parseDLQParams(q.Get("action"), q.Get)
	if bad != "" {
		c.message(w, r, http.StatusBadRequest, "Cannot do that", bad)
		return
	}
	var text string
	switch p.Action {
	case "replay", "drop":
		text = fmt.Sprintf(dlqActions[p.Action], p.ID)
	case "replay-all":
		of := ""
		if p.Target != "" {
			of = " of target " + p.Target
		}
		text = fmt.Sprintf(dlqActions[p.Action], of)
	case "purge":
		text = fmt.Sprintf(dlqActions[p.Action], p.OlderThan)
	}
	c.render(w, r, http.StatusOK, "confirm", map[string]any{"P": p, "Text": text})
}

func (c *Console) handleDLQAction(w http.ResponseWriter, r *http.Request) {
	p, bad := parseDLQParams(r.PathValue("action"), r.PostFormValue)
	if bad != "" {
		c.message(w, r, http.StatusBadRequest, "Cannot do that", bad)
		return
	}
	ctx, cancel := timeout(r, 5*time.Minute)
	defer cancel()
	var text, tone string
	switch p.Action {
	case "replay":
		var res workflows.ReplayResult
		_, err := c.call(ctx, r, http.MethodPost, "/api/v1/dlq/"+url.PathEscape(p.ID)+"/replay", nil, &res)
		if err != nil && res.ID == "" {
			c.apiFailed(w, r, "Replay", err)
			return
		}
		if res.Delivered {
			text = fmt.Sprintf("Dead letter %s was delivered (%d attempts) and removed.", p.ID, res.Attempts)
		} else {
			text, tone = fmt.Sprintf("Dead letter %s failed again and stays: %s", p.ID, res.Error), "warn"
		}
	case "drop":
		var res workflows.DropResult
		if _, err := c.call(ctx, r, http.MethodDelete, "/api/v1/dlq/"+url.PathEscape(p.ID), nil, &res); err != nil {
			c.apiFailed(w, r, "Drop", err)
			return
		}
		text = fmt.Sprintf("Dropped %d dead letter(s).", res.Dropped)
	case "replay-all":
		var res workflows.ReplayAllResult
		q := url.Values{}
		if p.Target != "" {
			q.Set("target", p.Target)
		}
		status, err := c.call(ctx, r, http.MethodPost, "/api/v1/dlq/replay", q, &res)
		if err != nil {
			c.apiFailed(w, r, "Replay all", err)
			return
		}
		text = fmt.Sprintf("Replayed %d of %d: %d delivered, %d failed again.", res.Replayed, res.Total, res.Delivered, res.Replayed-res.Delivered)
		if res.Delivered < res.Replayed {
			tone = "warn"
		}
		if status == http.StatusAccepted {
			text += " The replay is still running."
		}
	case "purge":
		var res workflows.DropResult
		if _, err := c.call(ctx, r, http.MethodDelete, "/api/v1/dlq", url.Values{"older_than": {p.OlderThan}}, &res); err != nil {
			c.apiFailed(w, r, "Purge", err)
			return
		}
		text = fmt.Sprintf("Purged %d dead letter(s) older than %s.", res.Dropped, p.OlderThan)
	}
	c.done(w, r, "/ui/dead-letters", flash{Text: text, Tone: tone})
}

func (c *Console) handleTargets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := timeout(r, 15*time.Second)
	defer cancel()
	var d targetList
	if _, err := c.call(ctx, r, http.MethodGet, "/api/v1/targets", nil, &d); err != nil {
		c.apiFailed(w, r, "Targets", err)
		return
	}
	c.render(w, r, http.StatusOK, "targets", d)
}

func (c *Console) handleCheck(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	ctx, cancel := timeout(r, 2*time.Minute)
	defer cancel()
	var res ingest.CheckResult
	if _, err := c.call(ctx, r, http.MethodPost, "/api/v1/targets/"+url.PathEscape(name)+"/check", nil, &res); err != nil {
		c.apiFailed(w, r, "Check of "+name, err)
		return
	}
	text, tone := fmt.Sprintf("Target %s is %s.", name, res.Health.State), ""
	if o := res.Observation; !o.At.IsZero() {
		if o.OK {
			text += fmt.Sprintf(" The check succeeded in %s.", time.Duration(o.Latency))
		} else {
			text, tone = text+fmt.Sprintf(" The check failed (%s): %s", o.Class, o.Message), "warn"
		}
	}
	c.done(w, r, "/ui/targets#t-"+url.PathEscape(name), flash{Text: text, Tone: tone})
}
