package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
)

// newLogger returns the process logger: text on stderr at level.
func newLogger(level slog.Level) *slog.Logger { return newLoggerTo(os.Stderr, level) }

// newLoggerTo returns a text logger on w at level whose lines carry each
// attribute once (see onceHandler).
//
// Our own parts add each attribute in one place: web, gateway and
// sipbridge name their component themselves, so serve hands them its
// logger bare; the history and the webhooks, which do not, get theirs
// from serve; every source gets component and source from buildSource,
// and the source packages add neither. The libraries below them are
// another matter (sipgo names its caller at every layer), hence the
// handler.
func newLoggerTo(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(&onceHandler{next: slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})})
}

// onceHandler passes records on with each attribute key once: an
// attribute added again, by With or in the record, replaces the earlier
// one in its place (the later one is the more specific: sipgo's
// caller=TransportLayer, then caller=Transport<UDP>). Attributes added
// before a group are handed to next before it, and kept apart from those
// after.
type onceHandler struct {
	next  slog.Handler
	attrs []slog.Attr
}

func (h *onceHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *onceHandler) Handle(ctx context.Context, r slog.Record) error {
	attrs := slices.Clone(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		attrs = setAttr(attrs, a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(attrs...)
	return h.next.Handle(ctx, out)
}

func (h *onceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	attrs := slices.Clone(h.attrs)
	for _, a := range as {
		attrs = setAttr(attrs, a)
	}
	return &onceHandler{next: h.next, attrs: attrs}
}

func (h *onceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &onceHandler{next: h.next.WithAttrs(h.attrs).WithGroup(name)}
}

// setAttr sets a in attrs: in the place of an attribute of its key, or
// at the end.
func setAttr(attrs []slog.Attr, a slog.Attr) []slog.Attr {
	if a.Equal(slog.Attr{}) {
		return attrs // slog drops empty attributes
	}
	for i := range attrs {
		if attrs[i].Key == a.Key {
			attrs[i] = a
			return attrs
		}
	}
	return append(attrs, a)
}
