package httpconfig_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/httpconfig"
	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
)

// basic_auth and authorization headers arrive exactly as configured,
// inline or from files.
func TestAuthHeaders(t *testing.T) {
	dir := t.TempDir()
	pwFile := writeFile(t, dir, "pw", "s3cr3t-from-file\n")
	credFile := writeFile(t, dir, "cred", "  tok-from-file  \n")
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	tests := []struct {
		name string
		cfg  httpconfig.Config
		want string
	}{
		{"basic inline", httpconfig.Config{BasicAuth: &httpconfig.BasicAuth{Username: "herald", Password: "p@ss:wörd"}}, basic("herald", "p@ss:wörd")},
		{"basic password_file", httpconfig.Config{BasicAuth: &httpconfig.BasicAuth{Username: "herald", PasswordFile: pwFile}}, basic("herald", "s3cr3t-from-file")},
		{"basic username only", httpconfig.Config{BasicAuth: &httpconfig.BasicAuth{Username: "apikey-0123"}}, basic("apikey-0123", "")},
		{"authorization default type", httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "tok-123"}}, "Bearer tok-123"},
		{"authorization own type", httpconfig.Config{Authorization: &httpconfig.Authorization{Type: "GenieKey", Credentials: "k-42"}}, "GenieKey k-42"},
		{"authorization credentials_file", httpconfig.Config{Authorization: &httpconfig.Authorization{CredentialsFile: credFile}}, "Bearer tok-from-file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			if err := tc.cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			c, err := tc.cfg.Wrap(plainClient())
			if err != nil {
				t.Fatal(err)
			}
			// The caller's request is not modified (RoundTripper contract).
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := rec.got(); len(got) != 1 || got[0] != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
			if req.Header.Get("Authorization") != "" {
				t.Error("the caller's request was modified")
			}
		})
	}
}

// A credentials file that is replaced applies from the next request on.
func TestCredentialFileRotation(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	path := writeFile(t, t.TempDir(), "token", "first-token")
	cfg := &httpconfig.Config{Authorization: &httpconfig.Authorization{CredentialsFile: path}}
	c, err := cfg.Wrap(plainClient())
	if err != nil {
		t.Fatal(err)
	}
	get(context.Background(), c, srv.URL)
	rewrite(t, path, "second-token", 1)
	if s := cfg.Secrets(); len(s) != 1 || s[0] != "second-token" {
		t.Errorf("Secrets() after rotation = %q, want the new file content", s)
	}
	get(context.Background(), c, srv.URL)
	if got := rec.got(); len(got) != 2 || got[0] != "Bearer first-token" || got[1] != "Bearer second-token" {
		t.Errorf("Authorization = %q, want the first then the rotated token", got)
	}
}

// tokenEndpoint is a fake OAuth2 token endpoint (RFC 6749 section 4.4).
type tokenEndpoint struct {
	t                *testing.T
	clientID, secret string
	scope            string
	params           url.Values
	expiresIn        int
	status           int    // answer status (0: 200)
	body             string // answer body when status is set
	mu               sync.Mutex
	calls            int
	problems         []string
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	bad := func(f string) { e.problems = append(e.problems, f) }
	if r.Method != http.MethodPost {
		bad("method " + r.Method)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		bad("content type " + ct)
	}
	b, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(b))
	if err != nil {
		bad("form: " + err.Error())
	}
	if g := form.Get("grant_type"); g != "client_credentials" {
		bad("grant_type " + g)
	}
	// RFC 6749 section 2.3.1: form-encoded, then HTTP Basic; never in the body.
	user, pass, ok := r.BasicAuth()
	if !ok || user != url.QueryEscape(e.clientID) || pass != url.QueryEscape(e.secret) {
		bad("client authentication")
	}
	if form.Has("client_secret") || form.Has("client_id") {
		bad("client credentials in the body")
	}
	if g := form.Get("scope"); g != e.scope {
		bad("scope " + g)
	}
	for k := range e.params {
		if form.Get(k) != e.params.Get(k) {
			bad("endpoint param " + k)
		}
	}
	if e.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(e.status)
		io.WriteString(w, e.body)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": "tok-" + string(rune('0'+e.calls)), "token_type": "bearer", "expires_in": e.expiresIn,
	})
}

func (e *tokenEndpoint) stats() (int, []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls, append([]string(nil), e.problems...)
}

// The client credentials grant: the token request carries grant_type,
// the client's HTTP Basic authentication, the scopes and the endpoint
// parameters; the token is fetched once for several requests and again
// once it is about to expire (a settable clock, no sleeping).
func TestOAuth2ClientCredentials(t *testing.T) {
	ep := &tokenEndpoint{t: t, clientID: "herald client", secret: "s3cret/with+chars&=", scope: "alerts:write events",
		params: url.Values{"audience": {"https://api.example"}}, expiresIn: 60}
	idp := httptest.NewServer(ep)
	defer idp.Close()
	rec := &recorder{}
	api := httptest.NewServer(rec)
	defer api.Close()

	clk := &clock{now: time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)}
	cache := &httpconfig.Cache{Now: clk.Now}
	cfg := &httpconfig.Config{OAuth2: &httpconfig.OAuth2{
		ClientID: ep.clientID, ClientSecret: ep.secret, TokenURL: idp.URL + "/oauth/token",
		Scopes: []string{"alerts:write", "events"}, EndpointParams: map[string]string{"audience": "https://api.example"},
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	base := plainClient()
	send := func() {
		t.Helper()
		c, err := cache.Client(cfg, base)
		if err != nil {
			t.Fatal(err)
		}
		if status, _, err := get(context.Background(), c, api.URL); err != nil || status != http.StatusOK {
			t.Fatalf("GET = %d, %v", status, err)
		}
	}
	for range 3 {
		send()
	}
	clk.Advance(40 * time.Second) // still well before expiry
	send()
	if calls, problems := ep.stats(); calls != 1 || len(problems) != 0 {
		t.Fatalf("token requests = %d (problems %q); want exactly 1 for 4 deliveries", calls, problems)
	}
	clk.Advance(21 * time.Second) // 61 s: expired
	send()
	send()
	if calls, problems := ep.stats(); calls != 2 || len(problems) != 0 {
		t.Fatalf("token requests after expiry = %d (problems %q); want 2", calls, problems)
	}
	want := []string{"Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2", "Bearer tok-2"}
	if got := rec.got(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Authorization headers = %q, want %q", got, want)
	}
}

// A token refused by the target (401) is dropped: the next request gets
// a new one, even without expires_in.
func TestOAuth2TokenDroppedOn401(t *testing.T) {
	ep := &tokenEndpoint{t: t, clientID: "id", secret: "secret-value"}
	idp := httptest.NewServer(ep)
	defer idp.Close()
	var mu sync.Mutex
	var seen []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		first := len(seen) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer api.Close()
	cfg := &httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecret: "secret-value", TokenURL: idp.URL}}
	c, err := cfg.Wrap(plainClient())
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := get(context.Background(), c, api.URL); status != http.StatusUnauthorized {
		t.Fatalf("first status %d, want 401", status)
	}
	get(context.Background(), c, api.URL)
	get(context.Background(), c, api.URL)
	if calls, _ := ep.stats(); calls != 2 {
		t.Errorf("token requests = %d, want 2 (one more after the 401, then cached)", calls)
	}
	if strings.Join(seen, ",") != "Bearer tok-1,Bearer tok-2,Bearer tok-2" {
		t.Errorf("tokens sent = %q", seen)
	}
}

// A refusal of the token endpoint is a permanent config error (401/400/
// 403) or a retryable one (5xx, 429), whose message never holds the
// client secret even when the endpoint echoes it; the target is not
// called without a token.
func TestOAuth2TokenErrors(t *testing.T) {
	const secret = "Vx9Qe4Rt7Yu2Wp"
	tests := []struct {
		name      string
		status    int
		body      string
		kind      string
		retryable bool
	}{
		{"401 invalid_client", http.StatusUnauthorized, `{"error":"invalid_client","error_description":"bad secret ` + secret + `"}`, publish.KindConfig, false},
		{"400 invalid_scope", http.StatusBadRequest, `{"error":"invalid_scope"}`, publish.KindConfig, false},
		{"403", http.StatusForbidden, `forbidden ` + secret, publish.KindConfig, false},
		{"503", http.StatusServiceUnavailable, `{"error":"temporarily_unavailable","error_description":"` + secret + `"}`, publish.KindHTTPServer, true},
		{"429", http.StatusTooManyRequests, ``, publish.KindRateLimited, true},
		{"302", http.StatusFound, ``, publish.KindConfig, false},
		{"200 without token", http.StatusOK, `{"token_type":"bearer"}`, publish.KindProvider, true},
		{"200 with error", http.StatusOK, `{"error":"invalid_client","error_description":"` + secret + `"}`, publish.KindConfig, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &tokenEndpoint{t: t, clientID: "id", secret: secret, status: tc.status, body: tc.body}
			idp := httptest.NewServer(ep)
			defer idp.Close()
			rec := &recorder{}
			api := httptest.NewServer(rec)
			defer api.Close()
			cfg := &httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecret: secret, TokenURL: idp.URL + "/token"}}
			c, err := cfg.Wrap(plainClient())
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = get(context.Background(), c, api.URL)
			var pe *publish.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error = %v; want a *publish.Error inside", err)
			}
			publishtest.AssertError(t, pe, tc.kind, tc.retryable, -1)
			if tc.status == http.StatusUnauthorized && !pe.Auth {
				t.Error("a refused client is not marked as an auth failure")
			}
			publishtest.AssertNoSecretFragment(t, err.Error(), publishtest.MinFragment, cfg.Secrets()...)
			if n := len(rec.got()); n != 0 {
				t.Errorf("the target was called %d times without a token", n)
			}
		})
	}
}

// A rotated client_secret_file gets a new token with the new secret.
func TestOAuth2SecretFileRotation(t *testing.T) {
	ep := &tokenEndpoint{t: t, clientID: "id", secret: "first-secret", expiresIn: 3600}
	idp := httptest.NewServer(ep)
	defer idp.Close()
	rec := &recorder{}
	api := httptest.NewServer(rec)
	defer api.Close()
	path := writeFile(t, t.TempDir(), "client-secret", "first-secret\n")
	cfg := &httpconfig.Config{OAuth2: &httpconfig.OAuth2{ClientID: "id", ClientSecretFile: path, TokenURL: idp.URL}}
	c, err := cfg.Wrap(plainClient())
	if err != nil {
		t.Fatal(err)
	}
	get(context.Background(), c, api.URL)
	ep.mu.Lock()
	ep.secret = "second-secret"
	ep.mu.Unlock()
	rewrite(t, path, "second-secret", 1)
	get(context.Background(), c, api.URL)
	calls, problems := ep.stats()
	if calls != 2 || len(problems) != 0 {
		t.Errorf("token requests = %d (problems %q); want 2, the second with the rotated secret", calls, problems)
	}
}
