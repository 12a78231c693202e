package integration

// A throw-away PostgreSQL cluster and a Temporal server on it, set up the
// way a production cluster is: Temporal's SQL schema tool creates and
// migrates both the main and the visibility database (postgres12 plugin),
// and the namespace is registered through the frontend.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/tools/common/schema"
	sqltool "go.temporal.io/server/tools/sql"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/herald-alerts/herald/internal/app"
)

// skipPostgresEnv lets a machine without PostgreSQL skip these tests, on
// purpose only.
const skipPostgresEnv = "HERALD_SKIP_POSTGRES"

// postgresBinDir finds initdb and postgres: in PATH, else in the Debian
// package's /usr/lib/postgresql/<version>/bin (newest version).
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(found, func(i, j int) bool { return pgVersion(found[i]) > pgVersion(found[j]) })
	for _, p := range found {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("PostgreSQL binaries (initdb, postgres) are neither in PATH nor in /usr/lib/postgresql/*/bin")
}

func pgVersion(initdb string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(initdb))), 64)
	return v
}

// postgresCluster is a PostgreSQL server of its own, in a temp dir.
type postgresCluster struct {
	bin  string
	dir  string
	port int
	cred *syscall.Credential
	log  string
}

// startPostgres initialises and starts a PostgreSQL cluster on a free
// loopback port, as the postgres user when running as root. Durability is
// switched off (fsync, synchronous_commit, full_page_writes): the data is
// thrown away at the end and these settings make it several times faster.
// The cluster is stopped and removed when the test ends; if the test
// process dies, the kernel sends the postmaster SIGQUIT (immediate stop).
func startPostgres(t *testing.T) *postgresCluster {
	t.Helper()
	if os.Getenv(skipPostgresEnv) == "1" {
		t.Skip(skipPostgresEnv + "=1: PostgreSQL tests skipped on purpose")
	}
	bin, err := postgresBinDir()
	if err != nil {
		t.Fatalf("%v: run `make deps` (installs the Debian postgresql package), or set %s=1 to skip these tests", err, skipPostgresEnv)
	}
	begin := time.Now()
	// Not t.TempDir: its parent is private to root, and the postgres user
	// must reach the data directory.
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	pg := &postgresCluster{bin: bin, dir: dir, port: freePort(t), log: filepath.Join(dir, "postgres.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL must run as the postgres user, which does not exist (%v): run `make deps`", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := pg.command("initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync",
		"--encoding=UTF8", "--locale=C").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	logFile, err := os.Create(pg.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := pg.command("postgres", "-D", data, "-p", strconv.Itoa(pg.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(pg.log)
			t.Logf("postgres log:\n%s", tail(string(b), 4000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := pg.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port)).CombinedOutput()
		if err == nil {
			break
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(pg.log)
			t.Fatalf("postgres exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postgres not ready after 30s: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("PostgreSQL %s ready on 127.0.0.1:%d in %s (fsync off)", filepath.Base(filepath.Dir(bin)), pg.port,
		time.Since(begin).Round(time.Millisecond))
	return pg
}

// command runs one of the cluster's binaries, as the postgres user when
// root.
func (pg *postgresCluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	return cmd
}

// query runs one SQL statement with psql and returns its unaligned output.
func (pg *postgresCluster) query(t *testing.T, db, sql string) string {
	t.Helper()
	out, err := pg.command("psql", "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port),
		"-U", "postgres", "-d", db, "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// sqlConfig is the Temporal persistence configuration of one database.
func (pg *postgresCluster) sqlConfig(db string) *config.SQL {
	return &config.SQL{
		PluginName:      postgresql.PluginName,
		DatabaseName:    db,
		ConnectAddr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.port)),
		ConnectProtocol: "tcp",
		User:            "postgres",
		MaxConns:        20,
		MaxIdleConns:    20,
		MaxConnLifetime: time.Hour,
	}
}

// createTemporalDatabase does what `temporal-sql-tool create-database`,
// `setup-schema -v 0.0` and `update-schema -d <versioned dir>` do, with the
// server's own tool code and the schema files embedded in the server
// module (schemaName e.g. "postgresql/v12/temporal"). It returns the schema
// version reached.
func createTemporalDatabase(cfg *config.SQL, schemaName string, logger log.Logger) (string, error) {
	create := *cfg
	if err := sqltool.DoCreateDatabase(&create, "postgres", logger); err != nil {
		return "", fmt.Errorf("create database %s: %w", cfg.DatabaseName, err)
	}
	conn, err := sqltool.NewConnection(cfg, logger)
	if err != nil {
		return "", fmt.Errorf("connect to %s: %w", cfg.DatabaseName, err)
	}
	defer conn.Close()
	if err := schema.NewSetupSchemaTask(conn, &schema.SetupConfig{InitialVersion: "0.0"}, logger).Run(); err != nil {
		return "", fmt.Errorf("setup schema of %s: %w", cfg.DatabaseName, err)
	}
	if err := schema.NewUpdateSchemaTask(conn, &schema.UpdateConfig{DBName: cfg.DatabaseName, SchemaName: schemaName}, logger).Run(); err != nil {
		return "", fmt.Errorf("update schema of %s to %s: %w", cfg.DatabaseName, schemaName, err)
	}
	return conn.ReadSchemaVersion()
}

// pgTemporal is a Temporal server whose main and visibility stores are
// the PostgreSQL cluster.
type pgTemporal struct {
	pg        *postgresCluster
	frontend  string
	namespace string
	client    client.Client
}

const (
	pgMainDB       = "temporal"
	pgVisibilityDB = "temporal_visibility"
)

// startTemporalOnPostgres creates Temporal's databases in pg, starts the
// server library (frontend, history, matching, worker) on them, registers
// namespace through the frontend and adds Herald's search attributes.
func startTemporalOnPostgres(t *testing.T, pg *postgresCluster, namespace string) *pgTemporal {
	t.Helper()
	begin := time.Now()
	logPath := filepath.Join(pg.dir, "temporal.log")
	logger := fatalToStderr{log.NewZapLogger(log.BuildZapLogger(log.Config{Level: "warn", OutputFile: logPath, Format: "json"}))}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("temporal server log (warnings and errors):\n%s", tail(string(b), 8000))
		}
	})
	mainCfg, visCfg := pg.sqlConfig(pgMainDB), pg.sqlConfig(pgVisibilityDB)
	for _, db := range []struct {
		cfg    *config.SQL
		schema string
	}{{mainCfg, "postgresql/v12/temporal"}, {visCfg, "postgresql/v12/visibility"}} {
		v, err := createTemporalDatabase(db.cfg, db.schema, logger)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("schema %s: database %s at version %s", db.schema, db.cfg.DatabaseName, v)
	}
	schemaDone := time.Now()

	// The cluster_membership table keeps ports as SMALLINT: the server
	// cannot start on ports of the kernel's ephemeral range (32768+).
	frontendPort := lowFreePort(t)
	frontend := net.JoinHostPort("127.0.0.1", strconv.Itoa(frontendPort))
	services := map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		port := frontendPort
		if name != "frontend" {
			port = lowFreePort(t)
		}
		services[name] = config.Service{RPC: config.RPC{GRPCPort: port, MembershipPort: lowFreePort(t), BindOnIP: "127.0.0.1"}}
	}
	cfg := &config.Config{
		Global: config.Global{Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}},
		Persistence: config.Persistence{
			DefaultStore:     "postgres-main",
			VisibilityStore:  "postgres-visibility",
			NumHistoryShards: 4,
			DataStores: map[string]config.DataStore{
				"postgres-main":       {SQL: mainCfg},
				"postgres-visibility": {SQL: visCfg},
			},
		},
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        "active",
			CurrentClusterName:       "active",
			ClusterInformation: map[string]cluster.ClusterInformation{
				"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services:            services,
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		dynamicconfig.NamespaceCacheRefreshInterval.Key():           []dynamicconfig.ConstrainedValue{{Value: time.Second}},
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		t.Fatalf("create temporal server: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("start temporal server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Logf("stop temporal server: %v", err)
		}
	})
	started := time.Now()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: frontend, Logger: quietSDKLogger{}})
	if err != nil {
		t.Fatalf("namespace client: %v", err)
	}
	defer nc.Close()
	waitFor(ctx, t, "namespace "+namespace+" registered through the frontend", func() error {
		err := nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
		})
		if err != nil && !strings.Contains(strings.ToLower(err.Error()), "already") {
			return err
		}
		_, err = nc.Describe(ctx, namespace)
		return err
	})
	c, err := client.Dial(client.Options{HostPort: frontend, Namespace: namespace, Logger: quietSDKLogger{}})
	if err != nil {
		t.Fatalf("dial temporal: %v", err)
	}
	t.Cleanup(c.Close)
	waitFor(ctx, t, "Herald's search attributes added", func() error {
		return app.EnsureSearchAttributes(ctx, c, namespace)
	})
	t.Logf("Temporal on PostgreSQL: schema %s, server start %s, namespace + search attributes %s (frontend %s)",
		schemaDone.Sub(begin).Round(time.Millisecond), started.Sub(schemaDone).Round(time.Millisecond),
		time.Since(started).Round(time.Millisecond), frontend)
	return &pgTemporal{pg: pg, frontend: frontend, namespace: namespace, client: c}
}

// waitFor retries fn until it succeeds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, fn func() error) {
	t.Helper()
	for {
		err := fn()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// quietSDKLogger drops the SDK client's logs of the set-up clients.
type quietSDKLogger struct{}

func (quietSDKLogger) Debug(string, ...any) {}
func (quietSDKLogger) Info(string, ...any)  {}
func (quietSDKLogger) Warn(string, ...any)  {}
func (quietSDKLogger) Error(string, ...any) {}

// fatalToStderr also prints the server's fatal message to stderr: the
// server exits the process after it, before the test can show its log.
type fatalToStderr struct{ log.Logger }

func (l fatalToStderr) Fatal(msg string, tags ...tag.Tag) {
	var b strings.Builder
	for _, tg := range tags {
		fmt.Fprintf(&b, " %s=%v", tg.Key(), tg.Value())
	}
	fmt.Fprintf(os.Stderr, "temporal server fatal: %s%s\n", msg, b.String())
	l.Logger.Fatal(msg, tags...)
}

var lowPorts = struct {
	sync.Mutex
	next int
}{next: 20000 + os.Getpid()%10000}

// lowFreePort returns a free loopback port below 32768.
func lowFreePort(t *testing.T) int {
	t.Helper()
	lowPorts.Lock()
	defer lowPorts.Unlock()
	for range 2000 {
		p := lowPorts.next
		lowPorts.next++
		if lowPorts.next > 32767 {
			lowPorts.next = 20000
		}
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			l.Close()
			return p
		}
	}
	t.Fatal("no free loopback port below 32768")
	return 0
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	p, _ := strconv.Atoi(port)
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
