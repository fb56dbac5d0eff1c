package fritz

import (
	"log/slog"
	"net"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Option sets a rare knob of a Source, Demo or Tracker.
type Option func(*options)

type options struct {
	log      *slog.Logger
	counters *monitor.Counters
	now      func() time.Time
	dialer   *net.Dialer
}

func newOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, fn := range opts {
		fn(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.counters == nil {
		o.counters = new(monitor.Counters)
	}
	return o
}

// WithLogger sets the logger. Default: discard.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithCounters sets the totals the source adds to (the hub's
// hub.Counters(name)). Default: private counters nobody reads.
func WithCounters(c *monitor.Counters) Option { return func(o *options) { o.counters = c } }

// WithClock replaces time.Now: the time of status changes, of calls ended
// because the link broke, and the Demo's pacing. For tests.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithDialer sets the dialer of the call-monitor and health-check
// connections. Default: a net.Dialer with Config.DialTimeout and
// Config.KeepAlive.
func WithDialer(d *net.Dialer) Option { return func(o *options) { o.dialer = d } }
