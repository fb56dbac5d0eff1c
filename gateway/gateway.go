package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// PhoneUser is the signed-in person a session belongs to.
type PhoneUser struct {
	Name string
	// Accounts are the SIP accounts the user may use (config users[].accounts).
	Accounts []string
}

func (u PhoneUser) allowed(account string) bool { return slices.Contains(u.Accounts, account) }

// Option sets a rare knob of the gateway.
type Option func(*Gateway)

// WithLogger sets the logger. Default slog.Default().
func WithLogger(l *slog.Logger) Option { return func(g *Gateway) { g.log = l } }

// WithRegisterer registers the gateway's metrics (ring and answer
// latency histograms) with r.
func WithRegisterer(r prometheus.Registerer) Option { return func(g *Gateway) { g.reg = r } }

// WithStatusInterval sets how often sessions look for registration
// changes to push to the page. Default 1s.
func WithStatusInterval(d time.Duration) Option {
	return func(g *Gateway) {
		if d > 0 {
			g.statusEvery = d
		}
	}
}

// WithWriteTimeout bounds one WebSocket write; a page slower than that is
// disconnected. Default 5s.
func WithWriteTimeout(d time.Duration) Option {
	return func(g *Gateway) {
		if d > 0 {
			g.writeTimeout = d
		}
	}
}

// sipTimeout bounds a SIP operation started from the page (answer, hang up).
const sipTimeout = 32 * time.Second // RFC 3261 Timer B/F: 64*T1

// Gateway joins browser softphone sessions to SIP calls. One per process.
type Gateway struct {
	cfg          Config
	sip          SIP
	api          *mediaAPI
	log          *slog.Logger
	reg          prometheus.Registerer
	codecs       []sipbridge.Codec
	statusEvery  time.Duration
	writeTimeout time.Duration
	metrics      metrics
	limits       *callLimits

	// ctx is the parent of SIP operations that outlive a page; cancelled
	// by Close.
	ctx    context.Context //nolint:containedctx // lifetime of the gateway, not of a request
	cancel context.CancelFunc

	// mu guards sessions, ringing, calls, closed and stopping. Lock order:
	// Gateway.mu, then callHandle.mu.
	mu       sync.Mutex
	sessions map[*Session]struct{}
	ringing  map[monitor.CallID]*callHandle
	calls    map[monitor.CallID]*callHandle
	closed   bool
	// stopping are the sessions open when the shutdown began, whose
	// connections a forced shutdown closes; shutDone is closed once the
	// shutdown has finished.
	stopping []*Session
	shutDone chan struct{}

	// wg counts call watchers and SIP operations.
	wg sync.WaitGroup
}

// New builds the gateway and installs its incoming-call handler on sip;
// call it before the SIP side runs.
func New(cfg Config, sip SIP, opts ...Option) (*Gateway, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	api, err := newMediaAPI(cfg)
	if err != nil {
		return nil, fmt.Errorf("webrtc api: %w", err)
	}
	g := &Gateway{
		cfg: cfg, sip: sip, api: api, log: slog.Default(), codecs: cfg.codecs(),
		statusEvery: time.Second, writeTimeout: 5 * time.Second,
		sessions: map[*Session]struct{}{}, ringing: map[monitor.CallID]*callHandle{}, calls: map[monitor.CallID]*callHandle{},
		shutDone: make(chan struct{}),
	}
	for _, o := range opts {
		o(g)
	}
	g.log = g.log.With("component", "gateway")
	g.metrics = newMetrics()
	g.limits = newCallLimits(cfg)
	if g.reg != nil {
		if err := g.metrics.register(g.reg); err != nil {
			_ = api.close()
			return nil, fmt.Errorf("gateway metrics: %w", err)
		}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	sip.OnIncoming(g.onIncoming)
	sip.OnTransferred(g.onTransferred)
	return g, nil
}

// codecNames lists the configured codecs for people: "opus, G722 or PCMU".
func (g *Gateway) codecNames() string {
	var b strings.Builder
	for i, c := range g.codecs {
		switch {
		case i == 0:
		case i == len(g.codecs)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(c.Name)
	}
	return b.String()
}

// Close is Shutdown without a deadline: it returns once every session
// has ended and every SIP operation is done. Idempotent.
func (g *Gateway) Close() error { return g.Shutdown(context.Background()) }

// Shutdown ends the gateway in order: no new sessions; every open page is
// told the server is going away (its WebSocket closed with 1001) and its
// session ends; every call is hung up — BYE once answered, CANCEL while an
// outgoing call rings, 480 for an incoming one that rings — and Shutdown
// waits for those SIP operations. When ctx ends first, what is left is
// forced: the sessions' connections are closed, SIP operations started
// here are cancelled, and Shutdown returns ctx's error once every
// goroutine of the gateway has returned. Safe to call more than once and
// from several goroutines.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		g.stopping = make([]*Session, 0, len(g.sessions))
		for s := range g.sessions {
			g.stopping = append(g.stopping, s)
		}
		calls := make([]*callHandle, 0, len(g.calls))
		for _, c := range g.calls {
			calls = append(calls, c)
		}
		// Owned by the gateway: shutDone says it has returned.
		go g.stop(g.stopping, calls)
	}
	stopping := g.stopping
	g.mu.Unlock()
	select {
	case <-g.shutDone:
		return nil
	case <-ctx.Done():
	}
	g.cancel()
	for _, s := range stopping {
		s.forceIO()
	}
	<-g.shutDone
	return fmt.Errorf("gateway shutdown: %w", ctx.Err())
}

// stop is the orderly part of Shutdown.
func (g *Gateway) stop(sessions []*Session, calls []*callHandle) {
	defer close(g.shutDone)
	start := time.Now()
	for _, s := range sessions {
		s.stop()
	}
	for _, s := range sessions {
		<-s.finished
	}
	// The sessions hung up their own calls; these are the rest (ringing
	// ones, dials on their way). Hanging up twice is harmless.
	for _, c := range calls {
		if c.sip != nil {
			g.async(func(ctx context.Context) { _ = c.sip.Hangup(ctx) })
		}
	}
	g.wg.Wait()
	g.cancel()
	if err := g.api.close(); err != nil {
		g.log.Warn("closing the ICE UDP mux", "err", err)
	}
	g.log.Info("gateway stopped", "sessions", len(sessions), "calls", len(calls), "took", time.Since(start).Round(time.Millisecond))
}

// async runs a SIP operation that must not block a session's loop; it
// outlives the page that asked for it.
func (g *Gateway) async(fn func(ctx context.Context)) {
	g.spawn(func() {
		ctx, cancel := context.WithTimeout(g.ctx, sipTimeout)
		defer cancel()
		fn(ctx)
	})
}

// spawn runs fn in a goroutine that Shutdown waits for.
func (g *Gateway) spawn(fn func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// addCall records a call placed or taken over, so that shutdown and
// transfers find it.
func (g *Gateway) addCall(ch *callHandle) {
	g.mu.Lock()
	g.calls[ch.sip.ID()] = ch
	g.mu.Unlock()
}

// addSession registers s and returns the calls ringing now for its user.
func (g *Gateway) addSession(s *Session) ([]*callHandle, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	g.sessions[s] = struct{}{}
	var ring []*callHandle
	for _, c := range g.ringing {
		if s.user.allowed(c.sip.Account()) && c.addRinging(s) {
			ring = append(ring, c)
		}
	}
	return ring, nil
}

// removeSession forgets s: its ringing calls stop ringing there (and are
// turned away when nobody else is left to answer), its calls are hung up.
func (g *Gateway) removeSession(s *Session, owned []*callHandle) {
	g.mu.Lock()
	delete(g.sessions, s)
	var orphans []*callHandle
	for _, c := range g.ringing {
		if c.removeRinging(s) {
			orphans = append(orphans, c)
		}
	}
	g.mu.Unlock()
	for _, c := range orphans {
		g.async(func(ctx context.Context) { _ = c.sip.Reject(ctx, 480) })
	}
	// A dial still on its way is not among them; its flow hangs up once
	// it finds the session gone.
	for _, c := range owned {
		g.async(func(ctx context.Context) { _ = c.sip.Hangup(ctx) })
	}
}

// notRinging takes s off the sessions an incoming call rings; a call left
// ringing nowhere is answered 486 Busy Here (RFC 3261 section 21.4.24):
// every page that could take it rings as many calls as it may.
func (g *Gateway) notRinging(ch *callHandle, s *Session) {
	g.mu.Lock()
	orphan := ch.removeRinging(s)
	if orphan {
		delete(g.ringing, ch.sip.ID())
	}
	g.mu.Unlock()
	if orphan {
		g.async(func(ctx context.Context) { _ = ch.sip.Reject(ctx, 486) })
	}
}

// onIncoming fans an incoming call out to every session of every user
// allowed on its account.
func (g *Gateway) onIncoming(c SIPCall) {
	if from := c.TransferredFrom(); from != "" {
		// An INVITE with Replaces that took over one of our calls: it
		// goes to the page that had that call, without ringing.
		g.mu.Lock()
		old := g.calls[from]
		g.mu.Unlock()
		if old != nil && old.ownerSession() != nil {
			g.onTransferred(old.sip, c)
			return
		}
	}
	ch := newCallHandle(g, c)
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.async(func(ctx context.Context) { _ = c.Reject(ctx, 480) })
		return
	}
	targets := make([]*Session, 0, len(g.sessions))
	for s := range g.sessions {
		if s.user.allowed(c.Account()) {
			targets = append(targets, s)
			ch.ringing[s] = struct{}{}
		}
	}
	if len(targets) == 0 {
		g.mu.Unlock()
		g.log.Info("incoming call with nobody online", "account", c.Account(), "call", c.ID())
		g.async(func(ctx context.Context) { _ = c.Reject(ctx, 480) })
		g.drain(c)
		return
	}
	g.ringing[c.ID()] = ch
	g.calls[c.ID()] = ch
	g.mu.Unlock()
	g.watch(ch)
	for _, s := range targets {
		s.post(func() { s.ring(ch) })
	}
}

// onTransferred hands next, the call that replaces old because the far
// end transferred us, to the page that has old; its audio moves there
// without a new WebRTC handshake. A call nobody can take is hung up.
func (g *Gateway) onTransferred(old, next SIPCall) {
	g.mu.Lock()
	oh, nh := g.calls[old.ID()], g.calls[next.ID()]
	closed := g.closed
	g.mu.Unlock()
	if nh != nil {
		// Announced twice (OnIncoming and OnTransferred): taken already.
		return
	}
	var owner *Session
	if oh != nil {
		owner = oh.ownerSession()
	}
	if owner == nil || closed {
		g.log.Info("transferred call with no page to take it", "old", old.ID(), "call", next.ID())
		g.async(func(ctx context.Context) { _ = next.Hangup(ctx) })
		g.drain(next)
		return
	}
	nh = newCallHandle(g, next)
	from := next.TransferredFrom()
	if from == "" {
		from = old.ID()
	}
	nh.view.TransferredFrom = from
	if st := next.State(); advances(nh.view.State, st) {
		nh.view.State = st
	}
	if codec, ok := next.Codec(); ok {
		nh.view.Codec = codec.String()
		if nh.view.State == sipbridge.StateConnected {
			nh.view.Answered = time.Now()
		}
	}
	nh.mu.Lock()
	nh.view.Media = nh.mediaLocked()
	nh.mu.Unlock()
	nh.setOwner(owner)
	g.addCall(nh)
	g.log.Info("call transferred", "old", old.ID(), "call", next.ID(), "user", owner.user.Name)
	// fn must return quickly: the page takes the call in its own time.
	g.spawn(func() {
		if !owner.do(func() { owner.adoptTransferred(oh, nh) }) {
			g.watch(nh)
			g.async(func(ctx context.Context) { _ = next.Hangup(ctx) })
		}
	})
}

// drain consumes the events of a call nobody takes, so the SIP side never
// blocks on it.
func (g *Gateway) drain(c SIPCall) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			select {
			case _, ok := <-c.Events():
				if !ok {
					return
				}
			case <-g.ctx.Done():
				return
			}
		}
	}()
}

// watch follows a call's events until it ends and hands them to the
// sessions concerned.
func (g *Gateway) watch(ch *callHandle) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer func() {
			g.mu.Lock()
			delete(g.ringing, ch.sip.ID())
			delete(g.calls, ch.sip.ID())
			g.mu.Unlock()
			ch.finish()
		}()
		for {
			var ev sipbridge.CallEvent
			var ok bool
			select {
			case ev, ok = <-ch.sip.Events():
			case <-g.ctx.Done():
				// A forced shutdown: the SIP side ends the call on its own.
				return
			}
			if !ok {
				return
			}
			view, to := ch.apply(ev)
			for _, s := range to {
				s.post(func() { s.onCallEvent(ch, view, ev) })
			}
		}
	}()
}

// claim makes s the owner of an incoming call; false when another session
// was first or the call is over.
func (g *Gateway) claim(ch *callHandle, s *Session) bool {
	g.mu.Lock()
	others, ok := ch.claim(s)
	if ok {
		delete(g.ringing, ch.sip.ID())
	}
	g.mu.Unlock()
	if !ok {
		return false
	}
	view := ch.snapshot()
	view.State, view.Reason, view.Message, view.Ended = sipbridge.StateEnded, monitor.ReasonAnsweredElsewhere, plainWords(sipbridge.CallEvent{Reason: monitor.ReasonAnsweredElsewhere}), time.Now()
	for _, o := range others {
		o.post(func() { o.stopRinging(ch, view) })
	}
	return true
}

// decline stops the call ringing for every session of s's user; when no
// one else is left, the caller hears 603 Decline (RFC 3261 section 21.6.2).
func (g *Gateway) decline(ch *callHandle, s *Session) {
	g.mu.Lock()
	stopped, last := ch.declineFor(s.user.Name)
	if last {
		delete(g.ringing, ch.sip.ID())
	}
	g.mu.Unlock()
	view := ch.snapshot()
	view.State, view.Reason, view.Message, view.Ended = sipbridge.StateEnded, monitor.ReasonRejected, "You declined the call", time.Now()
	for _, o := range stopped {
		o.post(func() { o.stopRinging(ch, view) })
	}
	if last {
		g.async(func(ctx context.Context) { _ = ch.sip.Reject(ctx, 603) })
	}
}

// accountStatuses are the registration states of the user's accounts, one
// per account in the user's order.
func (g *Gateway) accountStatuses(u PhoneUser) []monitor.SourceStatus {
	all := g.sip.Statuses()
	out := make([]monitor.SourceStatus, 0, len(u.Accounts))
	for _, a := range u.Accounts {
		i := slices.IndexFunc(all, func(st monitor.SourceStatus) bool { return string(st.Name) == a })
		if i < 0 {
			out = append(out, monitor.SourceStatus{Name: monitor.SourceName(a), Type: "sip", State: monitor.LinkFailed, Error: "This account is not configured on the server"})
			continue
		}
		out = append(out, all[i])
	}
	return out
}
