package monitor

import "log/slog"

// SourceOptions are the knobs the AMI and ESL source packages take; their
// Option is a SourceOption.
type SourceOptions struct {
	// Log is the logger. Default: slog.Default().
	Log *slog.Logger
	// Counters are the totals the source adds to (the hub's
	// Counters(name)). Default: private counters nobody reads.
	Counters *Counters
}

// SourceOption sets one of the SourceOptions.
type SourceOption func(*SourceOptions)

// WithSourceLogger sets the logger.
func WithSourceLogger(l *slog.Logger) SourceOption { return func(o *SourceOptions) { o.Log = l } }

// WithSourceCounters sets where events, parse errors and reconnects are
// counted.
func WithSourceCounters(c *Counters) SourceOption {
	return func(o *SourceOptions) { o.Counters = c }
}

// NewSourceOptions applies opts to the defaults.
func NewSourceOptions(opts ...SourceOption) SourceOptions {
	o := SourceOptions{Log: slog.Default(), Counters: new(Counters)}
	for _, f := range opts {
		f(&o)
	}
	return o
}
