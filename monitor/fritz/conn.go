package fritz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// LinkEvent is a change of the call-monitor connection Lines reports.
type LinkEvent struct {
	// State is LinkConnecting, LinkConnected or LinkDown.
	State monitor.LinkState
	// Address is the router's address.
	Address string
	// Err says why the link is down.
	Err error
	// Retry is how long Lines waits before the next attempt, when down.
	Retry time.Duration
}

// Lines connects to the call monitor at cfg.Address and calls onLine with
// every line the router sends (without its line ending; only valid during
// the call), until ctx ends. It runs on the link every source shares
// (monitor.Link): reconnect with capped backoff and jitter, and as
// liveness TCP keep-alive plus, when the stream has been silent for
// cfg.HealthInterval, a probe connection to the same port, as
// fritzconnection's FritzMonitor does (a router that rebooted or vanished
// accepts no new connection while the old socket can stay quiet
// forever). A line longer than MaxLineLength is skipped, not passed on.
// onLink, when not nil, hears every change of the link; both callbacks
// run on Lines' goroutine. Lines returns nil when ctx ends and an error
// only for an invalid cfg.
func Lines(ctx context.Context, cfg Config, onLine func(line []byte), onLink func(LinkEvent), opts ...Option) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	o := newOptions(opts)
	if onLink == nil {
		onLink = func(LinkEvent) {}
	}
	link, err := monitor.NewLink(monitor.LinkInfo{Name: cfg.Name, Type: "fritz"}, cfg.LinkConfig, DefaultPort,
		monitor.WithLinkLogger(o.log), monitor.WithLinkCounters(o.counters), monitor.WithLinkClock(o.now),
		monitor.OnRetry(func(err error, wait time.Duration) {
			onLink(LinkEvent{State: monitor.LinkDown, Address: cfg.Address, Err: err, Retry: wait})
		}))
	if err != nil {
		return err
	}
	p := &lineProtocol{cfg: cfg, dialer: o.dialerFor(cfg), onLine: onLine, bad: monitor.NewParseErrorLog(o.counters, o.log)}
	return link.Run(ctx, linkEvents{cfg.Address, onLink}, p)
}

// linkEvents turns the link's statuses into LinkEvents; LinkDown comes
// from OnRetry, which knows the wait.
type linkEvents struct {
	addr   string
	onLink func(LinkEvent)
}

func (e linkEvents) SourceStatus(s monitor.SourceStatus) {
	if s.State == monitor.LinkConnecting || s.State == monitor.LinkConnected {
		e.onLink(LinkEvent{State: s.State, Address: e.addr})
	}
}
func (linkEvents) Call(monitor.Call)           {}
func (linkEvents) UserEvent(monitor.UserEvent) {}

// dialerFor returns the dialer of the call-monitor and probe connections.
func (o options) dialerFor(cfg Config) *net.Dialer {
	if o.dialer != nil {
		return o.dialer
	}
	return &net.Dialer{
		Timeout: cfg.DialTimeout,
		// A router that vanished without a FIN is noticed by the kernel
		// after Idle + Count*Interval.
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: cfg.KeepAlive, Interval: cfg.KeepAlive / 3, Count: 3},
	}
}

// lineProtocol is the call monitor as a monitor.Protocol: it dials the
// router and reads lines. The call monitor cannot list calls, so its
// sessions do not resync.
type lineProtocol struct {
	cfg    Config
	dialer *net.Dialer
	onLine func([]byte)
	bad    *monitor.ParseErrorLog
	// connected, when set, runs after every successful dial (the Source
	// marks the calls it carries over the reconnect).
	connected func()
	// endCalls, when set, ends the tracked calls (Lines tracks none).
	endCalls func(monitor.Ending) int
}

func (p *lineProtocol) Connect(ctx context.Context) (monitor.Session, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", p.cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("fritz dial %s: %w", p.cfg.Address, err)
	}
	if p.connected != nil {
		p.connected()
	}
	return &session{p: p, conn: conn}, nil
}

func (p *lineProtocol) EndCalls(e monitor.Ending) int {
	if p.endCalls == nil {
		return 0
	}
	return p.endCalls(e)
}

// session is one call-monitor connection.
type session struct {
	p     *lineProtocol
	conn  net.Conn
	lines lineSplitter
}

// Follow reads lines until the link fails or ctx ends. A read that waits
// HealthInterval for a byte probes the router; the link is dead when the
// probe fails.
func (s *session) Follow(ctx context.Context) error {
	addr := s.p.cfg.Address
	// Closing the socket is the only way to interrupt a blocked Read.
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	buf := make([]byte, 4096)
	for {
		if err := s.conn.SetReadDeadline(time.Now().Add(s.p.cfg.HealthInterval)); err != nil {
			return fmt.Errorf("fritz read %s: %w", addr, err)
		}
		n, rerr := s.conn.Read(buf)
		s.lines.feed(buf[:n], s.p.onLine, s.p.bad.Note)
		var ne net.Error
		switch {
		case rerr == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(rerr, &ne) && ne.Timeout():
			if err := s.probe(ctx); err != nil {
				return err
			}
		case errors.Is(rerr, io.EOF):
			return fmt.Errorf("fritz read %s: connection closed by router", addr)
		default:
			return fmt.Errorf("fritz read %s: %w", addr, rerr)
		}
	}
}

// probe opens and closes a second connection to the router: the way
// fritzconnection's FritzMonitor tells a quiet line from a dead one.
func (s *session) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.p.cfg.HealthTimeout)
	defer cancel()
	c, err := s.p.dialer.DialContext(ctx, "tcp", s.p.cfg.Address)
	if err != nil {
		return fmt.Errorf("fritz %s: %w: %w", s.p.cfg.Address, ErrHealthCheck, err)
	}
	c.Close()
	return nil
}

func (s *session) Close() error { return s.conn.Close() }

// lineSplitter cuts the stream into lines ended by LF or CR LF. A line
// longer than MaxLineLength is skipped up to its newline and reported
// once: the line after it is whole again, so one bad line never drops a
// healthy link (nor ends its calls).
type lineSplitter struct {
	pending  []byte
	skipping bool // inside an over-long line, until its newline
}

// feed splits b, calling onLine with each complete non-blank line
// (without its line ending; valid only during the call) and tooLong with
// each over-long one.
func (l *lineSplitter) feed(b []byte, onLine func([]byte), tooLong func(error)) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if l.skipping {
			if i < 0 {
				return
			}
			l.skipping = false
			b = b[i+1:]
			continue
		}
		if i < 0 {
			if len(l.pending)+len(b) > MaxLineLength+1 { // +1: a CR may follow
				l.tooLong(tooLong)
				l.skipping = true
				return
			}
			l.pending = append(l.pending, b...)
			return
		}
		line := b[:i]
		if len(l.pending) > 0 {
			l.pending = append(l.pending, line...)
			line = l.pending
		}
		b = b[i+1:]
		line = bytes.TrimRight(line, "\r")
		switch {
		case len(line) > MaxLineLength:
			l.tooLong(tooLong)
		case len(bytes.TrimSpace(line)) > 0 && onLine != nil:
			onLine(line)
		}
		l.pending = l.pending[:0]
	}
}

func (l *lineSplitter) tooLong(report func(error)) {
	l.pending = l.pending[:0]
	if report != nil {
		report(fmt.Errorf("%w: more than %d bytes, skipped", ErrLineTooLong, MaxLineLength))
	}
}
