package fritz

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Source watches one Fritz!Box call monitor. It implements monitor.Source.
type Source struct {
	cfg Config
	loc *time.Location
	o   options
	raw []Option
}

var _ monitor.Source = (*Source)(nil)

// New returns a source for cfg. It does not connect: Run does.
func New(cfg Config, opts ...Option) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("fritz source %s: %w", cfg.Name, err)
	}
	cfg = cfg.withDefaults()
	loc, err := cfg.location()
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, loc: loc, o: newOptions(opts), raw: opts}, nil
}

// Name returns the configured name.
func (s *Source) Name() monitor.SourceName { return s.cfg.Name }

// Config returns the configuration in effect, defaults filled in.
func (s *Source) Config() Config { return s.cfg }

// Run follows the router until ctx ends and returns nil then. It publishes
// the source's status on every change (connecting, connected, down with
// the error) and every call change to sink. When the link breaks, the
// calls that were active end as failed ("link lost"): the router will not
// report their end to a new connection.
func (s *Source) Run(ctx context.Context, sink monitor.Sink) error {
	tr := NewTracker(s.cfg.Name, sink, s.loc, s.cfg.InternalPrefixes, s.raw...)
	log := s.o.log.With("component", "fritz", "source", s.cfg.Name, "address", s.cfg.Address)
	var last monitor.SourceStatus
	status := func(st monitor.LinkState, err error) {
		ss := monitor.SourceStatus{Name: s.cfg.Name, Type: "fritz", State: st, Address: s.cfg.Address, Since: s.o.now()}
		if err != nil {
			ss.Error = err.Error()
		}
		if st == last.State {
			if ss.Error == last.Error {
				return
			}
			// Still down, for another reason: down since the first.
			ss.Since = last.Since
		}
		last = ss
		sink.SourceStatus(ss)
	}
	onLink := func(ev LinkEvent) {
		switch ev.State {
		case monitor.LinkConnected:
			log.Info("fritz: connected", "attempt", ev.Attempt)
		case monitor.LinkDown:
			if n := tr.EndAll("link lost"); n > 0 {
				log.Info("fritz: ended calls of the lost link", "calls", n)
			}
			if last.State != monitor.LinkDown {
				log.Warn("fritz: link down", "error", ev.Err, "retry", ev.Retry)
			} else {
				log.Debug("fritz: still down", "error", ev.Err, "retry", ev.Retry)
			}
		case monitor.LinkConnecting:
			if last.State == monitor.LinkDown {
				// Stay "down, with the last error" while retrying: a
				// wallboard should show why, not flicker to connecting.
				return
			}
		}
		status(ev.State, ev.Err)
	}
	onLine := func(line []byte) { _ = tr.Handle(line) }
	err := Lines(ctx, s.cfg, onLine, onLink, s.raw...)
	if n := tr.EndAll("monitor stopped"); n > 0 {
		log.Info("fritz: ended calls at stop", "calls", n)
	}
	status(monitor.LinkStopped, nil)
	return err
}
