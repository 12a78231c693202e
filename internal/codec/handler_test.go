package codec_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/herald-alerts/herald/internal/codec"
)

const uiOrigin = "http://127.0.0.1:8233"

func newCodecServer(t *testing.T, token string, now func() time.Time) (*httptest.Server, *codec.Codec) {
	t.Helper()
	c := mustParse(t, keyLine("k1", 1))
	mux := http.NewServeMux()
	mux.Handle(codec.PathPrefix+"/", codec.NewHandler(codec.HandlerOptions{
		Codec: c, AdminToken: token, AllowedOrigins: []string{uiOrigin + "/"}, MaxBodyBytes: 1 << 16, Now: now,
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, c
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) string {
	t.Helper()
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type call struct {
	method, path, body string
	header             map[string]string
	cookie             *http.Cookie
}

func do(t *testing.T, srv *httptest.Server, c call) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func jsonHeader(extra ...string) map[string]string {
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// TestHandlerProtocol: the remote codec protocol as the Web UI speaks it.
func TestHandlerProtocol(t *testing.T) {
	srv, c := newCodecServer(t, "", nil)
	plain := payload(t, "alert for ACME-SECRET-42")

	resp, body := do(t, srv, call{method: http.MethodPost, path: "/codec/encode", body: payloadsJSON(t, plain),
		header: jsonHeader("Origin", uiOrigin, "X-Namespace", "default")})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("encode: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, base64Of("alert for ACME-SECRET-42")) {
		t.Fatalf("encode answered plaintext: %s", body)
	}
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != uiOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, uiOrigin)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials = %q, want true", got)
	}
	var encoded commonpb.Payloads
	if err := protojson.Unmarshal([]byte(body), &encoded); err != nil {
		t.Fatalf("encode response is not protobuf JSON: %v: %s", err, body)
	}
	if len(encoded.Payloads) != 1 || string(encoded.Payloads[0].Metadata[converter.MetadataEncoding]) != codec.Encoding {
		t.Fatalf("encode response = %v", &encoded)
	}

	resp, body = do(t, srv, call{method: http.MethodPost, path: "/codec/decode", body: payloadsJSON(t, encoded.Payloads...),
		header: jsonHeader("Origin", uiOrigin)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("decode: %d %s", resp.StatusCode, body)
	}
	// The Web UI reads the response as JSON: {"payloads":[{"metadata":{...},"data":"<base64>"}]}.
	var raw struct {
		Payloads []struct {
			Metadata map[string]string `json:"metadata"`
			Data     string            `json:"data"`
		} `json:"payloads"`
	}
	if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Payloads) != 1 {
		t.Fatalf("decode response %s: %v", body, err)
	}
	if raw.Payloads[0].Data != base64Of(`"alert for ACME-SECRET-42"`) || raw.Payloads[0].Metadata["encoding"] != base64Of("json/plain") {
		t.Fatalf("decoded payload = %+v", raw.Payloads[0])
	}

	// Our own encryption (from the workers) decodes the same way.
	enc, _ := c.Encode([]*commonpb.Payload{plain})
	resp, body = do(t, srv, call{method: http.MethodPost, path: "/codec/decode", body: payloadsJSON(t, enc...), header: jsonHeader()})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, base64Of(`"alert for ACME-SECRET-42"`)) {
		t.Fatalf("decode of a worker payload: %d %s", resp.StatusCode, body)
	}
}

func base64Of(s string) string {
	b, _ := json.Marshal([]byte(s))
	return strings.Trim(string(b), `"`)
}

func TestHandlerRejects(t *testing.T) {
	srv, _ := newCodecServer(t, "", nil)
	other := mustParse(t, keyLine("k9", 9))
	foreign, _ := other.Encode([]*commonpb.Payload{payload(t, "x")})
	tests := []struct {
		name       string
		call       call
		wantStatus int
		wantErr    string
	}{
		{name: "preflight from the UI", call: call{method: http.MethodOptions, path: "/codec/decode",
			header: map[string]string{"Origin": uiOrigin, "Access-Control-Request-Method": "POST"}}, wantStatus: http.StatusNoContent},
		{name: "other origin", call: call{method: http.MethodPost, path: "/codec/decode", body: `{"payloads":[]}`,
			header: jsonHeader("Origin", "http://evil.example")}, wantStatus: http.StatusForbidden, wantErr: "origin http://evil.example may not use"},
		{name: "other origin preflight", call: call{method: http.MethodOptions, path: "/codec/decode",
			header: map[string]string{"Origin": "http://evil.example"}}, wantStatus: http.StatusForbidden},
		{name: "GET", call: call{method: http.MethodGet, path: "/codec/decode"}, wantStatus: http.StatusMethodNotAllowed, wantErr: "use POST"},
		{name: "text/plain", call: call{method: http.MethodPost, path: "/codec/decode", body: `{"payloads":[]}`,
			header: map[string]string{"Content-Type": "text/plain"}}, wantStatus: http.StatusUnsupportedMediaType, wantErr: "application/json"},
		{name: "not JSON", call: call{method: http.MethodPost, path: "/codec/decode", body: `payloads`, header: jsonHeader()},
			wantStatus: http.StatusBadRequest, wantErr: "protobuf JSON"},
		{name: "too large", call: call{method: http.MethodPost, path: "/codec/encode", body: `{"payloads":[{"data":"` + strings.Repeat("A", 1<<16) + `"}]}`,
			header: jsonHeader()}, wantStatus: http.StatusRequestEntityTooLarge, wantErr: "larger than 65536 bytes"},
		{name: "unknown key", call: call{method: http.MethodPost, path: "/codec/decode", body: payloadsJSON(t, foreign...), header: jsonHeader()},
			wantStatus: http.StatusBadRequest, wantErr: `decode: payload 0: cannot decrypt payload: encrypted with key \"k9\"`},
		{name: "unknown path", call: call{method: http.MethodPost, path: "/codec/other", header: jsonHeader()}, wantStatus: http.StatusNotFound},
		{name: "login without a token configured", call: call{method: http.MethodGet, path: "/codec/login"}, wantStatus: http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, srv, tc.call)
			if resp.StatusCode != tc.wantStatus || !strings.Contains(body, tc.wantErr) {
				t.Fatalf("got %d %s, want %d containing %q", resp.StatusCode, body, tc.wantStatus, tc.wantErr)
			}
			if tc.wantStatus >= 400 && !strings.Contains(body, `"error"`) {
				t.Fatalf("error body is not {\"error\": ...}: %s", body)
			}
		})
	}
}

func TestHandlerAuth(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv, _ := newCodecServer(t, "s3cret", func() time.Time { return now })
	body := `{"payloads":[]}`
	decode := func(extra call) int {
		extra.method, extra.path, extra.body = http.MethodPost, "/codec/decode", body
		if extra.header == nil {
			extra.header = jsonHeader()
		}
		resp, _ := do(t, srv, extra)
		return resp.StatusCode
	}
	login := func(token string, origin string) (*http.Response, string) {
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		if origin != "" {
			h["Origin"] = origin
		}
		return do(t, srv, call{method: http.MethodPost, path: "/codec/login", body: url.Values{"token": {token}}.Encode(), header: h})
	}

	resp, _ := login("s3cret", srv.URL)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == codec.SessionCookie {
			session = c
		}
	}
	if resp.StatusCode != http.StatusOK || session == nil {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/codec" {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/codec", session)
	}
	if strings.Contains(session.Value, "s3cret") {
		t.Fatalf("session cookie carries the token: %q", session.Value)
	}
	forged := &http.Cookie{Name: codec.SessionCookie, Value: session.Value[:strings.Index(session.Value, ".")] + ".AAAA"}
	extended := &http.Cookie{Name: codec.SessionCookie, Value: "99999999999" + session.Value[strings.Index(session.Value, "."):]}

	tests := []struct {
		name string
		call call
		want int
	}{
		{name: "no credentials", want: http.StatusUnauthorized},
		{name: "wrong bearer", call: call{header: jsonHeader("Authorization", "Bearer nope")}, want: http.StatusUnauthorized},
		{name: "admin bearer", call: call{header: jsonHeader("Authorization", "Bearer s3cret")}, want: http.StatusOK},
		{name: "session cookie from the UI", call: call{header: jsonHeader("Origin", uiOrigin), cookie: session}, want: http.StatusOK},
		{name: "forged session", call: call{cookie: forged}, want: http.StatusUnauthorized},
		{name: "session with a changed expiry", call: call{cookie: extended}, want: http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := decode(tc.call); got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
		})
	}

	t.Run("session expires", func(t *testing.T) {
		now = now.Add(13 * time.Hour)
		defer func() { now = now.Add(-13 * time.Hour) }()
		if got := decode(call{cookie: session}); got != http.StatusUnauthorized {
			t.Fatalf("expired session: status %d, want 401", got)
		}
	})
	t.Run("wrong token at login", func(t *testing.T) {
		resp, _ := login("guess", srv.URL)
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
			t.Fatalf("login with a wrong token: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
	})
	t.Run("login posted from another site", func(t *testing.T) {
		resp, _ := login("s3cret", "http://evil.example")
		if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Fatalf("cross-site login: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
	})
	t.Run("login page", func(t *testing.T) {
		resp, body := do(t, srv, call{method: http.MethodGet, path: "/codec/login"})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) || strings.Contains(body, "s3cret") {
			t.Fatalf("login page: %d %s", resp.StatusCode, body)
		}
	})
}
