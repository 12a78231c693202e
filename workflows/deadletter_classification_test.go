package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/herald-alerts/herald/activities"
	"github.com/herald-alerts/herald/internal/publish"
)

// A replay publishes as the failed delivery did: with its classification
// (severity, priority) and episode, kept on the entry or, once archived,
// with its body. An entry from before they were kept falls back to the
// alert's labels and no episode.
func TestDeadLetters_ReplayKeepsClassificationAndEpisode(t *testing.T) {
	h := newDLQHarness(t, webhookTarget("hook"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	llm := publish.Classification{Severity: "critical", Confidence: 0.9, Reason: "customer-facing", Source: "llm"}

	kept := entry("kept", "hook", t0)
	kept.Classification, kept.Episode = &llm, 3
	legacy := entry("legacy", "hook", t0)
	legacy.Alert.Labels["severity"] = "warning"
	// An archived entry: its body, classification and episode are in the
	// archive, not on the entry.
	arch := entry("arch", "hook", t0)
	body := activities.ArchivedBody{Alert: arch.Alert, Classification: &llm, Episode: 2}
	arch.Archive, arch.Alert = "herald-dead-letters-archive-1", stub(arch.Alert)
	st := &deadLetterState{Entries: []*DeadLetter{&kept, &legacy, &arch}, Written: 3, ArchiveSeq: 1, Archives: []string{arch.Archive}}
	state, _, err := writeState(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.env.OnActivity("FetchArchived", mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FetchArchivedInput) (map[string]activities.ArchivedBody, error) {
			return map[string]activities.ArchivedBody{"arch": body}, nil
		})
	got := map[string]publish.Notification{}
	h.pub.onPublish = func(n publish.Notification) { got[n.Alert.Fingerprint] = n }
	h.at(time.Minute, func() {
		for _, id := range []string{"kept", "legacy", "arch"} {
			h.update(DeadLetterReplayUpdate, ReplayRequest{ID: id})
		}
	})
	h.at(5*time.Minute, h.env.CancelWorkflow)
	if err := h.run(DeadLetterInput{State: state}); err != nil && !isCanceled(err) {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fp      string
		class   publish.Classification
		episode int
	}{
		{"fp-kept", llm, 3},
		{"fp-arch", llm, 2},
		{"fp-legacy", publish.Classification{Severity: "warning", Source: "labels"}, 0},
	} {
		n, ok := got[tc.fp]
		if !ok {
			t.Errorf("%s was not replayed (published: %v)", tc.fp, got)
			continue
		}
		if n.Classification != tc.class || n.Episode != tc.episode {
			t.Errorf("%s replayed with classification %+v, episode %d; want %+v, episode %d",
				tc.fp, n.Classification, n.Episode, tc.class, tc.episode)
		}
	}
}
