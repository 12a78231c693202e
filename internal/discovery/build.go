package discovery

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/herald-alerts/herald/internal/target"
)

// originPrefix starts the Origin of every target found in a Secret.
const originPrefix = "secret:"

// Origin names a Secret as a target origin: "secret:<namespace>/<name>".
func Origin(namespace, name string) string { return originPrefix + namespace + "/" + name }

// result is one complete evaluation of the selected Secrets.
type result struct {
	targets  []target.Target
	problems []target.Problem
}

// parsedSecret caches the outcome of parsing one Secret's config, so an
// unchanged Secret is not parsed again on every change of another one.
type parsedSecret struct {
	config  []byte
	target  target.Target
	problem *target.Problem
}

// build turns Secrets into targets and scopes each to its Secret's
// namespace (see scope). A target name that more than one Secret defines is
// refused in every one of them: no Secret takes over a name another one
// holds, whichever is older, and the conflict stays visible until one of
// them is renamed or deleted. Secrets are taken in a fixed order (creation
// time, namespace, name), so the result does not depend on the order the
// API returned them in.
func (s *SecretSource) build(secrets []*corev1.Secret) result {
	sortSecrets(secrets)
	prev := s.parsed
	s.parsed = make(map[string]parsedSecret, len(secrets))
	type candidate struct {
		origin string
		t      target.Target
	}
	var (
		res        result
		candidates []candidate
		definedBy  = map[string][]string{} // target name -> origins
	)
	for _, sec := range secrets {
		origin := Origin(sec.Namespace, sec.Name)
		p := parseSecret(sec, origin, prev[origin])
		s.parsed[origin] = p
		if p.problem != nil {
			res.problems = append(res.problems, *p.problem)
			continue
		}
		t := s.scope(p.target, sec.Namespace)
		if err := t.Scope.Dial.CheckURL(t.URL); err != nil {
			res.problems = append(res.problems, target.Problem{
				Origin: origin, Target: t.Name, Reason: ReasonBlockedAddress,
				Message: fmt.Sprintf("field url: %v (targets from Secrets may not reach loopback, link-local or cloud metadata addresses unless the operator allows the network)", err),
			})
			continue
		}
		candidates = append(candidates, candidate{origin, t})
		definedBy[t.Name] = append(definedBy[t.Name], origin)
	}
	for _, c := range candidates {
		if all := definedBy[c.t.Name]; len(all) > 1 {
			others := make([]string, 0, len(all)-1)
			for _, o := range all {
				if o != c.origin {
					others = append(others, o)
				}
			}
			res.problems = append(res.problems, target.Problem{
				Origin: c.origin, Target: c.t.Name, Reason: ReasonDuplicateName,
				Message: fmt.Sprintf("target name %q is also defined by %s; every definition of it is refused until only one Secret defines it",
					c.t.Name, strings.Join(others, ", ")),
			})
			continue
		}
		res.targets = append(res.targets, c.t)
	}
	return res
}

// scope marks t as a tenant's target: checked dials, and unless namespace
// routes cluster-wide, only the alerts of namespace.
func (s *SecretSource) scope(t target.Target, namespace string) target.Target {
	t.Scope = target.Scope{Tenant: true, Dial: s.dial}
	if !s.clusterWide[AllNamespaces] && !s.clusterWide[namespace] {
		t.Scope.Namespace = namespace
	}
	return t
}

// parseSecret reads the config key of sec, reusing cached when the config is
// unchanged.
func parseSecret(sec *corev1.Secret, origin string, cached parsedSecret) parsedSecret {
	config, ok := sec.Data[ConfigKey]
	if !ok {
		// Objects created through a client never carry stringData back from
		// the API server; tolerate it anyway for objects built in code.
		if v, sok := sec.StringData[ConfigKey]; sok {
			config, ok = []byte(v), true
		}
	}
	if !ok {
		return parsedSecret{problem: &target.Problem{Origin: origin, Reason: ReasonMissingConfig,
			Message: fmt.Sprintf("secret has no %q key", ConfigKey)}}
	}
	if len(bytes.TrimSpace(config)) == 0 {
		return parsedSecret{config: config, problem: &target.Problem{Origin: origin, Reason: ReasonMissingConfig,
			Message: fmt.Sprintf("secret key %q is empty", ConfigKey)}}
	}
	if cached.config != nil && bytes.Equal(cached.config, config) {
		return cached
	}
	t, err := target.ParseTenant(config, origin)
	if err != nil {
		p := target.ProblemFor(origin, t.Name, err)
		return parsedSecret{config: config, problem: &p}
	}
	return parsedSecret{config: config, target: t}
}

func sortSecrets(secrets []*corev1.Secret) {
	sort.Slice(secrets, func(i, j int) bool {
		a, b := secrets[i], secrets[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}
