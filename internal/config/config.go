// Package config reads Herald's configuration from flags and HERALD_*
// environment variables (flags win), with defaults for local runs.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is everything the worker and starter need.
type Config struct {
	HTTPAddr string

	TemporalAddress   string
	TemporalNamespace string
	TaskQueue         string
	// Connection to an existing cluster (unused for the embedded server).
	TemporalTLS TemporalTLS
	// TemporalAPIKey is sent as a gRPC bearer token (Temporal Cloud API keys).
	TemporalAPIKey string
	// TemporalUIURL is the Temporal Web UI the console links workflows to
	// (worker dev with an embedded server links to its own UI).
	TemporalUIURL string

	// Embedded dev server (only when TemporalAddress is empty).
	DataDir      string
	InMemory     bool
	TemporalPort int
	UIPort       int
	// SQLiteSynchronous is the file store's synchronous mode: full or normal.
	SQLiteSynchronous string
	// Engine settings of the embedded server (devserver.Engine), each
	// measurable alone. SQLiteCacheSize and SQLiteMmapSize are SQLite's
	// cache_size (pages, or KiB when negative) and mmap_size (bytes); 0
	// keeps SQLite's default.
	EngineVisibilityStore     string
	EngineShardIOConcurrency  int
	EngineRaiseRateLimits     bool
	EngineSACacheForceRefresh bool
	SQLiteCacheSize           int
	SQLiteMmapSize            int64
	// EngineGOGC and EngineGOMemLimit set the Go GC of `worker dev` unless
	// GOGC / GOMEMLIMIT are in its environment ("" keeps Go's default).
	// ParseGOGC and ParseMemoryLimit read them.
	EngineGOGC       string
	EngineGOMemLimit string

	TargetsFile     string
	TargetsPoll     time.Duration
	K8sNamespaces   []string
	K8sSelector     string
	Kubeconfig      string
	HealthInterval  time.Duration
	RoutingStrategy string
	ClassifierRules string
	LLMURL          string
	LLMModel        string
	LLMAPIKey       string
	LLMTimeout      time.Duration
	WebhookToken    string
	AdminToken      string
	MaxBodyBytes    int64
	AlertInactivity time.Duration
	DeliveryTimeout time.Duration
	// FirstAttemptTimeout bounds the first attempt of a delivery (a local
	// activity inside the workflow task).
	FirstAttemptTimeout time.Duration
	MaxHealthWait       time.Duration
	HealthRecheck       time.Duration
	ResolvedLinger      time.Duration
	ShutdownTimeout     time.Duration
	// WorkflowTaskPollers and ActivityTaskPollers are the worker's
	// concurrent pollers (0: the SDK's default, 2).
	WorkflowTaskPollers int
	ActivityTaskPollers int

	// EncryptionKeyFile enables payload encryption (internal/codec);
	// CodecOrigins may call its /codec endpoint from a browser.
	EncryptionKeyFile string
	CodecOrigins      []string

	// Webhook limits (per request and per alert) and read protection.
	WebhookTimeout     time.Duration
	SignalTimeout      time.Duration
	WebhookConcurrency int
	MaxAlertBytes      int
	MaxAlertLabels     int
	AdminReads         bool

	// HTTP surface: Host names a server on a loopback address answers
	// besides its own (DNS rebinding protection), the time to receive one
	// request body, and the API's (and /codec's) concurrency bound.
	AllowedHosts    []string
	BodyReadTimeout time.Duration
	APIConcurrency  int

	// Tenancy of targets from Kubernetes Secrets: K8sClusterWide lists
	// the namespaces whose Secrets' targets receive every namespace's
	// alerts ("*": all; the others receive only alerts whose namespace
	// label is their own namespace); K8sAllowedTargetCIDRs are networks
	// such targets may reach although they are loopback, link-local or
	// cloud metadata addresses.
	K8sClusterWide        []string
	K8sAllowedTargetCIDRs []netip.Prefix

	LogLevel  string
	LogFormat string
	// PprofAddr serves Go's net/http/pprof (profiles of the worker and, in
	// dev mode, of the embedded server) when set.
	PprofAddr string
}

// TemporalTLS is the TLS setup of the Temporal connection.
type TemporalTLS struct {
	// Enabled turns TLS on with the system roots; any other field (or an API
	// key) turns it on too.
	Enabled bool
	// CAFile verifies the server (PEM); empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate for mTLS (PEM).
	CertFile, KeyFile string
	// ServerName overrides the name the server certificate is checked for.
	ServerName string
	// InsecureSkipVerify turns off server certificate verification.
	InsecureSkipVerify bool
}

// TemporalTLSOn reports whether the Temporal connection uses TLS.
func (c Config) TemporalTLSOn() bool {
	t := c.TemporalTLS
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" ||
		t.InsecureSkipVerify || c.TemporalAPIKey != ""
}

type option struct {
	flag, env, def, help string
	set                  func(c *Config, v string) error
	// secret options never show their environment value in --help.
	secret bool
	// switch options may be given without a value (--in-memory).
	isSwitch bool
}

// switchValue is a string flag that may stand alone, meaning "true".
type switchValue struct{ v *string }

func (s switchValue) String() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}
func (s switchValue) Set(v string) error { *s.v = v; return nil }
func (s switchValue) IsBoolFlag() bool   { return true }

func opt(flag, env, def, help string, set func(c *Config, v string) error) option {
	return option{flag: flag, env: env, def: def, help: help, set: set}
}

func switchOpt(flag, env, help string, set func(c *Config, v string) error) option {
	return option{flag: flag, env: env, def: "false", help: help, set: set, isSwitch: true}
}

func secretOpt(flag, env, help string, set func(c *Config, v string) error) option {
	return option{flag: flag, env: env, help: help, set: set, secret: true}
}

func str(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

func dur(dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a Go duration (like 30s, 2m): %q", v)
		}
		if d < 0 {
			return fmt.Errorf("must not be negative: %q", v)
		}
		*dst(c) = d
		return nil
	}
}

func integer(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not an integer: %q", v)
		}
		*dst(c) = n
		return nil
	}
}

// pollers parses a poller count: 0 (the SDK's default) or at least 2 (the
// SDK refuses 1: its pollers alternate between sticky and normal queues).
func pollers(dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n == 1 {
			return fmt.Errorf("not 0 or a number of at least 2: %q", v)
		}
		*dst(c) = n
		return nil
	}
}

func boolean(dst func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		*dst(c) = b
		return nil
	}
}

func oneOf(dst func(*Config) *string, values ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		for _, ok := range values {
			if v == ok {
				*dst(c) = v
				return nil
			}
		}
		return fmt.Errorf("want one of %s, not %q", strings.Join(values, ", "), v)
	}
}

// ParseGOGC reads a GOGC value: a percentage or "off" (-1). ok is false for
// "" (Go's default).
func ParseGOGC(v string) (percent int, ok bool, err error) {
	switch v {
	case "":
		return 0, false, nil
	case "off":
		return -1, true, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, fmt.Errorf("want a percentage (like 100, 200) or off, not %q", v)
	}
	return n, true, nil
}

// ParseMemoryLimit reads a GOMEMLIMIT value: bytes with an optional B, KiB,
// MiB, GiB or TiB suffix, or "off" (math.MaxInt64). ok is false for "".
func ParseMemoryLimit(v string) (bytes int64, ok bool, err error) {
	switch v {
	case "":
		return 0, false, nil
	case "off":
		return math.MaxInt64, true, nil
	}
	n, err := parseSize(v)
	if err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// parseSize reads bytes with an optional B, KiB, MiB, GiB or TiB suffix
// (the units of GOMEMLIMIT).
func parseSize(v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("want bytes with an optional B, KiB, MiB, GiB or TiB suffix (like 512MiB), not %q", v)
	}
	return n * mult, nil
}

var options = []option{
	opt("http-addr", "HERALD_HTTP_ADDR", "127.0.0.1:8080", "address of the webhook, API, health and metrics server", str(func(c *Config) *string { return &c.HTTPAddr })),
	opt("temporal-address", "HERALD_TEMPORAL_ADDRESS", "", "host:port of an existing Temporal frontend; empty embeds a local dev server (worker dev only)", str(func(c *Config) *string { return &c.TemporalAddress })),
	opt("temporal-namespace", "HERALD_TEMPORAL_NAMESPACE", "default", "Temporal namespace", str(func(c *Config) *string { return &c.TemporalNamespace })),
	opt("temporal-ui-url", "HERALD_TEMPORAL_UI_URL", "", "address of the Temporal Web UI the console links each alert's workflow to, e.g. https://temporal.example.com or https://cloud.temporal.io; empty: no links (worker dev links to its embedded UI)", str(func(c *Config) *string { return &c.TemporalUIURL })),
	opt("task-queue", "HERALD_TASK_QUEUE", "herald", "Temporal task queue of Herald's workflows and activities", str(func(c *Config) *string { return &c.TaskQueue })),
	switchOpt("temporal-tls", "HERALD_TEMPORAL_TLS", "connect to Temporal over TLS (on by itself when a TLS file, server name or API key is set)", boolean(func(c *Config) *bool { return &c.TemporalTLS.Enabled })),
	opt("temporal-tls-ca", "HERALD_TEMPORAL_TLS_CA", "", "PEM file of the CA that signed the Temporal frontend's certificate (default: system roots)", str(func(c *Config) *string { return &c.TemporalTLS.CAFile })),
	opt("temporal-tls-cert", "HERALD_TEMPORAL_TLS_CERT", "", "PEM client certificate for mTLS to Temporal (with --temporal-tls-key)", str(func(c *Config) *string { return &c.TemporalTLS.CertFile })),
	opt("temporal-tls-key", "HERALD_TEMPORAL_TLS_KEY", "", "PEM private key of --temporal-tls-cert", str(func(c *Config) *string { return &c.TemporalTLS.KeyFile })),
	opt("temporal-tls-server-name", "HERALD_TEMPORAL_TLS_SERVER_NAME", "", "name the Temporal frontend's certificate is checked against (default: the host of --temporal-address)", str(func(c *Config) *string { return &c.TemporalTLS.ServerName })),
	switchOpt("temporal-tls-insecure-skip-verify", "HERALD_TEMPORAL_TLS_INSECURE_SKIP_VERIFY", "do not verify the Temporal frontend's certificate (tests only)", boolean(func(c *Config) *bool { return &c.TemporalTLS.InsecureSkipVerify })),
	secretOpt("temporal-api-key", "HERALD_TEMPORAL_API_KEY", "API key sent to Temporal as a bearer token (implies TLS)", str(func(c *Config) *string { return &c.TemporalAPIKey })),
	opt("data-dir", "HERALD_DATA_DIR", "./.herald", "state of the embedded Temporal server (kept across restarts)", str(func(c *Config) *string { return &c.DataDir })),
	opt("sqlite-synchronous", "HERALD_SQLITE_SYNCHRONOUS", "full", "durability of the embedded file store (WAL): full syncs every commit; normal survives kill -9 but may lose the last commits on power loss", str(func(c *Config) *string { return &c.SQLiteSynchronous })),
	opt("engine-visibility-store", "HERALD_ENGINE_VISIBILITY_STORE", "combined", "where the embedded server keeps the workflow list: combined (in temporal.db, on the one SQLite connection), separate (visibility.db beside it, with its own connection; an existing temporal.db's list is copied there once) or auto (separate for a new data dir, combined for one created before)",
		oneOf(func(c *Config) *string { return &c.EngineVisibilityStore }, "combined", "separate", "auto")),
	opt("engine-shard-io-concurrency", "HERALD_ENGINE_SHARD_IO_CONCURRENCY", "1", "history.shardIOConcurrency of the embedded server: persistence operations of its one history shard that may run at once", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("not a positive integer: %q", v)
		}
		c.EngineShardIOConcurrency = n
		return nil
	}),
	switchOpt("engine-raise-rate-limits", "HERALD_ENGINE_RAISE_RATE_LIMITS", "lift the embedded server's frontend, matching and history request and persistence rate limits and the history queue poll limits, so that SQLite sets the pace", boolean(func(c *Config) *bool { return &c.EngineRaiseRateLimits })),
	opt("engine-sa-cache-force-refresh", "HERALD_ENGINE_SA_CACHE_FORCE_REFRESH", "true", "system.forceSearchAttributesCacheRefreshOnRead of the embedded server (a test setting: re-reads the cluster metadata on every search attribute lookup)", boolean(func(c *Config) *bool { return &c.EngineSACacheForceRefresh })),
	opt("sqlite-cache-size", "HERALD_SQLITE_CACHE_SIZE", "0", "SQLite cache_size of the embedded file store, per connection: pages, or KiB when negative (-65536 = 64 MiB); 0 keeps SQLite's default (-2000)", integer(func(c *Config) *int { return &c.SQLiteCacheSize })),
	opt("sqlite-mmap-size", "HERALD_SQLITE_MMAP_SIZE", "0", "SQLite mmap_size of the embedded file store: bytes read through memory-mapped I/O (like 268435456 or 256MiB); 0 keeps SQLite's default (off)", func(c *Config, v string) error {
		n, err := parseSize(v)
		if err != nil {
			return err
		}
		c.SQLiteMmapSize = n
		return nil
	}),
	opt("engine-gogc", "HERALD_ENGINE_GOGC", "", "GOGC of worker dev (a percentage or off) unless GOGC is in its environment; empty keeps Go's default (100)", func(c *Config, v string) error {
		if _, _, err := ParseGOGC(v); err != nil {
			return err
		}
		c.EngineGOGC = v
		return nil
	}),
	opt("engine-gomemlimit", "HERALD_ENGINE_GOMEMLIMIT", "", "GOMEMLIMIT of worker dev (like 1GiB, or off) unless GOMEMLIMIT is in its environment; empty keeps Go's default (none)", func(c *Config, v string) error {
		if _, _, err := ParseMemoryLimit(v); err != nil {
			return err
		}
		c.EngineGOMemLimit = v
		return nil
	}),
	switchOpt("in-memory", "HERALD_IN_MEMORY", "embedded Temporal server keeps its state in memory only", boolean(func(c *Config) *bool { return &c.InMemory })),
	opt("temporal-port", "HERALD_TEMPORAL_PORT", "7233", "gRPC port of the embedded Temporal server", integer(func(c *Config) *int { return &c.TemporalPort })),
	opt("ui-port", "HERALD_UI_PORT", "8233", "port of the embedded Temporal Web UI (-1 disables it)", integer(func(c *Config) *int { return &c.UIPort })),
	opt("targets-file", "HERALD_TARGETS_FILE", "", "JSON or YAML list of targets (reloaded on change)", str(func(c *Config) *string { return &c.TargetsFile })),
	opt("targets-poll", "HERALD_TARGETS_POLL", "2s", "how often the targets file is checked for changes", dur(func(c *Config) *time.Duration { return &c.TargetsPoll })),
	opt("k8s-namespaces", "HERALD_K8S_NAMESPACES", "", "comma-separated namespaces to discover target Secrets in (* for all); empty disables Kubernetes discovery", func(c *Config, v string) error {
		c.K8sNamespaces = splitList(v)
		return nil
	}),
	opt("k8s-selector", "HERALD_K8S_SELECTOR", "publishing-target=true", "label selector of target Secrets", str(func(c *Config) *string { return &c.K8sSelector })),
	opt("k8s-cluster-wide-namespaces", "HERALD_K8S_CLUSTER_WIDE_NAMESPACES", "", "comma-separated namespaces whose target Secrets receive the alerts of every namespace (* for all); a target from a Secret in any other namespace receives only alerts whose namespace label is its own namespace", func(c *Config, v string) error {
		c.K8sClusterWide = splitList(v)
		return nil
	}),
	opt("k8s-allowed-target-cidrs", "HERALD_K8S_ALLOWED_TARGET_CIDRS", "", "comma-separated networks (CIDRs) that targets from Secrets may reach although they are loopback, link-local or cloud metadata addresses; empty: none (targets from the targets file are not restricted)", func(c *Config, v string) error {
		c.K8sAllowedTargetCIDRs = nil
		for _, s := range splitList(v) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("not a CIDR (like 127.0.0.0/8) or an address: %q", s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			c.K8sAllowedTargetCIDRs = append(c.K8sAllowedTargetCIDRs, p.Masked())
		}
		return nil
	}),
	opt("kubeconfig", "KUBECONFIG", "", "kubeconfig file for Kubernetes discovery outside a cluster (in-cluster config when empty)", str(func(c *Config) *string { return &c.Kubeconfig })),
	opt("health-interval", "HERALD_HEALTH_INTERVAL", "2m", "interval of the scheduled target health checks", dur(func(c *Config) *time.Duration { return &c.HealthInterval })),
	opt("routing-strategy", "HERALD_ROUTING_STRATEGY", "skip-unhealthy", "skip-unhealthy, skip-unhealthy-and-degraded or all: which targets get deliveries by health", str(func(c *Config) *string { return &c.RoutingStrategy })),
	opt("classifier-rules", "HERALD_CLASSIFIER_RULES", "", "YAML/JSON file of severity rules (label matchers)", str(func(c *Config) *string { return &c.ClassifierRules })),
	opt("llm-url", "HERALD_LLM_URL", "", "OpenAI-compatible API base URL for the optional LLM classifier (e.g. https://api.openai.com/v1)", str(func(c *Config) *string { return &c.LLMURL })),
	opt("llm-model", "HERALD_LLM_MODEL", "gpt-4o-mini", "model of the LLM classifier", str(func(c *Config) *string { return &c.LLMModel })),
	secretOpt("llm-api-key", "HERALD_LLM_API_KEY", "API key of the LLM classifier", str(func(c *Config) *string { return &c.LLMAPIKey })),
	opt("llm-timeout", "HERALD_LLM_TIMEOUT", "3s", "timeout of one LLM classification (then the rules decide)", dur(func(c *Config) *time.Duration { return &c.LLMTimeout })),
	secretOpt("webhook-token", "HERALD_WEBHOOK_TOKEN", "when set, POST /webhook requires Authorization: Bearer <token>", str(func(c *Config) *string { return &c.WebhookToken })),
	secretOpt("admin-token", "HERALD_ADMIN_TOKEN", "when set, state-changing /api/v1 calls require Authorization: Bearer <token>", str(func(c *Config) *string { return &c.AdminToken })),
	opt("encryption-key-file", "HERALD_ENCRYPTION_KEY_FILE", "", "file of key-id:base64-of-32-bytes lines: encrypts payloads (AES-256-GCM) with the first key, decrypts with all; empty disables encryption", str(func(c *Config) *string { return &c.EncryptionKeyFile })),
	opt("codec-origins", "HERALD_CODEC_ORIGINS", "", "comma-separated browser origins (Temporal Web UIs) allowed to call /codec (CORS); worker dev adds its embedded UI", func(c *Config, v string) error {
		c.CodecOrigins = splitList(v)
		return nil
	}),
	opt("max-body-bytes", "HERALD_MAX_BODY_BYTES", "5242880", "largest accepted webhook body (bytes); larger gets 413", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("not a positive integer: %q", v)
		}
		c.MaxBodyBytes = n
		return nil
	}),
	opt("webhook-timeout", "HERALD_WEBHOOK_TIMEOUT", "10s", "budget of one POST /webhook for handing all its alerts to Temporal; keep it below Alertmanager's webhook timeout", dur(func(c *Config) *time.Duration { return &c.WebhookTimeout })),
	opt("signal-timeout", "HERALD_SIGNAL_TIMEOUT", "5s", "budget of handing one alert to Temporal (SignalWithStart), within --webhook-timeout", dur(func(c *Config) *time.Duration { return &c.SignalTimeout })),
	opt("webhook-concurrency", "HERALD_WEBHOOK_CONCURRENCY", "0", "webhook body budget in bodies of --max-body-bytes (0: 2 x GOMAXPROCS, at least 4); each request takes 64 KiB of it, and more in steps of 64 KiB as its body's bytes arrive; over the budget a request waits up to 1s, then gets 503 with Retry-After", integer(func(c *Config) *int { return &c.WebhookConcurrency })),
	opt("max-alert-bytes", "HERALD_MAX_ALERT_BYTES", "262144", "largest alert a workflow carries (bytes of its JSON); a larger one is accepted with its longest annotations trimmed (marked) to fit; only labels alone over it are refused with 400", integer(func(c *Config) *int { return &c.MaxAlertBytes })),
	opt("max-alert-labels", "HERALD_MAX_ALERT_LABELS", "256", "most labels an accepted alert may have; more is rejected with 400, the others of the request are accepted", integer(func(c *Config) *int { return &c.MaxAlertLabels })),
	switchOpt("admin-reads", "HERALD_ADMIN_READS", "every /api/v1 call, reads too, requires the admin token (alert state and dead letters hold alert data)", boolean(func(c *Config) *bool { return &c.AdminReads })),
	opt("allowed-hosts", "HERALD_ALLOWED_HOSTS", "", "comma-separated host names (name, or name:port) that a server on a loopback --http-addr answers besides its own address, localhost and loopback IPs; other Host headers get 403 (DNS rebinding protection); * answers any", func(c *Config, v string) error {
		hosts := splitList(v)
		for _, h := range hosts {
			if strings.Contains(h, "/") {
				return fmt.Errorf("host names, not URLs: %q", h)
			}
		}
		c.AllowedHosts = hosts
		return nil
	}),
	opt("body-read-timeout", "HERALD_BODY_READ_TIMEOUT", "10s", "time to receive one request body (webhook, /codec), from the start of the request; a slower client gets 408 and its share of the webhook budget is freed", dur(func(c *Config) *time.Duration { return &c.BodyReadTimeout })),
	opt("api-concurrency", "HERALD_API_CONCURRENCY", "0", "/api/v1 and /codec requests processed at once, apart from the webhook's budget (0: 4 x GOMAXPROCS, at least 16); over it a request waits up to 1s, then gets 503 with Retry-After", integer(func(c *Config) *int { return &c.APIConcurrency })),
	opt("alert-inactivity", "HERALD_ALERT_INACTIVITY", "24h", "an alert workflow that hears nothing of its firing alert for this long ends", dur(func(c *Config) *time.Duration { return &c.AlertInactivity })),
	opt("delivery-timeout", "HERALD_DELIVERY_TIMEOUT", "30s", "timeout of one delivery attempt", dur(func(c *Config) *time.Duration { return &c.DeliveryTimeout })),
	opt("first-attempt-timeout", "HERALD_FIRST_ATTEMPT_TIMEOUT", "5s", "timeout of the first attempt of every delivery, made inside the workflow task (local activity); a slower or failed first attempt goes on as a regular activity with the attempts left (at most --delivery-timeout)", dur(func(c *Config) *time.Duration { return &c.FirstAttemptTimeout })),
	opt("max-health-wait", "HERALD_MAX_HEALTH_WAIT", "24h", "a delivery held back by an unhealthy target goes to the dead letters after this long", dur(func(c *Config) *time.Duration { return &c.MaxHealthWait })),
	opt("resolved-linger", "HERALD_RESOLVED_LINGER", "10m", "a resolved alert's workflow stays open this long, so late stale notifications (Alertmanager HA peers, retries) are recognised and not paged again", dur(func(c *Config) *time.Duration { return &c.ResolvedLinger })),
	opt("health-recheck", "HERALD_HEALTH_RECHECK", "30s", "first interval between health re-checks of a held-back delivery (doubles up to 10m)", dur(func(c *Config) *time.Duration { return &c.HealthRecheck })),
	opt("shutdown-timeout", "HERALD_SHUTDOWN_TIMEOUT", "15s", "grace period for in-flight requests and activities on shutdown", dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout })),
	opt("workflow-task-pollers", "HERALD_WORKFLOW_TASK_POLLERS", "0", "concurrent workflow task pollers of the worker (0: the SDK's default, 2; otherwise at least 2)", pollers(func(c *Config) *int { return &c.WorkflowTaskPollers })),
	opt("activity-task-pollers", "HERALD_ACTIVITY_TASK_POLLERS", "0", "concurrent activity task pollers of the worker (0: the SDK's default, 2)", pollers(func(c *Config) *int { return &c.ActivityTaskPollers })),
	opt("log-level", "HERALD_LOG_LEVEL", "info", "debug, info, warn or error", str(func(c *Config) *string { return &c.LogLevel })),
	opt("pprof-addr", "HERALD_PPROF_ADDR", "", "serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060; empty: off", str(func(c *Config) *string { return &c.PprofAddr })),
	opt("log-format", "HERALD_LOG_FORMAT", "text", "text or json", str(func(c *Config) *string { return &c.LogFormat })),
}

// Load parses args (without the program name) over the environment.
// It returns flag.ErrHelp after printing usage to out for -h/--help.
func Load(name string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	return LoadWithUsage(name, "", args, getenv, out)
}

// LoadWithUsage is Load with the text that -h/--help prints before the
// flags and their defaults ("Usage of NAME:" when usage is empty), so a
// command's own help (its subcommands) comes first and the flags follow
// it, never a heading without flags after it.
func LoadWithUsage(name, usage string, args []string, getenv func(string) string, out io.Writer) (Config, error) {
	if usage == "" {
		usage = "Usage of " + name + ":\n"
	}
	var c Config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	values := map[string]*string{}
	for _, o := range options {
		def := o.def
		if v := getenv(o.env); v != "" && !o.secret {
			def = v
		}
		usage := fmt.Sprintf("%s (env %s)", o.help, o.env)
		if o.isSwitch {
			v := def
			values[o.flag] = &v
			fs.Var(switchValue{&v}, o.flag, usage)
			continue
		}
		values[o.flag] = fs.String(o.flag, def, usage)
	}
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, o := range options {
		v := *values[o.flag]
		if o.secret && v == "" {
			v = getenv(o.env)
		}
		if err := o.set(&c, v); err != nil {
			return c, fmt.Errorf("--%s / %s: %w", o.flag, o.env, err)
		}
	}
	return c, c.Validate()
}

// FromEnv loads the configuration from the process environment only.
func FromEnv(name string) (Config, error) { return Load(name, nil, os.Getenv, io.Discard) }

// Validate checks values that parse but make no sense.
func (c Config) Validate() error {
	var errs []error
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("--http-addr must not be empty"))
	}
	if c.TaskQueue == "" {
		errs = append(errs, errors.New("--task-queue must not be empty"))
	}
	if (c.TemporalTLS.CertFile == "") != (c.TemporalTLS.KeyFile == "") {
		errs = append(errs, errors.New("--temporal-tls-cert and --temporal-tls-key go together"))
	}
	if c.Embedded() && c.TemporalTLSOn() {
		errs = append(errs, errors.New("the --temporal-tls* and --temporal-api-key options need --temporal-address (the embedded server has no TLS)"))
	}
	if c.HealthInterval > 0 && c.HealthInterval < time.Second {
		errs = append(errs, errors.New("--health-interval must be at least 1s"))
	}
	errs = append(errs, c.validateWebhook()...)
	errs = append(errs, c.validateHTTP()...)
	switch c.RoutingStrategy {
	case "skip-unhealthy", "skip-unhealthy-and-degraded", "all":
	default:
		errs = append(errs, fmt.Errorf("--routing-strategy must be skip-unhealthy, skip-unhealthy-and-degraded or all, not %q", c.RoutingStrategy))
	}
	switch c.SQLiteSynchronous {
	case "full", "normal":
	default:
		errs = append(errs, fmt.Errorf("--sqlite-synchronous must be full or normal, not %q", c.SQLiteSynchronous))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat))
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c Config) validateWebhook() []error {
	var errs []error
	if c.WebhookTimeout <= 0 || c.SignalTimeout <= 0 {
		errs = append(errs, errors.New("--webhook-timeout and --signal-timeout must be positive"))
	} else if c.SignalTimeout > c.WebhookTimeout {
		errs = append(errs, fmt.Errorf("--signal-timeout (%s) must not exceed --webhook-timeout (%s)", c.SignalTimeout, c.WebhookTimeout))
	}
	if c.WebhookConcurrency < 0 {
		errs = append(errs, errors.New("--webhook-concurrency must not be negative"))
	}
	if c.MaxAlertBytes <= 0 || c.MaxAlertLabels <= 0 {
		errs = append(errs, errors.New("--max-alert-bytes and --max-alert-labels must be positive"))
	}
	if c.AdminReads && c.AdminToken == "" {
		errs = append(errs, errors.New("--admin-reads needs --admin-token (HERALD_ADMIN_TOKEN)"))
	}
	return errs
}

func (c Config) validateHTTP() []error {
	var errs []error
	if c.BodyReadTimeout <= 0 {
		errs = append(errs, errors.New("--body-read-timeout must be positive"))
	}
	if c.APIConcurrency < 0 {
		errs = append(errs, errors.New("--api-concurrency must not be negative"))
	}
	if v := c.TemporalUIURL; v != "" {
		u, err := url.Parse(v)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			errs = append(errs, errors.New("--temporal-ui-url must be an http or https URL such as https://temporal.example.com"))
		case u.User != nil || u.RawQuery != "":
			errs = append(errs, errors.New("--temporal-ui-url must not carry credentials or a query (it is shown in every alert page)"))
		}
	}
	return errs
}

// Embedded reports whether a local Temporal dev server is to be embedded.
func (c Config) Embedded() bool { return c.TemporalAddress == "" }

// ParseLevel reads a slog level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
	}
	return l, nil
}

// Logger builds the process logger.
func (c Config) Logger(out io.Writer) *slog.Logger {
	level, _ := ParseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(out, opts))
	}
	return slog.New(slog.NewTextHandler(out, opts))
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
