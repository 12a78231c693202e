package providers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/guard"
	"github.com/herald-alerts/herald/internal/health"
	"github.com/herald-alerts/herald/internal/provider"
	"github.com/herald-alerts/herald/internal/providers"
	"github.com/herald-alerts/herald/internal/target"
)

// The one list is what every part of Herald knows of types: the target
// package's types, the guard's limits, health's probes and the publishers.
func TestEveryProviderIsWiredEverywhere(t *testing.T) {
	pubs := providers.Publishers(provider.Deps{Client: http.DefaultClient})
	var names []string
	for _, p := range providers.All {
		typ := p.Type()
		names = append(names, typ)
		if k, ok := target.KindOf(typ); !ok || k.Type() != typ {
			t.Errorf("%s: not registered with the target package", typ)
		}
		if pubs[typ] == nil {
			t.Errorf("%s: no publisher", typ)
		}
		l := p.DefaultLimit()
		if got := guard.DefaultLimit(typ); got.PerSecond != l.PerSecond || got.Burst != l.Burst {
			t.Errorf("%s: guard default limit %+v, provider says %+v", typ, got, l)
		}
		// The targets API shows the limit the guard applies.
		shown := target.Target{Name: "x", Type: typ}.Public().RateLimit
		switch {
		case l.PerSecond == 0 && shown != nil:
			t.Errorf("%s: no default limit, but the public view shows %+v", typ, *shown)
		case l.PerSecond > 0 && (shown == nil || shown.PerSecond != l.PerSecond || shown.Burst != l.Burst || shown.Source != target.LimitFromType):
			t.Errorf("%s: public view shows %+v, want the type's %+v", typ, shown, l)
		}
	}
	if got := target.Types(); !slices.Equal(got, sortedCopy(names)) {
		t.Errorf("target.Types() = %v, want the list %v", got, names)
	}
	if len(pubs) != len(providers.All) {
		t.Errorf("%d publishers for %d providers", len(pubs), len(providers.All))
	}
}

// A registered probe is what the prober runs: a type's probe reaches its
// receiver (a type without a registered probe would be a config failure).
func TestProberRunsEveryProvidersProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	p := &health.Prober{Client: srv.Client(), Timeout: 5 * time.Second}
	for _, pr := range providers.All {
		o := p.Probe(context.Background(), target.Target{Name: "x", Type: pr.Type(), URL: srv.URL})
		if strings.Contains(o.Message, "unsupported target type") {
			t.Errorf("%s: probe not registered: %s", pr.Type(), o.Message)
		}
	}
	o := p.Probe(context.Background(), target.Target{Name: "x", Type: "carrier-pigeon", URL: srv.URL})
	if o.OK || o.Class != health.ClassConfig || !strings.Contains(o.Message, "unsupported target type") {
		t.Errorf("unknown type: %+v, want a config failure", o)
	}
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
