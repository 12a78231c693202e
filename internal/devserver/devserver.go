// Package devserver embeds a single-process Temporal server (SQLite
// persistence) and the Temporal Web UI for local runs: no Docker, nothing to
// install. Production uses an existing Temporal cluster instead.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
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

	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName, ConnectAttributes: map[string]string{}}
	if cfg.InMemory {
		sqlCfg.DatabaseName = fmt.Sprintf("herald-%d", time.Now().UnixNano())
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
	} else {
		if cfg.DataDir == "" {
			return nil, errors.New("devserver: DataDir is required unless InMemory")
		}
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		sqlCfg.DatabaseName = filepath.Join(cfg.DataDir, DatabaseFile)
		if err := fileStoreAttributes(sqlCfg.ConnectAttributes, cfg.Synchronous); err != nil {
			return nil, err
		}
		if _, err := os.Stat(sqlCfg.DatabaseName); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
				return nil, fmt.Errorf("set up temporal schema: %w", err)
			}
		} else if err := forgetMembership(sqlCfg.DatabaseName); err != nil {
			return nil, err
		}
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
	srvCfg := buildConfig(cfg, sqlCfg, ports)
	muted := &atomic.Bool{}
	logger := serverLogger{out: cfg.Logger.With("component", "temporal-server"), min: cfg.LogLevel, muted: muted}
	dyn := dynamicconfig.StaticClient{
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		// One process, one worker: task queue partitions only add hops
		// (a task lands in one partition while the poller waits on another).
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  []dynamicconfig.ConstrainedValue{{Value: 1}},
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): []dynamicconfig.ConstrainedValue{{Value: 1}},
	}
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

// Stop stops the UI and the server.
func (s *Server) Stop() error {
	s.muted.Store(true)
	if s.ui != nil {
		s.ui.Stop()
	}
	return s.temporal.Stop()
}

func buildConfig(cfg Config, sqlCfg *config.SQL, ports servicePortSet) *config.Config {
	services := map[string]config.Service{}
	for _, name := range serviceNames {
		p := ports[name]
		services[name] = config.Service{RPC: config.RPC{GRPCPort: p.GRPC, MembershipPort: p.Membership, BindOnIP: cfg.IP}}
	}
	frontend := net.JoinHostPort(cfg.IP, strconv.Itoa(cfg.FrontendPort))
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: cfg.IP},
		},
		Persistence: config.Persistence{
			DefaultStore:     sqliteplugin.PluginName,
			VisibilityStore:  sqliteplugin.PluginName,
			NumHistoryShards: 1,
			DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
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

func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
