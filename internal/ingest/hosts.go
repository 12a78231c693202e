package ingest

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/herald-alerts/herald/internal/alert"
)

// Browser protection. A web page can make the visitor's browser send
// requests to a Herald it cannot read itself, on localhost or the intranet:
//
//   - DNS rebinding: the page's own name is made to resolve to 127.0.0.1,
//     so its requests carry its Host and count as same-origin. A server on
//     a loopback address therefore answers only Hosts it knows (hostPolicy).
//   - Cross-origin requests: a page may post to any address. Every request
//     that changes state is refused when the browser says it comes from
//     another origin (checkOrigin); requests without Origin, as Alertmanager
//     and curl send them, pass.

// hostPolicy decides which Host headers a server answers.
type hostPolicy struct {
	// enforce is set for a server on a loopback address.
	enforce bool
	anyHost bool
	// names are lower-case host names without port; hostPorts are
	// allowed entries given with a port.
	names     map[string]bool
	hostPorts map[string]bool
	listen    string
}

// newHostPolicy is the policy of a server listening on listenAddr: on a
// loopback address (127.0.0.0/8, ::1, localhost) it answers only its own
// address, localhost, loopback IP literals and the allowed names (entries
// "name" match every port, "name:port" that port only; "*" allows any
// Host). On any other address, or when listenAddr is unknown, every Host
// is answered.
func newHostPolicy(listenAddr string, allowed []string) hostPolicy {
	host := listenHost(listenAddr)
	p := hostPolicy{enforce: isLoopbackHost(host), names: map[string]bool{}, hostPorts: map[string]bool{}, listen: listenAddr}
	if !p.enforce {
		return p
	}
	p.names[host] = true
	p.names["localhost"] = true
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == "" {
			continue
		}
		if a == "*" {
			p.anyHost = true
			continue
		}
		if h, port, err := net.SplitHostPort(a); err == nil {
			p.hostPorts[normalizeHost(h)+":"+port] = true
			continue
		}
		p.names[normalizeHost(a)] = true
	}
	return p
}

// allows reports whether a request with this Host header is served.
func (p hostPolicy) allows(hostHeader string) bool {
	if !p.enforce || p.anyHost || hostHeader == "" {
		// No Host at all (HTTP/1.0) is no browser's request.
		return true
	}
	host, port := hostHeader, ""
	if h, pt, err := net.SplitHostPort(hostHeader); err == nil {
		host, port = h, pt
	}
	host = normalizeHost(host)
	if p.names[host] || (port != "" && p.hostPorts[host+":"+port]) {
		return true
	}
	// An IP literal is no DNS name: a page cannot rebind it.
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func normalizeHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// isLoopbackHost reports whether host (no port) is a loopback address or
// localhost.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackAddr reports whether the listen address host:port is on a
// loopback interface only (127.0.0.0/8, ::1 or localhost); an empty or
// wildcard host is not.
func IsLoopbackAddr(addr string) bool { return isLoopbackHost(listenHost(addr)) }

// listenHost is the normalised host of a listen address.
func listenHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	return normalizeHost(addr)
}

// hostWarnEvery bounds the log lines about refused Hosts.
const hostWarnEvery = time.Minute

// HostGuard returns a middleware that answers 403 to requests whose Host a
// server on listenAddr does not serve (see newHostPolicy). It is what New
// uses; other servers of the process (pprof) use it too.
func HostGuard(listenAddr string, allowed []string, log func(msg string, args ...any)) func(http.Handler) http.Handler {
	p := newHostPolicy(listenAddr, allowed)
	var lastWarn atomic.Int64
	return func(next http.Handler) http.Handler {
		if !p.enforce || p.anyHost {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p.allows(r.Host) {
				next.ServeHTTP(w, r)
				return
			}
			host := alert.Truncate(r.Host, 100)
			if now := time.Now().UnixNano(); log != nil && now-lastWarn.Load() > int64(hostWarnEvery) {
				lastWarn.Store(now)
				log("request for an unknown Host refused (DNS rebinding protection); add the name to HERALD_ALLOWED_HOSTS if it is yours",
					"host", host, "listen", p.listen, "origin", alert.Truncate(r.Header.Get("Origin"), 100))
			}
			WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"host %q is not served here: this server listens on the loopback address %s and answers only its own address, localhost and the names in HERALD_ALLOWED_HOSTS (protection against DNS rebinding)",
				host, p.listen))
		})
	}
}

// crossOrigin checks the browser's Sec-Fetch-Site and Origin headers of
// state-changing requests (Go's http.CrossOriginProtection).
var crossOrigin = http.NewCrossOriginProtection()

// checkOrigin refuses state-changing requests (any method but GET, HEAD
// and OPTIONS) that a browser sent from another origin: 403 with a JSON
// error. /codec is left to the codec handler, which allows the Web UI
// origins of HERALD_CODEC_ORIGINS.
func checkOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/codec/") {
			next.ServeHTTP(w, r)
			return
		}
		if err := crossOrigin.Check(r); err != nil {
			from := r.Header.Get("Origin")
			if from == "" {
				from = "a page of another site (Sec-Fetch-Site: " + r.Header.Get("Sec-Fetch-Site") + ")"
			}
			WriteError(w, http.StatusForbidden, fmt.Sprintf(
				"cross-origin request refused: %s may not call %s %s on %s; browsers may change state here only from this server's own origin (requests without an Origin header, as Alertmanager and curl send them, are not affected)",
				alert.Truncate(from, 100), r.Method, alert.Truncate(r.URL.Path, 100), alert.Truncate(r.Host, 100)))
			return
		}
		next.ServeHTTP(w, r)
	})
}
