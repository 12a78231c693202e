package config_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/herald-alerts/herald/internal/config"
)

// env is a fake environment.
type env map[string]string

func (e env) get(k string) string { return e[k] }

func load(t *testing.T, args []string, e env) (config.Config, error, string) {
	t.Helper()
	var out bytes.Buffer
	c, err := config.Load("herald-test", args, e.get, &out)
	return c, err, out.String()
}

func TestLoadDefaults(t *testing.T) {
	c, err, _ := load(t, nil, env{})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	assert.Equal(t, "herald", c.TaskQueue)
	assert.Equal(t, 2*time.Minute, c.HealthInterval)
	assert.Equal(t, "default", c.TemporalNamespace)
	assert.Equal(t, "skip-unhealthy", c.RoutingStrategy)
	assert.Equal(t, "", c.TemporalAddress)
	assert.Equal(t, "./.herald", c.DataDir)
	assert.False(t, c.InMemory)
	assert.Equal(t, 7233, c.TemporalPort)
	assert.Equal(t, 8233, c.UIPort)
	assert.Equal(t, 2*time.Second, c.TargetsPoll)
	assert.Nil(t, c.K8sNamespaces)
	assert.Equal(t, "publishing-target=true", c.K8sSelector)
	assert.Equal(t, "gpt-4o-mini", c.LLMModel)
	assert.Equal(t, 3*time.Second, c.LLMTimeout)
	assert.Equal(t, int64(5242880), c.MaxBodyBytes)
	assert.Equal(t, 24*time.Hour, c.AlertInactivity)
	assert.Equal(t, 30*time.Second, c.DeliveryTimeout)
	assert.Equal(t, 24*time.Hour, c.MaxHealthWait)
	assert.Equal(t, 30*time.Second, c.HealthRecheck)
	assert.Equal(t, 15*time.Second, c.ShutdownTimeout)
	assert.Equal(t, "info", c.LogLevel)
	assert.Equal(t, "text", c.LogFormat)
	assert.Empty(t, c.WebhookToken)
	assert.Empty(t, c.AdminToken)
	assert.Empty(t, c.LLMAPIKey)
	assert.Equal(t, 10*time.Second, c.WebhookTimeout)
	assert.Equal(t, 5*time.Second, c.SignalTimeout)
	assert.Equal(t, 0, c.WebhookConcurrency)
	assert.Equal(t, 256<<10, c.MaxAlertBytes)
	assert.Equal(t, 256, c.MaxAlertLabels)
	assert.False(t, c.AdminReads)
	assert.True(t, c.Embedded())
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   env
		check func(t *testing.T, c config.Config)
	}{
		{"env overrides default", nil, env{"HERALD_TASK_QUEUE": "env-q", "HERALD_HEALTH_INTERVAL": "5m", "HERALD_TEMPORAL_PORT": "9999"},
			func(t *testing.T, c config.Config) {
				assert.Equal(t, "env-q", c.TaskQueue)
				assert.Equal(t, 5*time.Minute, c.HealthInterval)
				assert.Equal(t, 9999, c.TemporalPort)
			}},
		{"flag overrides env", []string{"--task-queue=flag-q", "-health-interval", "90s", "--temporal-port=1234"},
			env{"HERALD_TASK_QUEUE": "env-q", "HERALD_HEALTH_INTERVAL": "5m", "HERALD_TEMPORAL_PORT": "9999"},
			func(t *testing.T, c config.Config) {
				assert.Equal(t, "flag-q", c.TaskQueue)
				assert.Equal(t, 90*time.Second, c.HealthInterval)
				assert.Equal(t, 1234, c.TemporalPort)
			}},
		{"flag overrides default", []string{"--http-addr=:9000", "--routing-strategy=all", "--log-format=json", "--log-level=debug"}, env{},
			func(t *testing.T, c config.Config) {
				assert.Equal(t, ":9000", c.HTTPAddr)
				assert.Equal(t, "all", c.RoutingStrategy)
				assert.Equal(t, "json", c.LogFormat)
				assert.Equal(t, "debug", c.LogLevel)
			}},
		{"empty env value keeps default", nil, env{"HERALD_TASK_QUEUE": ""},
			func(t *testing.T, c config.Config) { assert.Equal(t, "herald", c.TaskQueue) }},
		{"boolean from env", nil, env{"HERALD_IN_MEMORY": "true"},
			func(t *testing.T, c config.Config) { assert.True(t, c.InMemory) }},
		{"boolean flag", []string{"--in-memory=1"}, env{"HERALD_IN_MEMORY": "false"},
			func(t *testing.T, c config.Config) { assert.True(t, c.InMemory) }},
		{"kubeconfig from KUBECONFIG", nil, env{"KUBECONFIG": "/home/u/.kube/config"},
			func(t *testing.T, c config.Config) { assert.Equal(t, "/home/u/.kube/config", c.Kubeconfig) }},
		{"max body bytes", []string{"--max-body-bytes=1024"}, env{},
			func(t *testing.T, c config.Config) { assert.Equal(t, int64(1024), c.MaxBodyBytes) }},
		{"health interval zero disables", []string{"--health-interval=0s"}, env{},
			func(t *testing.T, c config.Config) { assert.Equal(t, time.Duration(0), c.HealthInterval) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err, _ := load(t, tc.args, tc.env)
			require.NoError(t, err)
			tc.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		// every substring must be in the error.
		want []string
	}{
		{"bad duration flag", []string{"--health-interval=soon"}, env{}, []string{"--health-interval", "HERALD_HEALTH_INTERVAL", `"soon"`}},
		{"bad duration env", nil, env{"HERALD_DELIVERY_TIMEOUT": "30"}, []string{"--delivery-timeout", "HERALD_DELIVERY_TIMEOUT", "duration"}},
		{"negative duration", []string{"--shutdown-timeout=-1s"}, env{}, []string{"--shutdown-timeout", "HERALD_SHUTDOWN_TIMEOUT", "negative"}},
		{"bad int flag", []string{"--temporal-port=abc"}, env{}, []string{"--temporal-port", "HERALD_TEMPORAL_PORT", "not an integer"}},
		{"bad int env", nil, env{"HERALD_UI_PORT": "8.5"}, []string{"--ui-port", "HERALD_UI_PORT", "not an integer"}},
		{"bad bool", nil, env{"HERALD_IN_MEMORY": "maybe"}, []string{"--in-memory", "HERALD_IN_MEMORY", "boolean"}},
		{"zero max body", []string{"--max-body-bytes=0"}, env{}, []string{"--max-body-bytes", "HERALD_MAX_BODY_BYTES", "positive"}},
		{"bad routing strategy", []string{"--routing-strategy=random"}, env{}, []string{"--routing-strategy", `"random"`}},
		{"bad routing strategy env", nil, env{"HERALD_ROUTING_STRATEGY": "skip-degraded"}, []string{"--routing-strategy", `"skip-degraded"`}},
		{"bad log format", []string{"--log-format=xml"}, env{}, []string{"--log-format", `"xml"`}},
		{"bad log level", []string{"--log-level=verbose"}, env{}, []string{"--log-level", `"verbose"`}},
		{"empty http addr", []string{"--http-addr="}, env{}, []string{"--http-addr"}},
		{"empty task queue", []string{"--task-queue="}, env{}, []string{"--task-queue"}},
		{"health interval below 1s", []string{"--health-interval=500ms"}, env{}, []string{"--health-interval", "1s"}},
		{"unknown flag", []string{"--no-such-flag"}, env{}, []string{"no-such-flag"}},
		{"positional argument", []string{"extra"}, env{}, []string{"unexpected arguments: extra"}},
		{"signal timeout above webhook timeout", []string{"--webhook-timeout=2s", "--signal-timeout=3s"}, env{}, []string{"--signal-timeout", "must not exceed", "--webhook-timeout"}},
		{"zero webhook timeout", nil, env{"HERALD_WEBHOOK_TIMEOUT": "0s"}, []string{"--webhook-timeout", "positive"}},
		{"negative webhook concurrency", []string{"--webhook-concurrency=-1"}, env{}, []string{"--webhook-concurrency", "negative"}},
		{"zero alert bytes", nil, env{"HERALD_MAX_ALERT_BYTES": "0"}, []string{"--max-alert-bytes", "positive"}},
		{"zero alert labels", []string{"--max-alert-labels=0"}, env{}, []string{"--max-alert-labels", "positive"}},
		{"temporal ui url without scheme", nil, env{"HERALD_TEMPORAL_UI_URL": "temporal.example.com"}, []string{"--temporal-ui-url", "http or https URL"}},
		{"temporal ui url with credentials", []string{"--temporal-ui-url=https://u:p@temporal.example.com"}, env{}, []string{"--temporal-ui-url", "credentials"}},
		{"admin reads without token", nil, env{"HERALD_ADMIN_READS": "true"}, []string{"--admin-reads", "HERALD_ADMIN_TOKEN"}},
		{"several problems at once", []string{"--log-format=xml", "--routing-strategy=x"}, env{}, []string{"--log-format", "--routing-strategy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err, _ := load(t, tc.args, tc.env)
			require.Error(t, err)
			assert.False(t, errors.Is(err, flag.ErrHelp))
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestWebhookLimits(t *testing.T) {
	c, err, _ := load(t, []string{"--admin-reads", "--signal-timeout=2s"}, env{
		"HERALD_ADMIN_TOKEN": "s3cret", "HERALD_WEBHOOK_TIMEOUT": "20s", "HERALD_WEBHOOK_CONCURRENCY": "3",
		"HERALD_MAX_ALERT_BYTES": "1000", "HERALD_MAX_ALERT_LABELS": "7",
	})
	require.NoError(t, err)
	assert.True(t, c.AdminReads)
	assert.Equal(t, 20*time.Second, c.WebhookTimeout)
	assert.Equal(t, 2*time.Second, c.SignalTimeout)
	assert.Equal(t, 3, c.WebhookConcurrency)
	assert.Equal(t, 1000, c.MaxAlertBytes)
	assert.Equal(t, 7, c.MaxAlertLabels)
}

func TestTemporalUIURL(t *testing.T) {
	c, err, _ := load(t, nil, env{"HERALD_TEMPORAL_UI_URL": "https://cloud.temporal.io"})
	require.NoError(t, err)
	assert.Equal(t, "https://cloud.temporal.io", c.TemporalUIURL)
}

func TestLoadValidValues(t *testing.T) {
	for _, s := range []string{"skip-unhealthy", "skip-unhealthy-and-degraded", "all"} {
		c, err, _ := load(t, []string{"--routing-strategy=" + s}, env{})
		require.NoError(t, err, s)
		assert.Equal(t, s, c.RoutingStrategy)
	}
	for _, l := range []string{"debug", "info", "warn", "error", "DEBUG"} {
		_, err, _ := load(t, []string{"--log-level=" + l}, env{})
		assert.NoError(t, err, l)
	}
}

func TestK8sNamespaces(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  env
		want []string
	}{
		{"unset", nil, env{}, nil},
		{"one", []string{"--k8s-namespaces=monitoring"}, env{}, []string{"monitoring"}},
		{"spaces and empties", []string{"--k8s-namespaces=a, b,,c"}, env{}, []string{"a", "b", "c"}},
		{"from env", nil, env{"HERALD_K8S_NAMESPACES": " x ,y, "}, []string{"x", "y"}},
		{"all", nil, env{"HERALD_K8S_NAMESPACES": "*"}, []string{"*"}},
		{"only commas", []string{"--k8s-namespaces=, ,"}, env{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err, _ := load(t, tc.args, tc.env)
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.K8sNamespaces)
		})
	}
}

func TestSecretsNotInHelp(t *testing.T) {
	secrets := env{
		"HERALD_WEBHOOK_TOKEN": "wh-s3cr3t-token-value",
		"HERALD_ADMIN_TOKEN":   "adm-s3cr3t-token-value",
		"HERALD_LLM_API_KEY":   "sk-s3cr3t-llm-key",
		// A non-secret value does show as the default.
		"HERALD_TASK_QUEUE": "visible-queue",
	}
	for _, helpFlag := range []string{"--help", "-h"} {
		t.Run(helpFlag, func(t *testing.T) {
			_, err, out := load(t, []string{helpFlag}, secrets)
			require.ErrorIs(t, err, flag.ErrHelp)
			assert.Contains(t, out, "Usage of herald-test")
			assert.Contains(t, out, "webhook-token")
			assert.Contains(t, out, "HERALD_WEBHOOK_TOKEN")
			assert.Contains(t, out, "visible-queue", "env values of ordinary options are shown as defaults")
			for k, v := range secrets {
				if strings.HasPrefix(v, "visible") {
					continue
				}
				assert.NotContains(t, out, v, "--help shows the value of %s", k)
			}
		})
	}

	// The same environment without --help configures the secrets.
	c, err, out := load(t, nil, secrets)
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.Equal(t, "wh-s3cr3t-token-value", c.WebhookToken)
	assert.Equal(t, "adm-s3cr3t-token-value", c.AdminToken)
	assert.Equal(t, "sk-s3cr3t-llm-key", c.LLMAPIKey)

	// A flag wins over the environment for secrets too.
	c, err, _ = load(t, []string{"--webhook-token=from-flag"}, secrets)
	require.NoError(t, err)
	assert.Equal(t, "from-flag", c.WebhookToken)
	assert.Equal(t, "adm-s3cr3t-token-value", c.AdminToken)
}

func TestSecretNotInErrors(t *testing.T) {
	// An error elsewhere must not echo a secret from the environment.
	_, err, out := load(t, []string{"--log-format=xml"}, env{"HERALD_ADMIN_TOKEN": "adm-s3cr3t-token-value"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "adm-s3cr3t-token-value")
	assert.NotContains(t, out, "adm-s3cr3t-token-value")
}

func TestEmbedded(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"", true},
		{"temporal:7233", false},
		{"127.0.0.1:7233", false},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			assert.Equal(t, tc.want, config.Config{TemporalAddress: tc.addr}.Embedded())
		})
	}
	c, err, _ := load(t, nil, env{"HERALD_TEMPORAL_ADDRESS": "temporal:7233"})
	require.NoError(t, err)
	assert.Equal(t, "temporal:7233", c.TemporalAddress)
	assert.False(t, c.Embedded())
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in      string
		want    slog.Level
		wantErr bool
	}{
		{"debug", slog.LevelDebug, false},
		{"info", slog.LevelInfo, false},
		{"warn", slog.LevelWarn, false},
		{"error", slog.LevelError, false},
		{"loud", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			l, err := config.ParseLevel(tc.in)
			if tc.wantErr {
				require.Error(t, err)
				assert.Contains(t, err.Error(), "--log-level")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, l)
		})
	}
}

func TestLogger(t *testing.T) {
	tests := []struct {
		name, format, level string
		// want is in the output of an Info record; empty: nothing logged.
		want string
	}{
		{"json", "json", "info", `"msg":"hello"`},
		{"text", "text", "info", "msg=hello"},
		{"level filters", "text", "warn", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			config.Config{LogFormat: tc.format, LogLevel: tc.level}.Logger(&buf).Info("hello")
			if tc.want == "" {
				assert.Empty(t, buf.String())
			} else {
				assert.Contains(t, buf.String(), tc.want)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv("HERALD_TASK_QUEUE", "from-process-env")
	c, err := config.FromEnv("herald-test")
	require.NoError(t, err)
	assert.Equal(t, "from-process-env", c.TaskQueue)
}

func TestInMemoryIsASwitch(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  string
		want bool
	}{
		{[]string{"--in-memory", "--task-queue", "q"}, "", true},
		{[]string{"--in-memory=false", "--task-queue", "q"}, "true", false},
		{[]string{"--task-queue", "q"}, "true", true},
		{[]string{"--task-queue", "q"}, "", false},
	} {
		env := func(k string) string {
			if k == "HERALD_IN_MEMORY" {
				return tc.env
			}
			return ""
		}
		c, err := config.Load("test", tc.args, env, io.Discard)
		if err != nil {
			t.Fatalf("%v (env %q): %v", tc.args, tc.env, err)
		}
		if c.InMemory != tc.want || c.TaskQueue != "q" {
			t.Errorf("%v (env %q): in-memory %v task queue %q, want %v and q", tc.args, tc.env, c.InMemory, c.TaskQueue, tc.want)
		}
	}
}

func TestTemporalConnection(t *testing.T) {
	const addr = "HERALD_TEMPORAL_ADDRESS"
	tests := []struct {
		name    string
		args    []string
		env     env
		wantTLS bool
		want    config.TemporalTLS
		wantKey string
		wantErr string
	}{
		{name: "plain by default", env: env{addr: "t:7233"}},
		{name: "switch alone: system roots", args: []string{"--temporal-tls"}, env: env{addr: "t:7233"}, wantTLS: true,
			want: config.TemporalTLS{Enabled: true}},
		{name: "files and server name from env", env: env{addr: "t:7233",
			"HERALD_TEMPORAL_TLS_CA": "/tls/ca.crt", "HERALD_TEMPORAL_TLS_CERT": "/tls/tls.crt",
			"HERALD_TEMPORAL_TLS_KEY": "/tls/tls.key", "HERALD_TEMPORAL_TLS_SERVER_NAME": "frontend.temporal"},
			wantTLS: true, want: config.TemporalTLS{CAFile: "/tls/ca.crt", CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key", ServerName: "frontend.temporal"}},
		{name: "api key implies TLS", env: env{addr: "ns.acct.tmprl.cloud:7233", "HERALD_TEMPORAL_API_KEY": "k-s3cr3t"},
			wantTLS: true, wantKey: "k-s3cr3t"},
		{name: "flags win", args: []string{"--temporal-tls-ca=/flag/ca.pem", "--temporal-api-key=from-flag"},
			env:     env{addr: "t:7233", "HERALD_TEMPORAL_TLS_CA": "/env/ca.pem", "HERALD_TEMPORAL_API_KEY": "from-env"},
			wantTLS: true, want: config.TemporalTLS{CAFile: "/flag/ca.pem"}, wantKey: "from-flag"},
		{name: "skip verify is an explicit switch", args: []string{"--temporal-tls-insecure-skip-verify"}, env: env{addr: "t:7233"},
			wantTLS: true, want: config.TemporalTLS{InsecureSkipVerify: true}},
		{name: "cert without key", env: env{addr: "t:7233", "HERALD_TEMPORAL_TLS_CERT": "/tls/tls.crt"},
			wantErr: "--temporal-tls-cert and --temporal-tls-key go together"},
		{name: "TLS without an address", env: env{"HERALD_TEMPORAL_TLS_CA": "/tls/ca.crt"},
			wantErr: "need --temporal-address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err, _ := load(t, tc.args, tc.env)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.TemporalTLS)
			assert.Equal(t, tc.wantTLS, c.TemporalTLSOn())
			assert.Equal(t, tc.wantKey, c.TemporalAPIKey)
		})
	}

	// The API key is a secret: --help names the variable, never its value.
	_, err, out := load(t, []string{"--help"}, env{addr: "t:7233", "HERALD_TEMPORAL_API_KEY": "k-s3cr3t-api-key",
		"HERALD_TEMPORAL_TLS_CA": "/visible/ca.pem"})
	require.ErrorIs(t, err, flag.ErrHelp)
	assert.Contains(t, out, "HERALD_TEMPORAL_API_KEY")
	assert.Contains(t, out, "/visible/ca.pem")
	assert.NotContains(t, out, "k-s3cr3t-api-key")
}

// TestEngineOptions: the engine settings of the embedded server default to
// the engine as it ran before they existed and take flags and env.
func TestEngineOptions(t *testing.T) {
	defaults := config.Config{
		EngineVisibilityStore: "combined", EngineShardIOConcurrency: 1, EngineRaiseRateLimits: false,
		EngineSACacheForceRefresh: true, SQLiteCacheSize: 0, SQLiteMmapSize: 0, EngineGOGC: "", EngineGOMemLimit: "",
	}
	engine := func(c config.Config) config.Config {
		return config.Config{
			EngineVisibilityStore: c.EngineVisibilityStore, EngineShardIOConcurrency: c.EngineShardIOConcurrency,
			EngineRaiseRateLimits: c.EngineRaiseRateLimits, EngineSACacheForceRefresh: c.EngineSACacheForceRefresh,
			SQLiteCacheSize: c.SQLiteCacheSize, SQLiteMmapSize: c.SQLiteMmapSize, EngineGOGC: c.EngineGOGC, EngineGOMemLimit: c.EngineGOMemLimit,
		}
	}
	with := func(f func(c *config.Config)) config.Config { c := defaults; f(&c); return c }
	tests := []struct {
		name string
		args []string
		env  env
		want config.Config
	}{
		{"defaults", nil, env{}, defaults},
		{"visibility store env", nil, env{"HERALD_ENGINE_VISIBILITY_STORE": "separate"},
			with(func(c *config.Config) { c.EngineVisibilityStore = "separate" })},
		{"visibility store flag over env", []string{"--engine-visibility-store=auto"}, env{"HERALD_ENGINE_VISIBILITY_STORE": "separate"},
			with(func(c *config.Config) { c.EngineVisibilityStore = "auto" })},
		{"shard io concurrency", nil, env{"HERALD_ENGINE_SHARD_IO_CONCURRENCY": "4"},
			with(func(c *config.Config) { c.EngineShardIOConcurrency = 4 })},
		{"raise rate limits switch", []string{"--engine-raise-rate-limits"}, env{},
			with(func(c *config.Config) { c.EngineRaiseRateLimits = true })},
		{"raise rate limits env", nil, env{"HERALD_ENGINE_RAISE_RATE_LIMITS": "true"},
			with(func(c *config.Config) { c.EngineRaiseRateLimits = true })},
		{"sa cache force refresh off", nil, env{"HERALD_ENGINE_SA_CACHE_FORCE_REFRESH": "false"},
			with(func(c *config.Config) { c.EngineSACacheForceRefresh = false })},
		{"sqlite cache size in KiB", nil, env{"HERALD_SQLITE_CACHE_SIZE": "-65536"},
			with(func(c *config.Config) { c.SQLiteCacheSize = -65536 })},
		{"sqlite mmap size bytes", nil, env{"HERALD_SQLITE_MMAP_SIZE": "268435456"},
			with(func(c *config.Config) { c.SQLiteMmapSize = 256 << 20 })},
		{"sqlite mmap size with unit", []string{"--sqlite-mmap-size=1GiB"}, env{},
			with(func(c *config.Config) { c.SQLiteMmapSize = 1 << 30 })},
		{"gogc and gomemlimit", nil, env{"HERALD_ENGINE_GOGC": "200", "HERALD_ENGINE_GOMEMLIMIT": "512MiB"},
			with(func(c *config.Config) { c.EngineGOGC, c.EngineGOMemLimit = "200", "512MiB" })},
		{"gogc off", []string{"--engine-gogc=off", "--engine-gomemlimit=off"}, env{},
			with(func(c *config.Config) { c.EngineGOGC, c.EngineGOMemLimit = "off", "off" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err, _ := load(t, tc.args, tc.env)
			require.NoError(t, err)
			assert.Equal(t, tc.want, engine(c))
		})
	}

	bad := []struct {
		name string
		env  env
		want []string
	}{
		{"visibility store", env{"HERALD_ENGINE_VISIBILITY_STORE": "split"}, []string{"--engine-visibility-store", "HERALD_ENGINE_VISIBILITY_STORE", `"split"`}},
		{"shard io concurrency zero", env{"HERALD_ENGINE_SHARD_IO_CONCURRENCY": "0"}, []string{"--engine-shard-io-concurrency", "positive"}},
		{"sa cache force refresh", env{"HERALD_ENGINE_SA_CACHE_FORCE_REFRESH": "sometimes"}, []string{"--engine-sa-cache-force-refresh", "boolean"}},
		{"cache size", env{"HERALD_SQLITE_CACHE_SIZE": "64MiB"}, []string{"--sqlite-cache-size", "not an integer"}},
		{"mmap size negative", env{"HERALD_SQLITE_MMAP_SIZE": "-1"}, []string{"--sqlite-mmap-size", `"-1"`}},
		{"mmap size unit", env{"HERALD_SQLITE_MMAP_SIZE": "1GB"}, []string{"--sqlite-mmap-size", "GiB"}},
		{"gogc", env{"HERALD_ENGINE_GOGC": "-5"}, []string{"--engine-gogc", "HERALD_ENGINE_GOGC", `"-5"`}},
		{"gomemlimit", env{"HERALD_ENGINE_GOMEMLIMIT": "lots"}, []string{"--engine-gomemlimit", `"lots"`}},
	}
	for _, tc := range bad {
		t.Run("bad "+tc.name, func(t *testing.T) {
			_, err, _ := load(t, nil, tc.env)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestParseGCSettings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{{"", 0, false}, {"off", -1, true}, {"0", 0, true}, {"150", 150, true}} {
		got, ok, err := config.ParseGOGC(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
	}
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{{"", 0, false}, {"off", math.MaxInt64, true}, {"1000", 1000, true}, {"1000B", 1000, true},
		{"64KiB", 64 << 10, true}, {"512MiB", 512 << 20, true}, {"2GiB", 2 << 30, true}, {"1TiB", 1 << 40, true}} {
		got, ok, err := config.ParseMemoryLimit(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
		assert.Equal(t, tc.ok, ok, tc.in)
	}
	for _, in := range []string{"x", "-1", "1.5GiB", "1GB", "99999999999TiB"} {
		_, _, err := config.ParseMemoryLimit(in)
		assert.Error(t, err, in)
	}
}
