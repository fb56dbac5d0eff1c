package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
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
	// Context is the dialplan context a transferred call is sent to.
	// Default "default".
	Context string `yaml:"context"`
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
	if c.Context != "" && !validNumber(c.Context) {
		// It goes into the uuid_transfer command line.
		return fmt.Errorf("esl-outbound %s: context %q: letters, digits and +*#._-@ only", c.Name, c.Context)
	}
	return nil
}

// Listener accepts FreeSWITCH's outbound socket connections and tracks
// each one's call. It implements monitor.Source, and monitor.Controller
// for the calls whose socket is open on it: hang-up and transfer go over
// the call's own socket.
type Listener struct {
	cfg  ListenerConfig
	opts monitor.SourceOptions
	raw  []Option

	ready chan struct{}
	addr  net.Addr

	// watch is told of each call socket's start and end (WatchCalls).
	watch func(id monitor.CallID, here bool)
	// mu guards tr and socks.
	mu sync.Mutex
	// tr is the running listener's tracker, nil before Run.
	tr *Tracker
	// socks holds the open call sockets by their channel's Unique-ID.
	socks map[string]*Conn
}

var _ monitor.Controller = (*Listener)(nil)

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
	if cfg.Context == "" {
		cfg.Context = "default"
	}
	return &Listener{cfg: cfg, opts: monitor.NewSourceOptions(opts...), raw: opts, ready: make(chan struct{}), socks: map[string]*Conn{}}, nil
}

// WatchCalls has fn told, in the call socket's goroutine, when the socket
// of call id opens on this listener (here true) and when it ends (false):
// only then can this node act on the call. Set before Run.
func (l *Listener) WatchCalls(fn func(id monitor.CallID, here bool)) { l.watch = fn }

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
		ss := monitor.SourceStatus{Name: l.cfg.Name, Type: "esl-outbound", State: st, Address: l.cfg.Listen, Since: time.Now(),
			Actions: []monitor.Action{monitor.ActionHangup, monitor.ActionTransfer}}
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
	l.mu.Lock()
	l.tr = tr
	l.mu.Unlock()

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
	defer l.callSocket(tr, uid, conn)()
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

// callSocket notes conn as the open socket of channel uid and tells the
// watcher its call is here; the func returned undoes it as the socket
// ends. A call keeps the id its socket came with here, even if an
// attended transfer later joins it into another.
func (l *Listener) callSocket(tr *Tracker, uid string, conn *Conn) func() {
	id, ok := tr.callOfLeg(uid)
	l.mu.Lock()
	l.socks[uid] = conn
	l.mu.Unlock()
	if ok && l.watch != nil {
		l.watch(id, true)
	}
	return func() {
		l.mu.Lock()
		delete(l.socks, uid)
		l.mu.Unlock()
		if ok && l.watch != nil {
			l.watch(id, false)
		}
	}
}

// sockets returns the live legs of call id whose socket is open here,
// with their sockets.
func (l *Listener) sockets(id monitor.CallID) ([]string, []*Conn, error) {
	l.mu.Lock()
	tr := l.tr
	l.mu.Unlock()
	if tr == nil {
		return nil, nil, fmt.Errorf("esl-outbound %s: %w", l.cfg.Name, monitor.ErrNotConnected)
	}
	legs := tr.channelsOf(id)
	var (
		uids  []string
		conns []*Conn
	)
	l.mu.Lock()
	for _, uid := range legs {
		if c := l.socks[uid]; c != nil {
			uids, conns = append(uids, uid), append(conns, c)
		}
	}
	l.mu.Unlock()
	if len(uids) == 0 {
		return nil, nil, fmt.Errorf("esl-outbound %s: call %s has no socket open here: %w", l.cfg.Name, id, monitor.ErrNoSuchCall)
	}
	return uids, conns, nil
}

// Hangup hangs up every leg of the call whose socket is open here
// (uuid_kill on that socket).
func (l *Listener) Hangup(ctx context.Context, id monitor.CallID) error {
	uids, conns, err := l.sockets(id)
	if err != nil {
		return err
	}
	for i, uid := range uids {
		// A leg that hung up meanwhile is what hangup wanted.
		if _, err := conns[i].API(ctx, "uuid_kill", uid+" NORMAL_CLEARING"); err != nil &&
			!(errors.Is(err, monitor.ErrRefused) && strings.Contains(err.Error(), "No such channel")) {
			return fmt.Errorf("esl-outbound %s: %w", l.cfg.Name, err)
		}
	}
	return nil
}

// Transfer sends the call's first leg with a socket here to number in the
// configured context (uuid_transfer on that socket).
func (l *Listener) Transfer(ctx context.Context, id monitor.CallID, number string) error {
	if !validNumber(number) {
		return fmt.Errorf("esl-outbound transfer: %q is not a number or extension", number)
	}
	uids, conns, err := l.sockets(id)
	if err != nil {
		return err
	}
	_, err = conns[0].API(ctx, "uuid_transfer", fmt.Sprintf("%s %s XML %s", uids[0], number, l.cfg.Context))
	switch {
	case errors.Is(err, monitor.ErrRefused) && strings.Contains(err.Error(), "No such channel"):
		// The leg hung up meanwhile: the call is gone, nothing refused.
		return fmt.Errorf("esl-outbound %s: %w: %w", l.cfg.Name, monitor.ErrNoSuchCall, err)
	case err != nil:
		return fmt.Errorf("esl-outbound %s: %w", l.cfg.Name, err)
	}
	return nil
}

// Originate is not offered: FreeSWITCH opens a socket to the listener
// only for a call its dialplan hands over, so there is no connection to
// start a new call on (an esl source, which connects to FreeSWITCH, has
// one).
func (l *Listener) Originate(context.Context, string, string) error {
	return fmt.Errorf("esl-outbound %s: originate needs a connection to FreeSWITCH, and this source only has the sockets FreeSWITCH opens per call (use an esl source): %w",
		l.cfg.Name, monitor.ErrUnsupported)
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
