package target

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/herald-alerts/herald/internal/metrics"
)

// The targets file in herald_discovery_errors_total: its source label and
// the reasons OnError is called with.
const (
	FileErrorSource   = "file"
	ReasonReadError   = "read_error"
	ReasonInvalidFile = "invalid_file"
)

// FileSource reads targets from a JSON or YAML file and reloads it when its
// content changes (checked every PollInterval).
type FileSource struct {
	Path         string
	PollInterval time.Duration
	Logger       *slog.Logger
	// OnError is called when the file cannot be read or parsed (optional).
	OnError func(reason string, err error)
}

// Name identifies the source in the registry.
func (f *FileSource) Name() string { return "file:" + f.Path }

// InitMetrics creates the file's series of herald_discovery_errors_total
// (source "file") at zero, so that they exist from the start. OnError is
// what counts them.
func (f *FileSource) InitMetrics(m *metrics.Metrics) {
	if m != nil {
		m.InitDiscoveryErrors(FileErrorSource, ReasonReadError, ReasonInvalidFile)
	}
}

// Load reads and parses the file once.
func (f *FileSource) Load() ([]Target, []Problem, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, nil, fmt.Errorf("read targets file: %w", err)
	}
	return ParseList(data, f.Name())
}

// Run loads the file into sink and keeps reloading it on change. A file that
// becomes unreadable or malformed keeps the last good set in place; the
// failure is logged and reported to OnError once per distinct error, not on
// every poll.
func (f *FileSource) Run(ctx context.Context, sink Sink) error {
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	interval := f.PollInterval
	if interval <= 0 {
		interval = 2 * time.Second
	}
	var (
		last    []byte
		loaded  bool
		lastErr string
	)
	reload := func() (reason string, err error) {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return ReasonReadError, fmt.Errorf("read targets file: %w", err)
		}
		if loaded && bytes.Equal(data, last) {
			return "", nil
		}
		targets, problems, err := ParseList(data, f.Name())
		if err != nil {
			return ReasonInvalidFile, err
		}
		for _, p := range problems {
			log.Warn("target skipped", "origin", p.Origin, "target", p.Target, "reason", p.Reason, "error", p.Message)
		}
		last, loaded = data, true
		sink.Update(f.Name(), targets, problems)
		log.Info("targets loaded", "source", f.Name(), "targets", len(targets), "skipped", len(problems))
		return "", nil
	}
	if reason, err := reload(); err != nil {
		f.reportError(reason, err)
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			reason, err := reload()
			if err == nil {
				lastErr = ""
				continue
			}
			if err.Error() == lastErr {
				continue
			}
			lastErr = err.Error()
			f.reportError(reason, err)
			log.Error("targets file not reloaded; keeping the previous targets", "source", f.Name(), "reason", reason, "error", err)
		}
	}
}

func (f *FileSource) reportError(reason string, err error) {
	if f.OnError != nil {
		f.OnError(reason, err)
	}
}
