package target_test

import (
	"testing"

	"github.com/herald-alerts/herald/internal/target"
)

func TestRegistryRetiredTargets(t *testing.T) {
	r := target.NewRegistry()
	a := target.Target{Name: "a", Type: "webhook", URL: "http://a.example/hook"}
	r.Update("src", []target.Target{a}, nil)
	if _, ok := r.Retired("a"); ok {
		t.Fatal("a current target is reported retired")
	}
	r.Update("src", nil, nil)
	if _, ok := r.Get("a"); ok {
		t.Fatal("removed target still current")
	}
	got, ok := r.Retired("a")
	if !ok || got.URL != a.URL {
		t.Fatalf("Retired(a) = %+v, %v; want its last configuration", got, ok)
	}
	r.Update("src", []target.Target{a}, nil)
	if _, ok := r.Retired("a"); ok {
		t.Error("a target that came back is still reported retired")
	}
}
