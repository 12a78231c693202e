package console

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/ingest"
	_ "github.com/herald-alerts/herald/internal/providers"
	"github.com/herald-alerts/herald/internal/target"
)

const adminToken = "s3cret-admin-token-value"

// fakeAPI answers the /api/v1 calls the console makes with fixed bodies
// and records what it was asked.
type fakeAPI struct {
	mu      sync.Mutex
	calls   []string // "METHOD path auth=yes|no"
	targets []ingest.TargetView
	// replayError, when set, is the error a replay fails again with.
	replayError string
	// dlqMatched, when set, is how many dead letters match: the list
	// answers the page its offset and limit ask for.
	dlqMatched int
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	auth := "no"
	if r.Header.Get("Authorization") == "Bearer "+adminToken {
		auth = "yes"
	}
	call := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		call += "?" + r.URL.RawQuery
	}
	f.calls = append(f.calls, call+" auth="+auth)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	var body any
	switch {
	case r.URL.Path == "/api/v1/mode":
		body = map[string]any{"mode": "normal", "reason": "1 enabled targets"}
	case r.URL.Path == "/api/v1/targets":
		body = map[string]any{"targets": f.targets, "problems": []any{}}
	case r.URL.Path == "/api/v1/alerts":
		// 450 alerts match (300 firing, 150 resolved) in two pages: the
		// first names the second as "p2".
		matched := map[string]int{"": 450, "firing": 300, "resolved": 150}[r.URL.Query().Get("status")]
		list := map[string]any{"matched": matched,
			"alerts": []any{map[string]any{"fingerprint": "abc123", "name": "<b>Disk</b>", "status": "firing", "targets": []string{"t1"}}}}
		if r.URL.Query().Get("page_token") == "" {
			list["nextPageToken"] = "p2"
		}
		body = list
	case strings.HasPrefix(r.URL.Path, "/api/v1/alerts/"):
		body = map[string]any{"fingerprint": "abc123", "name": "Disk", "status": "firing",
			"alert": map[string]any{"labels": map[string]string{"alertname": "Disk", "evil": "<script>alert(1)</script>"}},
			"targets": []any{map[string]any{"name": "t1", "type": "webhook", "status": "dead_lettered", "lastError": "<img src=x onerror=alert(2)>",
				"ref": map[string]any{"retry": map[string]any{}}}},
			"workflowId": "alert-abc123", "runId": "r1", "workflowStatus": "running"}
	case r.URL.Path == "/api/v1/dlq":
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		entries := []any{}
		for i := offset; i < min(offset+limit, f.dlqMatched); i++ {
			entries = append(entries, map[string]any{"id": fmt.Sprintf("dl%d", i), "target": "pager", "fingerprint": "abc123"})
		}
		body = map[string]any{"entries": entries, "total": f.dlqMatched, "matched": f.dlqMatched, "offset": offset}
	case r.URL.Path == "/api/v1/dlq/stats":
		body = map[string]any{"total": 0, "byTarget": map[string]int{"pager": 2}, "byKind": map[string]int{"timeout": 1, "http_5xx": 1}}
	case strings.HasSuffix(r.URL.Path, "/replay") && f.replayError != "":
		w.WriteHeader(http.StatusBadGateway)
		body = map[string]any{"id": "dl1", "delivered": false, "attempts": 1, "error": f.replayError}
	case strings.HasSuffix(r.URL.Path, "/replay"):
		body = map[string]any{"id": "dl1", "delivered": true, "attempts": 1}
	default:
		w.WriteHeader(http.StatusNotFound)
		body = map[string]string{"error": "no such endpoint"}
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeAPI) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func newConsole(t *testing.T, token string, adminReads bool) (http.Handler, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{}
	return New(Config{API: api, AdminToken: token, AdminReads: adminReads, Namespace: "default",
		WebUI: "http://127.0.0.1:8233", ListenAddr: "127.0.0.1:8080",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), api
}

// browser is a cookie-keeping client of the handler.
type browser struct {
	t       *testing.T
	h       http.Handler
	cookies map[string]*http.Cookie
	tls     bool
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	return &browser{t: t, h: h, cookies: map[string]*http.Cookie{}}
}

func (b *browser) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, "http://127.0.0.1:8080"+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://127.0.0.1:8080")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	if b.tls {
		req.TLS = &tls.ConnectionState{}
	}
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c
		}
	}
	return rec
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of a page's form.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	rec := b.do(http.MethodGet, path, nil)
	m := csrfRE.FindStringSubmatch(rec.Body.String())
	if m == nil {
		b.t.Fatalf("no CSRF token on %s (status %d)", path, rec.Code)
	}
	return m[1]
}

func TestTemplatesEscapeHostileValues(t *testing.T) {
	h, _ := newConsole(t, "", false)
	b := newBrowser(t, h)
	for path, hostile := range map[string][]string{
		"/ui/alerts/abc123": {"<script>alert(1)</script>", "<img src=x onerror=alert(2)>"},
		"/ui/":              {"<b>Disk</b>"},
	} {
		rec := b.do(http.MethodGet, path, nil)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		page := rec.Body.String()
		for _, v := range hostile {
			if strings.Contains(page, v) {
				t.Errorf("GET %s: hostile value %q appears unescaped", path, v)
			}
		}
	}
	page := b.do(http.MethodGet, "/ui/alerts/abc123", nil).Body.String()
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("escaped label missing from the alert page")
	}
	if !strings.Contains(page, `href="http://127.0.0.1:8233/namespaces/default/workflows/alert-abc123/r1/history"`) {
		t.Errorf("no Web UI link to the workflow on the alert page")
	}
}

func TestCSRFRefusesPostsWithoutTheRightToken(t *testing.T) {
	h, api := newConsole(t, "", false)
	b := newBrowser(t, h)
	good := b.csrf("/ui/dead-letters/confirm?action=replay&id=dl1")
	other := newBrowser(t, h).csrf("/ui/dead-letters/confirm?action=replay&id=dl1")
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusForbidden},
		{"wrong token", "AAAA" + good[4:], http.StatusForbidden},
		{"another browser's token", other, http.StatusForbidden},
		{"right token", good, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := api.called("POST /api/v1/dlq/dl1/replay")
			form := url.Values{"id": {"dl1"}}
			if tc.token != "" {
				form.Set("csrf", tc.token)
			}
			rec := b.do(http.MethodPost, "/ui/dead-letters/replay", form)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			reached := api.called("POST /api/v1/dlq/dl1/replay") - before
			if wantReach := tc.want == http.StatusSeeOther; (reached == 1) != wantReach {
				t.Errorf("replay requests that reached the API: %d (want reached=%v)", reached, wantReach)
			}
		})
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	h, api := newConsole(t, "", false)
	b := newBrowser(t, h)
	tok := b.csrf("/ui/dead-letters/confirm?action=purge&older_than=1h")
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/ui/dead-letters/replay",
		strings.NewReader(url.Values{"id": {"dl1"}, "csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || api.called("POST") != 0 {
		t.Errorf("cross-site post: status %d, API posts %d; want 403 and none", rec.Code, api.called("POST"))
	}
}

func TestLoginSessionCookie(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		h, api := newConsole(t, adminToken, false)
		b := newBrowser(t, h)
		b.tls = tlsOn
		rec := b.do(http.MethodPost, "/ui/login", url.Values{"csrf": {b.csrf("/ui/login")}, "token": {adminToken}, "next": {"/ui/targets"}})
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/targets" {
			t.Fatalf("login: %d to %q", rec.Code, rec.Header().Get("Location"))
		}
		var sess *http.Cookie
		for _, c := range rec.Result().Cookies() {
			if c.Name == sessionCookie {
				sess = c
			}
		}
		if sess == nil {
			t.Fatal("no session cookie set")
		}
		if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/ui" || sess.Secure != tlsOn || sess.MaxAge <= 0 {
			t.Errorf("tls=%v: cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui, Secure=%v, expiring", tlsOn, sess, tlsOn)
		}
		if strings.Contains(sess.Value, adminToken) || len(sess.Value) < 20 {
			t.Errorf("session cookie is not an opaque random ID: %q", sess.Value)
		}
		// The session acts with the token; logout ends it.
		b.do(http.MethodGet, "/ui/", nil)
		if api.called("GET /api/v1/alerts?limit=200 auth=yes") == 0 {
			t.Errorf("the session's API calls carry no admin token: %v", api.calls)
		}
		if rec := b.do(http.MethodPost, "/ui/logout", url.Values{"csrf": {b.csrf("/ui/")}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("logout: %d", rec.Code)
		}
		rec = b.do(http.MethodPost, "/ui/dead-letters/replay", url.Values{"csrf": {b.csrf("/ui/dead-letters/confirm?action=purge&older_than=1h")}, "id": {"dl1"}})
		if rec.Code != http.StatusUnauthorized || api.called("POST") != 0 {
			t.Errorf("after logout a replay answered %d with %d API posts; want 401 and none", rec.Code, api.called("POST"))
		}
	}
}

func TestWrongLoginRevealsNothing(t *testing.T) {
	h, _ := newConsole(t, adminToken, false)
	b := newBrowser(t, h)
	rec := b.do(http.MethodPost, "/ui/login", url.Values{"csrf": {b.csrf("/ui/login")}, "token": {"s3cret-admin-token-valuX"}})
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d", rec.Code)
	}
	body := rec.Body.String()
	if !strings.Contains(body, "Login failed.") || strings.Contains(body, "s3cret") {
		t.Errorf("wrong-token page must say only that login failed:\n%s", body)
	}
	if _, ok := b.cookies[sessionCookie]; ok {
		t.Error("a failed login set a session cookie")
	}
}

func TestActionsNeedLogin(t *testing.T) {
	h, api := newConsole(t, adminToken, false)
	b := newBrowser(t, h)
	if rec := b.do(http.MethodGet, "/ui/dead-letters", nil); rec.Code != http.StatusOK {
		t.Fatalf("reads without admin reads: %d", rec.Code)
	}
	rec := b.do(http.MethodPost, "/ui/dead-letters/purge", url.Values{"csrf": {b.csrf("/ui/dead-letters/confirm?action=purge&older_than=1h")}, "older_than": {"1h"}})
	if rec.Code != http.StatusUnauthorized || api.called("DELETE") != 0 {
		t.Errorf("purge without login: %d with %d API deletes; want 401 and none", rec.Code, api.called("DELETE"))
	}
}

func TestAdminReadsNeedLogin(t *testing.T) {
	h, api := newConsole(t, adminToken, true)
	b := newBrowser(t, h)
	for _, path := range []string{"/ui/", "/ui/alerts/abc123", "/ui/dead-letters", "/ui/targets"} {
		rec := b.do(http.MethodGet, path, nil)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/ui/login") {
			t.Errorf("GET %s without a session: %d to %q; want a redirect to the login", path, rec.Code, rec.Header().Get("Location"))
		}
	}
	if n := api.called(""); n != 0 {
		t.Errorf("%d API calls without a session: %v", n, api.calls)
	}
	b.do(http.MethodPost, "/ui/login", url.Values{"csrf": {b.csrf("/ui/login")}, "token": {adminToken}})
	if rec := b.do(http.MethodGet, "/ui/targets", nil); rec.Code != http.StatusOK {
		t.Errorf("after login: %d", rec.Code)
	}
}

func TestLoginNextStaysInTheConsole(t *testing.T) {
	for in, want := range map[string]string{"/ui/targets": "/ui/targets", "//evil.example/ui/": "/ui/",
		"https://evil.example/": "/ui/", "/ui/\\evil": "/ui/", "": "/ui/"} {
		if got := localNext(in); got != want {
			t.Errorf("localNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestTargetsPageShowsRateLimits: each target's limit, from the views the
// API builds (target.Public), with where it comes from.
func TestTargetsPageShowsRateLimits(t *testing.T) {
	h, api := newConsole(t, "", false)
	for _, def := range []string{
		`{"name": "own", "type": "webhook", "url": "https://hooks.example/x", "rate_limit": {"per_second": 4}}`,
		`{"name": "paging", "type": "pagerduty", "routing_key": "0123456789abcdef0123456789abcdef"}`,
		`{"name": "plain", "type": "webhook", "url": "https://hooks.example/y"}`,
	} {
		tg, err := target.ParseOne([]byte(def), "test")
		if err != nil {
			t.Fatalf("%s: %v", def, err)
		}
		api.targets = append(api.targets, ingest.TargetView{Public: tg.Public()})
	}
	rec := newBrowser(t, h).do(http.MethodGet, "/ui/targets", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /ui/targets: %d", rec.Code)
	}
	page := regexp.MustCompile(`\s+`).ReplaceAllString(rec.Body.String(), " ")
	for _, want := range []string{
		"Rate limit</dt><dd>4/s, burst 4 <span class=\"muted\">(the target's rate_limit)",
		"Rate limit</dt><dd>2/s, burst 2 <span class=\"muted\">(default of the type, shared by targets with the same credential)",
		"Rate limit</dt><dd>none <span class=\"muted\">(slows down on the receiver's 429 / Retry-After)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("targets page lacks %q", want)
		}
	}
}

// TestDeadLetterFilters: the page's filters reach the API's list, and the
// selects offer the targets and kinds the stats know.
func TestDeadLetterFilters(t *testing.T) {
	h, api := newConsole(t, "", false)
	rec := newBrowser(t, h).do(http.MethodGet, "/ui/dead-letters?target=pager&kind=timeout&older_than=2h", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /ui/dead-letters: %d", rec.Code)
	}
	if n := api.called("GET /api/v1/dlq?kind=timeout&limit=200&older_than=2h&target=pager "); n != 1 {
		t.Errorf("the filtered list was asked %d times; calls: %v", n, api.calls)
	}
	page := rec.Body.String()
	for _, want := range []string{`<option value="pager" selected>pager</option>`, `<option value="http_5xx">http_5xx</option>`,
		`<option value="timeout" selected>timeout</option>`, `name="older_than" value="2h"`} {
		if !strings.Contains(page, want) {
			t.Errorf("dead-letters page lacks %s", want)
		}
	}
}

// TestSessionsAndFormsWorkAcrossReplicas: behind a load balancer a browser
// reaches another starter on its next request. With the same admin token
// that starter accepts the login and the form; with another token
// neither.
func TestSessionsAndFormsWorkAcrossReplicas(t *testing.T) {
	a, _ := newConsole(t, adminToken, false)
	replica, api := newConsole(t, adminToken, false)
	rotated := New(Config{API: &fakeAPI{}, AdminToken: "another-admin-token-value", ListenAddr: "127.0.0.1:8080",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b := newBrowser(t, a)
	b.do(http.MethodPost, "/ui/login", url.Values{"csrf": {b.csrf("/ui/login")}, "token": {adminToken}})
	form := url.Values{"csrf": {b.csrf("/ui/dead-letters/confirm?action=replay&id=dl1")}, "id": {"dl1"}}

	b.h = replica
	if rec := b.do(http.MethodPost, "/ui/dead-letters/replay", form); rec.Code != http.StatusSeeOther || api.called("POST /api/v1/dlq/dl1/replay auth=yes") != 1 {
		t.Errorf("replay on the other replica: %d with %d authenticated API replays; want 303 and 1", rec.Code, api.called("POST /api/v1/dlq/dl1/replay auth=yes"))
	}
	b.h = rotated
	if rec := b.do(http.MethodPost, "/ui/dead-letters/replay", form); rec.Code != http.StatusForbidden {
		t.Errorf("a form signed under the old admin token: %d, want 403", rec.Code)
	}
	if rec := b.do(http.MethodGet, "/ui/", nil); strings.Contains(rec.Body.String(), "Log out") {
		t.Error("a session signed under the old admin token is still logged in")
	}
}

func TestSessionValues(t *testing.T) {
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	c := &Console{cfg: Config{AdminToken: adminToken, SessionTTL: time.Hour}, key: signingKey(adminToken),
		now: func() time.Time { return now }, revoked: map[string]time.Time{}}
	id := c.newSession()
	if strings.Contains(id, adminToken) {
		t.Fatalf("the session value holds the token: %q", id)
	}
	req := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/ui/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: v})
		return r
	}
	exp, _, _ := strings.Cut(id, ".")
	later := strconv.FormatInt(now.Add(48*time.Hour).Unix(), 10)
	for _, tc := range []struct {
		name  string
		value string
		at    time.Time
		live  bool
	}{
		{"fresh", id, now, true},
		{"just before expiry", id, now.Add(time.Hour - time.Second), true},
		{"expired", id, now.Add(time.Hour), false},
		{"expiry pushed out", later + strings.TrimPrefix(id, exp), now, false},
		{"MAC of another", id[:len(id)-2] + "AA", now, false},
		{"not a session", "abc", now, false},
		{"empty parts", "..", now, false},
	} {
		now = tc.at
		if got := c.session(req(tc.value)) != ""; got != tc.live {
			t.Errorf("%s: live = %v, want %v", tc.name, got, tc.live)
		}
	}
	now = now.Add(-time.Hour + time.Minute)
	c.endSession(id)
	if c.session(req(id)) != "" {
		t.Error("a logged-out session is still live on the server that logged it out")
	}
}

// An action answers with a redirect (post/redirect/get): the page it
// returns to shows the outcome once, so a reload repeats nothing and shows
// nothing stale; a flash cookie this console did not sign shows nothing.
func TestActionOutcomeShownOnceAfterRedirect(t *testing.T) {
	h, api := newConsole(t, "", false)
	b := newBrowser(t, h)
	form := url.Values{"csrf": {b.csrf("/ui/dead-letters/confirm?action=replay&id=dl1")}, "id": {"dl1"}}
	rec := b.do(http.MethodPost, "/ui/dead-letters/replay", form)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/ui/dead-letters" {
		t.Fatalf("replay answered %d to %q, want 303 to /ui/dead-letters", rec.Code, rec.Header().Get("Location"))
	}
	ck, ok := b.cookies[flashCookie]
	if !ok || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/ui" || ck.MaxAge <= 0 || ck.MaxAge > 60 {
		t.Fatalf("flash cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui, at most a minute", ck)
	}
	const want = "Dead letter dl1 was delivered (1 attempts) and removed."
	if page := b.do(http.MethodGet, "/ui/dead-letters", nil).Body.String(); !strings.Contains(page, `id="flash"`) || !strings.Contains(page, want) {
		t.Errorf("the page the replay returned to does not say %q", want)
	}
	if page := b.do(http.MethodGet, "/ui/dead-letters", nil).Body.String(); strings.Contains(page, `id="flash"`) {
		t.Error("the outcome shows again on a reload")
	}
	if n := api.called("POST /api/v1/dlq/dl1/replay"); n != 1 {
		t.Errorf("%d replays reached the API, want 1", n)
	}

	forged := *ck
	forged.Value = "ok." + base64.RawURLEncoding.EncodeToString([]byte("Everything was delivered")) + "." + strings.Split(ck.Value, ".")[2]
	b.cookies[flashCookie] = &forged
	if page := b.do(http.MethodGet, "/ui/dead-letters", nil).Body.String(); strings.Contains(page, "Everything was delivered") {
		t.Error("a flash cookie with another text under the old signature was shown")
	}
}

// The outcome's text comes from receivers (their error bodies): it is
// escaped, and a long one is cut to fit a cookie.
func TestFlashEscapesAndFits(t *testing.T) {
	h, api := newConsole(t, "", false)
	api.replayError = "HTTP 500: <script>alert(1)</script> " + strings.Repeat("ü", 3000)
	b := newBrowser(t, h)
	form := url.Values{"csrf": {b.csrf("/ui/dead-letters/confirm?action=replay&id=dl1")}, "id": {"dl1"}}
	if rec := b.do(http.MethodPost, "/ui/dead-letters/replay", form); rec.Code != http.StatusSeeOther {
		t.Fatalf("a replay that failed again answered %d, want 303", rec.Code)
	}
	if ck := b.cookies[flashCookie]; ck == nil || len(ck.String()) > 4000 {
		t.Fatalf("flash cookie %v: want one under 4000 bytes", ck)
	}
	body := b.do(http.MethodGet, "/ui/dead-letters", nil).Body.String()
	if strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the outcome's text is not escaped on the page")
	}
	if !strings.Contains(body, `class="msg warn" id="flash"`) || !strings.Contains(body, "failed again and stays") || !strings.Contains(body, "üü…") {
		t.Error("the cut outcome is not shown as a warning ending in …")
	}
}

// After an outage the dead letters run into thousands: the page lists 200
// at a time and links the neighbouring pages, keeping the filters.
func TestDeadLettersPages(t *testing.T) {
	h, api := newConsole(t, "", false)
	api.dlqMatched = 450
	b := newBrowser(t, h)
	hrefRE := func(id string) *regexp.Regexp { return regexp.MustCompile(`href="([^"]*)" id="` + id + `"`) }
	cases := []struct {
		path              string
		rows              int
		shown, prev, next string
	}{
		{"/ui/dead-letters?target=pager", 200, "1–200 of 450", "", "/ui/dead-letters?offset=200&amp;target=pager"},
		{"/ui/dead-letters?target=pager&offset=200", 200, "201–400 of 450", "/ui/dead-letters?target=pager", "/ui/dead-letters?offset=400&amp;target=pager"},
		{"/ui/dead-letters?target=pager&offset=400", 50, "401–450 of 450", "/ui/dead-letters?offset=200&amp;target=pager", ""},
		{"/ui/dead-letters?offset=900", 0, "", "/ui/dead-letters", ""},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			rec := b.do(http.MethodGet, c.path, nil)
			page := rec.Body.String()
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := strings.Count(page, `<tr id="dl-`); got != c.rows {
				t.Errorf("%d rows, want %d", got, c.rows)
			}
			if c.shown != "" && !strings.Contains(page, c.shown) {
				t.Errorf("the page does not say %q", c.shown)
			}
			for id, want := range map[string]string{"prev": c.prev, "next": c.next} {
				m := hrefRE(id).FindStringSubmatch(page)
				if got := ""; m != nil {
					got = m[1]
					if got != want {
						t.Errorf("%s links to %q, want %q", id, got, want)
					}
				} else if want != "" {
					t.Errorf("no %s link, want one to %q", id, want)
				}
			}
		})
	}
	if n := api.called("GET /api/v1/dlq?limit=200&offset=200&target=pager"); n != 1 {
		t.Errorf("the second page asked the API %d times for offset 200 of pager, want 1: %v", n, api.calls)
	}
	if rec := b.do(http.MethodGet, "/ui/dead-letters?offset=-1", nil); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "offset must be") {
		t.Errorf("a negative offset answered %d, want 400 naming the offset", rec.Code)
	}
}

// The alerts page counts every matching alert by status (not only the
// page's), and links the next, older page and back to the newest with
// the filters kept.
func TestAlertsPagesAndCounts(t *testing.T) {
	h, api := newConsole(t, "", false)
	b := newBrowser(t, h)
	page := b.do(http.MethodGet, "/ui/?target=t1", nil).Body.String()
	for _, want := range []string{`firing</span> 300`, `resolved</span> 150`, `1 of 450 matching alerts.`,
		`href="/ui/?page_token=p2&amp;target=t1" id="next"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the first page lacks %s", want)
		}
	}
	if strings.Contains(page, `id="newest"`) {
		t.Error("the first page links to the newest")
	}
	page = b.do(http.MethodGet, "/ui/?page_token=p2&target=t1", nil).Body.String()
	if !strings.Contains(page, `href="/ui/?target=t1" id="newest"`) || strings.Contains(page, `id="next"`) {
		t.Error("the last page does not link back to the newest alone")
	}
	if n := api.called("GET /api/v1/alerts?limit=200&page_token=p2&target=t1"); n != 1 {
		t.Errorf("the second page asked the API %d times for page p2, want 1: %v", n, api.calls)
	}
	// Filtered by status, that status's count is the list's own.
	page = b.do(http.MethodGet, "/ui/?status=firing", nil).Body.String()
	if !strings.Contains(page, `firing</span> 300`) || !strings.Contains(page, `resolved</span> 150`) {
		t.Error("the counts by status are missing when filtered by status")
	}
	if n := api.called("GET /api/v1/alerts?limit=1&status=firing auth="); n != 0 {
		t.Errorf("the firing count was asked for again %d times", n)
	}
}
