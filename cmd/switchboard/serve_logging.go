package main

import (
	"io"
	"log/slog"
	"os"
)

// newLogger returns the process logger: text on stderr at level.
func newLogger(level slog.Level) *slog.Logger { return newLoggerTo(os.Stderr, level) }

// newLoggerTo returns a text logger on w at level.
//
// Each attribute is added once: web, gateway and sipbridge name their
// component themselves, so serve hands them its logger bare; the history
// and the webhooks, which do not, get theirs from serve; every source
// gets component and source from buildSource, and the source packages
// add neither.
func newLoggerTo(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
