package ingest

import (
	"testing"
	"time"

	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// /readyz needs a worker that polled in the last 2 minutes: a worker that
// died stays listed by Temporal with its last poll, and must not count.
func TestReadyNeedsARecentPoll(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	poller := func(ago time.Duration) *taskqueuepb.PollerInfo {
		return &taskqueuepb.PollerInfo{Identity: "w", LastAccessTime: timestamppb.New(now.Add(-ago))}
	}
	for _, tc := range []struct {
		name    string
		pollers []*taskqueuepb.PollerInfo
		want    bool
	}{
		{"no poller", nil, false},
		{"a poll just now", []*taskqueuepb.PollerInfo{poller(time.Second)}, true},
		{"a stale poll only", []*taskqueuepb.PollerInfo{poller(pollerFreshness + time.Second)}, false},
		{"a poll just inside the window", []*taskqueuepb.PollerInfo{poller(pollerFreshness - time.Second)}, true},
		{"a stale and a fresh worker", []*taskqueuepb.PollerInfo{poller(10 * time.Minute), poller(5 * time.Second)}, true},
		{"no access time", []*taskqueuepb.PollerInfo{{Identity: "w"}}, false},
	} {
		if got := polledRecently(tc.pollers, now); got != tc.want {
			t.Errorf("%s: ready = %v, want %v", tc.name, got, tc.want)
		}
	}
	if pollerFreshness != 2*time.Minute {
		t.Errorf("poller freshness %s, docs/api.md says 2 minutes", pollerFreshness)
	}
}
