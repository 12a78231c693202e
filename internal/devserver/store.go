package devserver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DatabaseFile is the SQLite file of the embedded server in DataDir.
const DatabaseFile = "temporal.db"

// portsFile keeps the service ports of the embedded server in DataDir, so a
// restart (after a crash too) comes back on the same addresses.
const portsFile = "ports.json"

// syncAttributes sets the file store's mode, WAL journal, synchronous
// setting and busy timeout (see fileStoreAttributes).
func syncAttributes(attrs map[string]string, synchronous string) error {
	switch strings.ToLower(synchronous) {
	case "", SynchronousFull:
		synchronous = "FULL"
	case SynchronousNormal:
		synchronous = "NORMAL"
	default:
		return fmt.Errorf("sqlite synchronous %q: want %s or %s", synchronous, SynchronousFull, SynchronousNormal)
	}
	attrs["mode"] = "rwc"
	attrs["journal_mode"] = "wal"
	attrs["synchronous"] = synchronous
	attrs["busy_timeout"] = "10000"
	return nil
}

// Pragma reads one pragma of the SQLite database at path (e.g.
// journal_mode), the way an operator would check the file store.
func Pragma(ctx context.Context, path, name string) (string, error) {
	db, err := openStore(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
		return "", fmt.Errorf("read pragma %s of %s: %w", name, path, err)
	}
	return v, nil
}

func openStore(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=rw&_pragma=busy_timeout%3D10000")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return db, nil
}

// forgetMembership removes the cluster membership rows of earlier runs.
// The embedded server is the only process on its database, so every row
// belongs to a process that is gone; after a kill -9 they would make the
// new services look for peers that never answer ("Not enough hosts to
// serve the request") until the rows expire.
func forgetMembership(path string) error {
	db, err := openStore(path)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("clear stale cluster membership in %s: %w", path, err)
	}
	return nil
}

// servicePort is the gRPC and membership port of one internal service.
type servicePort struct {
	GRPC       int `json:"grpc"`
	Membership int `json:"membership"`
}

type servicePortSet map[string]servicePort

var serviceNames = []string{"frontend", "history", "matching", "worker"}

// servicePorts returns the ports of the internal services: the ones of the
// last run kept in DataDir when they are still free, else new free ports
// (which are then kept). The frontend's gRPC port is cfg.FrontendPort.
func servicePorts(cfg Config) (servicePortSet, error) {
	var kept servicePortSet
	path := ""
	if !cfg.InMemory && cfg.DataDir != "" {
		path = filepath.Join(cfg.DataDir, portsFile)
		if data, err := os.ReadFile(path); err == nil {
			_ = json.Unmarshal(data, &kept)
		}
	}
	out := servicePortSet{}
	used := map[int]bool{cfg.FrontendPort: true}
	pick := func(p int, mustCheck bool) (int, error) {
		if p != 0 && !used[p] && (!mustCheck || portFree(cfg.IP, p) == nil) {
			used[p] = true
			return p, nil
		}
		for range 20 {
			port, err := freePort(cfg.IP)
			if err != nil {
				return 0, err
			}
			if !used[port] {
				used[port] = true
				return port, nil
			}
		}
		return 0, errors.New("find a free port: the same ports keep coming back")
	}
	for _, name := range serviceNames {
		p := kept[name]
		var err error
		if name == "frontend" {
			p.GRPC = cfg.FrontendPort
		} else if p.GRPC, err = pick(p.GRPC, true); err != nil {
			return nil, err
		}
		if p.Membership, err = pick(p.Membership, true); err != nil {
			return nil, err
		}
		out[name] = p
	}
	if path != "" {
		data, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("keep service ports: %w", err)
		}
	}
	return out, nil
}
