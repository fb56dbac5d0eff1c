package main

import (
	"log/slog"
	"os"
)

// newLogger returns the process logger: text on stderr at level.
func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
