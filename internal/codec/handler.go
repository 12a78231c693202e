package codec

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
)

// PathPrefix is where the codec endpoints live: POST PathPrefix+"/encode",
// POST PathPrefix+"/decode" (the Temporal remote codec protocol) and
// PathPrefix+"/login" (a browser session for the Web UI when an admin token
// is set).
const PathPrefix = "/codec"

// DefaultMaxBodyBytes bounds one encode/decode request.
const DefaultMaxBodyBytes = 8 << 20

// SessionCookie carries a Web UI session of the codec endpoint.
const SessionCookie = "herald_codec_session"

// sessionTTL is how long a login of the codec endpoint lasts.
const sessionTTL = 12 * time.Hour

// HandlerOptions configure the codec endpoint.
type HandlerOptions struct {
	// Codec is required.
	Codec converter.PayloadCodec
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// or as the session cookie set by PathPrefix+"/login".
	AdminToken string
	// AllowedOrigins may call the endpoint from a browser (CORS), such as
	// the Web UI's origin "http://127.0.0.1:8233". Requests with any other
	// Origin are refused.
	AllowedOrigins []string
	// MaxBodyBytes defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Now defaults to time.Now (tests).
	Now func() time.Time
}

// Handler serves the remote codec protocol of the Temporal Web UI and CLI:
// a JSON body {"payloads": [...]} (protobuf JSON of temporal.api.common.v1.Payloads)
// is answered with the encoded or decoded payloads in the same form.
type Handler struct {
	opts    HandlerOptions
	origins []string
}

// NewHandler builds the codec endpoint. Mount it on PathPrefix+"/*".
func NewHandler(opts HandlerOptions) *Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts}
	for _, o := range opts.AllowedOrigins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			h.origins = append(h.origins, o)
		}
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.URL.Path, PathPrefix+"/")
	if origin := r.Header.Get("Origin"); origin != "" && !sameHost(origin, r) {
		// The sign-in form is only ever posted from its own page.
		if op == "login" || !slices.Contains(h.origins, origin) {
			writeError(w, http.StatusForbidden, fmt.Sprintf("origin %s may not use the codec endpoint (allowed: %s; see HERALD_CODEC_ORIGINS)",
				origin, strings.Join(h.origins, ", ")))
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Authorization-Extras, Content-Type, X-Namespace")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	switch op {
	case "encode", "decode":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+": use POST")
			return
		}
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (or sign in at "+PathPrefix+"/login)")
			return
		}
		h.serveCodec(w, r, op)
	case "login":
		h.serveLogin(w, r)
	default:
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	}
}

func (h *Handler) serveCodec(w http.ResponseWriter, r *http.Request, op string) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", h.opts.MaxBodyBytes))
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// The server's body deadline passed (a client trickling its body).
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, "request body not received in time")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var in commonpb.Payloads
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(body, &in); err != nil {
		writeError(w, http.StatusBadRequest, `body is not {"payloads": [...]} in protobuf JSON: `+err.Error())
		return
	}
	var out []*commonpb.Payload
	if op == "encode" {
		out, err = h.opts.Codec.Encode(in.GetPayloads())
	} else {
		out, err = h.opts.Codec.Decode(in.GetPayloads())
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, op+": "+err.Error())
		return
	}
	data, err := protojson.Marshal(&commonpb.Payloads{Payloads: out})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "marshal payloads: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(data)
}

// authorized reports whether r carries the admin token (bearer) or a valid
// session cookie; always true without an admin token.
func (h *Handler) authorized(r *http.Request) bool {
	token := h.opts.AdminToken
	if token == "" {
		return true
	}
	got := []byte(r.Header.Get("Authorization"))
	if subtle.ConstantTimeCompare(got, []byte("Bearer "+token)) == 1 {
		return true
	}
	c, err := r.Cookie(SessionCookie)
	return err == nil && h.validSession(c.Value)
}

// session returns a cookie value valid until exp: the expiry and an HMAC of
// it keyed by the admin token (the token itself never leaves the server).
func (h *Handler) session(exp time.Time) string {
	ts := strconv.FormatInt(exp.Unix(), 10)
	return ts + "." + h.mac(ts)
}

func (h *Handler) mac(ts string) string {
	m := hmac.New(sha256.New, []byte(h.opts.AdminToken))
	m.Write([]byte("herald-codec-session:" + ts))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) validSession(v string) bool {
	ts, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || h.opts.Now().Unix() >= exp {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(h.mac(ts)))
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>Herald codec sign-in</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>Herald codec</h1>
{{if .Message}}<p><strong>{{.Message}}</strong></p>{{end}}
{{if .Form}}<p>Alert payloads are encrypted. Sign in with Herald's admin token so the Temporal Web UI
can decrypt them in this browser (for {{.TTL}}).</p>
<form method="post"><label>Admin token <input type="password" name="token" autofocus></label>
<button type="submit">Sign in</button></form>{{end}}
</body></html>
`))

type loginView struct {
	Message string
	Form    bool
	TTL     string
}

func (h *Handler) serveLogin(w http.ResponseWriter, r *http.Request) {
	if h.opts.AdminToken == "" {
		writeError(w, http.StatusNotFound, "no sign-in needed: no admin token is configured")
		return
	}
	view := loginView{Form: true, TTL: sessionTTL.String()}
	status := http.StatusOK
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		token := r.PostFormValue("token")
		if subtle.ConstantTimeCompare([]byte(token), []byte(h.opts.AdminToken)) != 1 {
			view.Message, status = "Wrong token.", http.StatusUnauthorized
			break
		}
		exp := h.opts.Now().Add(sessionTTL)
		http.SetCookie(w, &http.Cookie{
			Name: SessionCookie, Value: h.session(exp), Path: PathPrefix, Expires: exp,
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
		view = loginView{Message: "Signed in until " + exp.UTC().Format(time.RFC3339) + ". Reload the Web UI."}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, view)
}

// sameHost reports whether origin names the host the request was sent to
// (either scheme: a TLS-terminating proxy may sit in front).
func sameHost(origin string, r *http.Request) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
