package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger sends the embedded server's logs to slog at or above a
// minimum level, and goes quiet once shutdown starts (the server's
// components report each other's disappearance loudly while stopping).
type serverLogger struct {
	out   *slog.Logger
	min   slog.Level
	muted *atomic.Bool
	// starting is true until the frontend serves: meanwhile the server's
	// own services report "Frontend is not healthy yet" to each other,
	// which is the start, not a problem.
	starting *atomic.Bool
	tags     []tag.Tag
}

var _ log.Logger = serverLogger{}

// expected are warnings of the embedded server that describe Herald's
// setup rather than a problem: logged at debug level, so that a normal
// start logs no warning.
var expected = []string{
	// Herald does not use Nexus, so the frontend has no HTTP API port.
	"HTTP API port has not been set. Nexus HTTP endpoints will not be available",
}

// transient are errors the embedded server reports while it settles and
// then retries on its own: logged at debug level. A history shard answers
// "shard status unknown" while it is being acquired (its queue readers
// back off and read again); a shard that cannot be acquired logs
// "Couldn't acquire shard" or "Failed to load shard", which stay errors.
var transient = []string{
	"shard status unknown",
}

func (l serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	if level >= slog.LevelWarn && l.expected(msg, tags) {
		level = slog.LevelDebug
	}
	if l.muted.Load() || level < l.min {
		return
	}
	attrs := make([]any, 0, 2*(len(l.tags)+len(tags)))
	for _, t := range append(append([]tag.Tag(nil), l.tags...), tags...) {
		attrs = append(attrs, t.Key(), fmt.Sprint(t.Value()))
	}
	l.out.Log(context.Background(), level, msg, attrs...)
}

// expected reports a warning or error that is part of a normal start.
func (l serverLogger) expected(msg string, tags []tag.Tag) bool {
	for _, e := range expected {
		if strings.HasPrefix(msg, e) {
			return true
		}
	}
	starting := l.starting != nil && l.starting.Load()
	for _, t := range append(append([]tag.Tag(nil), l.tags...), tags...) {
		v := fmt.Sprint(t.Value())
		if starting && strings.Contains(v, notHealthyYet) {
			return true
		}
		for _, e := range transient {
			if t.Key() == "error" && v == e {
				return true
			}
		}
	}
	return false
}

// notHealthyYet is the frontend's answer before it serves.
const notHealthyYet = "Frontend is not healthy yet"

func (l serverLogger) Debug(msg string, tags ...tag.Tag) { l.emit(slog.LevelDebug, msg, tags) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)  { l.emit(slog.LevelInfo, msg, tags) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag)  { l.emit(slog.LevelWarn, msg, tags) }
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) {
	l.emit(slog.LevelError, msg, tags)
}
func (l serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.emit(slog.LevelError, msg, tags)
	panic(msg)
}
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.emit(slog.LevelError, msg, tags)
	os.Exit(1)
}

// With returns a logger with tags prepended.
func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	l.tags = append(append([]tag.Tag(nil), l.tags...), tags...)
	return l
}
