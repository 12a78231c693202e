// Package devserver embeds a single-process Temporal server (SQLite
// persistence) and the Temporal Web UI for local runs: no Docker, nothing to
// install. Production uses an existing Temporal cluster instead.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

// Config of the embedded server.
type Config struct {
	// IP to bind (default 127.0.0.1).
	IP string
	// FrontendPort is the gRPC port clients dial (default 7233; 0 picks a free port).
	FrontendPort int
	// UIPort serves the Web UI (default 8233; -1 disables the UI).
	UIPort int
	// DataDir keeps the SQLite database (temporal.db) across restarts.
	// Ignored when InMemory.
	DataDir  string
	InMemory bool
	// Namespace is created at start (default "default").
	Namespace string
	// SearchAttributes are registered in the namespace at creation.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's own logs at or above LogLevel
	// (default slog.Default(), warn).
	Logger   *slog.Logger
	LogLevel slog.Level
	// Synchronous is SQLite's synchronous pragma in WAL mode: "full"
	// (default: every commit is on disk before it is acknowledged) or
	// "normal" (commits survive a crash of the process, kill -9 included,
	// but the last ones may be lost on power loss or an OS crash).
	Synchronous string
	// CodecEndpoint, when set, is the remote codec the Web UI decodes
	// payloads with (Herald's /codec; it sends cookies along).
	CodecEndpoint string
	// Engine holds the engine settings (zero: the defaults of old).
	Engine Engine
}

// Synchronous settings of the file store.
const (
	SynchronousFull   = "full"
	SynchronousNormal = "normal"
)

// Server is a running embedded Temporal server (and UI).
type Server struct {
	cfg      Config
	temporal temporal.Server
	muted    *atomic.Bool
	ui       *uiserver.Server
	frontend string
	uiURL    string
	visFile  string
}

// Start creates the database if needed and starts the server and the UI.
func Start(cfg Config) (*Server, error) {
	if cfg.IP == "" {
		cfg.IP = "127.0.0.1"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.LogLevel == 0 {
		cfg.LogLevel = slog.LevelWarn
	}
	if cfg.FrontendPort == 0 {
		p, err := freePort(cfg.IP)
		if err != nil {
			return nil, err
		}
		cfg.FrontendPort = p
	}
	if err := portFree(cfg.IP, cfg.FrontendPort); err != nil {
		return nil, fmt.Errorf("temporal frontend port: %w", err)
	}
	if cfg.UIPort >= 0 {
		if cfg.UIPort == 0 {
			cfg.UIPort = 8233
		}
		// The UI server exits the process on a port clash: check first.
		if err := portFree(cfg.IP, cfg.UIPort); err != nil {
			return nil, fmt.Errorf("temporal web UI port: %w (set HERALD_UI_PORT, or -1 to disable the UI)", err)
		}
	}

	sqlCfg, visCfg, err := setupStores(cfg)
	if err != nil {
		return nil, err
	}
	// In memory, the SQLite plugin creates the schema itself.
	nsCfg, err := sqliteschema.NewNamespaceConfig("active", cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nsCfg); err != nil {
		return nil, fmt.Errorf("create namespace %q: %w", cfg.Namespace, err)
	}

	ports, err := servicePorts(cfg)
	if err != nil {
		return nil, err
	}
	srvCfg := buildConfig(cfg, sqlCfg, visCfg, ports)
	muted, starting := &atomic.Bool{}, &atomic.Bool{}
	starting.Store(true)
	logger := serverLogger{out: cfg.Logger.With("component", "temporal-server"), min: cfg.LogLevel, muted: muted, starting: starting}
	dyn := dynamicConfig(cfg.Engine)
	ts, err := temporal.NewServer(
		temporal.WithConfig(srvCfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := ts.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{cfg: cfg, temporal: ts, muted: muted, frontend: net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.FrontendPort))}
	// Clients that dial before the frontend reports itself serving get
	// "Frontend is not healthy yet" and log it as a warning: wait here.
	if err := waitFrontend(s.frontend, frontendWait); err != nil {
		cfg.Logger.Info("the embedded frontend did not report serving yet; clients will retry", "error", err)
	}
	starting.Store(false)
	if !cfg.InMemory {
		s.visFile = visCfg.DatabaseName
	}
	if cfg.UIPort > 0 {
		s.ui = uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
			Host:                cfg.IP,
			Port:                cfg.UIPort,
			TemporalGRPCAddress: s.frontend,
			EnableUI:            true,
			DefaultNamespace:    cfg.Namespace,
			HideLogs:            true,
			DisableNewsFetch:    true,
			CORS:                uiconfig.CORS{CookieInsecure: true},
			Codec:               uiconfig.Codec{Endpoint: cfg.CodecEndpoint, IncludeCredentials: cfg.CodecEndpoint != ""},
		}))
		go func() { _ = s.ui.Start() }()
		s.uiURL = fmt.Sprintf("http://%s", net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.UIPort)))
		waitHTTP(s.uiURL, 5*time.Second)
	}
	return s, nil
}

// FrontendAddress is the host:port Temporal clients dial.
func (s *Server) FrontendAddress() string { return s.frontend }

// UIURL is the Web UI address ("" when disabled).
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace created at start.
func (s *Server) Namespace() string { return s.cfg.Namespace }

// VisibilityFile is the SQLite file of the visibility store: temporal.db
// when combined, visibility.db when separate ("" in memory).
func (s *Server) VisibilityFile() string { return s.visFile }

// Stop stops the UI and the server.
func (s *Server) Stop() error {
	s.muted.Store(true)
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.temporal.Stop()
}

func buildConfig(cfg Config, sqlCfg, visCfg *config.SQL, ports servicePortSet) *config.Config {
	services := map[string]config.Service{}
	for _, name := range serviceNames {
		p := ports[name]
		services[name] = config.Service{RPC: config.RPC{GRPCPort: p.GRPC, MembershipPort: p.Membership, BindOnIP: cfg.IP}}
	}
	frontend := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.FrontendPort))
	stores := map[string]config.DataStore{mainStore: {SQL: sqlCfg}}
	visStore := mainStore
	if visCfg != sqlCfg {
		visStore = visibilityStore
		stores[visStore] = config.DataStore{SQL: visCfg}
	}
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: cfg.IP},
		},
		Persistence: config.Persistence{
			DefaultStore:     mainStore,
			VisibilityStore:  visStore,
			NumHistoryShards: 1,
			DataStores:       stores,
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
}

// Names of the data stores in the server's persistence config.
const (
	mainStore       = sqliteplugin.PluginName
	visibilityStore = sqliteplugin.PluginName + "-visibility"
)

// setupStores prepares the SQLite databases: the main store (created with
// its schema when new; stale cluster membership removed otherwise) and the
// visibility store, which is the main store's config itself when combined.
func setupStores(cfg Config) (sqlCfg, visCfg *config.SQL, err error) {
	sqlCfg = &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if cfg.InMemory {
		sqlCfg.DatabaseName = fmt.Sprintf("herald-%d", time.Now().UnixNano())
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		plan, err := planVisibility(cfg.Engine.VisibilityStore, false, false, cfg.Logger)
		if err != nil || !plan.separate {
			return sqlCfg, sqlCfg, err
		}
		// A second in-memory database (the plugin creates its schema).
		visCfg = cloneSQL(sqlCfg)
		visCfg.DatabaseName = sqlCfg.DatabaseName + "-visibility"
		return sqlCfg, visCfg, nil
	}
	if cfg.DataDir == "" {
		return nil, nil, errors.New("devserver: DataDir is required unless InMemory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("create data dir: %w", err)
	}
	sqlCfg.DatabaseName = filepath.Join(cfg.DataDir, DatabaseFile)
	if err := fileStoreAttributes(sqlCfg.ConnectAttributes, cfg.Synchronous, cfg.Engine); err != nil {
		return nil, nil, err
	}
	visPath := filepath.Join(cfg.DataDir, VisibilityDatabaseFile)
	mainExists, err := fileExists(sqlCfg.DatabaseName)
	if err != nil {
		return nil, nil, err
	}
	visExists, err := fileExists(visPath)
	if err != nil {
		return nil, nil, err
	}
	if !mainExists && visExists {
		// The list of workflows of a database that is gone.
		cfg.Logger.Warn("removing " + VisibilityDatabaseFile + ": it lists the workflows of a " + DatabaseFile + " that no longer exists")
		if err := removeStore(visPath); err != nil {
			return nil, nil, err
		}
		visExists = false
	}
	plan, err := planVisibility(cfg.Engine.VisibilityStore, mainExists, visExists, cfg.Logger)
	if err != nil {
		return nil, nil, err
	}
	if !mainExists {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			return nil, nil, fmt.Errorf("set up temporal schema: %w", err)
		}
	} else if err := forgetMembership(sqlCfg.DatabaseName); err != nil {
		return nil, nil, err
	}
	if !plan.separate {
		return sqlCfg, sqlCfg, nil
	}
	if !visExists {
		from := ""
		if plan.migrate {
			from = sqlCfg.DatabaseName
		}
		ctx, cancel := context.WithTimeout(context.Background(), migrateTimeout)
		defer cancel()
		begin := time.Now()
		n, err := createVisibilityStore(ctx, visPath, from)
		if err != nil {
			return nil, nil, err
		}
		if plan.migrate {
			cfg.Logger.Info("moved the workflow list to "+VisibilityDatabaseFile,
				"workflows", n, "took", time.Since(begin).Round(time.Millisecond),
				"note", DatabaseFile+" keeps its copy, no longer updated")
		}
	}
	visCfg = cloneSQL(sqlCfg)
	visCfg.DatabaseName = visPath
	return sqlCfg, visCfg, nil
}

func cloneSQL(c *config.SQL) *config.SQL {
	out := *c
	out.ConnectAttributes = maps.Clone(c.ConnectAttributes)
	return &out
}

// freePort picks a free port for a server to listen on. It prefers ports
// below the kernel's ephemeral range: a port the kernel hands out for ":0"
// can be taken by an outgoing connection's source port before the server
// binds it, while the low range is only used by listeners that ask for it.
func freePort(ip string) (int, error) {
	lo, hi := 20000, ephemeralStart()-1
	if hi-lo >= 1000 {
		for range 64 {
			p := lo + rand.IntN(hi-lo+1)
			if portFree(ip, p) == nil {
				return p, nil
			}
		}
	}
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range (32768,
// Linux's default, when it cannot be read).
func ephemeralStart() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(data))
	if len(fields) == 0 {
		return 32768
	}
	if p, err := strconv.Atoi(fields[0]); err == nil && p > 1024 {
		return p
	}
	return 32768
}

func portFree(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("%s:%d is in use: %w", ip, port, err)
	}
	return l.Close()
}

func waitHTTP(url string, within time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// frontendWait bounds how long Start waits for the frontend to serve.
const frontendWait = 30 * time.Second

// waitFrontend polls the frontend's gRPC health service until the
// workflow service reports SERVING.
func waitFrontend(addr string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dial frontend: %w", err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	for {
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: workflowService})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("status %s", resp.GetStatus())
			}
			return fmt.Errorf("frontend not serving after %s: %w", within, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// workflowService is the gRPC service the frontend reports health for.
const workflowService = "temporal.api.workflowservice.v1.WorkflowService"
