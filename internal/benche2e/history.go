package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/herald-alerts/herald/internal/contract"
)

// historyStats is the history length of a sample of alert workflows: the
// state transitions each alert costs the engine.
type historyStats struct {
	sampled, failed int
	events          float64 // mean history events per alert workflow
	minEvents       int
	maxEvents       int
	workflowTasks   float64 // mean WorkflowTaskCompleted per workflow
	activities      float64 // mean ActivityTaskScheduled per workflow
	markers         float64 // mean MarkerRecorded (local activities, side effects) per workflow
	err             error   // the first error, when some failed
}

func (h historyStats) String() string {
	if h.sampled == 0 {
		if h.err != nil {
			return "history: " + h.err.Error()
		}
		return "history: no sample"
	}
	s := fmt.Sprintf("%.1f history events per alert workflow (min %d, max %d; %.1f workflow tasks, %.1f activities, %.1f markers; sample of %d)",
		h.events, h.minEvents, h.maxEvents, h.workflowTasks, h.activities, h.markers, h.sampled)
	if h.failed > 0 {
		s += fmt.Sprintf("; %d not read: %v", h.failed, h.err)
	}
	return s
}

func dialTemporal(ctx context.Context, addr string) (client.Client, error) {
	quiet := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: "default", Logger: quiet})
	if err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", addr, err)
	}
	return c, nil
}

// sampleHistories reads the histories of up to n of the fingerprints'
// alert workflows, spread evenly over the list.
func sampleHistories(ctx context.Context, c client.Client, fingerprints []string, n int) historyStats {
	var st historyStats
	if c == nil || n <= 0 || len(fingerprints) == 0 {
		return st
	}
	step := max(1, len(fingerprints)/n)
	var events, tasks, acts, marks int
	for i := 0; i < len(fingerprints) && st.sampled+st.failed < n; i += step {
		cnt, err := countHistory(ctx, c, contract.AlertWorkflowID(fingerprints[i]))
		if err != nil {
			st.failed++
			if st.err == nil {
				st.err = err
			}
			continue
		}
		if st.sampled == 0 || cnt.events < st.minEvents {
			st.minEvents = cnt.events
		}
		st.maxEvents = max(st.maxEvents, cnt.events)
		st.sampled++
		events, tasks, acts, marks = events+cnt.events, tasks+cnt.tasks, acts+cnt.activities, marks+cnt.markers
	}
	if st.sampled > 0 {
		n := float64(st.sampled)
		st.events, st.workflowTasks = float64(events)/n, float64(tasks)/n
		st.activities, st.markers = float64(acts)/n, float64(marks)/n
	}
	return st
}

type eventCounts struct{ events, tasks, activities, markers int }

func countHistory(ctx context.Context, c client.Client, workflowID string) (eventCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var n eventCounts
	it := c.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return eventCounts{}, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		n.events++
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			n.tasks++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			n.activities++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			n.markers++
		}
	}
	return n, nil
}
