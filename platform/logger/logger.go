// Package logger builds the JSON slog logger every Switchboard binary writes
// to stderr.
package logger

import (
	"fmt"
	"io"
	"log/slog"
)

// New returns a JSON logger writing to w at level ("debug", "info", "warn"
// or "error").
func New(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}
