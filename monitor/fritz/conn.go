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
	// Attempt counts connection attempts, from 1.
	Attempt int
}

// Lines connects to the call monitor at cfg.Address and calls onLine with
// every line the router sends (without its line ending; only valid during
// the call), until ctx ends. It keeps the link alive itself: TCP
// keep-alive, and when the stream has been silent for cfg.HealthInterval
// a probe connection to the same port, as fritzconnection's FritzMonitor
// does (a router that rebooted or vanished accepts no new connection
// while the old socket can stay quiet forever). A lost or dead link is
// reconnected with capped exponential backoff and jitter. onLink, when not
// nil, hears every change of the link; both callbacks run on Lines'
// goroutine. Lines returns nil when ctx ends and an error only for an
// invalid cfg.
func Lines(ctx context.Context, cfg Config, onLine func(line []byte), onLink func(LinkEvent), opts ...Option) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	o := newOptions(opts)
	d := o.dialer
	if d == nil {
		d = &net.Dialer{
			Timeout: cfg.DialTimeout,
			// A router that vanished without a FIN is noticed by the
			// kernel after Idle + Count*Interval.
			KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: cfg.KeepAlive, Interval: cfg.KeepAlive / 3, Count: 3},
		}
	}
	if onLink == nil {
		onLink = func(LinkEvent) {}
	}
	l := &link{cfg: cfg, dialer: d, onLine: onLine, o: o}
	failures := 0
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			o.counters.Reconnects.Add(1)
		}
		onLink(LinkEvent{State: monitor.LinkConnecting, Address: cfg.Address, Attempt: attempt})
		delivered, err := l.session(ctx, func() {
			onLink(LinkEvent{State: monitor.LinkConnected, Address: cfg.Address, Attempt: attempt})
		})
		if ctx.Err() != nil {
			return nil
		}
		if delivered {
			// The link worked: the next failure starts the backoff over.
			failures = 0
		}
		wait := monitor.Backoff(cfg.ReconnectMin, cfg.ReconnectMax, failures)
		failures++
		onLink(LinkEvent{State: monitor.LinkDown, Address: cfg.Address, Err: err, Retry: wait, Attempt: attempt})
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// link is one Lines loop's connection state.
type link struct {
	cfg    Config
	dialer *net.Dialer
	onLine func([]byte)
	o      options
}

// session dials, reads lines until the link fails or ctx ends, and says
// whether the link delivered anything (a line, or a health check passed).
func (l *link) session(ctx context.Context, connected func()) (delivered bool, err error) {
	conn, err := l.dialer.DialContext(ctx, "tcp", l.cfg.Address)
	if err != nil {
		return false, fmt.Errorf("fritz dial %s: %w", l.cfg.Address, err)
	}
	// Closing the socket is the only way to interrupt a blocked Read.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer func() {
		stop()
		conn.Close()
	}()
	connected()
	buf := make([]byte, 4096)
	var pending []byte
	for {
		if err := conn.SetReadDeadline(time.Now().Add(l.cfg.HealthInterval)); err != nil {
			return delivered, fmt.Errorf("fritz read %s: %w", l.cfg.Address, err)
		}
		n, rerr := conn.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			start := 0
			for {
				i := bytes.IndexByte(pending[start:], '\n')
				if i < 0 {
					break
				}
				line := bytes.TrimRight(pending[start:start+i], "\r")
				if len(bytes.TrimSpace(line)) > 0 && l.onLine != nil {
					l.onLine(line)
				}
				delivered = true
				start += i + 1
			}
			// Keep only the partial line, at the front, so pending never
			// grows beyond one line.
			pending = pending[:copy(pending, pending[start:])]
			if len(pending) > MaxLineLength {
				return delivered, fmt.Errorf("fritz read %s: %w", l.cfg.Address, ErrLineTooLong)
			}
		}
		var ne net.Error
		switch {
		case rerr == nil:
		case errors.As(rerr, &ne) && ne.Timeout() && ctx.Err() == nil:
			if err := l.probe(ctx); err != nil {
				return delivered, err
			}
			delivered = true
		case errors.Is(rerr, io.EOF):
			return delivered, fmt.Errorf("fritz read %s: connection closed by router", l.cfg.Address)
		default:
			return delivered, fmt.Errorf("fritz read %s: %w", l.cfg.Address, rerr)
		}
	}
}

// probe opens and closes a second connection to the router: the way
// fritzconnection's FritzMonitor tells a quiet line from a dead one.
func (l *link) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.HealthTimeout)
	defer cancel()
	c, err := l.dialer.DialContext(ctx, "tcp", l.cfg.Address)
	if err != nil {
		return fmt.Errorf("fritz %s: %w: %w", l.cfg.Address, ErrHealthCheck, err)
	}
	c.Close()
	return nil
}
