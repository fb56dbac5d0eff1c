package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// Session is one open softphone page: its WebSocket, its one
// PeerConnection (kept across calls) and at most one call.
type Session struct {
	g    *Gateway
	user PhoneUser
	conn *websocket.Conn
	log  *slog.Logger

	pc     *webrtc.PeerConnection
	sender *webrtc.RTPSender
	up     upstream
	cont   continuity

	in       chan clientMessage
	tasks    chan func()
	outbox   chan outMessage
	fail     chan error
	done     chan struct{} // closed when the main loop has returned
	finished chan struct{} // closed when ServeSession has cleaned up
	cancel   context.CancelFunc
	// forceIO ends the reads and writes on conn, and with them a close
	// handshake the page does not answer.
	forceIO context.CancelFunc
	wg      sync.WaitGroup

	// Owned by the main loop.
	ready     bool             // the page's first offer has been answered
	offering  bool             // our offer waits for the page's answer
	offered   sipbridge.Codec  // the codec our pending offer pins
	pinned    *sipbridge.Codec // the browser-leg codec now negotiated alone
	want      *sipbridge.Codec // codec to pin ahead of a call (ringing)
	call      *callHandle      // the session's call
	ringing   map[monitor.CallID]*callHandle
	pending   *callHandle     // call whose media waits for negotiation
	pendCodec sipbridge.Codec // its SIP-leg codec
	media     *mediaState
	answered  time.Time // when the page answered or the far end did
	statuses  []monitor.SourceStatus
}

// mediaState is the media of the session's call.
type mediaState struct {
	call  *callHandle
	codec sipbridge.Codec // SIP leg
	down  *downstream
}

type outMessage struct {
	b       []byte
	written func()
}

// closeGoingAway is the close reason the page gets when the server ends
// its session (close code 1001, going away): shutdown or restart.
const closeGoingAway = "server shutting down"

// ServeSession runs the /phone protocol on conn for user until the page
// goes, ctx ends or the gateway shuts down. The caller has authenticated
// the user and checked the Origin; ServeSession closes conn: with 1001
// (going away) and "server shutting down" when ctx ended or the gateway
// shut down, so the page knows to come back later. The session's call is
// hung up when the session ends; a call it placed does not depend on ctx
// otherwise.
func (g *Gateway) ServeSession(ctx context.Context, user PhoneUser, conn *websocket.Conn) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Reads and writes have a context of their own: when the context of a
	// coder/websocket Read ends, the connection is closed at once, and a
	// page sent away must get the close frame first.
	ioCtx, ioCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer ioCancel()
	s := &Session{
		g: g, user: user, conn: conn, log: g.log.With("user", user.Name),
		in: make(chan clientMessage, 8), tasks: make(chan func(), 64), outbox: make(chan outMessage, 64),
		fail: make(chan error, 1), done: make(chan struct{}), finished: make(chan struct{}), cancel: cancel, forceIO: ioCancel,
		ringing: map[monitor.CallID]*callHandle{},
	}
	defer close(s.finished)
	conn.SetReadLimit(maxMessage)

	pc, err := g.api.NewPeerConnection(webrtc.Configuration{ICEServers: iceServers(g.cfg.ICEServers)})
	if err != nil {
		_ = conn.Close(websocket.StatusInternalError, "media setup failed")
		return fmt.Errorf("new peer connection: %w", err)
	}
	s.pc = pc
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if t.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		// The callback's goroutine is pion's; it is counted so that close
		// waits for the relay to stop.
		s.wg.Add(1)
		defer s.wg.Done()
		s.up.run(t)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("peer connection", "state", st)
		if st == webrtc.PeerConnectionStateFailed {
			s.sendError("The audio connection to the server was lost. Reload the page.", "")
		}
	})

	ring, err := g.addSession(s)
	if err != nil {
		_ = pc.Close()
		_ = conn.Close(websocket.StatusGoingAway, closeGoingAway)
		return err
	}
	s.wg.Add(2)
	go s.readLoop(ioCtx)
	go s.writeLoop(ioCtx)
	s.statuses = g.accountStatuses(user)
	s.send(serverMessage{Type: msgWelcome, User: user.Name, Accounts: s.statuses, ICEServers: g.cfg.ICEServers}, nil)
	for _, c := range ring {
		s.ring(c)
	}

	err = s.loop(ctx)
	close(s.done)
	cancel()
	if errors.Is(err, context.Canceled) {
		// Sent away by the server, not gone by itself: the page hears
		// it first (RFC 6455 section 7.4.1), then its call is hung up.
		_ = conn.Close(websocket.StatusGoingAway, closeGoingAway)
		if s.call != nil && s.call.sip != nil {
			s.log.Info("page sent away, hanging up its call", "call", s.call.sip.ID())
		} else {
			s.log.Debug("page sent away")
		}
		g.removeSession(s, s.call)
		err = nil
	} else {
		g.removeSession(s, s.call)
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}
	ioCancel()
	// GracefulClose here, outside any pion callback: it waits for them.
	if cerr := pc.GracefulClose(); cerr != nil {
		s.log.Debug("close peer connection", "err", cerr)
	}
	s.wg.Wait()
	return err
}

// stop ends the session from outside; the page is told it is sent away.
func (s *Session) stop() { s.cancel() }

// post runs fn on the session's loop; false once the session is gone.
func (s *Session) post(fn func()) bool {
	select {
	case s.tasks <- fn:
		return true
	case <-s.done:
		return false
	}
}

func (s *Session) loop(ctx context.Context) error {
	tick := time.NewTicker(s.g.statusEvery)
	defer tick.Stop()
	for {
		s.reconcile()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.fail:
			return err
		case m := <-s.in:
			if err := s.handle(ctx, m); err != nil {
				s.log.Info("phone request failed", "type", m.Type, "err", err)
			}
		case fn := <-s.tasks:
			fn()
		case <-tick.C:
			s.pushStatuses()
		}
	}
}

func (s *Session) readLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			s.failWith(fmt.Errorf("phone read: %w", err))
			return
		}
		if typ != websocket.MessageText {
			s.sendError("The page sent something the server does not understand.", "")
			continue
		}
		m, err := parseClientMessage(b)
		if err != nil {
			s.log.Info("bad phone message", "err", err)
			s.sendError("The page sent something the server does not understand.", "")
			continue
		}
		select {
		case s.in <- m:
		case <-ctx.Done():
			return
		}
	}
}

func (s *Session) writeLoop(ctx context.Context) {
	defer s.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-s.outbox:
			wctx, cancel := context.WithTimeout(ctx, s.g.writeTimeout)
			err := s.conn.Write(wctx, websocket.MessageText, m.b)
			cancel()
			if err != nil {
				s.failWith(fmt.Errorf("phone write: %w", err))
				return
			}
			if m.written != nil {
				m.written()
			}
		}
	}
}

func (s *Session) failWith(err error) {
	select {
	case s.fail <- err:
	default:
	}
}

// send queues v for the page; written, if set, runs once it is on the wire.
// A page that falls too far behind is disconnected. Safe from any goroutine.
func (s *Session) send(v any, written func()) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode phone message", "err", err)
		return
	}
	select {
	case s.outbox <- outMessage{b: b, written: written}:
	default:
		s.failWith(ErrSlowClient)
	}
}

func (s *Session) sendError(msg string, call monitor.CallID) {
	s.send(errorMessage{Type: msgError, Message: msg, Call: call}, nil)
}

func (s *Session) sendCall(v PhoneCall) {
	s.send(serverMessage{Type: msgCall, Call: &v}, nil)
}

// pushStatuses tells the page of registration changes.
func (s *Session) pushStatuses() {
	now := s.g.accountStatuses(s.user)
	for i, st := range now {
		if i < len(s.statuses) && sameStatus(s.statuses[i], st) {
			continue
		}
		s.send(serverMessage{Type: msgRegistration, Account: &st}, nil)
	}
	s.statuses = now
}

func sameStatus(a, b monitor.SourceStatus) bool {
	return a.Name == b.Name && a.State == b.State && a.Error == b.Error && a.Since.Equal(b.Since)
}

// handle acts on one page message.
func (s *Session) handle(ctx context.Context, m clientMessage) error {
	switch m.Type {
	case msgSDP:
		return s.onSDP(ctx, *m.SDP)
	case msgCandidate:
		if err := s.pc.AddICECandidate(*m.Candidate); err != nil {
			return fmt.Errorf("add candidate: %w", err)
		}
	case msgDial:
		return s.dial(m.Account, m.To)
	case msgAnswer:
		return s.answer(m.Call)
	case msgDecline:
		c, ok := s.ringing[m.Call]
		if !ok {
			return fmt.Errorf("decline %s: %w", m.Call, ErrNoSuchCall)
		}
		s.g.decline(c, s)
	case msgHangup:
		return s.hangup(m.Call)
	}
	return nil
}

func (s *Session) dial(account, to string) error {
	if !s.user.allowed(account) {
		s.sendError("You may not use the account "+account+".", "")
		return fmt.Errorf("dial from %s: %w", account, ErrNotAllowed)
	}
	if s.call != nil {
		s.sendError("Hang up the current call first.", "")
		return fmt.Errorf("dial: %w", ErrBusy)
	}
	// The call slot is taken now so that a second dial is refused while
	// the INVITE goes out.
	placeholder := &callHandle{g: s.g}
	s.call = placeholder
	g := s.g
	g.async(func(ctx context.Context) {
		c, err := g.sip.Dial(context.WithoutCancel(ctx), account, to, g.codecs)
		if err != nil {
			if !s.post(func() {
				if s.call == placeholder {
					s.call = nil
				}
				s.sendError(dialError(err), "")
			}) {
				return
			}
			return
		}
		ch := newCallHandle(g, c)
		ch.setOwner(s)
		g.mu.Lock()
		g.calls[c.ID()] = ch
		g.mu.Unlock()
		g.watch(ch)
		if !s.post(func() {
			s.call = ch
			s.sendCall(ch.snapshot())
		}) {
			_ = c.Hangup(ctx)
		}
	})
	return nil
}

func dialError(err error) string {
	return "The call could not be placed: " + err.Error()
}

func (s *Session) answer(id monitor.CallID) error {
	c, ok := s.ringing[id]
	if !ok {
		s.sendError("This call is no longer ringing.", id)
		return fmt.Errorf("answer %s: %w", id, ErrNoSuchCall)
	}
	if s.call != nil {
		s.sendError("Hang up the current call first.", id)
		return fmt.Errorf("answer: %w", ErrBusy)
	}
	delete(s.ringing, id)
	if !s.g.claim(c, s) {
		s.sendError("The call was answered elsewhere or is over.", id)
		return fmt.Errorf("answer %s: %w", id, ErrNoSuchCall)
	}
	s.call = c
	s.answered = time.Now()
	accept := s.g.codecs
	if p, ok := s.predict(c); ok {
		// The codec the page is already pinned to comes first, so that
		// answering needs no renegotiation.
		accept = append([]sipbridge.Codec{p}, slices.DeleteFunc(slices.Clone(accept), p.SameFormat)...)
	}
	g := s.g
	g.async(func(ctx context.Context) {
		codec, err := c.sip.Answer(ctx, accept)
		if err != nil {
			s.post(func() { s.sendError("The call could not be answered: "+err.Error(), id) })
			_ = c.sip.Hangup(ctx)
			return
		}
		s.post(func() { s.mediaReady(c, codec) })
	})
	return nil
}

func (s *Session) hangup(id monitor.CallID) error {
	if c, ok := s.ringing[id]; ok {
		// Hanging up a ringing call on the page means declining it.
		s.g.decline(c, s)
		return nil
	}
	c := s.call
	if c == nil || c.sip == nil || c.sip.ID() != id {
		return fmt.Errorf("hangup %s: %w", id, ErrNoSuchCall)
	}
	s.g.async(func(ctx context.Context) { _ = c.sip.Hangup(ctx) })
	return nil
}

// predict is the codec an incoming call will use: the caller's first that
// the gateway passes through (the answerer keeps the offerer's order;
// RFC 3264 section 6.1).
func (s *Session) predict(c *callHandle) (sipbridge.Codec, bool) {
	for _, o := range c.sip.Offered() {
		for _, k := range s.g.codecs {
			if k.SameFormat(o) {
				return k, true
			}
		}
	}
	return sipbridge.Codec{}, false
}

// ring shows an incoming call and pins its likely codec ahead of the answer.
func (s *Session) ring(c *callHandle) {
	v := c.snapshot()
	if v.State == sipbridge.StateEnded {
		return
	}
	s.ringing[c.sip.ID()] = c
	invited := c.invited
	s.send(serverMessage{Type: msgIncoming, Call: &v}, func() { s.g.observeRing(time.Since(invited), s.user.Name) })
	if s.call == nil {
		if p, ok := s.predict(c); ok {
			s.want = &p
		}
	}
}

// stopRinging ends a ringing call on this page (answered elsewhere,
// declined).
func (s *Session) stopRinging(c *callHandle, v PhoneCall) {
	if _, ok := s.ringing[c.sip.ID()]; !ok {
		return
	}
	delete(s.ringing, c.sip.ID())
	s.sendCall(v)
}

// onCallEvent passes a call's progress to the page and joins the media when
// it is negotiated.
func (s *Session) onCallEvent(c *callHandle, v PhoneCall, ev sipbridge.CallEvent) {
	if s.call != c {
		// A ringing call that the caller gave up.
		if _, ok := s.ringing[c.sip.ID()]; ok && ev.State == sipbridge.StateEnded {
			delete(s.ringing, c.sip.ID())
			s.sendCall(v)
		}
		return
	}
	s.sendCall(v)
	switch ev.State {
	case sipbridge.StateEarly, sipbridge.StateConnected:
		if ev.State == sipbridge.StateConnected && c.sip.Direction() != monitor.Inbound {
			s.answered = time.Now()
			if s.media != nil && s.media.call == c {
				s.media.down.answeredAt.Store(s.answered.UnixNano())
			}
		}
		codec, ok := c.sip.Codec()
		if ev.Codec != nil {
			codec, ok = *ev.Codec, true
		}
		if ok && c.sip.Direction() != monitor.Inbound {
			s.mediaReady(c, codec)
		}
	case sipbridge.StateEnded:
		s.detach()
		s.call = nil
		s.want = nil
		s.answered = time.Time{}
	}
}

// mediaReady asks for the call's media to be joined once the page is on
// the call's codec.
func (s *Session) mediaReady(c *callHandle, codec sipbridge.Codec) {
	if s.call != c {
		return
	}
	if s.media != nil && s.media.call == c && s.media.codec.SameFormat(codec) && s.media.codec.PayloadType == codec.PayloadType {
		return
	}
	s.pending, s.pendCodec = c, codec
}
