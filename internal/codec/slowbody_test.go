package codec_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/codec"
	"github.com/herald-alerts/herald/internal/ingest"
)

// A client that sends part of an encode/decode body and stalls gets 408
// once the server's body deadline (HERALD_BODY_READ_TIMEOUT, set by the
// router in front of the handler) passes, and the connection is closed.
func TestHandlerSlowBody(t *testing.T) {
	tests := []struct {
		name string
		sent string
	}{
		{"nothing of the body", ""},
		{"half a body", `{"payloads":[`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := codec.NewHandler(codec.HandlerOptions{Codec: mustParse(t, keyLine("k1", 1))})
			srv := httptest.NewServer(ingest.BodyDeadline(200 * time.Millisecond)(h))
			t.Cleanup(srv.Close)
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "POST /codec/decode HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n%s",
				srv.Listener.Addr(), tc.sent)
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Fatalf("stalled body: %d (close %v), want 408 and the connection closed", resp.StatusCode, resp.Close)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("answered after %s", d)
			}
		})
	}
}
