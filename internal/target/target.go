// Package target defines a publishing target (where Herald delivers alerts),
// its validation, and the registry the worker resolves targets from.
package target

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Target is one place Herald publishes to. It holds credentials (url tokens,
// headers, routing keys, API tokens) and therefore never leaves the worker:
// workflows carry a Ref instead.
type Target struct {
	Name    string            `json:"name"`
	Type    string            `json:"type"`
	URL     string            `json:"url,omitempty"`
	Enabled *bool             `json:"enabled,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Filter selects the alerts the target receives: label name to allowed
	// values. An alert must match every listed label.
	Filter Filter `json:"filter,omitempty"`
	// Retry overrides the default Temporal retry policy of deliveries.
	Retry *RetrySpec `json:"retry,omitempty"`
	// RateLimit overrides the per-type default delivery rate.
	RateLimit *RateLimitSpec `json:"rate_limit,omitempty"`
	// Template optionally renders the title and body (Go text/template).
	Template *TemplateSpec `json:"template,omitempty"`

	// HTTPConfig is the http_config block (internal/httpconfig): TLS,
	// authentication and proxy of the target's HTTP requests, with
	// Alertmanager's names. Decoded by ParseOne.
	HTTPConfig HTTPConfig `json:"-"`

	// Config is the type's own part of the target object, for types whose
	// provider declares one (ConfigKind): decoded from the same object by
	// ParseOne. The provider package owns its struct.
	Config Config `json:"-"`

	// Origin says where the target came from ("file:/etc/herald/targets.yaml#2",
	// "secret:monitoring/team-a-slack"). Not part of the schema.
	Origin string `json:"-"`
	// Scope is what the target's source lets it do (scope.go): set by
	// Kubernetes discovery for targets from Secrets, never by the
	// definition. Not part of the schema.
	Scope Scope `json:"-"`
}

// MarshalJSON writes the target object as it is defined: the common fields
// and the type's own config side by side, so that ParseOne reads it back.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target
	b, err := json.Marshal(plain(t))
	if err != nil || (t.Config == nil && t.HTTPConfig == nil) {
		return b, err
	}
	c := []byte("{}")
	if t.Config != nil {
		c, err = json.Marshal(t.Config)
	}
	if err != nil {
		return nil, err
	}
	if t.HTTPConfig != nil {
		if c, err = withField(c, HTTPConfigField, t.HTTPConfig); err != nil {
			return nil, err
		}
	}
	if len(c) <= 2 { // {} or null
		return b, nil
	}
	if len(b) <= 2 {
		return c, nil
	}
	out := make([]byte, 0, len(b)+len(c))
	out = append(out, b[:len(b)-1]...)
	out = append(out, ',')
	return append(out, c[1:]...), nil
}

// withField adds "name": v to the JSON object obj.
func withField(obj []byte, name string, v any) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil || m == nil {
		m = map[string]json.RawMessage{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	m[name] = b
	return json.Marshal(m)
}

// Filter maps a label name to the values an alert's label may have.
type Filter map[string][]string

// Matches reports whether labels satisfy every condition of f. An empty
// filter matches everything.
func (f Filter) Matches(labels map[string]string) bool {
	for name, allowed := range f {
		v, ok := labels[name]
		if !ok {
			return false
		}
		found := false
		for _, a := range allowed {
			if a == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// RetrySpec is the optional per-target retry policy as written in config.
type RetrySpec struct {
	InitialInterval Duration `json:"initial_interval,omitempty"`
	Backoff         float64  `json:"backoff,omitempty"`
	MaxInterval     Duration `json:"max_interval,omitempty"`
	MaxAttempts     int32    `json:"max_attempts,omitempty"`
}

// RateLimitSpec limits deliveries to a target: PerSecond sustained with Burst.
type RateLimitSpec struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst,omitempty"`
}

// Where a target's rate limit comes from (RateLimitView.Source).
const (
	LimitFromTarget = "target" // the target's rate_limit
	LimitFromType   = "type"   // the default of its type (the provider's published limit)
)

// RateLimitView is the rate limit deliveries to a target are held to, and
// where it comes from. A target with none has a nil view: the worker then
// learns a rate only from the receiver's 429 or 503 with Retry-After.
type RateLimitView struct {
	PerSecond float64 `json:"per_second"`
	Burst     int     `json:"burst"`
	Source    string  `json:"source"`
	// Shared says other targets may draw on the same limit (the provider
	// limits per credential, e.g. a PagerDuty routing key).
	Shared bool `json:"shared,omitempty"`
}

// Limit returns the rate limit of t: its rate_limit (a burst of at least
// one second's rate when it sets none), else the default of its type. ok is
// false when neither sets one.
func (t Target) Limit() (l RateLimitView, ok bool) {
	if r := t.RateLimit; r != nil && r.PerSecond > 0 {
		l = RateLimitView{PerSecond: r.PerSecond, Burst: r.Burst, Source: LimitFromTarget}
		if l.Burst <= 0 {
			l.Burst = int(math.Max(1, math.Ceil(r.PerSecond)))
		}
	} else if k, known := KindOf(t.Type); known && k.DefaultLimit().PerSecond > 0 {
		d := k.DefaultLimit()
		l = RateLimitView{PerSecond: d.PerSecond, Burst: d.Burst, Source: LimitFromType}
	} else {
		return RateLimitView{}, false
	}
	if k, known := KindOf(t.Type); known && k.LimiterKey(t) != "" {
		l.Shared = true
	}
	return l, true
}

// TemplateSpec holds optional Go templates for a notification's title and body.
type TemplateSpec struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

// Default retry policy of a delivery (documented in docs/configuration.md).
var DefaultRetry = RetryPolicy{
	InitialInterval: time.Second,
	Backoff:         2.0,
	MaxInterval:     5 * time.Minute,
	MaxAttempts:     10,
}

// RetryPolicy is a resolved retry policy, safe to carry in workflow history.
type RetryPolicy struct {
	InitialInterval time.Duration `json:"initialInterval"`
	Backoff         float64       `json:"backoff"`
	MaxInterval     time.Duration `json:"maxInterval"`
	MaxAttempts     int32         `json:"maxAttempts"`
}

// Ref is what a workflow knows of a target: no URL, no credentials.
type Ref struct {
	Name  string      `json:"name"`
	Type  string      `json:"type"`
	Retry RetryPolicy `json:"retry"`
	// ForwardTTL is set for alertmanager targets only: a forwarded firing
	// alert is sent with endsAt = now + ForwardTTL, so the receiving
	// Alertmanager resolves it by itself unless it is sent again. The alert
	// workflow re-sends a firing alert to such a target every ForwardTTL/3.
	ForwardTTL time.Duration `json:"forwardTTL,omitempty"`
}

// IsEnabled reports whether the target takes deliveries (default true).
func (t Target) IsEnabled() bool { return t.Enabled == nil || *t.Enabled }

// RetryPolicy returns the target's retry policy with defaults applied.
func (t Target) RetryPolicy() RetryPolicy {
	p := DefaultRetry
	if t.Retry == nil {
		return p
	}
	if t.Retry.InitialInterval > 0 {
		p.InitialInterval = time.Duration(t.Retry.InitialInterval)
	}
	if t.Retry.Backoff > 0 {
		p.Backoff = t.Retry.Backoff
	}
	if t.Retry.MaxInterval > 0 {
		p.MaxInterval = time.Duration(t.Retry.MaxInterval)
	}
	if t.Retry.MaxAttempts > 0 {
		p.MaxAttempts = t.Retry.MaxAttempts
	}
	return p
}

// Ref returns the credential-free reference a workflow carries.
func (t Target) Ref() Ref {
	r := Ref{Name: t.Name, Type: t.Type, Retry: t.RetryPolicy()}
	if k, ok := KindOf(t.Type); ok {
		if f, ok := k.(Forwarder); ok {
			r.ForwardTTL = f.ForwardTTL(t)
		}
	}
	return r
}

// Endpoint is the base URL to talk to: url, or the provider default.
func (t Target) Endpoint() string {
	if t.URL != "" {
		return t.URL
	}
	if k, ok := KindOf(t.Type); ok {
		return k.DefaultURL()
	}
	return ""
}

// Secrets lists the credential values of the target: everything that must
// never appear in history, logs, metrics or API responses.
func (t Target) Secrets() []string {
	var s []string
	add := func(v string) {
		if len(v) >= 4 {
			s = append(s, v)
		}
	}
	for _, v := range RequestSecrets(t.URL, t.Headers) {
		add(v)
	}
	if t.Config != nil {
		for _, v := range t.Config.Secrets() {
			add(v)
		}
	}
	if t.HTTPConfig != nil {
		for _, v := range t.HTTPConfig.Secrets() {
			add(v)
		}
	}
	return s
}

// RequestSecrets lists the credentials a request to rawURL with headers
// carries, each at least 4 bytes long: every header value, also without
// its scheme ("Bearer <token>": the token alone), and for "Basic" the
// decoded "user:password" and the password; the URL's user info (as
// written, decoded, its password, and the base64 of "user:password" that
// the client sends as basic auth), its path, its query and every query
// value. Target.Secrets uses it, and so does publish.Send, which redacts
// an answer with it before cutting the answer's excerpt.
func RequestSecrets(rawURL string, headers map[string]string) []string {
	var s []string
	add := func(v string) {
		if len(v) >= 4 {
			s = append(s, v)
		}
	}
	basic := func(userPass string) {
		add(userPass)
		if _, pw, ok := strings.Cut(userPass, ":"); ok {
			add(pw)
		}
	}
	for _, v := range headers {
		add(v)
		// "Bearer <token>", "Basic <credentials>": the credential alone too.
		scheme, cred, ok := strings.Cut(v, " ")
		if !ok {
			continue
		}
		cred = strings.TrimSpace(cred)
		add(cred)
		if strings.EqualFold(scheme, "Basic") {
			if dec, err := base64.StdEncoding.DecodeString(cred); err == nil {
				basic(string(dec))
			}
		}
	}
	if rawURL == "" {
		return s
	}
	if u, err := url.Parse(rawURL); err == nil {
		if u.User != nil {
			add(u.User.String())
			name := u.User.Username()
			pw, hasPW := u.User.Password()
			add(name + ":" + pw)
			if hasPW {
				add(pw)
			}
			add(base64.StdEncoding.EncodeToString([]byte(name + ":" + pw)))
		}
		if u.Path != "" && u.Path != "/" {
			add(u.Path)
			if ep := u.EscapedPath(); ep != u.Path {
				add(ep)
			}
		}
		add(u.RawQuery)
		for _, vs := range u.Query() {
			for _, v := range vs {
				add(v)
			}
		}
	}
	return s
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// FieldError names the target and field that are wrong.
type FieldError struct {
	Target string
	Field  string
	Msg    string
}

func (e *FieldError) Error() string {
	name := e.Target
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("target %q: field %s: %s", name, e.Field, e.Msg)
}

// Validate checks t against the schema and the needs of its type.
func (t Target) Validate() error {
	fe := func(field, format string, args ...any) error {
		return &FieldError{Target: t.Name, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if t.Name == "" {
		return fe("name", "is required")
	}
	if len(t.Name) > 63 || !nameRE.MatchString(t.Name) {
		return fe("name", "must be a DNS-1123 label (lower-case letters, digits and '-', at most 63 characters)")
	}
	if t.Type == "" {
		return fe("type", "is required (one of %s)", strings.Join(Types(), ", "))
	}
	kind, known := KindOf(t.Type)
	if !known {
		return fe("type", "%q is not one of %s", t.Type, strings.Join(Types(), ", "))
	}
	if t.URL != "" {
		u, err := url.Parse(t.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fe("url", "must be an absolute http or https URL")
		}
	}
	if t.URL == "" && kind.DefaultURL() == "" && !urlOptional(kind) {
		return fe("url", "is required for type %s", t.Type)
	}
	for k := range t.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") {
			return fe("headers", "invalid header name %q", k)
		}
	}
	for k, v := range t.Filter {
		if k == "" {
			return fe("filter", "empty label name")
		}
		if len(v) == 0 {
			return fe("filter."+k, "needs at least one value")
		}
	}
	if r := t.Retry; r != nil {
		if r.InitialInterval < 0 || r.MaxInterval < 0 || r.MaxAttempts < 0 {
			return fe("retry", "values must not be negative")
		}
		if r.Backoff != 0 && r.Backoff < 1 {
			return fe("retry.backoff", "must be at least 1.0")
		}
		if r.MaxInterval > 0 && r.InitialInterval > r.MaxInterval {
			return fe("retry.max_interval", "must not be below initial_interval")
		}
	}
	if r := t.RateLimit; r != nil {
		if r.PerSecond <= 0 {
			return fe("rate_limit.per_second", "must be positive")
		}
		if r.Burst < 0 {
			return fe("rate_limit.burst", "must not be negative")
		}
	}
	if err := kind.Validate(t); err != nil {
		return err
	}
	if err := t.validateHTTPConfig(kind); err != nil {
		return err
	}
	if tp := t.Template; tp != nil {
		if _, err := ParseTemplate("title", tp.Title); err != nil {
			return fe("template.title", "%s", TemplateProblem(err))
		}
		if _, err := ParseTemplate("body", tp.Body); err != nil {
			return fe("template.body", "%s", TemplateProblem(err))
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Duration is a time.Duration written as a Go duration string ("1s", "5m").
type Duration time.Duration

// UnmarshalJSON accepts "1m30s" strings (and plain numbers as seconds).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Public is the view of a target that may be shown to anyone: credentials
// are replaced by "<redacted>" and URLs keep only scheme and host.
type Public struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	URL        string            `json:"url,omitempty"`
	Enabled    bool              `json:"enabled"`
	Headers    map[string]string `json:"headers,omitempty"`
	RoutingKey string            `json:"routing_key,omitempty"`
	Token      string            `json:"token,omitempty"`
	Channel    string            `json:"channel,omitempty"`
	// HTTPConfig says the target has an http_config block (its content
	// holds credentials and file paths: not shown).
	HTTPConfig bool `json:"http_config,omitempty"`
	// Warnings are what the operator should know of the definition
	// (an unverified TLS connection).
	Warnings []string        `json:"warnings,omitempty"`
	Filter   Filter          `json:"filter,omitempty"`
	Retry    RetryPolicyView `json:"retry"`
	// RateLimit is the limit deliveries are held to (absent: none, beyond
	// what the receiver's Retry-After teaches).
	RateLimit *RateLimitView `json:"rate_limit,omitempty"`
	Origin    string         `json:"origin,omitempty"`
}

// RetryPolicyView is a RetryPolicy with human-readable durations.
type RetryPolicyView struct {
	InitialInterval string  `json:"initial_interval"`
	Backoff         float64 `json:"backoff"`
	MaxInterval     string  `json:"max_interval"`
	MaxAttempts     int32   `json:"max_attempts"`
}

// Redacted is the placeholder for a credential in public views.
const Redacted = "<redacted>"

// Public returns the redacted view of t.
func (t Target) Public() Public {
	p := Public{
		Name: t.Name, Type: t.Type, URL: RedactURL(t.Endpoint()), Enabled: t.IsEnabled(),
		Filter: t.Filter, Origin: t.Origin,
	}
	rp := t.RetryPolicy()
	p.Retry = RetryPolicyView{
		InitialInterval: rp.InitialInterval.String(), Backoff: rp.Backoff,
		MaxInterval: rp.MaxInterval.String(), MaxAttempts: rp.MaxAttempts,
	}
	if l, ok := t.Limit(); ok {
		p.RateLimit = &l
	}
	if len(t.Headers) > 0 {
		p.Headers = make(map[string]string, len(t.Headers))
		for k := range t.Headers {
			p.Headers[k] = Redacted
		}
	}
	if d, ok := t.Config.(Describer); ok {
		d.Describe(&p)
	}
	if t.HTTPConfig != nil {
		p.HTTPConfig = true
		p.Warnings = t.HTTPConfig.Warnings()
	}
	return p
}

// RedactURL keeps scheme and host of u and hides path, query and user info,
// which often carry tokens (Slack webhook URLs do).
func RedactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return Redacted
	}
	out := u.Scheme + "://" + u.Host
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		out += "/" + Redacted
	}
	return out
}

// SortByName sorts targets by name in place.
func SortByName(ts []Target) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
}

// Describer is a Config that shows itself in the public view of its
// target: credentials only as Redacted.
type Describer interface{ Describe(p *Public) }

// Forwarder is a Kind whose deliveries forward an alert that expires at the
// receiver unless it is sent again (alertmanager): the alert workflow
// re-sends a firing alert every ForwardTTL/3.
type Forwarder interface{ ForwardTTL(t Target) time.Duration }

// URLOptional is implemented by kinds whose targets may have no url and
// no default one (a Slack bot-token target talks to the Web API default;
// an email target has a smarthost instead).
type URLOptional interface{ URLOptional() bool }

func urlOptional(k Kind) bool {
	o, ok := k.(URLOptional)
	return ok && o.URLOptional()
}
