package httpconfig_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/httpconfig"
)

// The cache gives the same transport (connection pool, token) to the
// same config over the same base, a new one when the config, a file it
// names or the base changes; it stays within its size and drops what was
// not used for IdleTTL.
func TestCache(t *testing.T) {
	path := writeFile(t, t.TempDir(), "token", "token-one")
	clk := &clock{now: time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)}
	cache := &httpconfig.Cache{Size: 3, IdleTTL: time.Minute, Now: clk.Now}
	base := plainClient()
	client := func(cfg *httpconfig.Config, b *http.Client) http.RoundTripper {
		t.Helper()
		c, err := cache.Client(cfg, b)
		if err != nil {
			t.Fatal(err)
		}
		if c.Timeout != b.Timeout || c.CheckRedirect == nil {
			t.Error("the cached client does not behave as base")
		}
		return c.Transport
	}
	fileCfg := func() *httpconfig.Config {
		return &httpconfig.Config{Authorization: &httpconfig.Authorization{CredentialsFile: path}}
	}
	a := client(fileCfg(), base)
	if client(fileCfg(), base) != a {
		t.Error("an equal config got another transport")
	}
	rewrite(t, path, "token-two", 1)
	b := client(fileCfg(), base)
	if b == a {
		t.Error("a rotated file kept the old transport")
	}
	other := client(&httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "other-token"}}, base)
	if other == b {
		t.Error("another config shared a transport")
	}
	if client(fileCfg(), plainClient()) == b {
		t.Error("another base transport shared a transport")
	}
	if n := cache.Len(); n != 3 {
		t.Errorf("Len() = %d, want 3 (the size)", n)
	}
	client(&httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "fifth-token"}}, base)
	if n := cache.Len(); n != 3 {
		t.Errorf("Len() beyond the size = %d, want 3", n)
	}
	clk.Advance(2 * time.Minute)
	client(&httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "sixth-token"}}, base)
	if n := cache.Len(); n != 1 {
		t.Errorf("Len() after IdleTTL = %d, want 1 (the idle ones dropped)", n)
	}
	if c, err := cache.Client(nil, base); err != nil || c != base {
		t.Errorf("a nil config = %v, %v; want base itself", c, err)
	}
	if _, err := cache.Client(&httpconfig.Config{BasicAuth: &httpconfig.BasicAuth{}}, base); err == nil {
		t.Error("an invalid config was built")
	}
}

// Concurrent callers of the same config end up with one transport.
func TestCacheConcurrent(t *testing.T) {
	cache := &httpconfig.Cache{}
	base := plainClient()
	cfg := &httpconfig.Config{Authorization: &httpconfig.Authorization{Credentials: "shared-token"}}
	const n = 16
	got := make([]http.RoundTripper, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := cache.Client(cfg, base)
			if err != nil {
				t.Error(err)
				return
			}
			got[i] = c.Transport
		}()
	}
	wg.Wait()
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("caller %d got another transport", i)
		}
	}
	if cache.Len() != 1 {
		t.Errorf("Len() = %d, want 1", cache.Len())
	}
}
