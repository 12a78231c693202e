package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// readiness checks that Temporal answers and a worker polls Herald's task
// queue; results are cached briefly so probes do not load Temporal.
type readiness struct {
	client    client.Client
	namespace string
	taskQueue string
	check     func(ctx context.Context) error

	mu      sync.Mutex
	last    time.Time
	lastErr error
}

const readinessCache = 2 * time.Second

// pollerFreshness is how recently a worker must have polled.
const pollerFreshness = 2 * time.Minute

func (r *readiness) Check(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.last) < readinessCache {
		return r.lastErr
	}
	r.lastErr = r.run(ctx)
	r.last = time.Now()
	return r.lastErr
}

func (r *readiness) run(ctx context.Context) error {
	if r.check != nil {
		return r.check(ctx)
	}
	return TemporalReady(ctx, r.client, r.namespace, r.taskQueue)
}

// TemporalReady returns nil when Temporal answers and at least one worker
// polled the task queue recently.
func TemporalReady(ctx context.Context, c client.Client, namespace, taskQueue string) error {
	if c == nil {
		return errors.New("no temporal client")
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal unreachable: %w", err)
	}
	resp, err := c.WorkflowService().DescribeTaskQueue(ctx, &workflowservice.DescribeTaskQueueRequest{
		Namespace:     namespace,
		TaskQueue:     &taskqueuepb.TaskQueue{Name: taskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		TaskQueueType: enumspb.TASK_QUEUE_TYPE_WORKFLOW,
	})
	if err != nil {
		return fmt.Errorf("describe task queue %q: %w", taskQueue, err)
	}
	if polledRecently(resp.GetPollers(), time.Now()) {
		return nil
	}
	return fmt.Errorf("no worker is polling task queue %q", taskQueue)
}

// polledRecently reports whether a poller accessed the task queue within
// pollerFreshness of now: Temporal keeps listing a worker that died for a
// while, with its last access time.
func polledRecently(pollers []*taskqueuepb.PollerInfo, now time.Time) bool {
	for _, p := range pollers {
		if t := p.GetLastAccessTime(); t != nil && now.Sub(t.AsTime()) < pollerFreshness {
			return true
		}
	}
	return false
}
