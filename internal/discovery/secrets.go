// Package discovery finds publishing targets in Kubernetes Secrets.
//
// A SecretSource watches the Secrets that match a label selector in a set of
// namespaces (or in all of them) and hands the complete set of targets they
// define to a target.Sink every time it changes. Each Secret holds one target
// object, JSON or YAML, under the key "config".
package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/herald-alerts/herald/internal/metrics"
	"github.com/herald-alerts/herald/internal/netguard"
	"github.com/herald-alerts/herald/internal/target"
)

const (
	// DefaultSelector selects the Secrets that define targets.
	DefaultSelector = "publishing-target=true"
	// ConfigKey is the Secret key that holds the target object.
	ConfigKey = "config"
	// AllNamespaces in Config.Namespaces watches every namespace.
	AllNamespaces = "*"
	// SourceName is the name of the source in the registry and in metrics.
	SourceName = "kubernetes"
)

// Problem reasons specific to Secrets (see target.Problem for the others).
const (
	ReasonMissingConfig = "missing_config"
	ReasonDuplicateName = "duplicate_name"
	ReasonForbidden     = "forbidden"
	ReasonWatchError    = "watch_error"
	// ReasonBlockedAddress: the target's url names an address targets
	// from Secrets may not reach (netguard.Blocked).
	ReasonBlockedAddress = "blocked_address"
)

// problemReasons are the reasons of the definitions a SecretSource skips.
var problemReasons = []string{
	ReasonMissingConfig, ReasonBlockedAddress,
	target.ReasonInvalidJSON, target.ReasonInvalidTarget, ReasonDuplicateName,
}

// errorReasons are the reasons a SecretSource counts in
// herald_discovery_errors_total: its own failures and skipped definitions.
var errorReasons = append([]string{ReasonForbidden, ReasonWatchError}, problemReasons...)

// syncPoll is how often Run checks whether the initial list has arrived.
const syncPoll = 5 * time.Millisecond

// Config configures a SecretSource.
type Config struct {
	// Client talks to the Kubernetes API (see ClientFromConfig).
	Client kubernetes.Interface
	// Namespaces to watch; "*" watches all namespaces with one cluster-wide
	// watch (and needs a ClusterRole). Blank entries are ignored, so a
	// comma-separated setting can be split and passed as is.
	Namespaces []string
	// Selector is a Kubernetes label selector, equality- or set-based
	// ("publishing-target in (true,yes),team!=legacy"). Default
	// DefaultSelector.
	Selector string
	// Resync re-evaluates every cached Secret at this interval; 0 disables
	// it. Changes are watched either way: resync only repairs missed events.
	Resync time.Duration
	// Logger receives one line per skipped Secret and per change (optional).
	Logger *slog.Logger
	// Metrics, when set, receives herald_discovery_errors_total and
	// herald_discovery_last_sync_timestamp_seconds (optional).
	Metrics *metrics.Metrics

	// ClusterWide lists the namespaces whose Secrets define targets that
	// receive the alerts of every namespace ("*": every namespace). A
	// target from a Secret in any other namespace receives only the alerts
	// whose namespace label is its Secret's namespace.
	ClusterWide []string
	// AllowedCIDRs are networks that targets from Secrets may reach
	// although they are loopback, link-local or cloud metadata addresses
	// (netguard.Blocked); by default they may reach none of them.
	AllowedCIDRs []netip.Prefix
}

// SecretSource is a target.Source backed by Kubernetes Secrets.
type SecretSource struct {
	client     kubernetes.Interface
	namespaces []string // "" (metav1.NamespaceAll) means every namespace
	selector   labels.Selector
	resync     time.Duration
	log        *slog.Logger
	metrics    *metrics.Metrics
	// clusterWide holds the namespaces in Config.ClusterWide; "*" for all.
	clusterWide map[string]bool
	// dial is the dial policy of every target this source defines.
	dial *netguard.Policy

	running atomic.Bool
	synced  atomic.Bool
	dirty   chan struct{}

	// State of the sync loop, touched by Run's goroutine only.
	parsed   map[string]parsedSecret
	reported map[string]target.Problem
	last     *result
}

var _ target.Source = (*SecretSource)(nil)

// NewSecretSource validates cfg and returns a source ready to Run.
func NewSecretSource(cfg Config) (*SecretSource, error) {
	if cfg.Client == nil {
		return nil, errors.New("kubernetes discovery: no Kubernetes client")
	}
	namespaces, err := normalizeNamespaces(cfg.Namespaces)
	if err != nil {
		return nil, err
	}
	raw := strings.TrimSpace(cfg.Selector)
	if raw == "" {
		raw = DefaultSelector
	}
	sel, err := labels.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery: invalid label selector %q: %w", raw, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("kubernetes discovery: label selector %q selects every Secret; name at least one label", raw)
	}
	if cfg.Resync < 0 {
		return nil, fmt.Errorf("kubernetes discovery: resync interval %s is negative", cfg.Resync)
	}
	clusterWide, err := clusterWideNamespaces(cfg.ClusterWide)
	if err != nil {
		return nil, err
	}
	allowed := make([]netip.Prefix, 0, len(cfg.AllowedCIDRs))
	for _, p := range cfg.AllowedCIDRs {
		if !p.IsValid() {
			return nil, fmt.Errorf("kubernetes discovery: invalid allowed network %v", p)
		}
		allowed = append(allowed, p.Masked())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Metrics != nil {
		cfg.Metrics.InitDiscoveryErrors(SourceName, errorReasons...)
		cfg.Metrics.InitInvalidTargets(SourceName, problemReasons...)
	}
	return &SecretSource{
		client:      cfg.Client,
		namespaces:  namespaces,
		selector:    sel,
		resync:      cfg.Resync,
		log:         log.With("source", SourceName),
		metrics:     cfg.Metrics,
		clusterWide: clusterWide,
		dial:        &netguard.Policy{Allowed: allowed},
		dirty:       make(chan struct{}, 1),
	}, nil
}

// clusterWideNamespaces validates Config.ClusterWide.
func clusterWideNamespaces(in []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, ns := range in {
		ns = strings.TrimSpace(ns)
		switch {
		case ns == "":
			continue
		case ns == AllNamespaces:
			return map[string]bool{AllNamespaces: true}, nil
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("kubernetes discovery: invalid cluster-wide namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		out[ns] = true
	}
	return out, nil
}

// ClusterWide returns the namespaces whose targets receive every
// namespace's alerts, sorted; "*" stands for all of them.
func (s *SecretSource) ClusterWide() []string {
	out := make([]string, 0, len(s.clusterWide))
	for ns := range s.clusterWide {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

func normalizeNamespaces(in []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, ns := range in {
		ns = strings.TrimSpace(ns)
		switch {
		case ns == "":
			continue
		case ns == AllNamespaces:
			return []string{metav1.NamespaceAll}, nil
		case seen[ns]:
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("kubernetes discovery: invalid namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		seen[ns] = true
		out = append(out, ns)
	}
	if len(out) == 0 {
		return nil, errors.New("kubernetes discovery: no namespace to watch (name namespaces, or \"*\" for all)")
	}
	sort.Strings(out)
	return out, nil
}

// Name identifies the source in the registry and in metrics.
func (s *SecretSource) Name() string { return SourceName }

// Selector returns the label selector in canonical form.
func (s *SecretSource) Selector() string { return s.selector.String() }

// Namespaces returns the watched namespaces; "*" stands for all of them.
func (s *SecretSource) Namespaces() []string {
	if len(s.namespaces) == 1 && s.namespaces[0] == metav1.NamespaceAll {
		return []string{AllNamespaces}
	}
	return append([]string(nil), s.namespaces...)
}

// HasSynced reports whether the initial list of every namespace has been
// read and handed to the sink.
func (s *SecretSource) HasSynced() bool { return s.synced.Load() }

// Run watches the Secrets and keeps sink current until ctx ends. The first
// Update happens once every namespace has been listed completely; later ones
// follow every add, change and delete (a burst of changes may be folded
// into one Update). Run may be called once.
func (s *SecretSource) Run(ctx context.Context, sink target.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("kubernetes discovery: source is already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	informers := make([]cache.SharedIndexInformer, 0, len(s.namespaces))
	for _, ns := range s.namespaces {
		inf, err := s.newInformer(ns)
		if err != nil {
			return err
		}
		informers = append(informers, inf)
	}
	for _, inf := range informers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inf.RunWithContext(ctx)
		}()
	}
	s.log.Info("watching target secrets", "namespaces", strings.Join(s.Namespaces(), ","), "selector", s.Selector(),
		"cluster_wide", strings.Join(s.ClusterWide(), ","), "allowed_target_cidrs", prefixList(s.dial.Allowed))

	started := time.Now()
	if !waitSynced(ctx, s.dirty, informers) {
		return nil
	}
	s.log.Info("target secrets listed", "namespaces", strings.Join(s.Namespaces(), ","), "took", time.Since(started).Round(time.Millisecond))
	for {
		// Drain before reading the caches: any change after this point
		// marks the source dirty again and gets its own pass.
		select {
		case <-s.dirty:
		default:
		}
		s.sync(informers, sink)
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
		}
	}
}

func waitSynced(ctx context.Context, dirty <-chan struct{}, informers []cache.SharedIndexInformer) bool {
	t := time.NewTicker(syncPoll)
	defer t.Stop()
	for {
		all := true
		for _, inf := range informers {
			if !inf.HasSynced() {
				all = false
				break
			}
		}
		if all {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-dirty:
		case <-t.C:
		}
	}
}

func (s *SecretSource) newInformer(namespace string) (cache.SharedIndexInformer, error) {
	selector := s.selector.String()
	inf := coreinformers.NewFilteredSecretInformer(s.client, namespace, s.resync, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = selector })
	if err := inf.SetTransform(trimSecret); err != nil {
		return nil, fmt.Errorf("kubernetes discovery: informer transform: %w", err)
	}
	if err := inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		s.watchError(namespace, err)
	}); err != nil {
		return nil, fmt.Errorf("kubernetes discovery: informer error handler: %w", err)
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { s.markDirty() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*corev1.Secret)
			n, ok2 := newObj.(*corev1.Secret)
			if ok1 && ok2 && o.ResourceVersion != "" && o.ResourceVersion == n.ResourceVersion {
				return // periodic resync of an unchanged Secret
			}
			s.markDirty()
		},
		DeleteFunc: func(any) { s.markDirty() },
	})
	if err != nil {
		return nil, fmt.Errorf("kubernetes discovery: informer handler: %w", err)
	}
	return inf, nil
}

func (s *SecretSource) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// watchError reports a failed list or watch; the informer retries with
// backoff on its own.
func (s *SecretSource) watchError(namespace string, err error) {
	if namespace == metav1.NamespaceAll {
		namespace = AllNamespaces
	}
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return // the API server closed the watch; the informer reconnects
	case apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		s.log.Debug("target secret watch expired; relisting", "namespace", namespace)
		return
	}
	reason := ReasonWatchError
	msg := "cannot list or watch target secrets; retrying"
	if apierrors.IsForbidden(err) {
		reason = ReasonForbidden
		msg = "not allowed to list or watch target secrets (check the Role/RoleBinding); retrying"
	}
	s.log.Error(msg, "namespace", namespace, "reason", reason, "error", err)
	if s.metrics != nil {
		s.metrics.DiscoveryErrors.WithLabelValues(SourceName, reason).Inc()
	}
}

func prefixList(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return strings.Join(out, ",")
}

// trimSecret keeps only what discovery reads, so the informer cache holds
// neither unrelated keys nor annotations such as
// kubectl.kubernetes.io/last-applied-configuration (a full copy of the data).
func trimSecret(obj any) (any, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return obj, nil
	}
	out := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:              sec.Name,
			Namespace:         sec.Namespace,
			UID:               sec.UID,
			ResourceVersion:   sec.ResourceVersion,
			CreationTimestamp: sec.CreationTimestamp,
			Labels:            sec.Labels,
		},
		Type: sec.Type,
	}
	if v, ok := sec.Data[ConfigKey]; ok {
		out.Data = map[string][]byte{ConfigKey: v}
	}
	if v, ok := sec.StringData[ConfigKey]; ok {
		out.StringData = map[string]string{ConfigKey: v}
	}
	return out, nil
}

// sync reads every informer cache, rebuilds the target set and hands it to
// sink when it differs from the last one.
func (s *SecretSource) sync(informers []cache.SharedIndexInformer, sink target.Sink) {
	var secrets []*corev1.Secret
	for _, inf := range informers {
		for _, obj := range inf.GetStore().List() {
			sec, ok := obj.(*corev1.Secret)
			if !ok || !s.selector.Matches(labels.Set(sec.Labels)) {
				// The API server filters by selector; this also drops a Secret
				// that was relabelled out of it when a watch reports the change
				// as a modification.
				continue
			}
			secrets = append(secrets, sec)
		}
	}
	res := s.build(secrets)
	s.report(res.problems)

	if s.last == nil || !reflect.DeepEqual(*s.last, res) {
		sink.Update(SourceName, res.targets, res.problems)
		s.log.Info("targets discovered", "secrets", len(secrets), "targets", len(res.targets), "skipped", len(res.problems))
		s.last = &res
	}
	s.synced.Store(true)
	if s.metrics != nil {
		s.metrics.DiscoveryLastOK.WithLabelValues(SourceName).SetToCurrentTime()
	}
}

// report logs and counts each problem once per change: a Secret that stays
// broken in the same way is not reported again.
func (s *SecretSource) report(problems []target.Problem) {
	current := make(map[string]target.Problem, len(problems))
	for _, p := range problems {
		current[p.Origin] = p
		if prev, ok := s.reported[p.Origin]; ok && prev == p {
			continue
		}
		s.log.Warn("target secret skipped", "secret", strings.TrimPrefix(p.Origin, originPrefix),
			"target", p.Target, "reason", p.Reason, "error", p.Message)
		if s.metrics != nil {
			s.metrics.DiscoveryErrors.WithLabelValues(SourceName, p.Reason).Inc()
		}
	}
	for origin := range s.reported {
		if _, still := current[origin]; !still {
			s.log.Info("target secret no longer skipped", "secret", strings.TrimPrefix(origin, originPrefix))
		}
	}
	s.reported = current
}
