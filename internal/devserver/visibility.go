package devserver

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"go.temporal.io/server/common/persistence"
	temporalschema "go.temporal.io/server/schema"
)

// VisibilityDatabaseFile is the SQLite file of the visibility store in
// DataDir when it is kept apart from DatabaseFile.
const VisibilityDatabaseFile = "visibility.db"

// Where the visibility store (the list of workflows: ListWorkflowExecutions,
// the Web UI's list, search attributes) lives.
const (
	// VisibilityCombined keeps it in temporal.db, on the one connection all
	// services share (the behaviour before the setting existed).
	VisibilityCombined = "combined"
	// VisibilitySeparate keeps it in visibility.db, with its own connection.
	// A data dir whose temporal.db has no visibility.db beside it gets one
	// at start, filled with a copy of the list in temporal.db.
	VisibilitySeparate = "separate"
	// VisibilityAuto is separate for a new data dir (and one that already
	// has visibility.db) and combined for a data dir created before
	// visibility.db existed, which keeps its list where it is.
	VisibilityAuto = "auto"
)

// visibilitySchemaPath is the visibility-only schema of the SQLite plugin
// in the server's embedded schema files (sqliteschema.SetupSchema always
// creates the main and the visibility tables together).
const visibilitySchemaPath = "sqlite/v3/visibility/schema.sql"

// visibilityPlan is where the visibility store of one start lives.
type visibilityPlan struct {
	separate bool
	// migrate: create visibility.db with a copy of temporal.db's list.
	migrate bool
}

// planVisibility decides, from the mode and the files present, whether the
// visibility store is separate. mainExists/visExists say whether temporal.db
// and visibility.db exist in the data dir.
func planVisibility(mode string, mainExists, visExists bool, log *slog.Logger) (visibilityPlan, error) {
	switch mode {
	case "", VisibilityCombined:
		if visExists {
			log.Warn("the visibility store is combined but "+VisibilityDatabaseFile+" exists: the workflow list comes from "+
				DatabaseFile+" and misses the workflows recorded only in "+VisibilityDatabaseFile,
				"hint", "set HERALD_ENGINE_VISIBILITY_STORE=separate (or auto) to use "+VisibilityDatabaseFile)
		}
		return visibilityPlan{}, nil
	case VisibilitySeparate:
		return visibilityPlan{separate: true, migrate: mainExists && !visExists}, nil
	case VisibilityAuto:
		if mainExists && !visExists {
			log.Info("the data dir predates the separate visibility store: keeping the workflow list in "+DatabaseFile,
				"hint", "set HERALD_ENGINE_VISIBILITY_STORE=separate to move it to "+VisibilityDatabaseFile+" (copied once, at start)")
			return visibilityPlan{}, nil
		}
		return visibilityPlan{separate: true}, nil
	default:
		return visibilityPlan{}, fmt.Errorf("visibility store %q: want %s, %s or %s", mode, VisibilityCombined, VisibilitySeparate, VisibilityAuto)
	}
}

func fileExists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check %s: %w", path, err)
	}
	return true, nil
}

// removeStore removes a SQLite database and the files SQLite keeps beside it.
func removeStore(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

// createVisibilityStore creates the visibility database at path and, when
// from is set, copies the workflow list of the database at from (a
// temporal.db of the combined layout) into it. It builds the file beside
// path and renames it into place when complete, so a crash never leaves a
// half-made visibility.db behind (the next start just does it again). It
// returns the number of workflow executions copied.
func createVisibilityStore(ctx context.Context, path, from string) (int64, error) {
	stmts, err := visibilitySchema()
	if err != nil {
		return 0, err
	}
	tmp := path + ".tmp"
	if err := removeStore(tmp); err != nil {
		return 0, err
	}
	// A rollback journal (the default) while building: nothing but the
	// database file is left once it is closed, so the rename moves all of it.
	db, err := sql.Open("sqlite", "file:"+tmp+"?mode=rwc&_pragma=busy_timeout%3D10000")
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	// ATTACH applies to one connection.
	db.SetMaxOpenConns(1)
	copied, err := func() (int64, error) {
		defer db.Close()
		for _, stmt := range stmts {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return 0, fmt.Errorf("set up visibility schema in %s: %q: %w", tmp, stmt, err)
			}
		}
		if from == "" {
			return 0, nil
		}
		return copyVisibility(ctx, db, from)
	}()
	if err != nil {
		_ = removeStore(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = removeStore(tmp)
		return 0, fmt.Errorf("move %s into place: %w", path, err)
	}
	return copied, nil
}

func visibilitySchema() ([]string, error) {
	b, err := fs.ReadFile(temporalschema.Assets(), visibilitySchemaPath)
	if err != nil {
		return nil, fmt.Errorf("sqlite visibility schema: %w", err)
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(b)})
	if err != nil {
		return nil, fmt.Errorf("sqlite visibility schema: %w", err)
	}
	return stmts, nil
}

// copyVisibility copies the rows of executions_visibility of the database
// at from into the one of db (the stored columns they have in common; the
// generated search attribute columns are computed again).
func copyVisibility(ctx context.Context, db *sql.DB, from string) (int64, error) {
	if _, err := db.ExecContext(ctx, "ATTACH DATABASE ? AS src", from); err != nil {
		return 0, fmt.Errorf("open %s: %w", from, err)
	}
	defer func() { _, _ = db.ExecContext(context.Background(), "DETACH DATABASE src") }()
	dst, err := storedColumns(ctx, db, "main")
	if err != nil {
		return 0, err
	}
	src, err := storedColumns(ctx, db, "src")
	if err != nil {
		return 0, err
	}
	if len(src) == 0 { // no visibility table in the old database: nothing to keep
		return 0, nil
	}
	var cols []string
	for _, c := range dst {
		if slices.Contains(src, c) {
			cols = append(cols, `"`+c+`"`)
		}
	}
	list := strings.Join(cols, ", ")
	res, err := db.ExecContext(ctx, "INSERT INTO main.executions_visibility ("+list+") SELECT "+list+" FROM src.executions_visibility")
	if err != nil {
		return 0, fmt.Errorf("copy the workflow list of %s: %w", from, err)
	}
	return res.RowsAffected()
}

// storedColumns lists the columns of schema.executions_visibility that hold
// data (not generated ones); none when the table does not exist.
func storedColumns(ctx context.Context, db *sql.DB, schema string) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT name, hidden FROM pragma_table_xinfo('executions_visibility', ?)", schema)
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s.executions_visibility: %w", schema, err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var name string
		var hidden int
		if err := rows.Scan(&name, &hidden); err != nil {
			return nil, err
		}
		if hidden == 0 { // 2 and 3 are generated columns
			cols = append(cols, name)
		}
	}
	return cols, rows.Err()
}

// migrateTimeout bounds the copy of the workflow list into visibility.db.
const migrateTimeout = 10 * time.Minute
