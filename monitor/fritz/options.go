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
	keys     monitor.KeyAllocator
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
	if o.keys == nil {
		o.keys = monitor.NewSequence("")
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

// WithKeys sets where the tracker gets the keys of new calls (see
// monitor.KeyAllocator): the server passes the history, whose keys stay
// unique across restarts. Default: a monitor.Sequence of the source's (or
// the replay's) own, whose keys are unique while it runs.
func WithKeys(k monitor.KeyAllocator) Option { return func(o *options) { o.keys = k } }
