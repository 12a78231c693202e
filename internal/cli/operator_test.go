package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testToken = "s3cret-admin-token"

// now is the operator's clock in these tests: 3 minutes after the times
// of the scripted answers.
var now = time.Date(2024, 5, 1, 10, 3, 0, 0, time.UTC)

const (
	alertListJSON = `{"query": "WorkflowType IN ('AlertWorkflow')", "alerts": [
  {"fingerprint": "5f1a", "name": "DiskFull", "severity": "critical", "status": "firing", "targets": ["slack", "pager"],
   "workflowId": "alert-5f1a", "runId": "r1", "workflowStatus": "running", "startedAt": "2024-05-01T10:00:00Z"}]}`
	alertJSON = `{"fingerprint": "5f1a", "name": "DiskFull", "severity": "critical", "status": "firing", "episode": 1,
  "alert": {"fingerprint": "5f1a", "status": "firing", "labels": {"alertname": "DiskFull"}},
  "firstSeen": "2024-05-01T10:00:00Z", "lastSeen": "2024-05-01T10:00:00Z",
  "targets": [
    {"name": "slack", "type": "slack", "status": "delivered", "event": "firing", "attempts": 1, "deliveredAt": "2024-05-01T10:00:00Z", "ref": {"name": "slack", "type": "slack", "retry": {"initialInterval": "1s", "maxInterval": "5m0s"}}},
    {"name": "pager", "type": "webhook", "status": "dead_lettered", "event": "firing", "attempts": 3, "lastErrorKind": "http_5xx", "lastError": "HTTP 500\tfrom\u001b[31m sink", "deadLetterId": "5f1a.pager.r1.1", "ref": {"name": "pager", "type": "webhook", "retry": {"initialInterval": "1s", "maxInterval": "5m0s"}}}],
  "workflowId": "alert-5f1a", "runId": "r1", "workflowStatus": "running"}`
	dlqListJSON = `{"entries": [{"id": "5f1a.pager.r1.1", "fingerprint": "5f1a", "alertName": "DiskFull", "target": "pager", "targetType": "webhook",
  "event": "firing", "errorKind": "http_5xx", "error": "HTTP 500", "attempts": 3, "failures": 1,
  "firstFailure": "2024-05-01T10:00:00Z", "lastFailure": "2024-05-01T10:00:00Z", "alertWorkflowId": "alert-5f1a", "seq": 1,
  "alert": {"fingerprint": "5f1a", "status": "firing", "labels": {"alertname": "DiskFull"}}}],
  "total": 4, "matched": 1, "offset": 0, "overflow": {"count": 0}}`
	dlqEntryJSON = `{"id": "5f1a.pager.r1.1", "fingerprint": "5f1a", "alertName": "DiskFull", "target": "pager", "targetType": "webhook",
  "event": "firing", "errorKind": "http_5xx", "error": "HTTP 500", "statusCode": 500, "attempts": 3, "failures": 1,
  "firstFailure": "2024-05-01T10:00:00Z", "lastFailure": "2024-05-01T10:00:00Z", "alertWorkflowId": "alert-5f1a", "seq": 1,
  "alert": {"fingerprint": "5f1a", "status": "firing", "labels": {"alertname": "DiskFull"}}}`
	targetsJSON = `{"targets": [{"name": "pager", "type": "webhook", "url": "https://pager.example", "enabled": true, "origin": "file:targets.yaml#1",
  "retry": {"initial_interval": "1s", "backoff": 2, "max_interval": "5m0s", "max_attempts": 5}, "rate_limit": {"per_second": 0.5, "burst": 1, "source": "target"},
  "health": {"target": "pager", "state": "unhealthy", "since": "2024-05-01T10:00:00Z", "consecutiveFailures": 3, "consecutiveSuccesses": 0,
    "checks": 3, "failures": 3, "lastCheck": "2024-05-01T10:02:00Z", "lastClass": "http_status", "lastError": "HTTP 503"}}],
  "problems": [{"origin": "secret:ns/bad", "target": "x", "reason": "invalid_json", "message": "unexpected end"}]}`
	checkJSON = `{"observation": {"target": "pager", "at": "2024-05-01T10:02:30Z", "ok": true, "latency": "12ms", "statusCode": 200, "source": "check"},
  "health": {"target": "pager", "state": "healthy", "since": "2024-05-01T10:02:30Z", "consecutiveFailures": 0, "consecutiveSuccesses": 1, "checks": 4, "failures": 3}}`
)

// expect is the request a command must send.
type expect struct {
	method, path, query string
	// auth: the Authorization header; idempotencyKey: "" none, "*" any
	// non-empty key, else that key.
	auth, idempotencyKey string
}

func TestOperatorCommands(t *testing.T) {
	bearer := "Bearer " + testToken
	tests := []struct {
		name string
		args []string
		// env beyond HERALD_API_URL (the test server) and
		// HERALD_ADMIN_TOKEN (testToken unless noToken).
		noToken bool
		want    expect
		status  int
		body    string
		code    int
		// stdout: each substring in order; json: stdout is exactly body.
		out    []string
		json   bool
		errOut []string
	}{
		{name: "alerts list with filters", args: []string{"alerts", "list", "--status", "firing", "--severity", "critical", "--name", "DiskFull", "--target", "pager"},
			want:   expect{method: "GET", path: "/api/v1/alerts", query: "name=DiskFull&severity=critical&status=firing&target=pager", auth: bearer},
			status: 200, body: alertListJSON,
			out: []string{"FINGERPRINT  NAME      SEVERITY  STATUS  TARGETS      WORKFLOW  STARTED", "5f1a         DiskFull  critical  firing  slack,pager  running   2024-05-01T10:00:00Z (3m ago)"}},
		{name: "alerts list, a next page", args: []string{"alerts", "list", "--limit", "1", "--page-token", "eyJhIjoxfQ"},
			want:   expect{method: "GET", path: "/api/v1/alerts", query: "limit=1&page_token=eyJhIjoxfQ", auth: bearer},
			status: 200, body: strings.Replace(alertListJSON, `"alerts": [`, `"nextPageToken": "eyJiIjoyfQ", "alerts": [`, 1),
			out: []string{"5f1a         DiskFull", "\nmore match; the next page: --page-token eyJiIjoyfQ\n"}},
		{name: "alerts list --json", args: []string{"alerts", "list", "--json"},
			want: expect{method: "GET", path: "/api/v1/alerts", auth: bearer}, status: 200, body: alertListJSON, json: true},
		{name: "alerts list, none", args: []string{"alerts", "list"},
			want: expect{method: "GET", path: "/api/v1/alerts", auth: bearer}, status: 200, body: `{"query": "q", "alerts": []}`, out: []string{"no alerts found"}},
		{name: "alerts list, bad filter", args: []string{"alerts", "list", "--name", "a b"},
			want: expect{method: "GET", path: "/api/v1/alerts", query: "name=a+b", auth: bearer}, status: 400, body: `{"error": "name: 1-200 letters, digits and _.:/- only"}`,
			code: ExitAPIError, errOut: []string{"worker alerts list: GET /api/v1/alerts?name=a+b: HTTP 400 Bad Request: name: 1-200 letters"}},
		{name: "alerts get", args: []string{"alerts", "get", "5f1a"},
			want: expect{method: "GET", path: "/api/v1/alerts/5f1a", auth: bearer}, status: 200, body: alertJSON,
			out: []string{"fingerprint:  5f1a", "workflow:     alert-5f1a (running)",
				"TARGET  TYPE     STATUS         EVENT   ATTEMPTS  DELIVERED                      LAST ERROR                         DEAD LETTER",
				"slack   slack    delivered      firing  1         2024-05-01T10:00:00Z (3m ago)  -                                  -",
				"pager   webhook  dead_lettered  firing  3         -                              http_5xx: HTTP 500 from [31m sink  5f1a.pager.r1.1"}},
		{name: "alerts get, flags after the argument", args: []string{"alerts", "get", "5f1a", "--json"},
			want: expect{method: "GET", path: "/api/v1/alerts/5f1a", auth: bearer}, status: 200, body: alertJSON, json: true},
		{name: "alerts get, unknown", args: []string{"alerts", "get", "ffff"},
			want: expect{method: "GET", path: "/api/v1/alerts/ffff", auth: bearer}, status: 404, body: `{"error": "alert ffff not found"}`,
			code: ExitNotFound, errOut: []string{"HTTP 404 Not Found: alert ffff not found"}},
		{name: "dlq list", args: []string{"dlq", "list", "--target", "pager", "--kind", "http_5xx", "--older-than", "1h"},
			want: expect{method: "GET", path: "/api/v1/dlq", query: "kind=http_5xx&older_than=1h0m0s&target=pager", auth: bearer}, status: 200, body: dlqListJSON,
			out: []string{"ID               TARGET  ALERT     EVENT   KIND      ATTEMPTS  FAILURES  LAST FAILURE",
				"5f1a.pager.r1.1  pager   DiskFull  firing  http_5xx  3         1         2024-05-01T10:00:00Z (3m ago)", "1 shown of 1 matching (4 in all)"}},
		{name: "dlq list, a middle page", args: []string{"dlq", "list", "--offset", "100", "--limit", "1"},
			want: expect{method: "GET", path: "/api/v1/dlq", query: "limit=1&offset=100", auth: bearer}, status: 200,
			body: strings.Replace(strings.Replace(dlqListJSON, `"matched": 1, "offset": 0`, `"matched": 450, "offset": 100`, 1), `"total": 4`, `"total": 460`, 1),
			out:  []string{"entries 101-101 of 450 matching (460 in all); the next page: --offset 101"}},
		{name: "dlq list, the last page", args: []string{"dlq", "list", "--offset", "449"},
			want: expect{method: "GET", path: "/api/v1/dlq", query: "offset=449", auth: bearer}, status: 200,
			body: strings.Replace(dlqListJSON, `"matched": 1, "offset": 0`, `"matched": 450, "offset": 449`, 1),
			out:  []string{"entries 450-450 of 450 matching (4 in all)\n"}},
		{name: "dlq list --json", args: []string{"dlq", "list", "--json"},
			want: expect{method: "GET", path: "/api/v1/dlq", auth: bearer}, status: 200, body: dlqListJSON, json: true},
		{name: "dlq list, bad --older-than", args: []string{"dlq", "list", "--older-than", "yesterday"}, code: ExitUsage,
			errOut: []string{"invalid value \"yesterday\" for flag -older-than"}},
		{name: "dlq get", args: []string{"dlq", "get", "5f1a.pager.r1.1"},
			want: expect{method: "GET", path: "/api/v1/dlq/5f1a.pager.r1.1", auth: bearer}, status: 200, body: dlqEntryJSON,
			out: []string{"id:              5f1a.pager.r1.1", "alert:           DiskFull (5f1a)", "error:           http_5xx: HTTP 500", "status code:     500",
				"last failure:    2024-05-01T10:00:00Z (3m ago)"}},
		{name: "dlq get, unknown", args: []string{"dlq", "get", "nope"},
			want: expect{method: "GET", path: "/api/v1/dlq/nope", auth: bearer}, status: 404, body: `{"error": "no dead letter with id \"nope\""}`,
			code: ExitNotFound, errOut: []string{`HTTP 404 Not Found: no dead letter with id "nope"`}},
		{name: "dlq replay", args: []string{"dlq", "replay", "5f1a.pager.r1.1"},
			want: expect{method: "POST", path: "/api/v1/dlq/5f1a.pager.r1.1/replay", auth: bearer}, status: 200, body: `{"id": "5f1a.pager.r1.1", "delivered": true, "attempts": 1}`,
			out: []string{"delivered 5f1a.pager.r1.1 (1 attempts); the entry is removed"}},
		{name: "dlq replay fails again", args: []string{"dlq", "replay", "5f1a.pager.r1.1"},
			want: expect{method: "POST", path: "/api/v1/dlq/5f1a.pager.r1.1/replay", auth: bearer}, status: 502,
			body: `{"id": "5f1a.pager.r1.1", "delivered": false, "error": "HTTP 500 from sink", "attempts": 3}`,
			code: ExitAPIError, errOut: []string{"HTTP 502 Bad Gateway: HTTP 500 from sink (the target failed again after 3 attempts; the entry stays)"}},
		{name: "dlq replay fails again --json", args: []string{"dlq", "replay", "--json", "5f1a.pager.r1.1"},
			want: expect{method: "POST", path: "/api/v1/dlq/5f1a.pager.r1.1/replay", auth: bearer}, status: 502,
			body: `{"id": "5f1a.pager.r1.1", "delivered": false, "error": "HTTP 500 from sink", "attempts": 3}`, json: true, code: ExitAPIError},
		{name: "dlq replay without the token", args: []string{"dlq", "replay", "x"}, noToken: true,
			want: expect{method: "POST", path: "/api/v1/dlq/x/replay"}, status: 401, body: `{"error": "missing or wrong bearer token"}`,
			code: ExitRefused, errOut: []string{"HTTP 401 Unauthorized: missing or wrong bearer token"}},
		{name: "dlq replay while replayed", args: []string{"dlq", "replay", "x"},
			want: expect{method: "POST", path: "/api/v1/dlq/x/replay", auth: bearer}, status: 409, body: `{"error": "dead letter \"x\" is being replayed"}`,
			code: ExitContested, errOut: []string{"HTTP 409 Conflict: dead letter \"x\" is being replayed"}},
		{name: "dlq replay-all", args: []string{"dlq", "replay-all", "--target", "pager"},
			want: expect{method: "POST", path: "/api/v1/dlq/replay", query: "target=pager", auth: bearer, idempotencyKey: "*"}, status: 200,
			body: `{"key": "k9", "done": true, "total": 2, "replayed": 2, "delivered": 1, "failed": 1, "skipped": 0,
  "results": [{"id": "a.pager.r.1", "delivered": true, "attempts": 1}, {"id": "b.pager.r.1", "delivered": false, "error": "HTTP 500", "attempts": 3}]}`,
			out: []string{"replay-all k9: 2 entries, 2 replayed: 1 delivered, 1 failed, 0 skipped", "ID           OUTCOME    ATTEMPTS  ERROR",
				"a.pager.r.1  delivered  1         -", "b.pager.r.1  failed     3         HTTP 500"}},
		{name: "dlq replay-all joins a key", args: []string{"dlq", "replay-all", "--key", "nightly-1"},
			want: expect{method: "POST", path: "/api/v1/dlq/replay", auth: bearer, idempotencyKey: "nightly-1"}, status: 202,
			body: `{"key": "nightly-1", "done": false, "total": 10, "replayed": 4, "delivered": 4, "failed": 0, "skipped": 0, "results": []}`,
			out:  []string{"replay-all nightly-1 is still running: 4 of 10 replayed so far", "follow it with: worker dlq replay-all --key nightly-1"}},
		{name: "dlq replay-all while another runs", args: []string{"dlq", "replay-all"},
			want: expect{method: "POST", path: "/api/v1/dlq/replay", auth: bearer, idempotencyKey: "*"}, status: 409, body: `{"error": "a replay-all is running (key other)"}`,
			code: ExitContested, errOut: []string{"HTTP 409 Conflict: a replay-all is running"}},
		{name: "dlq drop", args: []string{"dlq", "drop", "x"},
			want: expect{method: "DELETE", path: "/api/v1/dlq/x", auth: bearer}, status: 200, body: `{"dropped": 1}`, out: []string{"dropped 1 dead letter(s)"}},
		{name: "dlq drop, Herald busy", args: []string{"dlq", "drop", "x"},
			want: expect{method: "DELETE", path: "/api/v1/dlq/x", auth: bearer}, status: 503, body: `{"error": "dead letters moving to a new run"}`,
			code: ExitContested, errOut: []string{"HTTP 503 Service Unavailable: dead letters moving to a new run"}},
		{name: "dlq purge", args: []string{"dlq", "purge", "--older-than", "24h"},
			want: expect{method: "DELETE", path: "/api/v1/dlq", query: "older_than=24h0m0s", auth: bearer}, status: 200, body: `{"dropped": 7}`,
			out: []string{"dropped 7 dead letter(s) whose last failure is older than 24h0m0s"}},
		{name: "dlq purge without --older-than", args: []string{"dlq", "purge"}, code: ExitUsage, errOut: []string{"--older-than is required"}},
		{name: "targets list", args: []string{"targets", "list"},
			want: expect{method: "GET", path: "/api/v1/targets", auth: bearer}, status: 200, body: targetsJSON,
			out: []string{"NAME   TYPE     ENABLED  HEALTH     SINCE                          LAST CHECK                     LAST ERROR             RATE LIMIT              ORIGIN",
				"pager  webhook  yes      unhealthy  2024-05-01T10:00:00Z (3m ago)  2024-05-01T10:02:00Z (1m ago)  http_status: HTTP 503  0.5/s burst 1 (target)  file:targets.yaml#1",
				"skipped definitions:", "secret:ns/bad  x       invalid_json  unexpected end"}},
		{name: "targets list, refused Host", args: []string{"targets", "list"},
			want: expect{method: "GET", path: "/api/v1/targets", auth: bearer}, status: 403, body: `{"error": "host \"x\" is not served here"}`,
			code: ExitRefused, errOut: []string{"HTTP 403 Forbidden: host \"x\" is not served here"}},
		{name: "targets check", args: []string{"targets", "check", "pager"},
			want: expect{method: "POST", path: "/api/v1/targets/pager/check", auth: bearer}, status: 200, body: checkJSON,
			out: []string{"target:             pager", "check:              ok (HTTP 200) in 12ms at 2024-05-01T10:02:30Z (30s ago)",
				"health:             healthy since 2024-05-01T10:02:30Z (30s ago)"}},
		{name: "targets check, unknown", args: []string{"targets", "check", "nope"},
			want: expect{method: "POST", path: "/api/v1/targets/nope/check", auth: bearer}, status: 404, body: `{"error": "no target named nope"}`,
			code: ExitNotFound, errOut: []string{"HTTP 404 Not Found: no target named nope"}},
		{name: "an answer that is not the API's JSON", args: []string{"targets", "list"},
			want: expect{method: "GET", path: "/api/v1/targets", auth: bearer}, status: 500, body: "<html>proxy error</html>",
			code: ExitAPIError, errOut: []string{"HTTP 500 Internal Server Error: <html>proxy error</html>"}},
		{name: "no command", args: []string{"dlq"}, code: ExitUsage, errOut: []string{"dlq replay ID"}},
		{name: "unknown command", args: []string{"dlq", "explode"}, code: ExitUsage, errOut: []string{`worker dlq: unknown command "explode"`}},
		{name: "missing argument", args: []string{"dlq", "get"}, code: ExitUsage, errOut: []string{"want 1 argument(s), got 0", "Usage: worker dlq get ID"}},
		{name: "extra argument", args: []string{"targets", "list", "x"}, code: ExitUsage, errOut: []string{"want 0 argument(s), got 1"}},
		{name: "URL with credentials", args: []string{"targets", "list", "--api-url", "http://user:pw@127.0.0.1:1"}, code: ExitUsage,
			errOut: []string{"leave credentials out of the URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			env := map[string]string{"HERALD_API_URL": srv.URL, "HERALD_ADMIN_TOKEN": testToken}
			if tc.noToken {
				delete(env, "HERALD_ADMIN_TOKEN")
			}
			var stdout, stderr bytes.Buffer
			o := &operator{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }, now: func() time.Time { return now }}
			code := o.run(context.Background(), tc.args[0], tc.args[1:])

			assert.Equal(t, tc.code, code, "exit code; stderr:\n%s", stderr.String())
			if tc.want.method == "" {
				assert.Nil(t, got, "no request expected")
			} else if assert.NotNil(t, got, "no request sent") {
				assert.Equal(t, tc.want.method, got.Method)
				assert.Equal(t, tc.want.path, got.URL.Path)
				assert.Equal(t, tc.want.query, got.URL.RawQuery)
				assert.Equal(t, tc.want.auth, got.Header.Get("Authorization"))
				switch key := got.Header.Get("Idempotency-Key"); tc.want.idempotencyKey {
				case "*":
					assert.Regexp(t, `^[!-~]{1,128}$`, key)
				default:
					assert.Equal(t, tc.want.idempotencyKey, key)
				}
				assert.Empty(t, got.Header.Get("Origin"), "no browser headers")
			}
			if tc.json {
				require.True(t, strings.HasPrefix(stdout.String(), tc.body), "stdout is the API's JSON:\n%s", stdout.String())
				assert.Equal(t, tc.body+"\n", stdout.String())
			}
			rest := stdout.String()
			for _, want := range tc.out {
				i := strings.Index(rest, want)
				if !assert.GreaterOrEqual(t, i, 0, "stdout lacks (in order) %q:\n%s", want, stdout.String()) {
					break
				}
				rest = rest[i+len(want):]
			}
			for _, want := range tc.errOut {
				assert.Contains(t, stderr.String(), want)
			}
			if tc.code != ExitOK {
				assert.NotEmpty(t, stderr.String(), "a failure says why")
				if !tc.json {
					assert.Empty(t, stdout.String(), "a failure prints nothing to stdout")
				}
			}
			for where, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String()} {
				assert.NotContains(t, text, testToken, "the token appears in %s", where)
			}
		})
	}
}

// A Herald that cannot be reached is an API error (1), named with the
// address, never with the token.
func TestOperatorUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	var stdout, stderr bytes.Buffer
	env := map[string]string{"HERALD_ADMIN_TOKEN": testToken}
	o := &operator{stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return env[k] }, now: time.Now}
	code := o.run(context.Background(), "dlq", []string{"list", "--api-url", addr})
	assert.Equal(t, ExitAPIError, code)
	assert.Contains(t, stderr.String(), "worker dlq list: GET /api/v1/dlq:")
	assert.NotContains(t, stderr.String(), testToken)
	assert.Empty(t, stdout.String())
}

func TestAgo(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s ago"},
		{3*time.Minute + 10*time.Second, "3m ago"},
		{5 * time.Hour, "5h ago"},
		{72 * time.Hour, "3d ago"},
		{-2 * time.Minute, "in 2m"},
	} {
		assert.Equal(t, tc.want, ago(tc.d), tc.d.String())
	}
}
