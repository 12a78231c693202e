package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sync/semaphore"
)

// Slow clients. The HTTP server bounds reading a request's headers
// (ReadHeaderTimeout); bodyDeadline bounds receiving its body from the
// moment the handler starts, so that a client trickling bytes cannot hold a
// share of a budget for longer. The API and /codec have a concurrency bound
// of their own (apiGate), apart from the webhook's budget, so that API load
// cannot starve webhooks.

// DefaultBodyReadTimeout bounds receiving one request body.
const DefaultBodyReadTimeout = 10 * time.Second

// apiQueueWait is how long an API request over the concurrency bound waits
// before it is answered 503.
const apiQueueWait = time.Second

// DefaultAPIConcurrency is 4 x GOMAXPROCS, at least 16.
func DefaultAPIConcurrency() int { return max(16, 4*runtime.GOMAXPROCS(0)) }

// BodyDeadline returns a middleware that gives every request with a body a
// read deadline d from now (http.ResponseController): a body not received
// by then fails to read with os.ErrDeadlineExceeded. Once the body is read
// to its end the deadline is lifted, so that a long request (replay-all)
// keeps its context: the server's read that notices a client going away
// would otherwise time out and cancel it.
func BodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if d <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil && r.Body != http.NoBody {
				rc := http.NewResponseController(w)
				if rc.SetReadDeadline(time.Now().Add(d)) == nil {
					r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// deadlineBody lifts the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// isReadTimeout reports whether a body read failed on its deadline.
func isReadTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// bodyTimeout answers 408 to a request whose body did not arrive in time;
// the connection is closed.
func (s *Server) bodyTimeout(w http.ResponseWriter, what string) int {
	w.Header().Set("Connection", "close")
	WriteError(w, http.StatusRequestTimeout, fmt.Sprintf(
		"%s body not received within %s (HERALD_BODY_READ_TIMEOUT); send it at once", what, s.cfg.BodyReadTimeout))
	return http.StatusRequestTimeout
}

// apiGate bounds the API and /codec requests processed at once.
type apiGate struct {
	sem  *semaphore.Weighted
	n    int
	wait time.Duration
}

func newAPIGate(n int) *apiGate {
	return &apiGate{sem: semaphore.NewWeighted(int64(n)), n: n, wait: apiQueueWait}
}

// limit is the middleware: over the bound a request waits up to g.wait,
// then gets 503 with Retry-After.
func (g *apiGate) limit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.sem.TryAcquire(1) {
			ctx, cancel := context.WithTimeout(r.Context(), g.wait)
			err := g.sem.Acquire(ctx, 1)
			cancel()
			if err != nil {
				w.Header().Set("Retry-After", "1")
				WriteError(w, http.StatusServiceUnavailable, fmt.Sprintf(
					"the API is busy: %d requests are being processed (HERALD_API_CONCURRENCY); retry later", g.n))
				return
			}
		}
		defer g.sem.Release(1)
		next.ServeHTTP(w, r)
	})
}
