package fritz

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Source watches one Fritz!Box call monitor. It implements monitor.Source.
type Source struct {
	cfg  Config
	loc  *time.Location
	o    options
	raw  []Option
	link *monitor.Link
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
	o := newOptions(opts)
	// The logger names the component and the source already (the
	// caller adds them); the link logs the address it connects to.
	link, err := monitor.NewLink(monitor.LinkInfo{Name: cfg.Name, Type: "fritz"}, cfg.LinkConfig, DefaultPort,
		monitor.WithLinkLogger(o.log), monitor.WithLinkCounters(o.counters), monitor.WithLinkClock(o.now))
	if err != nil {
		return nil, fmt.Errorf("fritz source %s: %w", cfg.Name, err)
	}
	return &Source{cfg: cfg, loc: loc, o: o, raw: opts, link: link}, nil
}

// Name returns the configured name.
func (s *Source) Name() monitor.SourceName { return s.cfg.Name }

// Config returns the configuration in effect, defaults filled in.
func (s *Source) Config() Config { return s.cfg }

// Run follows the router until ctx ends and returns nil then. It
// publishes the source's status on every change (connecting, connected,
// down with the error) and every call change to sink.
//
// A lost link keeps its calls for the grace period (link_grace): the
// router sends every event to each connection open at the time, so a
// DISCONNECT that comes after the reconnect ends its call as usual. The
// call monitor cannot list calls, so nothing can be resynced: a call
// whose DISCONNECT fell into the gap ends, as failed "ended while
// disconnected", once the router reuses its connection id for a new
// call (it hands out the ids of ended calls again, from 0). A link down
// longer than the grace period ends every call as failed "link lost":
// whether they are still up can no longer be known.
func (s *Source) Run(ctx context.Context, sink monitor.Sink) error {
	// Every run's tracker takes its keys from the source's one allocator,
	// so a second Run never hands out a key again.
	tr := NewTracker(s.cfg.Name, sink, s.loc, s.cfg.InternalPrefixes, append(s.raw, WithKeys(s.o.keys))...)
	p := &lineProtocol{
		cfg:       s.cfg,
		dialer:    s.o.dialerFor(s.cfg),
		onLine:    func(line []byte) { _ = tr.Handle(line) },
		bad:       tr.bad,
		connected: tr.carryOver,
		endCalls:  tr.endCalls,
	}
	return s.link.Run(ctx, sink, p)
}
