package activities

import (
	"testing"
	"time"
)

func TestSuperseded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	check := DeliveryCheck{ID: "fp.hook.run.2", Target: "hook", Seq: 2, FirstFailure: t0}
	tests := []struct {
		name    string
		records []DeliveryFacts
		want    bool
	}{
		{"no records", nil, false},
		{"delivered before the failure", []DeliveryFacts{{Seq: 1, Event: "firing", Outcome: "delivered", At: t0.Add(-time.Minute)}}, false},
		{"later delivery of the resolve", []DeliveryFacts{{Seq: 3, Event: "resolved", Outcome: "delivered", At: t0.Add(time.Minute)}}, true},
		{"later failure only", []DeliveryFacts{{Seq: 3, Event: "resolved", Outcome: "dead_lettered", At: t0.Add(time.Minute)}}, false},
		{"replay of an earlier dead letter", []DeliveryFacts{{Seq: 1, Event: "firing", Outcome: "replayed", At: t0.Add(time.Hour)}}, false},
		{"replay of a later dead letter", []DeliveryFacts{{Seq: 3, Event: "resolved", Outcome: "replayed", At: t0.Add(time.Hour)}}, true},
		{"replay of itself", []DeliveryFacts{{Seq: 2, Event: "firing", Outcome: "replayed", At: t0.Add(time.Hour)}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Superseded(check, tc.records)
			if got != tc.want || (got && reason == "") {
				t.Errorf("Superseded = %v (%q), want %v", got, reason, tc.want)
			}
		})
	}
}

func TestCheckDeliveriesNeedsClient(t *testing.T) {
	a := &Activities{}
	if _, err := a.CheckDeliveries(t.Context(), []DeliveryCheck{{ID: "x"}}); err == nil {
		t.Error("CheckDeliveries without a client succeeded")
	}
	if _, err := a.FetchArchived(t.Context(), FetchArchivedInput{Archive: "a"}); err == nil {
		t.Error("FetchArchived without a client succeeded")
	}
}
