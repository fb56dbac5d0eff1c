package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/switchboard/switchboard/monitor"
)

// ListenerConfig is an outbound event socket (type esl-outbound): the
// dialplan's `socket` application connects here once per call, e.g.
//
//	<action application="socket" data="127.0.0.1:8084 async full"/>
type ListenerConfig struct {
	Name monitor.SourceName `yaml:"name"`
	// Type is "esl-outbound".
	Type string `yaml:"type"`
	// Listen is the address to accept FreeSWITCH's connections on.
	// Default 127.0.0.1:8084.
	Listen string `yaml:"listen"`
	// ConnectTimeout bounds the "connect" handshake. Default 5s.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// Validate reports a configuration that cannot work.
func (c ListenerConfig) Validate() error {
	if c.Name == "" {
		return errors.New("esl-outbound: name is required")
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("esl-outbound %s: listen: %w", c.Name, err)
		}
	}
	return nil
}

// Listener accepts FreeSWITCH's outbound socket connections and tracks
// each one's call. It implements monitor.Source.
type Listener struct {
	cfg  ListenerConfig
	opts monitor.SourceOptions
	raw  []Option

	ready chan struct{}
	addr  net.Addr
}

// NewListener returns an outbound-mode source for cfg.
func NewListener(cfg ListenerConfig, opts ...Option) (*Listener, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8084"
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	return &Listener{cfg: cfg, opts: monitor.NewSourceOptions(opts...), raw: opts, ready: make(chan struct{})}, nil
}

// Name is the source's name.
func (l *Listener) Name() monitor.SourceName { return l.cfg.Name }

// Ready is closed once the listener accepts connections; Addr is then set.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Addr is the address the listener accepts on, once Ready.
func (l *Listener) Addr() net.Addr { return l.addr }

// Run accepts connections until ctx ends, then closes the listener and
// every open call socket and returns once their goroutines are done.
func (l *Listener) Run(ctx context.Context, sink monitor.Sink) error {
	status := func(st monitor.LinkState, err error) {
		ss := monitor.SourceStatus{Name: l.cfg.Name, Type: "esl-outbound", State: st, Address: l.cfg.Listen, Since: time.Now()}
		if err != nil {
			ss.Error = err.Error()
		}
		sink.SourceStatus(ss)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", l.cfg.Listen)
	if err != nil {
		status(monitor.LinkDown, err)
		return fmt.Errorf("esl-outbound %s: %w", l.cfg.Name, err)
	}
	l.addr = ln.Addr()
	close(l.ready)
	status(monitor.LinkConnected, nil)
	tr := NewTracker(l.cfg.Name, sink, l.opts.Counters)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
	})
	defer stop()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil {
				l.opts.Log.Warn("esl-outbound accept", "err", err)
				status(monitor.LinkDown, err)
			}
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			nc.Close()
			break
		}
		conns[nc] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				mu.Lock()
				delete(conns, nc)
				mu.Unlock()
				nc.Close()
			}()
			if err := l.serve(ctx, nc, tr); err != nil && ctx.Err() == nil {
				l.opts.Log.Info("esl-outbound call socket", "remote", nc.RemoteAddr(), "err", err)
			}
		}()
	}
	ln.Close()
	wg.Wait()
	tr.endAll(monitor.Ending{Reason: monitor.ReasonFailed, Cause: monitor.CauseStopped})
	status(monitor.LinkStopped, nil)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("esl-outbound %s: listener failed", l.cfg.Name)
}

// serve follows one call socket: connect, channel data, myevents, linger,
// and events until FreeSWITCH closes the socket. The call is only
// watched: it goes on in the dialplan ("resume" lets the dialplan carry on
// should the socket close first).
func (l *Listener) serve(ctx context.Context, nc net.Conn, tr *Tracker) error {
	events := make(chan Event, 256)
	hctx, cancel := context.WithTimeout(ctx, l.cfg.ConnectTimeout)
	defer cancel()
	conn, data, err := Connect(hctx, nc, func(e Event) {
		select {
		case events <- e:
		default:
			nc.Close()
		}
	}, l.raw...)
	if err != nil {
		return err
	}
	defer conn.Close()
	uid := data[hUniqueID]
	data[hEventName] = "CHANNEL_DATA"
	tr.Handle(data)
	for _, cmd := range []command.Command{command.MyEvents{Format: "json"}, command.Linger{Enabled: true}, resume{}} {
		if _, err := conn.Command(hctx, cmd); err != nil {
			for len(events) > 0 {
				tr.Handle(<-events)
			}
			tr.dropLeg(uid)
			return err
		}
	}
	cancel()
	for {
		select {
		case e := <-events:
			tr.Handle(e)
		case <-conn.Done():
			for len(events) > 0 {
				tr.Handle(<-events)
			}
			tr.dropLeg(uid)
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// resume tells FreeSWITCH to go on with the dialplan when the socket
// closes, rather than hang up.
type resume struct{}

func (resume) BuildMessage() string { return "resume" }

// dropLeg ends a leg whose socket closed before its hangup was seen.
func (tr *Tracker) dropLeg(uid string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	l := tr.legs[uid]
	if l == nil || l.ended {
		return
	}
	tr.hangup(Event{hEventName: "CHANNEL_HANGUP_COMPLETE", hUniqueID: uid, hHangupCause: "LINK_LOST"})
}
