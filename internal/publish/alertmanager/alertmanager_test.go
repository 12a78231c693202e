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
	return target.Target{Name: "am-central", Type: "alertmanager", URL: url,
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
			"0.endsAt":              clock.Add(time.Hour).Format(time.RFC3339),
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

// TestEndsAtContract: what the receiving Alertmanager gets as startsAt and
// endsAt, field by field. A firing alert ends the forward TTL ahead (default
// 1h), a resolve at its endsAt (now when missing or in the future), and
// endsAt is never before startsAt, which Alertmanager rejects with a 400.
func TestEndsAtContract(t *testing.T) {
	at := func(d time.Duration) time.Time { return clock.Add(d) }
	firing := func(startsAt time.Time) publish.Notification {
		n := publishtest.Firing()
		n.Alert.StartsAt = startsAt
		return n
	}
	resolved := func(startsAt, endsAt time.Time) publish.Notification {
		n := publishtest.Resolved(nil)
		n.Alert.StartsAt, n.Alert.EndsAt = startsAt, endsAt
		return n
	}
	for _, tc := range []struct {
		name         string
		n            publish.Notification
		ttl          time.Duration // alertmanager.forward_ttl; 0: default
		wantStartsAt any
		wantEndsAt   time.Time
	}{
		{name: "firing: default TTL of 1h", n: firing(at(-10 * time.Minute)), wantEndsAt: at(time.Hour)},
		{name: "firing: forward_ttl", n: firing(at(-10 * time.Minute)), ttl: 7 * time.Second, wantEndsAt: at(7 * time.Second)},
		{name: "firing: older than the TTL", n: firing(at(-48 * time.Hour)), wantEndsAt: at(time.Hour)},
		{name: "firing: starts in the future (clock skew)", n: firing(at(2 * time.Hour)), wantEndsAt: at(3 * time.Hour)},
		{name: "firing: no startsAt", n: firing(time.Time{}), wantStartsAt: nil, wantEndsAt: at(time.Hour)},
		{name: "resolved: its endsAt", n: resolved(at(-10*time.Minute), at(-time.Minute)), wantEndsAt: at(-time.Minute)},
		{name: "resolved: endsAt in the future is now", n: resolved(at(-10*time.Minute), at(time.Hour)), wantEndsAt: clock},
		{name: "resolved: no endsAt is now", n: resolved(at(-10*time.Minute), time.Time{}), wantEndsAt: clock},
		{name: "resolved: endsAt before startsAt", n: resolved(at(-10*time.Minute), at(-20*time.Minute)), wantEndsAt: at(-10 * time.Minute)},
		{name: "resolved: no endsAt, starts in the future", n: resolved(at(5*time.Minute), time.Time{}), wantEndsAt: at(5 * time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := publishtest.NewServer(t, publishtest.OK(""))
			tg := newTarget(srv.URL)
			if tc.ttl > 0 {
				tg.Config = &alertmanager.Config{Alertmanager: &alertmanager.Options{ForwardTTL: target.Duration(tc.ttl)}}
			}
			if err := tg.Validate(); err != nil {
				t.Fatal(err)
			}
			if _, err := publisher(srv.Client()).Publish(context.Background(), tg, tc.n); err != nil {
				t.Fatal(err)
			}
			req := srv.Request(t, 0)
			wantStarts := tc.wantStartsAt
			if wantStarts == nil && !tc.n.Alert.StartsAt.IsZero() {
				wantStarts = tc.n.Alert.StartsAt.Format(time.RFC3339)
			}
			if got := req.Get("0.startsAt"); got != wantStarts && !(wantStarts == nil && got == "0001-01-01T00:00:00Z") {
				t.Errorf("startsAt = %#v, want %#v", got, wantStarts)
			}
			endsAt, err := time.Parse(time.RFC3339, req.String("0.endsAt"))
			if err != nil {
				t.Fatalf("endsAt %q: %v", req.String("0.endsAt"), err)
			}
			if !endsAt.Equal(tc.wantEndsAt) {
				t.Errorf("endsAt = %v, want %v", endsAt, tc.wantEndsAt)
			}
			if s := tc.n.Alert.StartsAt; !s.IsZero() && endsAt.Before(s) {
				t.Errorf("endsAt %v is before startsAt %v", endsAt, s)
			}
		})
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
	const pathSecret, querySecret = "/prefix/tenant-7c1d", "tok-QUERY-9a8b"
	withCredentials := func(base string) target.Target {
		return newTarget("http://" + userinfo + "@" + base[len("http://"):] + pathSecret + "?token=" + querySecret)
	}
	if tg := withCredentials("http://127.0.0.1:1"); len(tg.Secrets()) < 2 {
		t.Fatalf("test target should carry secrets, has %v", tg.Secrets())
	}
	echo := "rejected Basic YW06c2VjcmV0LXBhc3M= for " + userinfo + " at " + pathSecret + "?token=" + querySecret
	publishtest.AssertLeaksNoSecret(t, publisher(nil), withCredentials, []publishtest.LeakCase{
		{Name: "400", Resp: publishtest.Status(400, "bad request")},
		{Name: "400 echoing every credential", Resp: publishtest.Status(400, echo)},
		{Name: "401", Resp: publishtest.Status(401, "unauthorized")},
		{Name: "401 echoing the password", Resp: publishtest.Status(401, "wrong password am-pass-5e6f7a8b")},
		{Name: "500", Resp: publishtest.Status(500, "")},
		{Name: "502 echoing every credential", Resp: publishtest.Status(502, echo)},
		{Name: "slow", Resp: publishtest.Response{Status: 200, Delay: 2 * time.Second}},
		{Name: "transport error", Closed: true},
	})
}

func BenchmarkFormat_Alertmanager(b *testing.B) {
	n := publishtest.Firing()
	b.ReportAllocs()
	for b.Loop() {
		_ = alertmanager.Format(n, clock, time.Hour)
	}
}
