package devserver

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// quietHandler passes on only records at or above min: the embedded server is
// chatty at INFO, and `herald dev` should show Herald's own logs. min can be
// raised while running (Stop does, as shutting down makes the server's
// internal pollers warn about every connection it closes).
type quietHandler struct {
	next slog.Handler
	min  slog.Leveler
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.next.Enabled(ctx, l)
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{next: h.next.WithAttrs(attrs), min: h.min}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{next: h.next.WithGroup(name), min: h.min}
}

// quiet returns l restricted to records at min and above.
func quiet(l *slog.Logger, min slog.Leveler) *slog.Logger {
	return slog.New(quietHandler{next: l.Handler(), min: min})
}

// serverLogger adapts a *slog.Logger to the Temporal server's log.Logger.
// Temporal's tags become slog attributes. DPanic and Panic are logged as errors
// (Panic then panics, as the server expects); Fatal logs and exits like the
// server's own zap logger does.
type serverLogger struct {
	l *slog.Logger
	// with are the tags of With, turned into attributes only when a record
	// is logged: the server calls With on hot paths (per task, per
	// workflow) and almost every record is below the level and dropped.
	with []tag.Tag
}

var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
)

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
}

func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}

func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	os.Exit(1)
}

// With returns a logger that adds tags to every record.
func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	if len(tags) == 0 {
		return s
	}
	// Clip, so that two loggers made from s never share a backing array.
	return serverLogger{l: s.l, with: append(slices.Clip(s.with), tags...)}
}

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if !s.l.Enabled(ctx, level) {
		return // skip converting tags for records that are dropped anyway
	}
	if level > slog.LevelInfo && canceled(tags) {
		// A client giving up on a call (a worker stopping its long polls)
		// makes the server log errors; they are not the server's.
		level = slog.LevelInfo
		if !s.l.Enabled(ctx, level) {
			return
		}
	}
	s.l.Log(ctx, level, msg, append(tagArgs(s.with), tagArgs(tags)...)...)
}

// canceled reports whether a tag carries an error caused by a canceled context.
// The server often flattens the cause into its own error's text, hence the
// check of the text too.
func canceled(tags []tag.Tag) bool {
	for _, t := range tags {
		zt, ok := t.(tag.ZapTag)
		if !ok {
			continue
		}
		if err, ok := zt.Field().Interface.(error); ok && err != nil &&
			(errors.Is(err, context.Canceled) || strings.Contains(err.Error(), context.Canceled.Error())) {
			return true
		}
	}
	return false
}

func tagArgs(tags []tag.Tag) []any {
	args := make([]any, 0, len(tags))
	for _, t := range tags {
		args = append(args, slog.Any(t.Key(), t.Value()))
	}
	return args
}
