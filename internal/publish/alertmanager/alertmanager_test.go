package alertmanager_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/publish"
	"github.com/herald-alerts/herald/internal/publish/alertmanager"
	"github.com/herald-alerts/herald/internal/publish/publishtest"
	"github.com/herald-alerts/herald/internal/target"
)

var clock = publishtest.Now

func newTarget(url string) target.Target {
	return target.Target{Name: "am-central", Type: target.TypeAlertmanager, URL: url,
		Headers: map[string]string{"Authorization": "Basic YW06c2VjcmV0LXBhc3M="}}
}

func publisher(c *http.Client) *alertmanager.Publisher {
	return &alertmanager.Publisher{Client: c, Now: func() time.Time { return clock }}
}

func TestPublishRequest(t *testing.T) {
	tests := []struct {
		name   string
		n      publish.Notification
		base   string
		checks map[string]any
	}{
		{name: "firing stays active for the TTL", n: publishtest.Firing(), checks: map[string]any{
			"0.labels.alertname": "HighErrorRate", "0.labels.severity": "critical",
			"0.annotations.summary": "Checkout error rate above 5%",
			"0.startsAt":            "2024-05-06T06:58:09Z",
			"0.endsAt":              clock.Add(alertmanager.FiringTTL).Format(time.RFC3339),
			"0.generatorURL":        publishtest.Alert().GeneratorURL,
		}},
		{name: "resolved ends at endsAt", n: publishtest.Resolved(nil), checks: map[string]any{
			"0.endsAt": "2024-05-06T07:08:09Z"}},
		{name: "trailing slash in url", n: publishtest.Firing(), base: "/", checks: map[string]any{"0.labels.job": "checkout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.OK(""))
			res, err := publisher(srv.Client()).Publish(context.Background(), newTarget(srv.URL+tc.base), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 {
				t.Errorf("status = %d", res.StatusCode)
			}
			req := srv.Request(t, 0)
			if req.Method != http.MethodPost || req.Path != "/api/v2/alerts" {
				t.Errorf("request = %s %s, want POST /api/v2/alerts", req.Method, req.Path)
			}
			if got := req.Header.Get("Authorization"); got != "Basic YW06c2VjcmV0LXBhc3M=" {
				t.Errorf("Authorization = %q", got)
			}
			if list, ok := req.JSON.([]any); !ok || len(list) != 1 {
				t.Fatalf("body is not a one-element list: %s", req.Body)
			}
			for path, want := range tc.checks {
				if got := req.Get(path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
		})
	}
}

func TestFormatResolvedEndsNoLaterThanNow(t *testing.T) {
	n := publishtest.Resolved(nil)
	n.Alert.EndsAt = clock.Add(time.Hour) // in the future
	got := alertmanager.Format(n, clock)
	if !got[0].EndsAt.Equal(clock) {
		t.Errorf("endsAt = %v, want now (%v)", got[0].EndsAt, clock)
	}
	n.Alert.EndsAt = time.Time{}
	if got := alertmanager.Format(n, clock); !got[0].EndsAt.Equal(clock) {
		t.Errorf("zero endsAt: got %v, want now", got[0].EndsAt)
	}
}

func TestPublishClassification(t *testing.T) {
	tests := []struct {
		name      string
		resp      publishtest.Response
		kind      string
		retryable bool
		after     time.Duration
	}{
		{"400 invalid alerts", publishtest.Status(400, `{"code":400,"message":"start time must be before end time"}`), publish.KindHTTPClient, false, 0},
		{"401", publishtest.Status(401, ""), publish.KindHTTPClient, false, 0},
		{"404 no v2 API", publishtest.Status(404, ""), publish.KindHTTPClient, false, 0},
		{"429", publishtest.Status(429, "").WithHeader("Retry-After", "3"), publish.KindRateLimited, true, 3 * time.Second},
		{"500", publishtest.Status(500, ""), publish.KindHTTPServer, true, 0},
		{"503", publishtest.Status(503, ""), publish.KindHTTPServer, true, 0},
		{"slow", publishtest.Response{Status: 200, Delay: 2 * time.Second}, publish.KindTimeout, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, tc.resp)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			_, err := publisher(srv.Client()).Publish(ctx, newTarget(srv.URL), publishtest.Firing())
			publishtest.AssertError(t, err, tc.kind, tc.retryable, tc.after)
		})
	}
}

func TestPublishLeaksNoSecret(t *testing.T) {
	const userinfo = "herald:am-pass-5e6f7a8b"
	withCredentials := func(base string) target.Target {
		return newTarget("http://" + userinfo + "@" + base[len("http://"):] + "/prefix/tenant-7c1d")
	}
	if tg := withCredentials("http://127.0.0.1:1"); len(tg.Secrets()) < 2 {
		t.Fatalf("test target should carry secrets, has %v", tg.Secrets())
	}
	publishtest.AssertLeaksNoSecret(t, publisher(nil), withCredentials, []publishtest.LeakCase{
		{Name: "400", Resp: publishtest.Status(400, "bad request")},
		{Name: "401", Resp: publishtest.Status(401, "unauthorized")},
		{Name: "500", Resp: publishtest.Status(500, "")},
		{Name: "slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func BenchmarkFormat_Alertmanager(b *testing.B) {
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		_ = alertmanager.Format(n, clock)
	}
}
