package integration

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/herald-alerts/herald/internal/contract"
	"github.com/herald-alerts/herald/internal/devserver"
)

// TestEmbeddedServerKeepsStateAcrossRestart: the embedded server of
// `make run` keeps workflows (alerts, dead letters) in its data directory.
func TestEmbeddedServerKeepsStateAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	start := func() (*devserver.Server, client.Client) {
		srv, err := devserver.Start(devserver.Config{DataDir: dir, UIPort: -1, SearchAttributes: contract.SearchAttributes,
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
	id := contract.AlertWorkflowID("persisted1")
	if _, err := c.SignalWithStartWorkflow(ctx, id, contract.AlertSignal, contract.Notify{}, client.StartWorkflowOptions{
		ID: id, TaskQueue: "no-worker-here"}, contract.AlertWorkflow, contract.AlertInput{Fingerprint: "persisted1"}); err != nil {
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

// TestEmbeddedFileStoreRunsInWALMode: the file store runs in WAL mode with
// full sync (the connect attributes take SQLite's own pragma names; a
// misspelt key is silently ignored and leaves a rollback journal).
func TestEmbeddedFileStoreRunsInWALMode(t *testing.T) {
	dir := t.TempDir()
	srv, err := devserver.Start(devserver.Config{DataDir: dir, UIPort: -1, SearchAttributes: contract.SearchAttributes,
		Logger: discardLogger()})
	if err != nil {
		t.Fatalf("start embedded server: %v", err)
	}
	defer func() { _ = srv.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	id := contract.AlertWorkflowID("walcheck")
	if _, err := c.SignalWithStartWorkflow(ctx, id, contract.AlertSignal, contract.Notify{}, client.StartWorkflowOptions{
		ID: id, TaskQueue: "no-worker-here"}, contract.AlertWorkflow, contract.AlertInput{Fingerprint: "walcheck"}); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	db := filepath.Join(dir, devserver.DatabaseFile)
	mode, err := devserver.Pragma(ctx, db, "journal_mode")
	if err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("PRAGMA journal_mode = %q, want wal", mode)
	}
	if _, err := os.Stat(db + "-wal"); err != nil {
		t.Errorf("no write-ahead log beside the database: %v", err)
	}
	if _, err := os.Stat(db + "-journal"); err == nil {
		t.Errorf("a rollback journal %s-journal exists: the store is not in WAL mode", db)
	}
}

// TestEmbeddedServerRestartsOverStaleMembership: after a kill -9 the data
// directory holds membership rows of services that are gone. The next start
// must come up on the first try, on the same ports.
func TestEmbeddedServerRestartsOverStaleMembership(t *testing.T) {
	dir := t.TempDir()
	start := func() *devserver.Server {
		srv, err := devserver.Start(devserver.Config{DataDir: dir, UIPort: -1, SearchAttributes: contract.SearchAttributes,
			Logger: discardLogger()})
		if err != nil {
			t.Fatalf("start embedded server: %v", err)
		}
		return srv
	}
	srv := start()
	ports, err := os.ReadFile(filepath.Join(dir, "ports.json"))
	if err != nil {
		t.Fatalf("service ports not kept: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// What a killed process leaves: live-looking rows of hosts that are gone.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, devserver.DatabaseFile)+"?mode=rw")
	if err != nil {
		t.Fatal(err)
	}
	far := time.Now().Add(time.Hour).UTC().Format("2006-01-02 15:04:05")
	for role := 1; role <= 4; role++ {
		if _, err := db.Exec(`INSERT INTO cluster_membership (membership_partition, host_id, rpc_address, rpc_port, role,
			session_start, last_heartbeat, record_expiry) VALUES (0, ?, '127.0.0.1', ?, ?, ?, ?, ?)`,
			[]byte(fmt.Sprintf("dead-host-%06d", role)), 1+role, role, far, far, far); err != nil {
			t.Fatalf("insert stale membership: %v", err)
		}
	}
	db.Close()

	begin := time.Now()
	srv = start()
	defer func() { _ = srv.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	id := contract.AlertWorkflowID("afterstale")
	if _, err := c.SignalWithStartWorkflow(ctx, id, contract.AlertSignal, contract.Notify{}, client.StartWorkflowOptions{
		ID: id, TaskQueue: "no-worker-here"}, contract.AlertWorkflow, contract.AlertInput{Fingerprint: "afterstale"}); err != nil {
		t.Fatalf("server not serving after restart over stale membership: %v", err)
	}
	t.Logf("restart over stale membership served in %s", time.Since(begin).Round(time.Millisecond))
	again, err := os.ReadFile(filepath.Join(dir, "ports.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The frontend port is the caller's (random in this test); the internal
	// services must come back where they were.
	var before, after map[string]any
	if json.Unmarshal(ports, &before) != nil || json.Unmarshal(again, &after) != nil {
		t.Fatalf("ports.json is not JSON:\n%s\n%s", ports, again)
	}
	for _, svc := range []string{"history", "matching", "worker"} {
		if fmt.Sprint(before[svc]) != fmt.Sprint(after[svc]) {
			t.Errorf("%s ports changed across restart: %v → %v", svc, before[svc], after[svc])
		}
	}
}
