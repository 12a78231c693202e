package httpconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/publish"
)

// expiryMargin is how long before its announced expiry a token is
// replaced (at most a quarter of its lifetime).
const expiryMargin = 10 * time.Second

// maxTokenResponse is how much of a token endpoint's answer is read.
const maxTokenResponse = 1 << 20

// tokenSource fetches and caches an OAuth2 access token with the client
// credentials grant (RFC 6749 section 4.4).
type tokenSource struct {
	cfg    *OAuth2
	client *http.Client
	now    func() time.Time
	secret *secretValue

	// sem is held while a token is fetched (one fetch at a time; a
	// waiting request gives up when its context ends).
	sem    chan struct{}
	token  string // "Bearer <access token>" ("" when none is cached)
	expiry time.Time
}

func newTokenSource(cfg *OAuth2, client *http.Client, now func() time.Time) *tokenSource {
	if now == nil {
		now = time.Now
	}
	return &tokenSource{
		cfg: cfg, client: client, now: now,
		secret: &secretValue{value: cfg.ClientSecret, path: cfg.ClientSecretFile},
		sem:    make(chan struct{}, 1),
	}
}

// header returns the Authorization header value for req, fetching a token
// (with req's context: its dial policy and deadline) when none is cached,
// the cached one is about to expire, or the client secret file changed.
func (ts *tokenSource) header(req *http.Request) (string, error) {
	ctx := req.Context()
	select {
	case ts.sem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-ts.sem }()
	secret, changed, err := ts.secret.getChanged()
	if err != nil {
		return "", fmt.Errorf("%s.oauth2.client_secret_file: %w", root, err)
	}
	if ts.token != "" && !changed && (ts.expiry.IsZero() || ts.now().Before(ts.expiry)) {
		return ts.token, nil
	}
	ts.token = ""
	tok, typ, lifetime, err := ts.fetch(ctx, secret)
	if err != nil {
		return "", err
	}
	ts.token = typ + " " + tok
	ts.expiry = time.Time{}
	if lifetime > 0 {
		margin := min(expiryMargin, lifetime/4)
		ts.expiry = ts.now().Add(lifetime - margin)
	}
	return ts.token, nil
}

// invalidate drops the cached token when the target refused it (a token
// revoked before its expiry, or one without expires_in).
func (ts *tokenSource) invalidate(v string) {
	select {
	case ts.sem <- struct{}{}:
		if ts.token == v {
			ts.token = ""
		}
		<-ts.sem
	default:
		// A fetch is running: it replaces the token anyway.
	}
}

// fetch asks the token endpoint for a token. The client authenticates with
// HTTP Basic, client_id and client_secret form-encoded first (RFC 6749
// section 2.3.1).
func (ts *tokenSource) fetch(ctx context.Context, secret string) (token, typ string, lifetime time.Duration, err error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if len(ts.cfg.Scopes) > 0 {
		form.Set("scope", strings.Join(ts.cfg.Scopes, " "))
	}
	for _, k := range sortedKeys(ts.cfg.EndpointParams) {
		form.Set(k, ts.cfg.EndpointParams[k])
	}
	host := "the token endpoint"
	if u, err := url.Parse(ts.cfg.TokenURL); err == nil && u.Host != "" {
		host = "token endpoint " + u.Host
	}
	secrets := []string{secret, url.QueryEscape(secret)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.cfg.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", "", 0, publish.Permanent(publish.KindConfig, "oauth2: invalid token_url")
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", publish.UserAgent)
	req.SetBasicAuth(url.QueryEscape(ts.cfg.ClientID), url.QueryEscape(secret))
	resp, err := ts.client.Do(req)
	if err != nil {
		var be *netguard.BlockedError
		if errors.As(err, &be) {
			// Kept as such: the dial guard's refusal is permanent.
			return "", "", 0, fmt.Errorf("oauth2 token request: %w", be)
		}
		// The message names the scheme and host of the token URL only.
		pe := publish.ClassifyTransport(err)
		pe.Msg = "oauth2 token request: " + publish.Redact(pe.Msg, secrets)
		return "", "", 0, pe
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return "", "", 0, publish.Retryable(publish.KindNetwork, 0, "oauth2 token request: reading the answer of %s: %v", host, err)
	}
	if resp.StatusCode/100 != 2 {
		return "", "", 0, tokenError(resp, body, host, secrets, ts.now())
	}
	tr, err := parseTokenResponse(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return "", "", 0, publish.Retryable(publish.KindProvider, 0, "oauth2: %s answered HTTP %d with an unreadable token response", host, resp.StatusCode)
	}
	if tr.Error != "" {
		return "", "", 0, publish.Permanent(publish.KindConfig, "oauth2: %s refused the request: %s", host, oauthErrorText(tr.Error, tr.Description, secrets))
	}
	if tr.AccessToken == "" {
		return "", "", 0, publish.Retryable(publish.KindProvider, 0, "oauth2: %s answered without an access_token", host)
	}
	typ = tr.TokenType
	switch {
	case typ == "", strings.EqualFold(typ, "bearer"):
		typ = "Bearer"
	case !isToken(typ):
		return "", "", 0, publish.Permanent(publish.KindProvider, "oauth2: %s answered an unusable token_type", host)
	}
	return tr.AccessToken, typ, tr.ExpiresIn, nil
}

// tokenError classifies a refusal of the token endpoint. 400 and 401
// (RFC 6749 section 5.2: invalid_client, invalid_scope, ...) and 403 are
// permanent: no retry fixes credentials; 429, 5xx and the like are
// retried as for a target. The message holds the endpoint's host, the
// status, the OAuth2 error code and its description, redacted.
func tokenError(resp *http.Response, body []byte, host string, secrets []string, now time.Time) error {
	detail := ""
	if tr, err := parseTokenResponse(resp.Header.Get("Content-Type"), body); err == nil && tr.Error != "" {
		detail = ": " + oauthErrorText(tr.Error, tr.Description, secrets)
	}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		return &publish.Error{Kind: publish.KindConfig, StatusCode: resp.StatusCode, Auth: true,
			Msg: fmt.Sprintf("oauth2: %s refused the client credentials (HTTP %d)%s; fix client_id, client_secret or scopes", host, resp.StatusCode, detail)}
	}
	if resp.StatusCode/100 == 3 {
		return &publish.Error{Kind: publish.KindConfig, StatusCode: resp.StatusCode,
			Msg: fmt.Sprintf("oauth2: %s answered a redirect (HTTP %d); Herald does not follow redirects: set token_url to the final address", host, resp.StatusCode)}
	}
	err := publish.ClassifyStatus(resp.StatusCode, resp.Header, nil, now)
	if pe, ok := err.(*publish.Error); ok {
		pe.Msg = fmt.Sprintf("oauth2: %s answered HTTP %d%s", host, resp.StatusCode, detail)
		return pe
	}
	return fmt.Errorf("oauth2: %s answered HTTP %d", host, resp.StatusCode)
}

// oauthErrorText is an OAuth2 error code and its description, short and
// redacted.
func oauthErrorText(code, desc string, secrets []string) string {
	s := code
	if desc != "" {
		s += " (" + desc + ")"
	}
	return publish.RedactedExcerpt([]byte(s), secrets)
}

type tokenResponse struct {
	AccessToken string
	TokenType   string
	ExpiresIn   time.Duration
	Error       string
	Description string
}

// parseTokenResponse reads a token endpoint's answer: JSON (RFC 6749
// section 5.1), or a form-encoded body as some endpoints send. expires_in
// may be a number or a string of digits.
func parseTokenResponse(contentType string, body []byte) (tokenResponse, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return tokenResponse{}, err
		}
		secs, _ := strconv.ParseInt(v.Get("expires_in"), 10, 64)
		return tokenResponse{AccessToken: v.Get("access_token"), TokenType: v.Get("token_type"),
			ExpiresIn: seconds(secs), Error: v.Get("error"), Description: v.Get("error_description")}, nil
	}
	var raw struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Error       string          `json:"error"`
		Description string          `json:"error_description"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return tokenResponse{}, err
	}
	out := tokenResponse{AccessToken: raw.AccessToken, TokenType: raw.TokenType, Error: raw.Error, Description: raw.Description}
	if s := strings.Trim(string(raw.ExpiresIn), `"`); s != "" && s != "null" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			out.ExpiresIn = seconds(int64(f))
		}
	}
	return out, nil
}

// seconds converts a lifetime, capping absurd values at a day.
func seconds(s int64) time.Duration {
	const maxLifetime = 24 * time.Hour
	if s <= 0 {
		return 0
	}
	if s > int64(maxLifetime/time.Second) {
		return maxLifetime
	}
	return time.Duration(s) * time.Second
}
