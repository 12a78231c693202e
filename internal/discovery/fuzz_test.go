package discovery

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// credentialsIn returns the credential-looking values of a target object:
// routing_key, token and header values of twelve or more letters and digits
// (shorter or punctuated values may occur in a message by chance).
func credentialsIn(config []byte) []string {
	var raw struct {
		RoutingKey any            `json:"routing_key"`
		Token      any            `json:"token"`
		Headers    map[string]any `json:"headers"`
	}
	if json.Unmarshal(config, &raw) != nil {
		return nil
	}
	vals := []any{raw.RoutingKey, raw.Token}
	for _, v := range raw.Headers {
		vals = append(vals, v)
	}
	var out []string
	for _, v := range vals {
		s, ok := v.(string)
		if !ok || len(s) < 12 || strings.IndexFunc(s, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) >= 0 {
			continue
		}
		out = append(out, s)
	}
	return out
}

// FuzzSecretConfig feeds arbitrary config keys of two Secrets through the
// Secret source's build: every Secret yields a target or a problem naming
// it, never both, target names stay unique, and no problem message repeats
// a credential of the config it is about.
func FuzzSecretConfig(f *testing.F) {
	f.Add([]byte(`{"name":"team-a","type":"slack","url":"https://hooks.slack.com/services/T/B/X"}`),
		[]byte(`{"name":"team-a","type":"webhook","url":"http://h"}`))
	f.Add([]byte("name: pd\ntype: pagerduty\nrouting_key: R0UTINGKEY0123456\n"), []byte(""))
	f.Add([]byte(`{"name":"pd","type":"pagerduty","routing_key":"R0UTINGKEY0123456","extra":true}`),
		[]byte(`{"name":"Bad Name","type":"rootly","token":"T0KEN0123456789ab"}`))
	f.Add([]byte(`{"name":"h","type":"webhook","url":"ftp://x","headers":{"Authorization":"S3CRETVALUE00000"}}`), []byte("[]"))
	f.Add([]byte("a: [\n"), []byte("   \n"))
	f.Fuzz(func(t *testing.T, configA, configB []byte) {
		secrets := []*corev1.Secret{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"}, Data: map[string][]byte{ConfigKey: configA}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "b"}, Data: map[string][]byte{ConfigKey: configB}},
		}
		configs := map[string][]byte{Origin("ns", "a"): configA, Origin("ns", "b"): configB}
		s := &SecretSource{}
		for round := range 2 { // the second round uses the parse cache
			res := s.build(append([]*corev1.Secret(nil), secrets...))
			if got := len(res.targets) + len(res.problems); got != 2 {
				t.Fatalf("round %d: %d targets and problems for 2 Secrets", round, got)
			}
			names := map[string]bool{}
			for _, tg := range res.targets {
				if _, ok := configs[tg.Origin]; !ok || names[tg.Name] {
					t.Fatalf("round %d: target %q from %q", round, tg.Name, tg.Origin)
				}
				names[tg.Name] = true
				if err := tg.Validate(); err != nil {
					t.Fatalf("round %d: accepted target invalid: %v", round, err)
				}
			}
			for _, p := range res.problems {
				config, ok := configs[p.Origin]
				if !ok || p.Reason == "" || p.Message == "" {
					t.Fatalf("round %d: problem %+v", round, p)
				}
				for _, c := range credentialsIn(config) {
					if strings.Contains(p.Message, c) {
						t.Fatalf("problem message %q repeats the credential %q", p.Message, c)
					}
				}
			}
		}
	})
}
