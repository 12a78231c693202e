// Package console is Herald's operator console: server-rendered pages under
// /ui/ for alerts, dead letters and targets. It reads and acts through the
// /api/v1 handler in-process, with the admin token of a logged-in session
// as the bearer, so that authentication, tenancy (error excerpts), the API's
// concurrency limit and credential redaction are exactly the API's.
package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/herald-alerts/herald/internal/ingest"
)

// Prefix is where the console is served.
const Prefix = "/ui/"

// Cookie names; all are scoped to Path=/ui.
const (
	sessionCookie = "herald_session"
	browserCookie = "herald_browser"
	flashCookie   = "herald_flash"
	csrfField     = "csrf"
)

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 12 * time.Hour

// maxRevoked bounds the logged-out sessions a process remembers (the
// soonest to expire go first).
const maxRevoked = 10000

// Config of the console.
type Config struct {
	// API serves /api/v1 (the ingest server).
	API http.Handler
	// AdminToken, when set, is required (by login) for actions, and for
	// reads too with AdminReads.
	AdminToken string
	AdminReads bool
	// WebUI is the Temporal Web UI's base URL ("" leaves the links out);
	// Namespace is the namespace its links name.
	WebUI     string
	Namespace string
	// ListenAddr and AllowedHosts configure the same Host guard as the API
	// (DNS rebinding).
	ListenAddr   string
	AllowedHosts []string
	SessionTTL   time.Duration
	Logger       *slog.Logger
}

// Console serves the pages.
type Console struct {
	cfg    Config
	log    *slog.Logger
	key    []byte // signs sessions and CSRF tokens (signingKey)
	pages  map[string]*page
	mux    *http.ServeMux
	origin *http.CrossOriginProtection
	now    func() time.Time

	mu      sync.Mutex
	revoked map[string]time.Time // logged-out session → its expiry
}

// New builds the console handler, mounted at Prefix.
func New(cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	c := &Console{cfg: cfg, log: cfg.Logger, key: signingKey(cfg.AdminToken), pages: parsePages(),
		origin: http.NewCrossOriginProtection(), now: time.Now, revoked: map[string]time.Time{}}
	m := http.NewServeMux()
	m.Handle("GET /ui/static/", http.StripPrefix("/ui/", http.FileServerFS(staticFS())))
	m.HandleFunc("GET /ui/{$}", c.reads(c.handleAlerts))
	m.HandleFunc("GET /ui/alerts/{fingerprint}", c.reads(c.handleAlert))
	m.HandleFunc("GET /ui/dead-letters", c.reads(c.handleDeadLetters))
	m.HandleFunc("GET /ui/dead-letters/confirm", c.reads(c.handleConfirm))
	m.HandleFunc("POST /ui/dead-letters/{action}", c.action(c.handleDLQAction))
	m.HandleFunc("GET /ui/targets", c.reads(c.handleTargets))
	m.HandleFunc("POST /ui/targets/{name}/check", c.action(c.handleCheck))
	m.HandleFunc("GET /ui/login", c.handleLoginForm)
	m.HandleFunc("POST /ui/login", c.csrf(c.handleLogin))
	m.HandleFunc("POST /ui/logout", c.csrf(c.handleLogout))
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, http.StatusNotFound, "Not found", "There is no page at this address.")
	})
	c.mux = m
	return ingest.HostGuard(cfg.ListenAddr, cfg.AllowedHosts, c.log.Warn)(c)
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/ui" {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.mux.ServeHTTP(w, r)
}

// signingKey is the key sessions and CSRF tokens are signed with, derived
// from the admin token: every starter with the same token accepts the
// others' sessions and forms (no sticky sessions behind a load balancer),
// and a new token ends every session. Without a token nothing needs a
// login, and a form's token is bound to the browser's own random cookie
// (SameSite=Strict, HttpOnly), which another site can neither read nor
// send.
func signingKey(adminToken string) []byte {
	mac := hmac.New(sha256.New, []byte("herald console v1"))
	mac.Write([]byte(adminToken))
	return mac.Sum(nil)
}

// sign is the MAC of parts under the console's key.
func (c *Console) sign(parts ...string) []byte {
	mac := hmac.New(sha256.New, c.key)
	for _, p := range parts {
		mac.Write([]byte(p))
		mac.Write([]byte{0})
	}
	return mac.Sum(nil)
}

// seal joins parts (none holding a ".") and their MAC under kind:
// "<part>.<part>.<MAC>". Any console with the same key reads it back.
func (c *Console) seal(kind string, parts ...string) string {
	mac := c.sign(append([]string{kind}, parts...)...)
	return strings.Join(parts, ".") + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// unseal returns the n parts of a value sealed under kind, when it is
// well formed and its MAC checks.
func (c *Console) unseal(kind, v string, n int) ([]string, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != n+1 {
		return nil, false
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[n])
	if err != nil || !hmac.Equal(mac, c.sign(append([]string{kind}, parts[:n]...)...)) {
		return nil, false
	}
	return parts[:n], true
}

// A session is the cookie value "<expiry unix seconds>.<random>.<MAC>":
// signed, so any starter with the same admin token verifies it without a
// shared store; it holds no part of the token.
func (c *Console) newSession() string {
	exp := strconv.FormatInt(c.now().Add(c.cfg.SessionTTL).Unix(), 10)
	return c.seal("session", exp, rand.Text())
}

// sessionExpiry checks a session value: its expiry when it is well formed,
// signed with this key and not expired.
func (c *Console) sessionExpiry(v string) (time.Time, bool) {
	if len(v) > 200 {
		return time.Time{}, false
	}
	parts, ok := c.unseal("session", v, 2)
	if !ok {
		return time.Time{}, false
	}
	unix, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	at := time.Unix(unix, 0)
	return at, c.now().Before(at)
}

// session returns the request's live session, or "": signed, not expired
// and not logged out here.
func (c *Console) session(r *http.Request) string {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" || c.cfg.AdminToken == "" {
		return ""
	}
	if _, ok := c.sessionExpiry(ck.Value); !ok {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, out := c.revoked[ck.Value]; out {
		return ""
	}
	return ck.Value
}

// endSession remembers a logged-out session until it would have expired.
func (c *Console) endSession(id string) {
	exp, ok := c.sessionExpiry(id)
	if !ok {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for sid, e := range c.revoked {
		if !now.Before(e) {
			delete(c.revoked, sid)
		}
	}
	for len(c.revoked) >= maxRevoked {
		var soonest string
		for sid, e := range c.revoked {
			if soonest == "" || e.Before(c.revoked[soonest]) {
				soonest = sid
			}
		}
		delete(c.revoked, soonest)
	}
	c.revoked[id] = exp
}

// admin reports whether the request may act: no admin token configured,
// or a live session.
func (c *Console) admin(r *http.Request) bool { return c.cfg.AdminToken == "" || c.session(r) != "" }

// setCookie sets a console cookie: HttpOnly, SameSite=Strict, Path=/ui,
// Secure over TLS; maxAge < 0 deletes it.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// browserID returns the per-browser ID the CSRF token is bound to when
// there is no session, setting the cookie when the browser has none.
func (c *Console) browserID(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(browserCookie); err == nil && len(ck.Value) >= 16 && len(ck.Value) <= 64 {
		return ck.Value
	}
	id := rand.Text()
	if w != nil {
		setCookie(w, r, browserCookie, id, 0)
	}
	return id
}

// csrfToken is the token forms of this request carry: bound to the session
// when there is one, else to the browser cookie.
func (c *Console) csrfToken(w http.ResponseWriter, r *http.Request) string {
	bind := "s:" + c.session(r)
	if bind == "s:" {
		bind = "b:" + c.browserID(w, r)
	}
	return base64.RawURLEncoding.EncodeToString(c.sign("csrf", bind))
}

// validCSRF checks the form's token and that the browser does not say the
// request comes from another origin.
func (c *Console) validCSRF(r *http.Request) bool {
	if c.origin.Check(r) != nil {
		return false
	}
	if _, err := r.Cookie(browserCookie); err != nil && c.session(r) == "" {
		return false
	}
	got := r.PostFormValue(csrfField)
	want := c.csrfToken(nil, r)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// maxForm bounds a form body.
const maxForm = 16 << 10

func (c *Console) csrf(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if !c.validCSRF(r) {
			c.message(w, r, http.StatusForbidden, "Form expired",
				"This form is no longer valid (or came from another site). Reload the page and try again.")
			return
		}
		next(w, r)
	}
}

// action is csrf plus the login an action needs.
func (c *Console) action(next http.HandlerFunc) http.HandlerFunc {
	return c.csrf(func(w http.ResponseWriter, r *http.Request) {
		if !c.admin(r) {
			c.needLogin(w, r)
			return
		}
		next(w, r)
	})
}

// reads lets a page through unless admin reads are on and there is no
// session (then the browser goes to the login page).
func (c *Console) reads(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.cfg.AdminReads && c.cfg.AdminToken != "" && c.session(r) == "" {
			http.Redirect(w, r, "/ui/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		next(w, r)
	}
}

// maxFlash bounds the text a flash cookie carries (a cookie holds 4 KB).
const maxFlash = 1500

// flash is the outcome of an action, shown once on the page it returns
// to; Tone is "" (done) or "warn" (done, but the target failed again).
type flash struct {
	Text string
	Tone string
}

// done ends an action: its outcome goes into a signed, one-minute flash
// cookie and the browser is sent (303) to back, which shows it once.
// Reloading that page repeats nothing.
func (c *Console) done(w http.ResponseWriter, r *http.Request, back string, f flash) {
	if len(f.Text) > maxFlash {
		f.Text = strings.ToValidUTF8(f.Text[:maxFlash], "") + "…"
	}
	if f.Tone != "warn" {
		f.Tone = "ok"
	}
	msg := base64.RawURLEncoding.EncodeToString([]byte(f.Text))
	setCookie(w, r, flashCookie, c.seal("flash", f.Tone, msg), 60)
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// takeFlash returns the outcome a redirect carried, once: the cookie is
// deleted. A cookie not signed with this console's key shows nothing.
func (c *Console) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	setCookie(w, r, flashCookie, "", -1)
	parts, ok := c.unseal("flash", ck.Value, 2)
	if !ok {
		return nil
	}
	text, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	return &flash{Text: string(text), Tone: parts[0]}
}

func (c *Console) needLogin(w http.ResponseWriter, r *http.Request) {
	c.message(w, r, http.StatusUnauthorized, "Login required",
		"This action needs the admin token: log in first, then try again.")
}

// localNext is where a login returns to: a console path, else /ui/.
func localNext(v string) string {
	if strings.HasPrefix(v, Prefix) && !strings.HasPrefix(v, "//") && !strings.ContainsAny(v, "\\\r\n") {
		return v
	}
	return Prefix
}

func (c *Console) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	if c.cfg.AdminToken == "" {
		c.message(w, r, http.StatusOK, "No login needed", "This server has no admin token: every action is open.")
		return
	}
	c.render(w, r, http.StatusOK, "login", map[string]any{"Next": localNext(r.URL.Query().Get("next"))})
}

func (c *Console) handleLogin(w http.ResponseWriter, r *http.Request) {
	if c.cfg.AdminToken == "" {
		http.Redirect(w, r, Prefix, http.StatusSeeOther)
		return
	}
	tok := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(c.cfg.AdminToken)) != 1 {
		c.log.Warn("console login failed", "remote", r.RemoteAddr)
		c.render(w, r, http.StatusUnauthorized, "login", map[string]any{"Next": localNext(r.PostFormValue("next")), "Failed": true})
		return
	}
	if old := c.session(r); old != "" {
		c.endSession(old)
	}
	setCookie(w, r, sessionCookie, c.newSession(), int(c.cfg.SessionTTL/time.Second))
	http.Redirect(w, r, localNext(r.PostFormValue("next")), http.StatusSeeOther)
}

func (c *Console) handleLogout(w http.ResponseWriter, r *http.Request) {
	if id := c.session(r); id != "" {
		c.endSession(id)
	}
	setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix, http.StatusSeeOther)
}
