package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/sipbridge"
)

// maxCalls bounds the calls of one page, dials on their way included: two
// lines and a consultation call, and one more waiting.
const maxCalls = 4

// maxRinging bounds the incoming calls one page shows ringing at once;
// ringHeadroom is the room its message queue must have left for another
// to be shown, so that the messages that end the ringing ones always fit.
const (
	maxRinging   = 4
	ringHeadroom = 16
)

// Session is one open softphone page: its WebSocket, its one
// PeerConnection (kept across calls) and its calls, of which at most one
// has the page's audio joined to it.
type Session struct {
	g    *Gateway
	user PhoneUser
	conn *websocket.Conn
	log  *slog.Logger

	pc     *webrtc.PeerConnection
	sender *webrtc.RTPSender
	// track is the page-bound audio track on sender, of trackCodec's
	// format; calls of the same format share it.
	track      *webrtc.TrackLocalStaticRTP
	trackCodec sipbridge.Codec
	up         upstream
	cont       continuity
	// mediaLost is set when the page's ICE or DTLS failed (pion's
	// callback); the loop reads it.
	mediaLost atomic.Bool

	in       chan clientMessage
	tasks    chan func()
	wake     chan struct{}
	outbox   chan outMessage
	fail     chan error
	done     chan struct{} // closed when the main loop has returned
	finished chan struct{} // closed when ServeSession has cleaned up
	cancel   context.CancelFunc
	// forceIO ends the reads and writes on conn, and with them a close
	// handshake the page does not answer.
	forceIO context.CancelFunc
	wg      sync.WaitGroup
	// relays counts the calls' downstreams, which end when their SIP
	// legs close.
	relays sync.WaitGroup

	// flows are the page's multi-step call control (hold the live call,
	// then dial, answer or resume another), run one at a time in the
	// order asked for; flowing is set while a goroutine runs them.
	flowMu  sync.Mutex
	flows   []func(ctx context.Context)
	flowing bool

	// Owned by the main loop.
	ready    bool             // the page's first offer has been answered
	offering bool             // our offer waits for the page's answer
	offered  sipbridge.Codec  // the codec our pending offer pins
	pinned   *sipbridge.Codec // the browser-leg codec the page sends now
	want     *sipbridge.Codec // codec to pin ahead of a call (ringing)
	calls    []*pageCall      // the page's calls, oldest first
	dials    []*dialing       // dials whose INVITE is on its way
	ringing  map[monitor.CallID]*callHandle
	// focus is the call the page's audio belongs with: the one dialled,
	// answered or resumed last; nil while a dial is on its way or after
	// the live call ended. joined is the call the audio is joined to now
	// (the media relays run), pending the one waiting for renegotiation.
	focus     *pageCall
	joined    *pageCall
	pending   *pageCall
	pendCodec sipbridge.Codec // the pending call's SIP-leg codec
	statuses  []monitor.SourceStatus
}

// pageCall is one of the page's calls as its session tracks it. Owned by
// the session's loop.
type pageCall struct {
	h  *callHandle
	id monitor.CallID
	// dialID is the page's id of the dial that placed the call.
	dialID string
	// view is the call as its events reported it, in their order.
	view PhoneCall
	// transfer is the last transfer the page started on the call.
	transfer *TransferView
	// hangingUp is set once the page hung up: the call is not held before
	// it ends.
	hangingUp bool
	// transferHeld is set while the call is on hold for a blind transfer,
	// which resumes it when the transfer fails.
	transferHeld bool
	// answered is when the page or the far end answered.
	answered time.Time

	// The call's relays, made at its first join and kept for the next.
	codec sipbridge.Codec // the SIP-leg codec of up
	up    *upTarget
	down  *downstream

	// sent is the call message last sent, so that one is sent only when
	// something changed.
	sent []byte
}

// dialing is a dial whose SIP call does not exist yet.
type dialing struct {
	id        string
	cancelled bool
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
// shut down, so the page knows to come back later. The session's calls
// are hung up when the session ends; a call it placed does not depend on
// ctx otherwise.
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
		in: make(chan clientMessage, 8), tasks: make(chan func(), 64), wake: make(chan struct{}, 1), outbox: make(chan outMessage, 64),
		fail: make(chan error, 1), done: make(chan struct{}), finished: make(chan struct{}), cancel: cancel, forceIO: ioCancel,
		ringing: map[monitor.CallID]*callHandle{},
	}
	defer close(s.finished)
	conn.SetReadLimit(maxMessage)

	// A TURN server gets credentials of this session's own (the TURN REST
	// scheme), so the page never sees the shared secret.
	ice, err := g.cfg.SessionICEServers(user.Name, time.Now())
	if err != nil {
		s.log.Warn("turn credentials", "err", err)
	}
	// The page's RTP goes from pion's SRTP session straight into s.up.
	pcCfg, err := g.api.configuration(ice, time.Now())
	if err != nil {
		_ = conn.Close(websocket.StatusInternalError, "media setup failed")
		return fmt.Errorf("new peer connection: %w", err)
	}
	pc, err := g.api.forSession(s.up.sink).NewPeerConnection(pcCfg)
	if err != nil {
		_ = conn.Close(websocket.StatusInternalError, "media setup failed")
		return fmt.Errorf("new peer connection: %w", err)
	}
	s.pc = pc
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("peer connection", "state", st)
		if st == webrtc.PeerConnectionStateFailed {
			s.mediaLost.Store(true)
			s.sendError(pageMediaLost, "", "")
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	})

	ring, err := g.addSession(s)
	if err != nil {
		_ = pc.Close()
		_ = conn.Close(websocket.StatusGoingAway, closeGoingAway)
		return err
	}
	// Welcome is queued before anything can be: the page's first message
	// is always it.
	s.statuses = g.accountStatuses(user)
	s.send(serverMessage{Type: MsgWelcome, User: user.Name, Accounts: s.statuses, ICEServers: ice}, nil)
	s.wg.Add(2)
	go s.readLoop(ioCtx)
	go s.writeLoop(ioCtx)
	for _, c := range ring {
		s.ring(c)
	}

	err = s.loop(ctx)
	close(s.done)
	cancel()
	owned := make([]*callHandle, 0, len(s.calls))
	for _, c := range s.calls {
		owned = append(owned, c.h)
	}
	if errors.Is(err, context.Canceled) {
		// Sent away by the server, not gone by itself: the page hears
		// it first (RFC 6455 section 7.4.1), then its calls are hung up.
		_ = conn.Close(websocket.StatusGoingAway, closeGoingAway)
		if len(owned) > 0 {
			s.log.Info("page sent away, hanging up its calls", "calls", len(owned))
		} else {
			s.log.Debug("page sent away")
		}
		g.removeSession(s, owned)
		err = nil
	} else {
		g.removeSession(s, owned)
		_ = conn.Close(websocket.StatusNormalClosure, "")
	}
	ioCancel()
	// GracefulClose here, outside any pion callback: it waits for them.
	if cerr := pc.GracefulClose(); cerr != nil {
		s.log.Debug("close peer connection", "err", cerr)
	}
	s.wg.Wait()
	s.waitRelays(owned)
	return err
}

// waitRelays waits for the calls' downstreams, which end as the SIP side
// closes the calls' legs; a forced shutdown closes what is left of them.
func (s *Session) waitRelays(owned []*callHandle) {
	done := make(chan struct{})
	// Owned here: done is waited for on both paths.
	go func() {
		s.relays.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-s.g.ctx.Done():
	}
	for _, c := range owned {
		if l, ok := c.sip.Media().(io.Closer); ok {
			_ = l.Close()
		}
	}
	<-done
}

// pageMediaLost tells the page that its own audio connection failed.
const pageMediaLost = "The audio connection to the server was lost. Reload the page."

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

// do runs fn on the session's loop and waits for it; false when the
// session ended first and fn did not run. Never call it on the loop.
func (s *Session) do(fn func()) bool {
	ran := make(chan struct{})
	if !s.post(func() { fn(); close(ran) }) {
		return false
	}
	select {
	case <-ran:
		return true
	case <-s.done:
		// The loop runs nothing after done, so fn either ran before or
		// never will.
		select {
		case <-ran:
			return true
		default:
			return false
		}
	}
}

// flow runs fn after the call control the page asked for earlier, so that
// switching between calls happens one step at a time and in the page's
// order; fn gets the gateway's context and bounds each step itself.
func (s *Session) flow(fn func(ctx context.Context)) {
	s.flowMu.Lock()
	s.flows = append(s.flows, fn)
	start := !s.flowing
	s.flowing = true
	s.flowMu.Unlock()
	if start {
		s.g.spawn(s.runFlows)
	}
}

func (s *Session) runFlows() {
	for {
		s.flowMu.Lock()
		if len(s.flows) == 0 {
			s.flowing = false
			s.flowMu.Unlock()
			return
		}
		fn := s.flows[0]
		s.flows[0] = nil
		s.flows = s.flows[1:]
		s.flowMu.Unlock()
		fn(s.g.ctx)
	}
}

func (s *Session) loop(ctx context.Context) error {
	tick := time.NewTicker(s.g.statusEvery)
	defer tick.Stop()
	for {
		s.reconcile()
		s.refresh()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.fail:
			return err
		case m := <-s.in:
			if err := s.handle(ctx, m); err != nil {
				// The page's own mistakes (a call that is over, a cap) are
				// Debug: a page could otherwise fill the log.
				lvl := slog.LevelInfo
				if pageFault(err) {
					lvl = slog.LevelDebug
				}
				s.log.Log(ctx, lvl, "phone request failed", "type", m.Type, "call", clipID(m.Call), "err", err)
			}
		case fn := <-s.tasks:
			fn()
		case <-s.wake:
		case <-tick.C:
			s.pushStatuses()
		}
	}
}

func (s *Session) readLoop(ctx context.Context) {
	defer s.wg.Done()
	rate := float64(s.g.cfg.PageMessagesPerSecond)
	msgs := newBucket(2*rate, rate, time.Now())
	var told time.Time
	for {
		typ, b, err := s.conn.Read(ctx)
		if err != nil {
			s.failWith(fmt.Errorf("phone read: %w", err))
			return
		}
		if now := time.Now(); !msgs.take(now) {
			s.refused(limitMessages)
			if now.Sub(told) >= time.Second {
				told = now
				s.log.Debug("phone messages over the rate ignored", "per_second", s.g.cfg.PageMessagesPerSecond)
				s.sendError("The page sent too many messages at once; some were ignored.", "", "")
			}
			continue
		}
		if typ != websocket.MessageText {
			s.sendError("The page sent something the server does not understand.", "", "")
			continue
		}
		m, err := parseClientMessage(b)
		if err != nil {
			s.log.Debug("bad phone message", "err", err)
			s.sendError("The page sent something the server does not understand.", m.Call, m.ID)
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
	s.sendBytes(b, written)
}

func (s *Session) sendBytes(b []byte, written func()) {
	select {
	case s.outbox <- outMessage{b: b, written: written}:
	default:
		s.failWith(ErrSlowClient)
	}
}

// refused counts a request or call a cap turned away.
func (s *Session) refused(limit string) {
	s.g.metrics.refused.WithLabelValues(limit).Inc()
}

// sendError tells the page msg; call and id name what it concerns.
func (s *Session) sendError(msg string, call monitor.CallID, id string) {
	s.send(errorMessage{Type: MsgError, Message: msg, Call: call, ID: id}, nil)
}

// reply answers the page's request m with an error in plain words.
func (s *Session) reply(m clientMessage, msg string) {
	s.sendError(msg, m.Call, m.ID)
}

// pushStatuses tells the page of registration changes.
func (s *Session) pushStatuses() {
	now := s.g.accountStatuses(s.user)
	for i, st := range now {
		if i < len(s.statuses) && sameStatus(s.statuses[i], st) {
			continue
		}
		s.send(serverMessage{Type: MsgRegistration, Account: &st}, nil)
	}
	s.statuses = now
}

func sameStatus(a, b monitor.SourceStatus) bool {
	return a.Name == b.Name && a.State == b.State && a.Error == b.Error && a.Since.Equal(b.Since)
}

// handle acts on one page message.
func (s *Session) handle(ctx context.Context, m clientMessage) error {
	switch m.Type {
	case MsgSDP:
		return s.onSDP(ctx, *m.SDP)
	case MsgCandidate:
		if err := s.pc.AddICECandidate(*m.Candidate); err != nil {
			return fmt.Errorf("add candidate: %w", err)
		}
	case MsgDial:
		return s.dial(m)
	case MsgAnswer:
		return s.answer(m)
	case MsgDecline:
		c, ok := s.ringing[m.Call]
		if !ok {
			s.reply(m, "This call is no longer ringing.")
			return fmt.Errorf("decline %s: %w", clipID(m.Call), ErrNoSuchCall)
		}
		s.g.decline(c, s)
	case MsgHangup:
		return s.hangup(m)
	case MsgHold:
		return s.hold(m)
	case MsgResume:
		return s.resume(m)
	case MsgTransfer:
		return s.transfer(m)
	case MsgDTMF:
		return s.dtmf(m)
	}
	return nil
}

// find is the page's call id, nil when it has none such.
func (s *Session) find(id monitor.CallID) *pageCall {
	for _, c := range s.calls {
		if c.id == id {
			return c
		}
	}
	return nil
}

func (s *Session) byHandle(h *callHandle) *pageCall {
	for _, c := range s.calls {
		if c.h == h {
			return c
		}
	}
	return nil
}

// lines counts the page's calls and dials on their way.
func (s *Session) lines() int { return len(s.calls) + len(s.dials) }

// addCall makes h one of the page's calls.
func (s *Session) addCall(h *callHandle, dialID string) *pageCall {
	c := &pageCall{h: h, id: h.sip.ID(), dialID: dialID, view: h.snapshot()}
	s.calls = append(s.calls, c)
	return c
}

// removeCall forgets an ended call; its downstream ends with its leg.
func (s *Session) removeCall(c *pageCall) {
	s.calls = slices.DeleteFunc(s.calls, func(o *pageCall) bool { return o == c })
	if s.joined == c {
		s.unjoin()
	}
	if s.focus == c {
		s.focus = nil
	}
	if s.pending == c {
		s.pending = nil
	}
	if len(s.calls) == 0 {
		s.want = nil
	}
}

func (s *Session) dial(m clientMessage) error {
	if !s.user.allowed(m.Account) {
		s.reply(m, "You may not use the account "+m.Account+".")
		return fmt.Errorf("dial from %s: %w", m.Account, ErrNotAllowed)
	}
	if s.lines() >= maxCalls {
		s.reply(m, "You have "+strconv.Itoa(s.lines())+" calls already. Hang one up first.")
		return fmt.Errorf("dial: %w", ErrBusy)
	}
	release, no := s.g.limits.take(s.user.Name, m.Account, true, time.Now())
	if no != nil {
		s.refused(no.limit)
		s.reply(m, no.words)
		return fmt.Errorf("dial: %w: %w", ErrLimit, no)
	}
	// The dial counts from now, so that too many at once are refused
	// while the INVITEs go out.
	d := &dialing{id: m.ID}
	s.dials = append(s.dials, d)
	account, to := m.Account, m.To
	g := s.g
	s.flow(func(ctx context.Context) {
		var prev *pageCall
		if !s.do(func() { prev = s.leave(); s.focus = nil }) {
			return
		}
		s.holdFor(ctx, prev)
		dctx, cancel := context.WithTimeout(ctx, sipTimeout)
		c, err := g.sip.Dial(dctx, account, to, g.codecs)
		cancel()
		if err != nil {
			release()
			s.log.Info("dial failed", "account", account, "err", err)
			s.do(func() {
				s.dials = slices.DeleteFunc(s.dials, func(o *dialing) bool { return o == d })
				s.sendError(dialError(err), "", d.id)
			})
			return
		}
		ch := newCallHandle(g, c)
		ch.holdSlot(release)
		ch.setOwner(s)
		g.addCall(ch)
		// The session records the call before its events are watched, so
		// that none reaches a session that does not know the call yet.
		if !s.do(func() { s.adoptDialled(d, ch) }) {
			g.watch(ch)
			g.async(func(ctx context.Context) { _ = c.Hangup(ctx) })
		}
	})
	return nil
}

// adoptDialled makes the dialled call one of the page's and follows it.
func (s *Session) adoptDialled(d *dialing, h *callHandle) {
	s.dials = slices.DeleteFunc(s.dials, func(o *dialing) bool { return o == d })
	c := s.addCall(h, d.id)
	if s.focus == nil {
		s.focus = c
	}
	s.g.watch(h)
	if d.cancelled {
		s.hangupCall(c)
	}
}

func dialError(err error) string {
	return "The call could not be placed: " + err.Error()
}

func (s *Session) answer(m clientMessage) error {
	id := m.Call
	h, ok := s.ringing[id]
	if !ok {
		s.reply(m, "This call is no longer ringing.")
		return fmt.Errorf("answer %s: %w", clipID(id), ErrNoSuchCall)
	}
	if s.lines() >= maxCalls {
		s.reply(m, "Hang up one of your calls first.")
		return fmt.Errorf("answer: %w", ErrBusy)
	}
	release, no := s.g.limits.take(s.user.Name, h.sip.Account(), false, time.Now())
	if no != nil {
		// The call rings on; another page or colleague may take it.
		s.refused(no.limit)
		s.reply(m, no.words)
		return fmt.Errorf("answer: %w: %w", ErrLimit, no)
	}
	delete(s.ringing, id)
	if !s.g.claim(h, s) {
		release()
		s.reply(m, "The call was answered elsewhere or is over.")
		return fmt.Errorf("answer %s: %w", clipID(id), ErrNoSuchCall)
	}
	h.holdSlot(release)
	c := s.addCall(h, "")
	c.answered = time.Now()
	accept := s.g.codecs
	if p, ok := s.predict(h); ok {
		// The codec the page is already pinned to comes first, so that
		// answering needs no renegotiation.
		accept = append([]sipbridge.Codec{p}, slices.DeleteFunc(slices.Clone(accept), p.SameFormat)...)
	}
	s.flow(func(ctx context.Context) {
		var prev *pageCall
		if !s.do(func() { prev = s.leave(); s.focus = c }) {
			return
		}
		s.holdFor(ctx, prev)
		actx, cancel := context.WithTimeout(ctx, sipTimeout)
		defer cancel()
		codec, err := h.sip.Answer(actx, accept)
		if err != nil {
			s.log.Info("answer failed", "call", id, "err", err)
			s.do(func() { s.sendError("The call could not be answered: "+err.Error(), id, "") })
			_ = h.sip.Hangup(actx)
			return
		}
		s.do(func() { s.mediaReady(c, codec) })
	})
	return nil
}

func (s *Session) hangup(m clientMessage) error {
	if m.Call != "" {
		if h, ok := s.ringing[m.Call]; ok {
			// Hanging up a ringing call on the page means declining it.
			s.g.decline(h, s)
			return nil
		}
		c := s.find(m.Call)
		if c == nil {
			s.reply(m, "This call is already over.")
			return fmt.Errorf("hangup %s: %w", clipID(m.Call), ErrNoSuchCall)
		}
		s.hangupCall(c)
		return nil
	}
	// By the dial's id: before its first call message, or after.
	for _, d := range s.dials {
		if d.id == m.ID {
			d.cancelled = true
			return nil
		}
	}
	for _, c := range s.calls {
		if c.dialID == m.ID {
			s.hangupCall(c)
			return nil
		}
	}
	s.reply(m, "This call is already over.")
	return fmt.Errorf("hangup dial %q: %w", m.ID, ErrNoSuchCall)
}

// hangupCall ends one of the page's calls. A hang-up waits for no other
// SIP operation of the call.
func (s *Session) hangupCall(c *pageCall) {
	c.hangingUp = true
	if s.joined == c {
		// The far end hears the page no more from now.
		s.up.target.Store(nil)
	}
	s.g.async(func(ctx context.Context) { _ = c.h.sip.Hangup(ctx) })
}

// connected reports whether c is answered and not over.
func (c *pageCall) connected() bool { return c.view.State == sipbridge.StateConnected }

// needsHold reports whether c must be held before the page leaves it: the
// far end would hear it, or will once it resumes.
func (c *pageCall) needsHold() bool {
	return c.connected() && !c.hangingUp && (c.view.Media == sipbridge.MediaActive || c.view.Media == sipbridge.MediaRemoteHold)
}

// heldByUs reports whether this side holds c (local-hold, or inactive:
// both hold).
func (c *pageCall) heldByUs() bool {
	return c.view.Media == sipbridge.MediaLocalHold || c.view.Media == sipbridge.MediaInactive
}

// leave stops the page's voice reaching the live call, ahead of a move to
// another call, and returns the call to hold first, if any. A call that is
// not held keeps its join (so that the page hears its far end until the
// hold is answered); an early call is left at once.
func (s *Session) leave() *pageCall {
	s.up.target.Store(nil)
	c := s.focus
	if c == nil {
		c = s.joined
	}
	if c == nil {
		return nil
	}
	if c.needsHold() {
		return c
	}
	if s.joined == c && !c.heldByUs() {
		s.unjoin()
	}
	return nil
}

// holdFor holds prev before the page moves to another call; a call that
// cannot be held is left all the same (the page's audio is taken off it)
// and the page is told. Runs in a flow.
func (s *Session) holdFor(ctx context.Context, prev *pageCall) {
	if prev == nil {
		return
	}
	err := prev.h.run(ctx, prev.h.sip.Hold)
	if err == nil {
		return
	}
	s.log.Info("hold before moving to another call", "call", prev.id, "err", err)
	s.do(func() {
		if s.joined == prev {
			s.unjoin()
		}
		s.sendError(holdFailed(prev), prev.id, "")
	})
}

func holdFailed(c *pageCall) string {
	return "The call with " + partyWords(c.view.Remote) + " could not be put on hold; it hears nothing from you now."
}

// partyWords names the far end of a call for people.
func partyWords(p monitor.Party) string {
	switch {
	case p.Name != "" && p.Number != "":
		return p.Name + " (" + p.Number + ")"
	case p.Name != "":
		return p.Name
	case p.Number != "":
		return p.Number
	}
	return "the other side"
}

func (s *Session) hold(m clientMessage) error {
	c := s.find(m.Call)
	if c == nil {
		s.reply(m, "This call is already over.")
		return fmt.Errorf("hold %s: %w", clipID(m.Call), ErrNoSuchCall)
	}
	if !c.connected() {
		s.reply(m, "Only a connected call can be put on hold.")
		return fmt.Errorf("hold %s: %w", clipID(m.Call), ErrCallState)
	}
	s.flow(func(ctx context.Context) {
		if err := c.h.run(ctx, c.h.sip.Hold); err != nil {
			s.log.Info("hold", "call", c.id, "err", err)
			s.do(func() { s.sendError("The call could not be put on hold.", c.id, "") })
		}
	})
	return nil
}

// resume takes the call off hold and joins the page's audio to it; the
// live call, if another, is held first (swap).
func (s *Session) resume(m clientMessage) error {
	c := s.find(m.Call)
	if c == nil {
		s.reply(m, "This call is already over.")
		return fmt.Errorf("resume %s: %w", clipID(m.Call), ErrNoSuchCall)
	}
	if !c.connected() {
		s.reply(m, "Only a connected call can be resumed.")
		return fmt.Errorf("resume %s: %w", clipID(m.Call), ErrCallState)
	}
	s.flow(func(ctx context.Context) {
		var prev *pageCall
		var resume bool
		if !s.do(func() {
			if s.focus != c {
				prev = s.leave()
				s.focus = c
			}
			resume = c.heldByUs()
		}) {
			return
		}
		s.holdFor(ctx, prev)
		if resume {
			if err := c.h.run(ctx, c.h.sip.Resume); err != nil {
				s.log.Info("resume", "call", c.id, "err", err)
				s.do(func() { s.sendError("The call could not be taken off hold.", c.id, "") })
			}
		}
		s.do(func() {
			if codec, ok := c.h.sip.Codec(); ok {
				s.mediaReady(c, codec)
			}
		})
	})
	return nil
}

func (s *Session) transfer(m clientMessage) error {
	c := s.find(m.Call)
	if c == nil {
		s.reply(m, "This call is already over.")
		return fmt.Errorf("transfer %s: %w", clipID(m.Call), ErrNoSuchCall)
	}
	if !c.connected() {
		s.reply(m, "Only a connected call can be transferred.")
		return fmt.Errorf("transfer %s: %w", clipID(m.Call), ErrCallState)
	}
	if m.Consult != "" {
		return s.attendedTransfer(m, c)
	}
	to := m.To
	c.transfer = &TransferView{State: sipbridge.TransferTrying, Message: "Transferring to " + to + "…"}
	hold := c.needsHold()
	s.flow(func(ctx context.Context) {
		// The far end waits on hold while the REFER is worked on (RFC
		// 5589 section 6.1), and is resumed if it fails.
		if hold {
			if err := c.h.run(ctx, c.h.sip.Hold); err != nil {
				s.log.Info("hold before transfer", "call", c.id, "err", err)
			} else {
				s.do(func() { c.transferHeld = true })
			}
		}
		err := c.h.run(ctx, func(ctx context.Context) error { return c.h.sip.Transfer(ctx, to) })
		if err != nil {
			s.log.Info("blind transfer", "call", c.id, "err", err)
			s.do(func() { s.transferFailed(c, "The transfer to "+to+" could not be started.") })
		}
	})
	return nil
}

// attendedTransfer connects the far end of c to the party of the
// consultation call (m.Consult); both calls end when it succeeds.
func (s *Session) attendedTransfer(m clientMessage, c *pageCall) error {
	k := s.find(m.Consult)
	if k == nil || !k.connected() {
		s.reply(m, "The consultation call is not connected.")
		return fmt.Errorf("transfer %s to %s: %w", clipID(m.Call), clipID(m.Consult), ErrCallState)
	}
	c.transfer = &TransferView{State: sipbridge.TransferTrying, Message: "Transferring to " + partyWords(k.view.Remote) + "…"}
	s.flow(func(ctx context.Context) {
		err := c.h.run(ctx, func(ctx context.Context) error { return c.h.sip.TransferTo(ctx, k.h.sip) })
		if err != nil {
			s.log.Info("attended transfer", "call", c.id, "consult", k.id, "err", err)
			s.do(func() {
				s.transferFailed(c, "The transfer to "+partyWords(k.view.Remote)+" could not be started.")
			})
		}
	})
	return nil
}

// transferFailed records a transfer that did not go through, unless the
// SIP side said so in its own words already, and resumes a call held for
// it.
func (s *Session) transferFailed(c *pageCall, words string) {
	if c.transfer == nil || c.transfer.State != sipbridge.TransferFailed {
		c.transfer = &TransferView{State: sipbridge.TransferFailed, Message: words}
	}
	s.resumeAfterTransfer(c)
}

// resumeAfterTransfer takes a call off the hold its blind transfer put it
// on: a failed transfer keeps the call.
func (s *Session) resumeAfterTransfer(c *pageCall) {
	if !c.transferHeld {
		return
	}
	c.transferHeld = false
	s.flow(func(ctx context.Context) {
		if err := c.h.run(ctx, c.h.sip.Resume); err != nil {
			s.log.Info("resume after failed transfer", "call", c.id, "err", err)
			s.do(func() { s.sendError("The call could not be taken off hold after the transfer failed.", c.id, "") })
		}
	})
}

// transferWords is a transfer step in plain words.
func transferWords(p sipbridge.TransferProgress) string {
	if p.Message != "" {
		return p.Message
	}
	switch p.State {
	case sipbridge.TransferTrying:
		return "Transferring…"
	case sipbridge.TransferRinging:
		return "The transfer target is ringing…"
	case sipbridge.TransferAccepted:
		return "Transferred"
	case sipbridge.TransferFailed:
		if w := statusWords(p.Status); w != "" {
			return "The transfer failed: " + w
		}
		return "The transfer failed"
	}
	return string(p.State)
}

func (s *Session) dtmf(m clientMessage) error {
	c := s.find(m.Call)
	if c == nil {
		s.reply(m, "This call is already over.")
		return fmt.Errorf("dtmf %s: %w", clipID(m.Call), ErrNoSuchCall)
	}
	if st := c.view.State; st != sipbridge.StateConnected && st != sipbridge.StateEarly {
		s.reply(m, "Tones can be sent only during a call.")
		return fmt.Errorf("dtmf %s: %w", clipID(m.Call), ErrCallState)
	}
	digits := m.Digits
	// The call's queue keeps the digits in the order they were pressed.
	c.h.enqueue(func(ctx context.Context) {
		if err := c.h.sip.SendDTMF(ctx, digits); err != nil {
			s.log.Info("send dtmf", "call", c.id, "err", err)
			s.post(func() { s.sendError("The tones "+digits+" could not be sent.", c.id, "") })
		}
	})
	return nil
}

// predict is the codec an incoming call will use: the caller's first that
// the gateway passes through (the answerer keeps the offerer's order;
// RFC 3264 section 6.1).
func (s *Session) predict(h *callHandle) (sipbridge.Codec, bool) {
	for _, o := range h.sip.Offered() {
		for _, k := range s.g.codecs {
			if k.SameFormat(o) {
				return k, true
			}
		}
	}
	return sipbridge.Codec{}, false
}

// ring shows an incoming call and, on an idle page, pins its likely codec
// ahead of the answer. During a call it is a waiting call: the page rings
// discreetly.
func (s *Session) ring(h *callHandle) {
	v := h.snapshot()
	if v.State == sipbridge.StateEnded {
		return
	}
	// A burst of incoming calls must never cost the page its connection:
	// it shows at most maxRinging at once, and none while its queue of
	// messages is filling; the others ring elsewhere or hear busy.
	if len(s.ringing) >= maxRinging || cap(s.outbox)-len(s.outbox) < ringHeadroom {
		s.refused(limitRinging)
		s.log.Debug("incoming call not shown, the page rings enough", "call", clipID(h.sip.ID()), "ringing", len(s.ringing))
		s.g.notRinging(h, s)
		return
	}
	s.ringing[h.sip.ID()] = h
	invited := h.invited
	s.send(serverMessage{Type: MsgIncoming, Call: &v}, func() { s.g.observeRing(time.Since(invited), s.user.Name) })
	if s.lines() == 0 {
		if p, ok := s.predict(h); ok {
			s.want = &p
		}
	}
}

// stopRinging ends a ringing call on this page (answered elsewhere,
// declined).
func (s *Session) stopRinging(h *callHandle, v PhoneCall) {
	if _, ok := s.ringing[h.sip.ID()]; !ok {
		return
	}
	delete(s.ringing, h.sip.ID())
	s.send(serverMessage{Type: MsgCall, Call: &v}, nil)
}

// onCallEvent passes a call's progress to the page and joins the media when
// it is negotiated.
func (s *Session) onCallEvent(h *callHandle, v PhoneCall, ev sipbridge.CallEvent) {
	c := s.byHandle(h)
	if c == nil {
		// A ringing call that the caller gave up.
		if _, ok := s.ringing[h.sip.ID()]; ok && ev.State == sipbridge.StateEnded {
			delete(s.ringing, h.sip.ID())
			s.send(serverMessage{Type: MsgCall, Call: &v}, nil)
		}
		return
	}
	c.view = v
	if ev.DTMF != "" {
		s.send(dtmfMessage{Type: MsgDTMF, Call: c.id, Digits: ev.DTMF}, nil)
	}
	if p := ev.Transfer; p != nil {
		c.transfer = &TransferView{State: p.State, Status: p.Status, Message: transferWords(*p)}
		if p.State == sipbridge.TransferFailed {
			s.resumeAfterTransfer(c)
		}
	}
	switch v.State {
	case sipbridge.StateEarly, sipbridge.StateConnected:
		outbound := h.sip.Direction() != monitor.Inbound
		if v.State == sipbridge.StateConnected && c.answered.IsZero() {
			c.answered = time.Now()
			if c.down != nil {
				c.down.answeredAt.Store(c.answered.UnixNano())
			}
		}
		codec, ok := h.sip.Codec()
		if ev.Codec != nil {
			codec, ok = *ev.Codec, true
		}
		// An incoming call's media is joined once the answer is done; a
		// new codec (a re-INVITE) is joined in any call.
		if ok && (outbound || ev.Codec != nil || c.view.TransferredFrom != "") {
			s.mediaReady(c, codec)
		}
	case sipbridge.StateEnded:
		s.refreshCall(c)
		s.removeCall(c)
	}
}

// adoptTransferred makes next, the call that replaces old because the far
// end transferred us, one of the page's calls; the page's audio moves to
// it if it was with old.
func (s *Session) adoptTransferred(old, next *callHandle) {
	c := s.addCall(next, "")
	// It takes the live call's place; if old ended already, it becomes
	// the live call of a page that has none.
	if o := s.byHandle(old); (o == nil && s.focus == nil) || (o != nil && (s.focus == o || (s.focus == nil && s.joined == o))) {
		s.focus = c
	}
	s.g.watch(next)
	st := next.sip.State()
	if codec, ok := next.sip.Codec(); ok && (st == sipbridge.StateConnected || st == sipbridge.StateEarly) {
		s.mediaReady(c, codec)
	}
}

// mediaReady asks for the call's media to be joined once the page is on
// the call's codec; only the live call's.
func (s *Session) mediaReady(c *pageCall, codec sipbridge.Codec) {
	if s.focus != c {
		return
	}
	s.pending, s.pendCodec = c, codec
}

// pageMedia is the call's media state as the page experiences it: the SIP
// side's, except that a call whose audio is not joined to the page is not
// active (none until it was first joined, inactive once the page left it
// without it being held), and the joined call's is error once the page's
// own audio connection failed.
func (s *Session) pageMedia(c *pageCall) sipbridge.MediaState {
	m := c.view.Media
	if m == "" || m == sipbridge.MediaNone {
		return sipbridge.MediaNone
	}
	if s.joined == c && s.mediaLost.Load() {
		return sipbridge.MediaError
	}
	if m == sipbridge.MediaActive && s.joined != c {
		if c.down == nil {
			return sipbridge.MediaNone
		}
		return sipbridge.MediaInactive
	}
	return m
}

// callView is the call message for c.
func (s *Session) callView(c *pageCall) PhoneCall {
	v := c.view
	v.Media = s.pageMedia(c)
	if v.Media == sipbridge.MediaError && s.joined == c && s.mediaLost.Load() {
		v.Message = pageMediaLost
	}
	if c.transfer != nil {
		t := *c.transfer
		v.Transfer = &t
	}
	return v
}

// refresh sends a call message for every call whose view changed.
func (s *Session) refresh() {
	for _, c := range s.calls {
		s.refreshCall(c)
	}
}

// refreshCall sends c's call message when it differs from the last sent.
func (s *Session) refreshCall(c *pageCall) {
	v := s.callView(c)
	b, err := json.Marshal(serverMessage{Type: MsgCall, ID: c.dialID, Call: &v})
	if err != nil {
		s.log.Error("encode phone message", "err", err)
		return
	}
	if bytes.Equal(b, c.sent) {
		return
	}
	c.sent = b
	s.sendBytes(b, nil)
}
