package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
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
	tags  []tag.Tag
}

var _ log.Logger = serverLogger{}

func (l serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	if l.muted.Load() || level < l.min {
		return
	}
	attrs := make([]any, 0, 2*(len(l.tags)+len(tags)))
	for _, t := range append(append([]tag.Tag(nil), l.tags...), tags...) {
		attrs = append(attrs, t.Key(), fmt.Sprint(t.Value()))
	}
	l.out.Log(context.Background(), level, msg, attrs...)
}

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
