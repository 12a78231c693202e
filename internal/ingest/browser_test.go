package ingest

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/codec"
)

// testCodec is the /codec endpoint with one random key.
func testCodec(t *testing.T, adminToken string) http.Handler {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	c, err := codec.ParseKeys(strings.NewReader("k1:" + base64.StdEncoding.EncodeToString(key) + "\n"))
	require.NoError(t, err)
	return codec.NewHandler(codec.HandlerOptions{Codec: c, AdminToken: adminToken})
}

// DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own Host
// (and, being same-origin to itself, a matching Origin). A server on a
// loopback address answers only its address, localhost, loopback IPs and
// HERALD_ALLOWED_HOSTS; on other addresses the Host is not checked.
func TestHostGuardAgainstDNSRebinding(t *testing.T) {
	webhook := webhookJSON(t, 0, firing("a1", "A"))
	calls := []struct {
		name string
		req  request
	}{
		{"purge dead letters", request{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1s"}},
		{"post a webhook", request{method: http.MethodPost, path: "/webhook", body: webhook, header: jsonHeader()}},
		{"read alerts", request{method: http.MethodGet, path: "/api/v1/alerts"}},
		{"decode payloads", request{method: http.MethodPost, path: "/codec/decode", body: []byte(`{"payloads":[]}`), header: jsonHeader()}},
		{"read metrics", request{method: http.MethodGet, path: "/metrics"}},
	}
	tests := []struct {
		listen, host string
		allowed      []string
		refused      bool
	}{
		{"127.0.0.1:8080", "evil.example:8080", nil, true},
		{"127.0.0.1:8080", "EVIL.example.:8080", nil, true},
		{"127.0.0.1:8080", "127.0.0.1.evil.example", nil, true},
		{"127.0.0.1:8080", "herald.corp:8080", []string{"other.corp"}, true},
		{"127.0.0.1:8080", "herald.corp:9999", []string{"herald.corp:8080"}, true},
		{"localhost:8080", "evil.example:8080", nil, true},
		{"[::1]:8080", "evil.example:8080", nil, true},
		{"127.0.0.1:8080", "127.0.0.1:8080", nil, false},
		{"127.0.0.1:8080", "localhost:8080", nil, false},
		{"127.0.0.1:8080", "LocalHost.:8080", nil, false},
		{"127.0.0.1:8080", "127.0.0.1", nil, false},
		{"127.0.0.1:8080", "[::1]:8080", nil, false},
		{"127.0.0.2:8080", "127.0.0.2:8080", nil, false},
		{"127.0.0.1:8080", "herald.corp:8080", []string{"herald.corp"}, false},
		{"127.0.0.1:8080", "herald.corp:8080", []string{"Herald.Corp:8080"}, false},
		{"127.0.0.1:8080", "evil.example:8080", []string{"*"}, false},
		{"0.0.0.0:8080", "evil.example:8080", nil, false},
		{":8080", "herald.monitoring.svc:8080", nil, false},
		{"10.1.2.3:8080", "10.1.2.3:8080", nil, false},
		{"", "evil.example:8080", nil, false},
	}
	for _, tc := range tests {
		for _, call := range calls {
			t.Run(tc.listen+" Host "+tc.host+" "+strings.Join(tc.allowed, ",")+": "+call.name, func(t *testing.T) {
				s := newAPIServer(t, Config{ListenAddr: tc.listen, AllowedHosts: tc.allowed, Codec: testCodec(t, "")}, nil)
				req := call.req
				req.host = tc.host
				req.header = map[string]string{"Origin": "http://" + tc.host}
				for k, v := range call.req.header {
					req.header[k] = v
				}
				rec := s.serve(req)
				if !tc.refused {
					assert.NotEqual(t, http.StatusForbidden, rec.Code, rec.Body.String())
					return
				}
				require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
				assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				msg := decode[map[string]string](t, rec)["error"]
				contains(t, msg, "is not served here")
				contains(t, msg, "HERALD_ALLOWED_HOSTS")
				assert.Empty(t, s.client.signalled(), "a refused webhook must not reach Temporal")
			})
		}
	}
}

// Browsers send Origin (and Sec-Fetch-Site) with every request that can
// change state: one from another origin is refused, while clients that
// send neither (Alertmanager, curl) and the server's own pages pass.
func TestCrossOriginStateChangesRefused(t *testing.T) {
	const host = "herald.monitoring.svc:8080"
	webhook := webhookJSON(t, 0, firing("a1", "A"))
	tests := []struct {
		name    string
		req     request
		refused bool
	}{
		{"purge from another origin", request{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1s",
			header: map[string]string{"Origin": "http://evil.example"}}, true},
		{"webhook from another origin", request{method: http.MethodPost, path: "/webhook", body: webhook,
			header: jsonHeader("Origin", "https://evil.example")}, true},
		{"replay-all from another port of the same host", request{method: http.MethodPost, path: "/api/v1/dlq/replay",
			header: map[string]string{"Origin": "http://herald.monitoring.svc:9090"}}, true},
		{"webhook with Origin null (sandboxed page)", request{method: http.MethodPost, path: "/webhook", body: webhook,
			header: jsonHeader("Origin", "null")}, true},
		{"check now, cross-site by Sec-Fetch-Site", request{method: http.MethodPost, path: "/api/v1/targets/t1/check",
			header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, true},
		{"purge, same-site by Sec-Fetch-Site", request{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1s",
			header: map[string]string{"Sec-Fetch-Site": "same-site"}}, true},

		{"purge without Origin (curl)", request{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1s"}, false},
		{"webhook without Origin (Alertmanager)", request{method: http.MethodPost, path: "/webhook", body: webhook,
			header: jsonHeader()}, false},
		{"purge from the server's own origin", request{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1s",
			header: map[string]string{"Origin": "http://" + host}}, false},
		{"purge, same-origin by Sec-Fetch-Site", request{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1s",
			header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}}, false},
		{"read from another origin (CORS keeps the answer from the page)", request{method: http.MethodGet, path: "/api/v1/alerts",
			header: map[string]string{"Origin": "http://evil.example"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, Config{ListenAddr: ":8080"}, nil)
			tc.req.host = host
			rec := s.serve(tc.req)
			if !tc.refused {
				assert.Contains(t, []int{http.StatusOK, http.StatusNotFound}, rec.Code, rec.Body.String())
				return
			}
			require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			msg := decode[map[string]string](t, rec)["error"]
			contains(t, msg, "cross-origin request refused")
			contains(t, msg, "without an Origin header")
			assert.Empty(t, s.client.signalled(), "a refused webhook must not reach Temporal")
		})
	}
}

// With an encryption key, /codec decrypts payloads: it needs the admin
// token whenever one is set, and serving it without one on a non-loopback
// address is logged as a warning.
func TestCodecEndpointProtection(t *testing.T) {
	body := []byte(`{"payloads":[]}`)
	auth := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"no token", jsonHeader(), http.StatusUnauthorized},
		{"wrong token", jsonHeader("Authorization", "Bearer nope"), http.StatusUnauthorized},
		{"admin token", jsonHeader("Authorization", "Bearer adm1n"), http.StatusOK},
	}
	for _, tc := range auth {
		t.Run(tc.name, func(t *testing.T) {
			s := newAPIServer(t, Config{ListenAddr: "0.0.0.0:8080", AdminToken: "adm1n", Codec: testCodec(t, "adm1n")}, nil)
			rec := s.serve(request{method: http.MethodPost, path: "/codec/decode", body: body, header: tc.header})
			assert.Equal(t, tc.want, rec.Code, rec.Body.String())
			assert.NotContains(t, s.logs.String(), "without an admin token")
		})
	}

	warn := []struct {
		listen, token string
		warns         bool
	}{
		{"0.0.0.0:8080", "", true},
		{":8080", "", true},
		{"10.1.2.3:8080", "", true},
		{"127.0.0.1:8080", "", false},
		{"localhost:8080", "", false},
		{"0.0.0.0:8080", "adm1n", false},
	}
	for _, tc := range warn {
		t.Run("listen "+tc.listen+" token "+tc.token, func(t *testing.T) {
			s := newAPIServer(t, Config{ListenAddr: tc.listen, AdminToken: tc.token, Codec: testCodec(t, tc.token)}, nil)
			logged := strings.Contains(s.logs.String(), "level=WARN") && strings.Contains(s.logs.String(), "/codec is served without an admin token")
			assert.Equal(t, tc.warns, logged, s.logs.String())
		})
	}
}
