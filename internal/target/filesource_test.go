package target_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herald-alerts/herald/internal/target"
)

// fsErrors records OnError calls.
type fsErrors struct {
	mu      sync.Mutex
	reasons []string
}

func (e *fsErrors) record(reason string, _ error) {
	e.mu.Lock()
	e.reasons = append(e.reasons, reason)
	e.mu.Unlock()
}

func (e *fsErrors) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.reasons...)
}

type fsLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *fsLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *fsLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func fsWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fsWrite(t *testing.T, path, data string) {
	t.Helper()
	// Write next to the file and rename, as a ConfigMap volume or an editor
	// does, so the source never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// fsRun starts src and returns the registry it feeds; the source stops at
// the end of the test.
func fsRun(t *testing.T, src *target.FileSource) (*target.Registry, <-chan error) {
	t.Helper()
	reg := target.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, reg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("file source did not stop")
		}
	})
	return reg, done
}

func TestFileSourceReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.yaml")
	fsWrite(t, path, "- {name: a, type: webhook, url: 'https://example.com/a'}\n")
	errs := &fsErrors{}
	logs := &fsLog{}
	src := &target.FileSource{Path: path, PollInterval: 5 * time.Millisecond, OnError: errs.record,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	if src.Name() != "file:"+path {
		t.Errorf("name = %q", src.Name())
	}
	reg, _ := fsRun(t, src)
	fsWaitFor(t, "first load", func() bool { _, ok := reg.Get("a"); return ok })
	a, _ := reg.Get("a")
	if a.Origin != "file:"+path+"#0" {
		t.Errorf("origin = %q", a.Origin)
	}

	// A change: a replaced by b (JSON this time), c added disabled.
	fsWrite(t, path, `[{"name": "b", "type": "webhook", "url": "https://example.com/b"},
	                   {"name": "c", "type": "webhook", "url": "https://example.com/c", "enabled": false}]`)
	fsWaitFor(t, "reload", func() bool { _, ok := reg.Get("b"); return ok })
	if _, ok := reg.Get("a"); ok {
		t.Errorf("a still present after it was removed from the file")
	}
	if n := len(reg.Enabled()); n != 1 {
		t.Errorf("%d enabled targets, want 1", n)
	}

	// A broken file keeps the previous set and is reported once, however
	// many polls see it.
	gen := reg.Snapshot().Generation
	fsWrite(t, path, "- name: b\n  type: [webhook\n")
	fsWaitFor(t, "error report", func() bool { return len(errs.list()) > 0 })
	time.Sleep(50 * time.Millisecond) // ten more polls of the same broken file
	if got := errs.list(); len(got) != 1 || got[0] != "invalid_file" {
		t.Errorf("OnError calls = %v, want one invalid_file", got)
	}
	if n := strings.Count(logs.String(), "targets file not reloaded"); n != 1 {
		t.Errorf("logged the broken file %d times, want once", n)
	}
	if got := reg.Snapshot().Generation; got != gen {
		t.Errorf("registry changed (generation %d -> %d) on a broken file", gen, got)
	}
	if _, ok := reg.Get("b"); !ok {
		t.Errorf("previous targets lost on a broken file")
	}

	// The file disappears: another kind of error, reported once.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	fsWaitFor(t, "read error", func() bool { return len(errs.list()) == 2 })
	if got := errs.list(); got[1] != "read_error" {
		t.Errorf("OnError calls = %v", got)
	}

	// Fixed: reloads, and a later break is reported again.
	fsWrite(t, path, "- {name: d, type: webhook, url: 'https://example.com/d'}\n")
	fsWaitFor(t, "recovery", func() bool { _, ok := reg.Get("d"); return ok })
	fsWrite(t, path, "{")
	fsWaitFor(t, "second break", func() bool { return len(errs.list()) == 3 })
}

func TestFileSourceReportsSkippedEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "targets.json")
	fsWrite(t, path, `[{"name": "a", "type": "webhook", "url": "https://example.com"},
	                   {"name": "a", "type": "slack", "url": "https://hooks.slack.com/x"},
	                   {"name": "b", "type": "pagerduty"}]`)
	reg, _ := fsRun(t, &target.FileSource{Path: path, PollInterval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	fsWaitFor(t, "load", func() bool { _, ok := reg.Get("a"); return ok })
	snap := reg.Snapshot()
	if len(snap.List()) != 1 || len(snap.Problems) != 2 {
		t.Fatalf("targets %v problems %+v", snap.List(), snap.Problems)
	}
	if p := snap.Problems[0]; p.Reason != "duplicate_name" || p.Origin != "file:"+path+"#1" {
		t.Errorf("duplicate problem = %+v", p)
	}
	if p := snap.Problems[1]; p.Reason != "invalid_target" || p.Target != "b" {
		t.Errorf("invalid problem = %+v", p)
	}
	if _, ok := snap.Synced["file:"+path]; !ok {
		t.Errorf("no sync time for the file source: %v", snap.Synced)
	}
}

func TestFileSourceMissingAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	errs := &fsErrors{}
	src := &target.FileSource{Path: path, OnError: errs.record, Logger: slog.New(slog.DiscardHandler)}
	err := src.Run(context.Background(), target.NewRegistry())
	if err == nil || !strings.Contains(err.Error(), "read targets file") {
		t.Fatalf("Run = %v, want a read error", err)
	}
	if got := errs.list(); len(got) != 1 || got[0] != "read_error" {
		t.Errorf("OnError calls = %v", got)
	}
	if _, _, err := src.Load(); err == nil {
		t.Errorf("Load of a missing file succeeded")
	}
}
