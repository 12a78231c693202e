// Package netguard keeps the connections of targets the operator did not
// write (targets from Kubernetes Secrets) away from addresses no tenant may
// reach: loopback, link-local, cloud metadata endpoints and the like.
//
// The check runs at dial time, on the address actually connected to after
// name resolution, so a name that resolves to such an address is caught,
// and so is every hop of a redirect and every attempt of a retry. A request
// carries its Policy in its context (WithPolicy); Transport sends requests
// with a policy over connections of their own, never over a pooled
// connection an unchecked request opened.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
)

// Policy decides which addresses a connection may go to. The zero Policy
// blocks every address in Blocked and nothing else.
type Policy struct {
	// Allowed are networks the operator lets the connections reach even
	// though Blocked lists them (for example 127.0.0.0/8 on a laptop).
	Allowed []netip.Prefix
	// Resolver looks names up for requests sent through a proxy (whose
	// own lookup Herald does not see); nil means net.DefaultResolver.
	Resolver Resolver
}

// Resolver resolves a host name to addresses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// blockedNet is a network no policy-bound connection may reach.
type blockedNet struct {
	prefix netip.Prefix
	what   string
}

// Kinds of blocked addresses, as BlockedError.Why names them.
const (
	WhyLoopback    = "loopback"
	WhyLinkLocal   = "link-local"
	WhyMetadata    = "cloud metadata"
	WhyUnspecified = "unspecified"
	WhyMulticast   = "multicast"
	WhyBroadcast   = "broadcast"
)

// Blocked lists the networks a Policy refuses unless Allowed covers them.
// Cloud metadata endpoints come first, so that they are named as such.
var Blocked = []blockedNet{
	{netip.MustParsePrefix("169.254.169.254/32"), WhyMetadata}, // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
	{netip.MustParsePrefix("169.254.170.2/32"), WhyMetadata},   // AWS ECS task metadata
	{netip.MustParsePrefix("169.254.170.23/32"), WhyMetadata},  // AWS EKS Pod Identity
	{netip.MustParsePrefix("fd00:ec2::254/128"), WhyMetadata},  // AWS IMDS over IPv6
	{netip.MustParsePrefix("fd00:ec2::23/128"), WhyMetadata},   // AWS EKS Pod Identity over IPv6
	{netip.MustParsePrefix("100.100.100.200/32"), WhyMetadata}, // Alibaba Cloud
	{netip.MustParsePrefix("168.63.129.16/32"), WhyMetadata},   // Azure host (WireServer)
	{netip.MustParsePrefix("127.0.0.0/8"), WhyLoopback},
	{netip.MustParsePrefix("::1/128"), WhyLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), WhyLinkLocal},
	{netip.MustParsePrefix("fe80::/10"), WhyLinkLocal},
	{netip.MustParsePrefix("0.0.0.0/8"), WhyUnspecified},
	{netip.MustParsePrefix("::/128"), WhyUnspecified},
	{netip.MustParsePrefix("224.0.0.0/4"), WhyMulticast},
	{netip.MustParsePrefix("ff00::/8"), WhyMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), WhyBroadcast},
}

// metadataNames are the host names of cloud metadata endpoints, with the
// address each stands for: they are refused like that address, before any
// lookup (outside their cloud they may not resolve at all, or resolve
// elsewhere through a search domain).
var metadataNames = map[string]netip.Addr{
	"metadata.google.internal":   netip.MustParseAddr("169.254.169.254"),
	"metadata.goog":              netip.MustParseAddr("169.254.169.254"),
	"metadata":                   netip.MustParseAddr("169.254.169.254"),
	"instance-data":              netip.MustParseAddr("169.254.169.254"),
	"instance-data.ec2.internal": netip.MustParseAddr("169.254.169.254"),
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// BlockedError is a connection the policy refused.
type BlockedError struct {
	// Host is the host that was asked for (a name or an address).
	Host string
	// Addr is the refused address.
	Addr netip.Addr
	// Why names the kind of address (WhyLoopback, WhyMetadata, ...).
	Why string
}

func (e *BlockedError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("address %s is %s, which this target may not reach", e.Addr, article(e.Why))
	}
	if _, isName := metadataNames[normalizeName(e.Host)]; isName {
		return fmt.Sprintf("host %s is %s endpoint, which this target may not reach", e.Host, article(e.Why))
	}
	return fmt.Sprintf("host %s resolves to %s, %s address, which this target may not reach", e.Host, e.Addr, article(e.Why))
}

func article(why string) string {
	if why == "" {
		return "a blocked"
	}
	switch why[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + why
	}
	return "a " + why
}

// IsBlocked reports whether err is (or wraps) a refusal of the policy.
func IsBlocked(err error) bool {
	var be *BlockedError
	return errors.As(err, &be)
}

// Why returns the kind of blocked address a is ("" when a is not blocked),
// whatever the Allowed networks.
func Why(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if nat64.Contains(a) {
		b := a.As16()
		if why := Why(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})); why != "" {
			return why
		}
	}
	for _, b := range Blocked {
		if b.prefix.Contains(a) {
			return b.what
		}
	}
	return ""
}

// CheckAddr returns a *BlockedError when a is blocked and no Allowed
// network covers it.
func (p *Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return &BlockedError{Why: WhyUnspecified}
	}
	a = a.Unmap().WithZone("")
	why := Why(a)
	if why == "" || p.allows(a) {
		return nil
	}
	return &BlockedError{Addr: a, Why: why}
}

func (p *Policy) allows(a netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, pre := range p.Allowed {
		if pre.Contains(a) {
			return true
		}
	}
	return false
}

// CheckHost checks what can be known of host without a lookup: an address
// literal is checked as such, a cloud metadata name as its address. Any
// other name passes here; its addresses are checked when it is dialled.
func (p *Policy) CheckHost(host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(a); err != nil {
			err.(*BlockedError).Host = host
			return err
		}
		return nil
	}
	if a, ok := metadataNames[normalizeName(host)]; ok {
		if err := p.CheckAddr(a); err != nil {
			err.(*BlockedError).Host = host
			return err
		}
	}
	return nil
}

func normalizeName(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// CheckURL checks the host of an absolute URL with CheckHost.
func (p *Policy) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil // not a URL to dial; validation reports it
	}
	return p.CheckHost(u.Hostname())
}

// checkResolved resolves host and checks every address it has: a name
// with one blocked address among others is refused as a whole.
func (p *Policy) checkResolved(ctx context.Context, host string) error {
	if err := p.CheckHost(host); err != nil {
		return err
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return nil
	}
	var r Resolver = net.DefaultResolver
	if p != nil && p.Resolver != nil {
		r = p.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			err.(*BlockedError).Host = host
			return err
		}
	}
	return nil
}

type policyKey struct{}

// WithPolicy returns ctx carrying p: connections made for requests with
// this context are checked against it. A nil p returns ctx unchanged.
func WithPolicy(ctx context.Context, p *Policy) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, policyKey{}, p)
}

// FromContext returns the policy ctx carries, or nil.
func FromContext(ctx context.Context) *Policy {
	p, _ := ctx.Value(policyKey{}).(*Policy)
	return p
}

type uncheckedKey struct{}

// DialContext dials address with d (nil: a zero net.Dialer). When ctx
// carries a policy, the host is checked first (CheckHost) and every
// address the dialer connects to, after resolution, is checked before the
// connection is made.
func DialContext(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	p := FromContext(ctx)
	if p == nil || ctx.Value(uncheckedKey{}) != nil {
		return d.DialContext(ctx, network, address)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if err := p.CheckHost(host); err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	guarded := *d
	inner := d.ControlContext
	innerPlain := d.Control
	guarded.Control = nil
	guarded.ControlContext = func(ctx context.Context, network, address string, c syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dial guard: unexpected address %q: %w", address, err)
		}
		if err := p.CheckAddr(ap.Addr()); err != nil {
			err.(*BlockedError).Host = host
			return err
		}
		switch {
		case inner != nil:
			return inner(ctx, network, address, c)
		case innerPlain != nil:
			return innerPlain(network, address, c)
		}
		return nil
	}
	return guarded.DialContext(ctx, network, address)
}

// Transport sends requests whose context carries a policy through Guarded,
// whose every dial is checked, and all others through Open. The two keep
// separate connection pools: a checked request never reuses a connection
// an unchecked one opened to the same host and port.
type Transport struct {
	Open    *http.Transport
	Guarded *http.Transport

	proxies sync.Map // "host:port" of proxies Guarded was told to use
}

// NewTransport returns a Transport over base (used as Open) and a clone of
// it whose dials go through DialContext with d.
//
// Through a proxy (base.Proxy, HTTP_PROXY and the like), the connection
// goes to the proxy, which resolves the target's name itself: the target's
// host is then resolved and checked before the request is handed to the
// proxy, and the proxy's own address is not checked.
func NewTransport(base *http.Transport, d *net.Dialer) *Transport {
	if d == nil {
		d = &net.Dialer{}
	}
	t := &Transport{Open: base, Guarded: base.Clone()}
	proxy := base.Proxy
	t.Guarded.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		if _, isProxy := t.proxies.Load(address); isProxy {
			ctx = context.WithValue(ctx, uncheckedKey{}, true)
		}
		return DialContext(ctx, d, network, address)
	}
	t.Guarded.DialTLSContext = nil
	if proxy != nil {
		t.Guarded.Proxy = func(req *http.Request) (*url.URL, error) {
			u, err := proxy(req)
			if err != nil || u == nil {
				return u, err
			}
			if err := FromContext(req.Context()).checkResolved(req.Context(), req.URL.Hostname()); err != nil {
				return nil, err
			}
			t.proxies.Store(canonicalAddr(u), true)
			return u, nil
		}
	}
	return t
}

// canonicalAddr is the host:port a proxy URL is dialled at.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "https":
			port = "443"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "80"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if FromContext(req.Context()) != nil {
		return t.Guarded.RoundTrip(req)
	}
	return t.Open.RoundTrip(req)
}

// CloseIdleConnections closes the idle connections of both pools.
func (t *Transport) CloseIdleConnections() {
	t.Open.CloseIdleConnections()
	t.Guarded.CloseIdleConnections()
}

// Base returns the transport of unchecked requests (for its TLS settings).
func (t *Transport) Base() *http.Transport { return t.Open }
