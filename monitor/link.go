package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Causes the link gives the calls it ends.
const (
	// CauseLinkLost: the link stayed down longer than the grace period.
	CauseLinkLost = "link lost"
	// CauseEndedWhileDisconnected: the resync after a reconnect found the
	// call gone from the PBX.
	CauseEndedWhileDisconnected = "ended while disconnected"
	// CauseStopped: Switchboard stopped watching the source.
	CauseStopped = "monitor stopped"
)

// EndedWhileDisconnected is how a resync ends a call the PBX no longer
// has: its real end went unseen, so it is failed rather than guessed.
var EndedWhileDisconnected = Ending{Reason: ReasonFailed, Cause: CauseEndedWhileDisconnected}

// Protocol is what a networked source gives its Link: how to open a
// session with the PBX, and how to end the calls it tracks. Each source
// package (monitor/fritz, monitor/ami, monitor/esl) implements it; the
// Link owns everything else (reconnect, backoff, status, the lost-link
// rule).
type Protocol interface {
	// Connect dials the PBX and logs in. ctx bounds it (the link's dial
	// timeout) and ends it when the source stops.
	Connect(ctx context.Context) (Session, error)
	// EndCalls ends every active call with e and forgets the protocol
	// state behind them: the link stayed down longer than the grace
	// period, or the source stops. It returns how many ended.
	EndCalls(e Ending) int
}

// Session is one logged-in connection to a PBX.
type Session interface {
	// Follow hands the PBX's events to the tracker until the link fails,
	// its liveness check fails (AMI Ping, ESL heartbeat, Fritz read
	// deadline and probe) or ctx ends, and returns why.
	Follow(ctx context.Context) error
	// Close ends the session. It is idempotent and safe to call while
	// Follow runs: the link closes a session whose ctx ended.
	Close() error
}

// Resyncer is a Session that can list the PBX's calls. Resync runs after
// every connect, before Follow: it ends, with EndedWhileDisconnected,
// the calls the PBX no longer has, brings calls still up to their present
// state and starts those it has not seen. A session without it (the
// Fritz!Box call monitor cannot list calls) keeps the calls as they are.
type Resyncer interface {
	Resync(ctx context.Context) error
}

// LinkInfo is what a link's status says of its source.
type LinkInfo struct {
	Name SourceName
	// Type is the configured type (fritz, ami, esl).
	Type string
	// Actions are the call-control actions the source offers.
	Actions []Action
}

// Link is the connection loop every networked source shares: connect
// and log in, resync, follow; reconnect with capped, jittered backoff
// that starts over after a session that stayed up; the source's status
// published on every change and never twice the same; and one rule for
// the calls of a lost link: they are kept for LinkConfig.LinkGrace, a
// reconnect within it reconciles them (Resyncer), and a link down longer
// ends them as failed "link lost", so no wallboard shows a call forever.
type Link struct {
	info     LinkInfo
	cfg      LinkConfig
	log      *slog.Logger
	counters *Counters
	now      func() time.Time
	backoff  func(failures int) time.Duration
	onRetry  func(err error, wait time.Duration)
}

// LinkOption sets a rare knob of a Link.
type LinkOption func(*Link)

// WithLinkLogger sets the logger. Default: discard.
func WithLinkLogger(l *slog.Logger) LinkOption { return func(k *Link) { k.log = l } }

// WithLinkCounters sets the totals reconnects are added to (the hub's
// Counters(name)). Default: private counters nobody reads.
func WithLinkCounters(c *Counters) LinkOption { return func(k *Link) { k.counters = c } }

// WithLinkClock replaces time.Now for status times and session lengths.
func WithLinkClock(now func() time.Time) LinkOption { return func(k *Link) { k.now = now } }

// OnRetry sets fn, called on the link's goroutine before every wait for a
// reconnect with why the link is down and how long it waits (the
// fritzmonitor command prints it).
func OnRetry(fn func(err error, wait time.Duration)) LinkOption {
	return func(k *Link) { k.onRetry = fn }
}

// NewLink returns a link for the source info describes; cfg is validated
// and its defaults filled in, port being the source's default port.
func NewLink(info LinkInfo, cfg LinkConfig, port string, opts ...LinkOption) (*Link, error) {
	if err := cfg.Validate(port); err != nil {
		return nil, err
	}
	l := &Link{info: info, cfg: cfg.WithDefaults(port), now: time.Now}
	for _, o := range opts {
		o(l)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.counters == nil {
		l.counters = new(Counters)
	}
	l.backoff = func(n int) time.Duration { return Backoff(l.cfg.ReconnectMin, l.cfg.ReconnectMax, n) }
	return l, nil
}

// Config returns the configuration in effect, defaults filled in.
func (l *Link) Config() LinkConfig { return l.cfg }

// linkRun is one Run's state, owned by its goroutine.
type linkRun struct {
	l     *Link
	sink  Sink
	p     Protocol
	last  SourceStatus
	grace *time.Timer // runs while the calls of a lost link are kept
}

// Run keeps the link to the PBX until ctx ends, handing sessions their
// events, and returns nil then, after ending the remaining calls
// (CauseStopped) and publishing LinkStopped. It returns promptly on
// cancel whether it is dialling, following or waiting to reconnect.
func (l *Link) Run(ctx context.Context, sink Sink, p Protocol) error {
	r := &linkRun{l: l, sink: sink, p: p}
	defer r.stopGrace()
	r.status(LinkConnecting, nil)
	failures := 0
	for attempt := 1; ctx.Err() == nil; attempt++ {
		if attempt > 1 {
			l.counters.Reconnects.Add(1)
		}
		followed, up, err := r.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if up {
			if followed >= l.cfg.ReconnectMax {
				// The link worked: the next failure starts the backoff
				// over. A PBX that takes the login and drops the link at
				// once keeps backing off, not hammered at ReconnectMin.
				failures = 0
			}
			r.startGrace()
		}
		if err == nil {
			err = errors.New("session ended")
		}
		wait := l.backoff(failures)
		failures++
		if r.last.State != LinkDown {
			l.log.Warn("link down", "error", err, "retry", wait)
		} else {
			l.log.Debug("still down", "error", err, "retry", wait, "attempt", attempt)
		}
		r.status(LinkDown, err)
		if l.onRetry != nil {
			l.onRetry(err, wait)
		}
		if !r.wait(ctx, wait) {
			break
		}
	}
	if n := p.EndCalls(Ending{Reason: ReasonFailed, Cause: CauseStopped}); n > 0 {
		l.log.Info("ended calls at stop", "calls", n)
	}
	r.status(LinkStopped, nil)
	return nil
}

// session runs one connection: connect, resync, follow. up says whether
// it got as far as following, followed for how long.
func (r *linkRun) session(ctx context.Context) (followed time.Duration, up bool, err error) {
	l := r.l
	cctx, cancel := context.WithTimeout(ctx, l.cfg.DialTimeout)
	defer cancel()
	s, err := r.p.Connect(cctx)
	r.checkGrace()
	if err != nil {
		return 0, false, err
	}
	defer s.Close()
	// A session that missed ctx in some blocking read still ends.
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	if rs, ok := s.(Resyncer); ok {
		r.status(LinkResyncing, nil)
		err := rs.Resync(cctx)
		r.checkGrace()
		if err != nil {
			return 0, false, fmt.Errorf("resync: %w", err)
		}
	}
	// The calls are reconciled (or, without a resync, followed again):
	// the grace period of the lost link is over.
	r.stopGrace()
	cancel()
	r.status(LinkConnected, nil)
	l.log.Info("connected", "address", l.cfg.Address)
	start := l.now()
	err = s.Follow(ctx)
	return l.now().Sub(start), true, err
}

// wait waits d before the next attempt, ending the calls if the grace
// period runs out meanwhile. It returns false when ctx ended.
func (r *linkRun) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		var graceC <-chan time.Time
		if r.grace != nil {
			graceC = r.grace.C
		}
		select {
		case <-ctx.Done():
			return false
		case <-graceC:
			r.grace = nil
			r.endLost()
		case <-t.C:
			return true
		}
	}
}

// startGrace starts the grace period of a link just lost, unless one
// runs already (the link was lost before and no session got up since).
func (r *linkRun) startGrace() {
	if r.grace == nil {
		r.grace = time.NewTimer(r.l.cfg.LinkGrace)
	}
}

func (r *linkRun) stopGrace() {
	if r.grace != nil {
		r.grace.Stop()
		r.grace = nil
	}
}

// checkGrace ends the calls if the grace period ran out while the link
// was connecting: at most one dial timeout after it did.
func (r *linkRun) checkGrace() {
	if r.grace == nil {
		return
	}
	select {
	case <-r.grace.C:
		r.grace = nil
		r.endLost()
	default:
	}
}

func (r *linkRun) endLost() {
	if n := r.p.EndCalls(Ending{Reason: ReasonFailed, Cause: CauseLinkLost}); n > 0 {
		r.l.log.Info("ended the calls of a link down longer than its grace period", "calls", n, "grace", r.l.cfg.LinkGrace)
	}
}

// status publishes a change of state. The same state with the same error
// is not published again; a link that is down stays down while it
// retries (it does not flicker to connecting), keeps the time it went
// down and shows the latest error.
func (r *linkRun) status(st LinkState, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if st == LinkConnecting && r.last.State == LinkDown {
		return
	}
	if st == r.last.State && msg == r.last.Error {
		return
	}
	ss := SourceStatus{Name: r.l.info.Name, Type: r.l.info.Type, State: st, Address: r.l.cfg.Address,
		Error: msg, Since: r.l.now(), Actions: r.l.info.Actions}
	if st == r.last.State {
		ss.Since = r.last.Since
	}
	r.last = ss
	r.sink.SourceStatus(ss)
}
