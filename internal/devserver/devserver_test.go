package devserver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/service/history/shard"
)

const testSA = "HeraldTestKeyword"

var testSAKey = temporal.NewSearchAttributeKeyKeyword(testSA)

func TestDynamicConfig(t *testing.T) {
	// The zero Engine is the server as it ran before the settings existed.
	old := dynamicConfig(Engine{})
	want := []dynamicconfig.Key{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(),
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key(),
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(),
	}
	if len(old) != len(want) {
		t.Errorf("default dynamic config has %d keys, want %d: %v", len(old), len(want), old)
	}
	for _, k := range want {
		if _, ok := old[k]; !ok {
			t.Errorf("default dynamic config lacks %s", k)
		}
	}

	all := dynamicConfig(Engine{ShardIOConcurrency: 4, RaiseRateLimits: true, NoForceSearchAttributesRefresh: true})
	if _, ok := all[dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key()]; ok {
		t.Error("force search attribute refresh still set")
	}
	if got := all[dynamicconfig.ShardIOConcurrency.Key()]; got != 4 {
		t.Errorf("%s = %v, want 4", dynamicconfig.ShardIOConcurrency.Key(), got)
	}
	for _, k := range []dynamicconfig.Key{dynamicconfig.FrontendMaxNamespaceRPSPerInstance.Key(), dynamicconfig.MatchingRPS.Key(),
		dynamicconfig.TransferProcessorMaxPollRPS.Key(), dynamicconfig.VisibilityProcessorMaxPollRPS.Key()} {
		if v, ok := all[k].(int); !ok || v < 1000 {
			t.Errorf("%s = %v, want a raised limit", k, all[k])
		}
	}
	if len(all) != 2+1+len(RaisedRateLimits) {
		t.Errorf("dynamic config has %d keys, want %d", len(all), 2+1+len(RaisedRateLimits))
	}
}

func TestFileStoreAttributes(t *testing.T) {
	attrs := map[string]string{}
	if err := fileStoreAttributes(attrs, "", Engine{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := attrs["cache_size"]; ok {
		t.Errorf("cache_size set by default: %v", attrs)
	}
	if _, ok := attrs["mmap_size"]; ok {
		t.Errorf("mmap_size set by default: %v", attrs)
	}
	if err := fileStoreAttributes(attrs, SynchronousNormal, Engine{SQLiteCacheSize: -65536, SQLiteMmapSize: 256 << 20}); err != nil {
		t.Fatal(err)
	}
	if attrs["cache_size"] != "-65536" || attrs["mmap_size"] != "268435456" || attrs["synchronous"] != "NORMAL" || attrs["journal_mode"] != "wal" {
		t.Errorf("attributes = %v", attrs)
	}
}

func TestPlanVisibility(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tests := []struct {
		mode                  string
		mainExists, visExists bool
		want                  visibilityPlan
	}{
		{"", false, false, visibilityPlan{}},
		{VisibilityCombined, true, true, visibilityPlan{}},
		{VisibilitySeparate, false, false, visibilityPlan{separate: true}},
		{VisibilitySeparate, true, true, visibilityPlan{separate: true}},
		{VisibilitySeparate, true, false, visibilityPlan{separate: true, migrate: true}},
		{VisibilityAuto, false, false, visibilityPlan{separate: true}},
		{VisibilityAuto, true, true, visibilityPlan{separate: true}},
		{VisibilityAuto, true, false, visibilityPlan{}},
	}
	for _, tt := range tests {
		got, err := planVisibility(tt.mode, tt.mainExists, tt.visExists, log)
		if err != nil || got != tt.want {
			t.Errorf("planVisibility(%q, main %v, vis %v) = %+v, %v; want %+v", tt.mode, tt.mainExists, tt.visExists, got, err, tt.want)
		}
	}
	if _, err := planVisibility("split", false, false, log); err == nil {
		t.Error("unknown mode accepted")
	}
}

// TestSeparateVisibilityStore: with the visibility store separate, a new
// data dir gets visibility.db beside temporal.db and the workflow list
// (search attributes included) lives there only. All the other engine
// settings are off their defaults too, so the server must accept them.
func TestSeparateVisibilityStore(t *testing.T) {
	dir := t.TempDir()
	srv := startTest(t, dir, Engine{VisibilityStore: VisibilitySeparate, ShardIOConcurrency: 2, RaiseRateLimits: true,
		SQLiteCacheSize: -8192, SQLiteMmapSize: 64 << 20, NoForceSearchAttributesRefresh: true},
		map[string]enumspb.IndexedValueType{testSA: enumspb.INDEXED_VALUE_TYPE_KEYWORD})
	defer srv.Stop()
	if want := filepath.Join(dir, VisibilityDatabaseFile); srv.VisibilityFile() != want {
		t.Errorf("VisibilityFile() = %q, want %q", srv.VisibilityFile(), want)
	}
	c := dial(t, srv)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	w := worker.New(c, "trivial", worker.Options{})
	w.RegisterWorkflowWithOptions(func(workflow.Context) (string, error) { return "ok", nil }, workflow.RegisterOptions{Name: "trivial"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "separate-1", TaskQueue: "trivial",
		TypedSearchAttributes: temporal.NewSearchAttributes(testSAKey.ValueSet("k1"))}, "trivial")
	if err != nil {
		t.Fatalf("start workflow with a search attribute: %v", err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "ok" {
		t.Fatalf("workflow result %q, %v", out, err)
	}
	waitListed(ctx, t, c, srv, `WorkflowId = 'separate-1' AND ExecutionStatus = 'Completed' AND `+testSA+` = 'k1'`, "separate-1")

	if n := countRows(t, filepath.Join(dir, VisibilityDatabaseFile), "separate-1"); n != 1 {
		t.Errorf("%s holds %d visibility rows of the workflow, want 1", VisibilityDatabaseFile, n)
	}
	if n := countRows(t, filepath.Join(dir, DatabaseFile), "separate-1"); n != 0 {
		t.Errorf("%s holds %d visibility rows of the workflow, want 0", DatabaseFile, n)
	}
}

// TestVisibilityUpgradeKeepsWorkflowList: a data dir made with the combined
// visibility store keeps listing its workflows when restarted in auto mode
// (it stays combined) and in separate mode (the list is copied to
// visibility.db). On the way it checks that search attributes added at run
// time work without the force-refresh setting.
func TestVisibilityUpgradeKeepsWorkflowList(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(c client.Client, id string, sa temporal.SearchAttributes) error {
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "no-worker-here", TypedSearchAttributes: sa}, "nobody-runs-this")
		return err
	}

	// 1. Combined, as before: no search attributes of Herald's yet.
	srv := startTest(t, dir, Engine{}, nil)
	c := dial(t, srv)
	if err := start(c, "old-1", temporal.SearchAttributes{}); err != nil {
		t.Fatal(err)
	}
	waitListed(ctx, t, c, srv, `WorkflowId = 'old-1'`, "old-1")
	c.Close()
	srv.Stop()

	// 2. Auto keeps a combined data dir combined.
	srv = startTest(t, dir, Engine{VisibilityStore: VisibilityAuto, NoForceSearchAttributesRefresh: true}, nil)
	if exists, _ := fileExists(filepath.Join(dir, VisibilityDatabaseFile)); exists {
		t.Errorf("auto created %s in a combined data dir", VisibilityDatabaseFile)
	}
	if want := filepath.Join(dir, DatabaseFile); srv.VisibilityFile() != want {
		t.Errorf("VisibilityFile() = %q, want %q", srv.VisibilityFile(), want)
	}
	c = dial(t, srv)
	waitListed(ctx, t, c, srv, `WorkflowId = 'old-1'`, "old-1")
	// A search attribute added at run time (app.EnsureSearchAttributes),
	// without system.forceSearchAttributesCacheRefreshOnRead.
	if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: srv.Namespace(), SearchAttributes: map[string]enumspb.IndexedValueType{testSA: enumspb.INDEXED_VALUE_TYPE_KEYWORD},
	}); err != nil {
		t.Fatalf("add search attribute: %v", err)
	}
	added := time.Now()
	for {
		err := start(c, "mid-1", temporal.NewSearchAttributes(testSAKey.ValueSet("k2")))
		if err == nil {
			break
		}
		if time.Since(added) > 30*time.Second {
			t.Fatalf("search attribute added at run time still refused after 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("search attribute added at run time accepted by a start after %s", time.Since(added).Round(10*time.Millisecond))
	waitListed(ctx, t, c, srv, testSA+` = 'k2'`, "mid-1")
	c.Close()
	srv.Stop()

	// 3. Separate: the list moves to visibility.db, search attributes too.
	srv = startTest(t, dir, Engine{VisibilityStore: VisibilitySeparate}, nil)
	defer srv.Stop()
	if want := filepath.Join(dir, VisibilityDatabaseFile); srv.VisibilityFile() != want {
		t.Errorf("VisibilityFile() = %q, want %q", srv.VisibilityFile(), want)
	}
	c = dial(t, srv)
	defer c.Close()
	waitListed(ctx, t, c, srv, `WorkflowId = 'old-1' OR WorkflowId = 'mid-1'`, "mid-1", "old-1")
	waitListed(ctx, t, c, srv, testSA+` = 'k2'`, "mid-1")
	if err := start(c, "new-1", temporal.SearchAttributes{}); err != nil {
		t.Fatal(err)
	}
	waitListed(ctx, t, c, srv, `WorkflowId = 'new-1'`, "new-1")
	if n := countRows(t, filepath.Join(dir, VisibilityDatabaseFile), "new-1"); n != 1 {
		t.Errorf("%s holds %d visibility rows of a workflow started after the move, want 1", VisibilityDatabaseFile, n)
	}
}

// TestInMemorySeparateVisibility: in memory, the separate visibility store
// is a second in-memory database.
func TestInMemorySeparateVisibility(t *testing.T) {
	srv, err := Start(Config{InMemory: true, UIPort: -1, Logger: testLogger(t), Engine: Engine{VisibilityStore: VisibilityAuto}})
	if err != nil {
		t.Fatalf("start embedded server: %v", err)
	}
	defer srv.Stop()
	c := dial(t, srv)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "memory-1", TaskQueue: "no-worker-here"}, "nobody-runs-this"); err != nil {
		t.Fatal(err)
	}
	waitListed(ctx, t, c, srv, `WorkflowId = 'memory-1'`, "memory-1")
}

// startTest starts the embedded server on dir, logging to the test.
func startTest(t *testing.T, dir string, e Engine, sa map[string]enumspb.IndexedValueType) *Server {
	t.Helper()
	srv, err := Start(Config{DataDir: dir, UIPort: -1, Logger: testLogger(t), Engine: e, SearchAttributes: sa})
	if err != nil {
		t.Fatalf("start embedded server: %v", err)
	}
	return srv
}

func dial(t *testing.T, srv *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

// waitListed waits until query lists exactly the workflows ids (visibility
// is written after the start returns).
func waitListed(ctx context.Context, t *testing.T, c client.Client, srv *Server, query string, ids ...string) {
	t.Helper()
	var got []string
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: srv.Namespace(), Query: query})
		if err == nil {
			got = got[:0]
			for _, e := range resp.GetExecutions() {
				got = append(got, e.GetExecution().GetWorkflowId())
			}
			slices.Sort(got)
			if slices.Equal(got, ids) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("list %q: got %v (last error %v), want %v", query, got, err, ids)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// countRows counts the visibility rows of workflow id in the SQLite file.
func countRows(t *testing.T, path, id string) int {
	t.Helper()
	db, err := openStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM executions_visibility WHERE workflow_id = ?", id).Scan(&n); err != nil {
		t.Fatalf("count visibility rows in %s: %v", path, err)
	}
	return n
}

// testLogger logs to the test until it ends (the server's goroutines may
// outlive it).
func testLogger(t *testing.T) *slog.Logger {
	done := &atomic.Bool{}
	t.Cleanup(func() { done.Store(true) })
	return slog.New(slog.NewTextHandler(testWriter{t, done}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	t    *testing.T
	done *atomic.Bool
}

func (w testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// The embedded server's warnings about Herald's own setup (no Nexus HTTP
// port) are debug lines; its other warnings stay warnings.
func TestServerLoggerDemotesExpectedWarnings(t *testing.T) {
	var buf strings.Builder
	l := serverLogger{out: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), min: slog.LevelInfo, muted: &atomic.Bool{}}
	l.Warn("HTTP API port has not been set. Nexus HTTP endpoints will not be available. To enable Nexus, follow these instructions: ...")
	if buf.Len() != 0 {
		t.Errorf("the Nexus notice was logged at info or above: %s", buf.String())
	}
	l.Warn("persistence is slow")
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "persistence is slow") {
		t.Errorf("another warning was not logged as a warning: %q", buf.String())
	}
}

// A shard being acquired answers "shard status unknown" and its queue
// readers retry: a debug line. The shard's own failure stays an error.
func TestServerLoggerDemotesTransientShardStatus(t *testing.T) {
	cases := []struct {
		name string
		log  func(l serverLogger)
		want bool
	}{
		{"shard being acquired", func(l serverLogger) {
			l.Error("Queue reader unable to retrieve tasks", tag.Error(shard.ErrShardStatusUnknown))
		}, false},
		{"shard not acquired", func(l serverLogger) {
			l.Error("Couldn't acquire shard", tag.Error(serviceerror.NewUnavailable("persistence unavailable")))
		}, true},
		{"other reader error", func(l serverLogger) {
			l.Error("Queue reader unable to retrieve tasks", tag.Error(errors.New("database is locked")))
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf strings.Builder
			l := serverLogger{out: slog.New(slog.NewTextHandler(&buf, nil)), min: slog.LevelInfo, muted: &atomic.Bool{}, starting: &atomic.Bool{}}
			c.log(l)
			if got := strings.Contains(buf.String(), "level=ERROR"); got != c.want {
				t.Errorf("logged as an error: %v, want %v (%q)", got, c.want, buf.String())
			}
		})
	}
}

// While the server starts, its services' "Frontend is not healthy yet" are
// debug lines; once the frontend serves, the same answer is a problem.
func TestServerLoggerQuietWhileStarting(t *testing.T) {
	var buf strings.Builder
	starting := &atomic.Bool{}
	starting.Store(true)
	l := serverLogger{out: slog.New(slog.NewTextHandler(&buf, nil)), min: slog.LevelInfo, muted: &atomic.Bool{}, starting: starting}
	l.Error("service failures", tag.NewStringTag("error", "Frontend is not healthy yet"))
	if buf.Len() != 0 {
		t.Errorf("logged while starting: %s", buf.String())
	}
	starting.Store(false)
	l.Error("service failures", tag.NewStringTag("error", "Frontend is not healthy yet"))
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Errorf("after the start the error was not logged: %q", buf.String())
	}
}
