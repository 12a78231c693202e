// Package metrics defines Herald's Prometheus metrics and bridges the
// Temporal SDK's metrics onto the same registry.
package metrics

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Namespace prefixes every Herald metric.
const Namespace = "herald"

// Metrics holds every Herald metric. Labels never carry credentials: target
// names and types only.
type Metrics struct {
	Registry *prometheus.Registry

	WebhookRequests *prometheus.CounterVec   // code
	WebhookDuration prometheus.Histogram     //
	AlertsReceived  *prometheus.CounterVec   // status
	SignalErrors    *prometheus.CounterVec   // reason
	APIRequests     *prometheus.CounterVec   // route, code
	Deliveries      *prometheus.CounterVec   // target, type, event, outcome
	DeliveryLatency *prometheus.HistogramVec // type, outcome
	DeliveryErrors  *prometheus.CounterVec   // target, type, kind
	FormatLatency   *prometheus.HistogramVec // type

	Targets          *prometheus.GaugeVec   // type, state (enabled|disabled)
	DiscoveryErrors  *prometheus.CounterVec // source, reason
	DiscoveryProblem *prometheus.GaugeVec   // origin, reason (current invalid definitions)
	DiscoveryLastOK  *prometheus.GaugeVec   // source

	Mode              *prometheus.GaugeVec   // mode (normal|metrics_only), value 1 for current
	MetricsOnlyAlerts prometheus.Counter     //
	TargetHealth      *prometheus.GaugeVec   // target, state (one-hot)
	HealthChecks      *prometheus.CounterVec // target, result
	HealthCheckTime   *prometheus.HistogramVec
	BreakerState      *prometheus.GaugeVec // target: 0 closed, 1 half-open, 2 open
	RateLimitWait     *prometheus.HistogramVec

	DLQSize    prometheus.Gauge
	DLQWrites  *prometheus.CounterVec // target, kind
	DLQReplays *prometheus.CounterVec // outcome

	Skipped *prometheus.CounterVec // target, reason
	// Deferrals counts deliveries Herald's own throttling asked to come
	// back later (no attempt used), by target and kind.
	Deferrals *prometheus.CounterVec // target, kind (rate_limited, circuit_open)

	// RegistrationErrors counts SDK metrics that could not be registered
	// (a name outside temporal_, or a label-set clash); such a metric is
	// dropped instead of panicking.
	RegistrationErrors prometheus.Counter

	WebhookTruncated prometheus.Counter     // alerts Alertmanager left out of webhooks
	WebhookRejected  *prometheus.CounterVec // reason
	// AlertsTrimmed counts alerts accepted with values trimmed to fit
	// HERALD_MAX_ALERT_BYTES; ValuesTrimmed the values trimmed in them.
	AlertsTrimmed prometheus.Counter
	ValuesTrimmed prometheus.Counter
	WebhookBusy   prometheus.Counter // requests refused: too many in flight
	// WebhookWaiting is the number of webhook requests waiting for room
	// in the body budget (up to a second, then they are WebhookBusy).
	WebhookWaiting prometheus.Gauge
}

// Reasons of herald_webhook_rejected_alerts_total.
var WebhookRejectReasons = []string{"too_large", "too_many_labels", "temporal_rejected"}

// New creates the metrics on a fresh registry, with Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{reg}
	m := &Metrics{Registry: reg}
	m.WebhookRequests = f.counterVec("webhook_requests_total", "Webhook requests by HTTP status code.", "code")
	m.WebhookDuration = f.histogram("webhook_duration_seconds", "Time to accept a webhook (all alerts handed to Temporal).",
		[]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5})
	m.AlertsReceived = f.counterVec("alerts_received_total", "Alerts received by webhook, by status.", "status")
	m.SignalErrors = f.counterVec("webhook_signal_errors_total", "Alerts that could not be handed to Temporal, by reason.", "reason")
	m.APIRequests = f.counterVec("api_requests_total", "API requests by route and HTTP status code.", "route", "code")
	m.Deliveries = f.counterVec("deliveries_total", "Delivery attempts by target, type, event and outcome (success, retryable_error, permanent_error).",
		"target", "type", "event", "outcome")
	m.DeliveryLatency = f.histogramVec("delivery_duration_seconds", "Duration of one delivery attempt by target type and outcome.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "type", "outcome")
	m.DeliveryErrors = f.counterVec("delivery_errors_total", "Failed delivery attempts, and deliveries Herald refused (circuit_open: breaker open, once per refusal; target_not_found), by target, type and error kind.", "target", "type", "kind")
	m.FormatLatency = f.histogramVec("format_duration_seconds", "Time to format a notification, by target type.",
		[]float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 1e-3, 1e-2}, "type")
	m.Targets = f.gaugeVec("targets", "Known targets by type and state (enabled, disabled).", "type", "state")
	m.DiscoveryErrors = f.counterVec("discovery_errors_total", "Target definitions or sources that could not be used, by source and reason.", "source", "reason")
	m.DiscoveryProblem = f.gaugeVec("discovery_invalid_targets", "Target definitions currently skipped (1 per definition), by origin and reason.", "origin", "reason")
	m.DiscoveryLastOK = f.gaugeVec("discovery_last_sync_timestamp_seconds", "Unix time of the last successful sync of a target source.", "source")
	m.Mode = f.gaugeVec("mode", "Current publishing mode (1 for the active one): normal or metrics_only.", "mode")
	m.MetricsOnlyAlerts = f.counter("metrics_only_alerts_total", "Alerts counted but not published because no target is enabled.")
	m.TargetHealth = f.gaugeVec("target_health", "Target health state, one-hot (unknown, healthy, degraded, unhealthy).", "target", "state")
	m.HealthChecks = f.counterVec("health_checks_total", "Health checks by target and result (ok or a failure class).", "target", "result")
	m.HealthCheckTime = f.histogramVec("health_check_duration_seconds", "Duration of a health probe by target.",
		[]float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "target")
	m.BreakerState = f.gaugeVec("circuit_breaker_state", "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.", "target")
	m.RateLimitWait = f.histogramVec("rate_limit_wait_seconds", "Time an admitted delivery waited for its target's rate limit, from its first rate-limited try, deferrals included.",
		RateLimitWaitBuckets, "type")
	m.DLQSize = f.gauge("dlq_entries", "Entries in the dead-letter workflow (read from it every 15s by every replica).")
	m.DLQWrites = f.counterVec("dlq_writes_total", "Deliveries written to the dead letters, by target and error kind.", "target", "kind")
	m.DLQReplays = f.counterVec("dlq_replays_total", "Dead-letter replays by outcome (success, failure).", "outcome")
	for _, o := range DLQReplayOutcomes {
		m.DLQReplays.WithLabelValues(o)
	}
	m.Skipped = f.counterVec("deliveries_skipped_total", "Deliveries held back by routing (unhealthy target, filter), by target and reason.", "target", "reason")
	m.Deferrals = f.counterVec("delivery_deferrals_total", "Deliveries deferred by Herald's own rate limit or open breaker (no attempt used), by target and kind.", "target", "kind")
	m.RegistrationErrors = f.counter("metric_registration_errors_total",
		"Temporal SDK metrics dropped because their name or labels clash with a registered metric (never a panic).")
	m.WebhookTruncated = f.counter("webhook_truncated_alerts_total", "Alerts Alertmanager left out of webhooks (truncatedAlerts, max_alerts of the receiver).")
	m.AlertsTrimmed = f.counter("alerts_trimmed_total", "Alerts accepted with annotations or URLs trimmed to fit HERALD_MAX_ALERT_BYTES (each trimmed value is marked and listed in the alert's trimmed field).")
	m.ValuesTrimmed = f.counter("alert_values_trimmed_total", "Values (annotations, URLs) trimmed or removed so that their alerts fit HERALD_MAX_ALERT_BYTES.")
	m.WebhookRejected = f.counterVec("webhook_rejected_alerts_total", "Alerts of a webhook answered 400 and not delivered, by reason (too_large: labels alone over HERALD_MAX_ALERT_BYTES; too_many_labels; temporal_rejected).", "reason")
	for _, r := range WebhookRejectReasons {
		m.WebhookRejected.WithLabelValues(r)
	}
	m.WebhookBusy = f.counter("webhook_busy_total", "Webhook requests answered 503 because too many were being processed.")
	m.WebhookWaiting = f.gauge("webhook_waiting_requests", "Webhook requests waiting for room in the body budget (HERALD_WEBHOOK_CONCURRENCY); they wait up to 1s, then are answered 503.")
	return m
}

// RateLimitWaitBuckets are the buckets of herald_rate_limit_wait_seconds.
// Deferred deliveries wait minutes in a storm (a slot per second for Slack),
// so the buckets reach 10 minutes; HeraldRateLimitWaitHigh's 5 s threshold
// is a bound, with bounds above it, so its p95 is not pinned to a bucket's
// edge.
var RateLimitWaitBuckets = []float64{0, .01, .1, .5, 1, 2, 5, 10, 30, 60, 120, 300, 600}

// RefusalKinds are the kinds of herald_delivery_errors_total that count
// deliveries Herald itself refused (nothing sent): an open breaker, a
// target that no longer exists. They spell internal/publish's kinds, which
// this package cannot import (publish depends on it); a test in activities
// keeps the two equal.
var RefusalKinds = []string{"circuit_open", "target_not_found"}

// Skip reasons of herald_deliveries_skipped_total.
const (
	SkipFiltered = "filtered"
)

// Outcomes of herald_dlq_replays_total.
var DLQReplayOutcomes = []string{"success", "failure"}

// InitDiscoveryErrors creates herald_discovery_errors_total{source, reason}
// at zero for each reason a configured source can count, so that the
// series exist from the start and increase() sees the first error.
func (m *Metrics) InitDiscoveryErrors(source string, reasons ...string) {
	for _, r := range reasons {
		m.DiscoveryErrors.WithLabelValues(source, r)
	}
}

// InitInvalidTargets creates herald_discovery_invalid_targets{origin, reason}
// at zero for a configured source, with the source's name as origin (the
// origin of a skipped definition always names the definition, never the
// bare source), so that the metric exists before anything is skipped.
func (m *Metrics) InitInvalidTargets(source string, reasons ...string) {
	for _, r := range reasons {
		m.DiscoveryProblem.WithLabelValues(source, r).Set(0)
	}
}

// InitTarget creates the per-target series so that they exist at zero.
func (m *Metrics) InitTarget(name string) {
	for _, reason := range []string{"unhealthy", "degraded", SkipFiltered} {
		m.Skipped.WithLabelValues(name, reason)
	}
	for _, kind := range []string{"rate_limited", "circuit_open"} {
		m.Deferrals.WithLabelValues(name, kind)
	}
	// Closed (0) until the breaker reports a change; an existing value
	// is left as it is.
	m.BreakerState.WithLabelValues(name)
}

// InitDeliveryErrors creates herald_delivery_errors_total{target, type,
// kind} at zero for the refusal kinds of a known target, so that the first
// open-breaker refusal, or the first delivery after the target was removed,
// shows in increase(). The other kinds are created by the first failure.
func (m *Metrics) InitDeliveryErrors(target, typ string) {
	for _, kind := range RefusalKinds {
		m.DeliveryErrors.WithLabelValues(target, typ, kind)
	}
}

// ForgetTarget drops the per-target series of a removed target. Its
// delivery errors stay: deliveries still in flight to it count as
// target_not_found after the removal.
func (m *Metrics) ForgetTarget(name string) {
	m.Skipped.DeletePartialMatch(prometheus.Labels{"target": name})
	m.Deferrals.DeletePartialMatch(prometheus.Labels{"target": name})
	m.BreakerState.DeleteLabelValues(name)
}

// Modes of herald_mode{mode}: normal (targets to deliver to),
// metrics_only (no enabled target: alerts are counted, not delivered) and
// waiting_for_discovery (a target source has not synced yet: alerts wait
// and are delivered once it has).
const (
	ModeNormal              = "normal"
	ModeMetricsOnly         = "metrics_only"
	ModeWaitingForDiscovery = "waiting_for_discovery"
)

// Modes lists every value of herald_mode's mode label.
var Modes = []string{ModeNormal, ModeMetricsOnly, ModeWaitingForDiscovery}

// SetMode records the current publishing mode.
func (m *Metrics) SetMode(mode string) {
	for _, v := range Modes {
		val := 0.0
		if v == mode {
			val = 1
		}
		m.Mode.WithLabelValues(v).Set(val)
	}
}

// SDKPrefix is the prefix of every metric the Temporal SDK handler may
// register. Herald's own metrics use Namespace ("herald_"), so the two sets
// of names are disjoint by construction.
const SDKPrefix = "temporal_"

// TemporalHandler returns a Temporal SDK metrics handler that reports into
// the same registry (names prefixed temporal_). Close the returned closer on
// shutdown.
//
// Registration can never panic: the handler registers through a registerer
// that refuses any name outside SDKPrefix (so workflow code cannot collide
// with Herald's metrics), and a refused or clashing metric is dropped,
// counted in herald_metric_registration_errors_total and logged once. The
// tally reporter's default would panic, and the SDK creates metrics while
// it replays workflow tasks, so a panic there fails every task of the
// workflow.
func (m *Metrics) TemporalHandler(log *slog.Logger) (client.MetricsHandler, io.Closer) {
	if log == nil {
		log = slog.Default()
	}
	var seen sync.Map
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer: sdkRegisterer{m.Registry},
		Gatherer:   m.Registry,
		OnRegisterError: func(err error) {
			m.RegistrationErrors.Inc()
			if _, dup := seen.LoadOrStore(err.Error(), true); !dup {
				log.Error("temporal SDK metric dropped", "error", err)
			}
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter: reporter,
		Separator:      "_",
		// tally's own tally_internal_* series are not SDK metrics.
		OmitCardinalityMetrics: true,
		SanitizeOptions:        &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}

// errForeignName is returned for an SDK metric outside SDKPrefix.
var errForeignName = errors.New("metric name outside the " + SDKPrefix + " prefix")

// sdkRegisterer registers only collectors whose every metric name starts
// with SDKPrefix.
type sdkRegisterer struct{ reg prometheus.Registerer }

func (r sdkRegisterer) Register(c prometheus.Collector) error {
	descs := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(descs); close(descs) }()
	var bad error
	for d := range descs {
		if name := descName(d); bad == nil && !strings.HasPrefix(name, SDKPrefix) {
			bad = fmt.Errorf("%w: %s", errForeignName, name)
		}
	}
	if bad != nil {
		return bad
	}
	return r.reg.Register(c)
}

func (r sdkRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r sdkRegisterer) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

// descName extracts fqName from a Desc (its String form is
// `Desc{fqName: "name", ...}`).
func descName(d *prometheus.Desc) string {
	s := d.String()
	const key = `fqName: "`
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	s = s[i+len(key):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return s
}

type factory struct{ reg prometheus.Registerer }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}
