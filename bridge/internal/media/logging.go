package media

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// LoggerFactory routes the WebRTC stack's logs to log, scoped by the pion
// component. Its trace, debug and info records, which narrate every
// connection, become debug records; its warnings, routine for a trickled
// or closing connection, become info records.
func LoggerFactory(log *slog.Logger) logging.LoggerFactory {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return loggerFactory{log: log}
}

type loggerFactory struct{ log *slog.Logger }

func (f loggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return leveled{log: f.log.With("pion", scope)}
}

type leveled struct{ log *slog.Logger }

func (l leveled) logf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l leveled) Trace(msg string)                  { l.log.Debug(msg) }
func (l leveled) Tracef(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l leveled) Debug(msg string)                  { l.log.Debug(msg) }
func (l leveled) Debugf(format string, args ...any) { l.logf(slog.LevelDebug, format, args...) }
func (l leveled) Info(msg string)                   { l.log.Debug(msg) }
func (l leveled) Infof(format string, args ...any)  { l.logf(slog.LevelDebug, format, args...) }
func (l leveled) Warn(msg string)                   { l.log.Warn(msg) }
func (l leveled) Warnf(format string, args ...any)  { l.logf(slog.LevelWarn, format, args...) }
func (l leveled) Error(msg string)                  { l.log.Error(msg) }
func (l leveled) Errorf(format string, args ...any) { l.logf(slog.LevelError, format, args...) }
