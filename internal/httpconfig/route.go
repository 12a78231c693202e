package httpconfig

import (
	"context"
	"net/http"
)

type ctxKey struct{}

// WithConfig returns ctx carrying cfg: a Router sends the requests made
// with it through cfg's client. A nil cfg leaves ctx as it is.
func WithConfig(ctx context.Context, cfg *Config) context.Context {
	if cfg == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, cfg)
}

func fromContext(ctx context.Context) *Config {
	cfg, _ := ctx.Value(ctxKey{}).(*Config)
	return cfg
}

// Of returns the http_config of a target's HTTPConfig field (nil when it
// has none or another implementation).
func Of(v any) *Config {
	cfg, _ := v.(*Config)
	return cfg
}

// Router is the transport of Herald's shared delivery and probe client:
// a request whose context carries an http_config (WithConfig) goes through
// that config's client, built over Base and kept by Cache; any other
// request goes through Base. So the publishers and the prober keep one
// client, and each target's TLS, authentication and proxy still apply.
type Router struct {
	Base  *http.Client
	Cache *Cache
}

// RoundTrip implements http.RoundTripper.
func (r *Router) RoundTrip(req *http.Request) (*http.Response, error) {
	cfg := fromContext(req.Context())
	if cfg == nil {
		return r.baseTransport().RoundTrip(req)
	}
	c, err := r.Cache.Client(cfg, r.Base)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return c.Transport.RoundTrip(req)
}

func (r *Router) baseTransport() http.RoundTripper {
	if r.Base != nil && r.Base.Transport != nil {
		return r.Base.Transport
	}
	return http.DefaultTransport
}

// Client returns a client on r that keeps Base's redirect policy and
// timeout.
func (r *Router) Client() *http.Client {
	c := &http.Client{Transport: r}
	if r.Base != nil {
		c.CheckRedirect, c.Timeout, c.Jar = r.Base.CheckRedirect, r.Base.Timeout, r.Base.Jar
	}
	return c
}

// NewClient returns the client of a new Router over base with a fresh
// Cache.
func NewClient(base *http.Client) *http.Client {
	return (&Router{Base: base, Cache: &Cache{}}).Client()
}
