package httpconfig

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/herald-alerts/herald/internal/netguard"
)

// Defaults of a Cache.
const (
	DefaultCacheSize = 256
	DefaultIdleTTL   = 15 * time.Minute
)

// Cache keeps one transport per distinct http_config (and base transport)
// so that the deliveries of a target share pooled connections and a cached
// OAuth2 token. A config is told apart by a hash of its fields and of the
// modification time and size of every file it names: a rotated file gets
// a fresh transport. Entries unused for IdleTTL are dropped, and at most
// Size are kept (the least recently used goes first). Safe for concurrent
// use; the zero Cache is ready.
type Cache struct {
	// Size caps the number of transports kept (0: DefaultCacheSize).
	Size int
	// IdleTTL drops transports not used for that long (0: DefaultIdleTTL).
	IdleTTL time.Duration
	// Now is the clock of token expiry and idleness (nil: time.Now).
	Now func() time.Time

	mu      sync.Mutex
	entries map[cacheKey]*cacheEntry
}

type cacheKey struct {
	base http.RoundTripper // a pointer type (checked before use)
	hash [sha256.Size]byte
}

type cacheEntry struct {
	rt       http.RoundTripper
	lastUsed time.Time
}

// Client returns a client for cfg over base like cfg.Wrap(base), reusing
// the transport built for the same config and base transport before. A
// nil cfg returns base.
func (c *Cache) Client(cfg *Config, base *http.Client) (*http.Client, error) {
	if cfg == nil {
		if base == nil {
			return http.DefaultClient, nil
		}
		return base, nil
	}
	var baseRT http.RoundTripper = http.DefaultTransport
	if base != nil && base.Transport != nil {
		baseRT = base.Transport
	}
	switch baseRT.(type) {
	case *http.Transport, *netguard.Transport:
	default:
		return nil, fmt.Errorf("http_config needs an *http.Transport or a *netguard.Transport under the client, not %T", baseRT)
	}
	hash, err := configHash(cfg)
	if err != nil {
		return nil, err
	}
	key := cacheKey{base: baseRT, hash: hash}
	now := c.now()

	c.mu.Lock()
	if e, ok := c.entries[key]; ok {
		e.lastUsed = now
		c.mu.Unlock()
		return clientLike(base, e.rt), nil
	}
	c.mu.Unlock()

	// Built outside the lock: building reads files.
	rt, err := cfg.transport(&http.Client{Transport: baseRT}, c.now)
	if err != nil {
		return nil, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok { // built meanwhile by another caller
		e.lastUsed = now
		closeIdle(rt)
		return clientLike(base, e.rt), nil
	}
	if c.entries == nil {
		c.entries = map[cacheKey]*cacheEntry{}
	}
	c.evict(now)
	c.entries[key] = &cacheEntry{rt: rt, lastUsed: now}
	return clientLike(base, rt), nil
}

// Len is the number of transports kept.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// evict drops idle entries and, when the cache is full, the least recently
// used, making room for one more. Their idle connections are closed;
// requests still running on them finish.
func (c *Cache) evict(now time.Time) {
	ttl := c.IdleTTL
	if ttl <= 0 {
		ttl = DefaultIdleTTL
	}
	size := c.Size
	if size <= 0 {
		size = DefaultCacheSize
	}
	for k, e := range c.entries {
		if now.Sub(e.lastUsed) > ttl {
			closeIdle(e.rt)
			delete(c.entries, k)
		}
	}
	for len(c.entries) >= size {
		var oldest cacheKey
		var oldestAt time.Time
		first := true
		for k, e := range c.entries {
			if first || e.lastUsed.Before(oldestAt) {
				oldest, oldestAt, first = k, e.lastUsed, false
			}
		}
		closeIdle(c.entries[oldest].rt)
		delete(c.entries, oldest)
	}
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func closeIdle(rt http.RoundTripper) {
	if ci, ok := rt.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// configHash hashes cfg's fields and the stamp (modification time, size)
// of every file it names; a file that cannot be read hashes as such.
func configHash(cfg *Config) ([sha256.Size]byte, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("http_config: %w", err)
	}
	h := sha256.New()
	h.Write(b)
	for _, path := range cfg.files() {
		fmt.Fprintf(h, "\x00%s", path)
		if st, err := stampOf(path); err == nil {
			fmt.Fprintf(h, "\x00%d\x00%d", st.mod.UnixNano(), st.size)
		} else {
			h.Write([]byte("\x00missing"))
		}
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out, nil
}

// files lists the file paths cfg names.
func (c *Config) files() []string {
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	if t := c.TLSConfig; t != nil {
		add(t.CAFile, t.CertFile, t.KeyFile)
	}
	if c.BasicAuth != nil {
		add(c.BasicAuth.PasswordFile)
	}
	if c.Authorization != nil {
		add(c.Authorization.CredentialsFile)
	}
	if o := c.OAuth2; o != nil {
		add(o.ClientSecretFile)
		if t := o.TLSConfig; t != nil {
			add(t.CAFile, t.CertFile, t.KeyFile)
		}
	}
	return out
}
