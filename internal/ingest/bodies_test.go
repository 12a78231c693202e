package ingest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/contract"
)

// startHTTP serves the router New builds for cfg on a real listener, as
// app.ServeListener does (headers bounded, no ReadTimeout).
func startHTTP(t *testing.T, cfg Config) (*testServer, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg.ListenAddr = srv.Listener.Addr().String()
	s := newTestServer(t, cfg)
	srv.Config.Handler = s
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	t.Cleanup(srv.Close)
	return s, srv.Listener.Addr().String()
}

// trickle opens a connection that sends the headers of a webhook declaring
// declared body bytes, then sends the first sent bytes of it and one more
// byte every interval (none when interval is 0) until the test ends.
func trickle(t *testing.T, addr string, declared, sent int, interval time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /webhook HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		addr, declared, bytes.Repeat([]byte(" "), sent))
	require.NoError(t, err)
	if interval > 0 {
		done := make(chan struct{})
		t.Cleanup(func() { close(done) })
		go func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	return conn
}

func postWebhook(t *testing.T, addr string, body []byte) int {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Post("http://"+addr+"/webhook", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// The webhook budget follows the bytes a request actually sent, not the
// Content-Length it declares: clients that declare the largest body and
// then stall hold a step of the budget each, and webhooks still get in.
func TestWebhookBudgetFollowsBytesReceived(t *testing.T) {
	const maxBody = 1 << 20
	tests := []struct {
		name      string
		stalled   int // connections that declare maxBody
		sentEach  int // bytes each of them sent
		wantAfter int // answer of a normal webhook meanwhile
	}{
		{"stalled after a byte", 4, 1, http.StatusOK},
		{"stalled after 200 KiB", 3, 200 << 10, http.StatusOK},
		// What they sent does count: 2 x 7 steps, and the step each has
		// taken for its next bytes, fill the budget; webhooks then wait.
		{"stalled after sending nearly the budget", 2, maxBody/2 - minSlotBytes, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A budget of one largest body.
			s, addr := startHTTP(t, Config{WebhookConcurrency: 1, MaxBodyBytes: maxBody, BodyReadTimeout: time.Minute})
			s.queueWait = 200 * time.Millisecond
			for range tc.stalled {
				trickle(t, addr, maxBody, tc.sentEach, 0)
			}
			// Each stalled request holds what it sent, in whole steps, and
			// a step for its next byte once what it sent fills its steps.
			held := int64(tc.stalled) * s.webhookSlots.weight(int64(tc.sentEach)+1)
			require.Eventually(t, func() bool {
				if s.webhookSlots.sem.TryAcquire(maxBody - held + 1) {
					s.webhookSlots.sem.Release(maxBody - held + 1)
					return false
				}
				return true
			}, 5*time.Second, 5*time.Millisecond, "stalled requests never took their share")
			assert.Equal(t, tc.wantAfter, postWebhook(t, addr, webhookJSON(t, 0, firing("a1", "A"))))
		})
	}
}

// A body that does not arrive within BodyReadTimeout is answered 408 and
// the connection closed; its share of the budget is free again at once.
func TestWebhookSlowBodyTimesOut(t *testing.T) {
	tests := []struct {
		name     string
		declared int
		sent     int
		interval time.Duration
	}{
		{"stalls after the headers", 1000, 0, 0},
		{"stalls mid-body", 1000, 10, 0},
		{"trickles a byte every 50ms", 1000, 1, 50 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A budget of one small body: the slow client holds all of it.
			s, addr := startHTTP(t, Config{WebhookConcurrency: 1, MaxBodyBytes: minSlotBytes, BodyReadTimeout: 300 * time.Millisecond})
			start := time.Now()
			conn := trickle(t, addr, tc.declared, tc.sent, tc.interval)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err, "no answer to a stalled body")
			defer resp.Body.Close()
			elapsed := time.Since(start)
			assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
			assert.True(t, resp.Close, "the connection is closed after a 408")
			assert.GreaterOrEqual(t, elapsed, 250*time.Millisecond)
			assert.Less(t, elapsed, 3*time.Second, "a trickling client cannot stretch the deadline")
			assert.Equal(t, 1.0, counterValue(t, s.metrics, "herald_webhook_requests_total", "code", "408"))

			assert.Equal(t, http.StatusOK, postWebhook(t, addr, webhookJSON(t, 0, firing("a1", "A"))),
				"the slow request's share is back")
		})
	}
}

// Once the body is in, the deadline is lifted: handing the alerts to
// Temporal may take longer than BodyReadTimeout without the request's
// context ending.
func TestBodyDeadlineEndsWithTheBody(t *testing.T) {
	var ctxErr atomic.Value
	fc := &fakeClient{signal: func(ctx context.Context, _ contract.Notify) error {
		time.Sleep(600 * time.Millisecond)
		if err := ctx.Err(); err != nil {
			ctxErr.Store(err)
			return err
		}
		return nil
	}}
	_, addr := startHTTP(t, Config{Client: fc, BodyReadTimeout: 150 * time.Millisecond})
	assert.Equal(t, http.StatusOK, postWebhook(t, addr, webhookJSON(t, 0, firing("a1", "A"))))
	assert.Nil(t, ctxErr.Load())
}

// The API and /codec have a concurrency bound of their own: when it is
// full they answer 503 with Retry-After, while webhooks and health
// endpoints are served as usual.
func TestAPIConcurrencyBound(t *testing.T) {
	c := &apiClient{block: make(chan struct{})}
	s := newAPIServer(t, Config{APIConcurrency: 2, Codec: testCodec(t, ""), Ready: func(context.Context) error { return nil }}, c)
	s.api.wait = 50 * time.Millisecond
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range 2 {
		wg.Go(func() { codes[i] = s.serve(request{method: http.MethodGet, path: "/api/v1/alerts"}).Code })
	}
	require.Eventually(t, func() bool {
		if s.api.sem.TryAcquire(1) {
			s.api.sem.Release(1)
			return false
		}
		return true
	}, 5*time.Second, time.Millisecond)

	busy := []request{
		{method: http.MethodGet, path: "/api/v1/dlq"},
		{method: http.MethodDelete, path: "/api/v1/dlq?older_than=1h"},
		{method: http.MethodPost, path: "/codec/decode", body: []byte(`{"payloads":[]}`), header: jsonHeader()},
	}
	for _, r := range busy {
		start := time.Now()
		rec := s.serve(r)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s %s: %s", r.method, r.path, rec.Body.String())
		assert.Equal(t, "1", rec.Header().Get("Retry-After"))
		contains(t, rec.Body.String(), "HERALD_API_CONCURRENCY")
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "waited for a slot first")
	}
	free := []request{
		{method: http.MethodPost, path: "/webhook", body: webhookJSON(t, 0, firing("a1", "A")), header: jsonHeader()},
		{method: http.MethodGet, path: "/healthz"},
		{method: http.MethodGet, path: "/readyz"},
		{method: http.MethodGet, path: "/metrics"},
	}
	for _, r := range free {
		rec := s.serve(r)
		assert.Equal(t, http.StatusOK, rec.Code, "%s %s: %s", r.method, r.path, rec.Body.String())
	}
	// Counted before routing: under the prefix.
	assert.Equal(t, 1.0, counterValue(t, s.cfg.Metrics, "herald_api_requests_total", "route", "GET /api/v1/*", "code", "503"))

	close(c.block)
	wg.Wait()
	assert.Equal(t, []int{http.StatusOK, http.StatusOK}, codes)
	assert.Equal(t, http.StatusOK, s.serve(request{method: http.MethodGet, path: "/api/v1/dlq"}).Code, "free again")
}
