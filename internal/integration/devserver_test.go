package integration

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/devserver"
	"github.com/herald-alerts/herald/workflows"
)

// TestEmbeddedServerKeepsStateAcrossRestart: the embedded server of
// `make run` keeps workflows (alerts, dead letters) in its data directory.
func TestEmbeddedServerKeepsStateAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() (*devserver.Server, client.Client) {
		srv, err := devserver.Start(devserver.Config{DataDir: dir, UIPort: -1, SearchAttributes: workflows.SearchAttributes,
			Logger: discardLogger()})
		if err != nil {
			t.Fatalf("start embedded server: %v", err)
		}
		c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace()})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return srv, c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	srv, c := start()
	id := workflows.AlertWorkflowID("persisted1")
	if _, err := c.SignalWithStartWorkflow(ctx, id, workflows.AlertSignal, workflows.Notify{}, client.StartWorkflowOptions{
		ID: id, TaskQueue: "no-worker-here"}, workflows.AlertWorkflowName, workflows.AlertInput{Fingerprint: "persisted1"}); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	srv, c = start()
	defer func() { c.Close(); _ = srv.Stop() }()
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		t.Fatalf("workflow lost across restart: %v", err)
	}
	if got := desc.GetWorkflowExecutionInfo().GetExecution().GetWorkflowId(); got != id {
		t.Errorf("described %q, want %q", got, id)
	}
}
