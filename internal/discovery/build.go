package discovery

import (
	"bytes"
	"fmt"
	"sort"

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

// build turns Secrets into targets. Secrets are taken oldest first (then by
// namespace and name), so when two Secrets define the same target name the
// older one wins, whatever order the API returned them in.
func (s *SecretSource) build(secrets []*corev1.Secret) result {
	sortSecrets(secrets)
	prev := s.parsed
	s.parsed = make(map[string]parsedSecret, len(secrets))
	var (
		res    result
		winner = map[string]string{} // target name -> origin
	)
	for _, sec := range secrets {
		origin := Origin(sec.Namespace, sec.Name)
		p := parseSecret(sec, origin, prev[origin])
		s.parsed[origin] = p
		if p.problem != nil {
			res.problems = append(res.problems, *p.problem)
			continue
		}
		t := p.target
		if first, dup := winner[t.Name]; dup {
			res.problems = append(res.problems, target.Problem{
				Origin: origin, Target: t.Name, Reason: ReasonDuplicateName,
				Message: fmt.Sprintf("target name %q is already defined by the older %s; this definition is ignored", t.Name, first),
			})
			continue
		}
		winner[t.Name] = origin
		res.targets = append(res.targets, t)
	}
	return res
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
	t, err := target.ParseOne(config, origin)
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
