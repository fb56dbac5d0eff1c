package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// Mid-dialog offer/answer (RFC 3261 section 14, RFC 3311, RFC 3264): our
// re-INVITEs and UPDATEs (hold, resume, session refresh), the far end's
// (hold, resume, a moved address, another codec, a re-INVITE without SDP,
// refreshes), one exchange at a time per call, and the media state they
// leave.

// allowMethods is the Allow header of our INVITEs, 200s and OPTIONS
// answers.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY, INFO"

// maxOfferTries bounds the attempts of one change of ours: 491 glare and
// 422 answers each cost one.
const maxOfferTries = 4

// exchangeOwner says whose INVITE or UPDATE exchange is in progress.
type exchangeOwner uint8

const (
	ownerNone exchangeOwner = iota
	ownerUs
	ownerThem
)

// callAbort asks the call's goroutine to end the call.
type callAbort struct {
	ev  CallEvent
	bye bool
}

// pendingAck is a 2xx of ours to a far end's re-INVITE waiting for its
// ACK (same CSeq number, RFC 3261 section 13.2.2.4).
type pendingAck struct {
	cseq uint32
	got  chan *sip.Request
}

// callControl is a call's mid-dialog state. The channels and the timer are
// made once (control); every other field is guarded by Call.mu.
type callControl struct {
	once sync.Once
	// abort ends the call from outside its goroutine (buffered 1).
	abort chan callAbort
	// timer fires when the session timer needs the call's goroutine.
	timer *time.Timer

	// busy is whose exchange runs; freed is closed when it ends.
	busy  exchangeOwner
	freed chan struct{}

	mm mediaMachine
	// accept is what this side takes when the far end offers anew.
	accept []Codec
	// remoteAddr is the media address of the far end's last SDP (not the
	// latched one, which NAT may change).
	remoteAddr netip.AddrPort
	// target is the far end's Contact (RFC 3261 section 12.2).
	target sip.Uri
	// peerUpdate: the far end lists UPDATE in Allow.
	peerUpdate bool
	// remoteCSeq is the highest CSeq number of the far end's requests
	// seen here (RFC 3261 section 12.2.2).
	remoteCSeq uint32
	// timers is the session timer; refreshTried is its since value when
	// this side last tried a refresh, one try per period.
	timers       sessionTimer
	refreshTried time.Time
	// minSE is the largest Min-SE a 422 taught this side.
	minSE time.Duration
	ack   *pendingAck
	// watchFrom restarts the media timeout where a hold ended.
	watchFrom time.Time
}

// control returns the call's mid-dialog state, made on first use.
func (c *Call) control() *callControl {
	c.ctl.once.Do(func() {
		c.ctl.abort = make(chan callAbort, 1)
		c.ctl.freed = make(chan struct{})
		c.ctl.timer = time.NewTimer(time.Hour)
		c.ctl.timer.Stop()
	})
	return &c.ctl
}

// acquire waits until no exchange runs, then claims the dialog for ours:
// a UAC must not start an INVITE while another is in progress in either
// direction (RFC 3261 section 14.1).
func (c *Call) acquire(ctx context.Context) error {
	ctl := c.control()
	for {
		c.mu.Lock()
		if c.ended {
			c.mu.Unlock()
			return ErrCallEnded
		}
		if ctl.busy == ownerNone {
			ctl.busy = ownerUs
			c.mu.Unlock()
			return nil
		}
		freed := ctl.freed
		c.mu.Unlock()
		select {
		case <-freed:
		case <-c.done:
			return ErrCallEnded
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// claimForThem claims the dialog for the far end's request; when busy it
// returns whose exchange runs.
func (c *Call) claimForThem() (exchangeOwner, bool) {
	ctl := c.control()
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctl.busy != ownerNone {
		return ctl.busy, false
	}
	ctl.busy = ownerThem
	return ownerThem, true
}

// release ends the running exchange.
func (c *Call) release() {
	ctl := c.control()
	c.mu.Lock()
	defer c.mu.Unlock()
	ctl.busy = ownerNone
	close(ctl.freed)
	ctl.freed = make(chan struct{})
}

// glareDelay is how long to wait before trying again after a 491 (RFC 3261
// section 14.1): 2.1 to 4 s for the owner of the Call-ID (who sent the
// first INVITE), 0 to 2 s for the other side, in units of 10 ms.
func glareDelay(owner bool) time.Duration {
	if owner {
		return 2100*time.Millisecond + time.Duration(rand.N(191))*10*time.Millisecond //nolint:gosec // RFC 3261 14.1 wait; math/rand/v2 is ChaCha8 seeded by the runtime
	}
	return time.Duration(rand.N(201)) * 10 * time.Millisecond //nolint:gosec // RFC 3261 14.1 wait; math/rand/v2 is ChaCha8 seeded by the runtime
}

// abortCall asks the call's goroutine to end the call with ev.
func (c *Call) abortCall(ev CallEvent, bye bool) {
	select {
	case c.control().abort <- callAbort{ev: ev, bye: bye}:
	default:
	}
}

// setHold is Hold and Resume: our offer with the new direction, retried
// after glare. It returns once the far end answered.
func (c *Call) setHold(ctx context.Context, hold bool) error {
	switch c.State() {
	case StateConnected:
	case StateEnded:
		return ErrCallEnded
	default:
		return ErrCallState
	}
	return c.renegotiate(ctx, &hold)
}

// renegotiate runs one change of ours: hold set to the hold this side
// wants, or nil for a session refresh that changes nothing.
func (c *Call) renegotiate(ctx context.Context, hold *bool) error {
	for try := 1; ; try++ {
		if err := c.acquire(ctx); err != nil {
			return err
		}
		res, err := c.sendOffer(hold)
		c.release()
		if err != nil {
			return err
		}
		if res == nil || res.IsSuccess() {
			return nil
		}
		switch code := res.StatusCode; {
		case code == sip.StatusRequestPending && try < maxOfferTries:
			// Glare: their re-INVITE crossed ours. Let theirs through,
			// then try again with what we still want.
			wait := time.NewTimer(glareDelay(c.dir == monitor.Outbound))
			select {
			case <-wait.C:
			case <-c.done:
				wait.Stop()
				return ErrCallEnded
			case <-ctx.Done():
				wait.Stop()
				return ctx.Err()
			}
		case code == 422 && try < maxOfferTries && minSEOf(res) > 0:
			// The interval was too small; sendOffer learned Min-SE.
		case code == sip.StatusRequestTimeout || code == sip.StatusCallTransactionDoesNotExists:
			// The dialog is gone (RFC 3261 section 14.1).
			text := "Call dropped — the other side no longer knows this call"
			if code == sip.StatusRequestTimeout {
				text = "Call dropped — the other side stopped answering"
			}
			c.abortCall(CallEvent{Reason: monitor.ReasonFailed, Status: code, Text: text}, code == sip.StatusRequestTimeout)
			return fmt.Errorf("%d %s: %w", code, res.Reason, ErrCallEnded)
		default:
			return fmt.Errorf("%w: %d %s", ErrRefused, code, res.Reason)
		}
	}
}

// sendOffer sends our re-INVITE (or, for a refresh to a far end that
// allows it, a bare UPDATE) and applies a 2xx answer. It returns the
// final response, nil when there was nothing to change. The caller holds
// the exchange.
func (c *Call) sendOffer(hold *bool) (*sip.Response, error) {
	ctl := c.control()
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return nil, ErrCallEnded
	}
	if ctl.mm.phase != phaseLive {
		c.mu.Unlock()
		return nil, ErrCallState
	}
	want := ctl.mm.localHold
	if hold != nil {
		if *hold == want {
			c.mu.Unlock()
			return nil, nil
		}
		want = *hold
	}
	bare := hold == nil && ctl.peerUpdate
	next := c.local
	next.direction = offerDirection(want, ctl.mm.remoteHold)
	if !sameSession(next, c.local) {
		next.version++
	}
	target := ctl.target
	hdrs := ctl.timers.requestHeaders(ctl.minSE)
	c.mu.Unlock()

	method := sip.INVITE
	if bare {
		method = sip.UPDATE
	}
	req := sip.NewRequest(method, target)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader("User-Agent", c.b.cfg.UserAgent))
	if !bare {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(buildSDP(next))
	}
	tx, err := c.dialogRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	res, err := c.finalResponse(tx)
	if err != nil {
		tx.Terminate()
		if errors.Is(err, ErrCallEnded) {
			return nil, err
		}
		c.b.log.Info("sip "+strings.ToLower(string(method))+" got no answer", "call", c.id, "err", err)
		// A transaction timeout counts as 408 (RFC 3261 section 8.1.3.1).
		return &sip.Response{StatusCode: sip.StatusRequestTimeout, Reason: "Request Timeout"}, nil
	}
	if method == sip.INVITE && res.IsSuccess() {
		if err := c.ackReinvite(tx, req, res); err != nil {
			c.b.log.Info("sip ack of re-invite failed", "call", c.id, "err", err)
		}
	} else {
		tx.Terminate()
	}
	switch {
	case res.IsSuccess():
		now := time.Now()
		timers, terr := uacTimer(res, now)
		if terr != nil {
			c.b.log.Info("sip session-expires ignored", "call", c.id, "err", terr)
		}
		c.mu.Lock()
		c.noteTargetLocked(res)
		ctl.timers = timers
		c.armLocked(now)
		c.mu.Unlock()
		if !bare {
			if err := c.applyAnswerSDP(next, res.Body(), "our "+string(method)); err != nil {
				return nil, err
			}
		}
	case res.StatusCode == 422:
		c.mu.Lock()
		ctl.minSE = max(ctl.minSE, minSEOf(res))
		c.mu.Unlock()
	}
	return res, nil
}

// finalResponse waits for the final response of tx, or the call's end.
func (c *Call) finalResponse(tx sip.ClientTransaction) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("transaction ended without an answer")
		case <-c.done:
			return nil, ErrCallEnded
		}
	}
}

// dialogRequest sends req inside the call's dialog (headers, CSeq and
// route set from the dialog, RFC 3261 section 12.2.1).
func (c *Call) dialogRequest(req *sip.Request) (sip.ClientTransaction, error) {
	switch {
	case c.out != nil:
		return c.out.TransactionRequest(c.b.forceCtx, req)
	case c.in != nil:
		return c.in.dss.TransactionRequest(c.b.forceCtx, req)
	}
	return nil, ErrCallState
}

// dialogClient is the SIP client of the call's dialog, for the ACKs that
// go to the transport directly.
func (c *Call) dialogClient() *sipgo.Client {
	if c.out != nil {
		return c.out.UA.Client
	}
	c.b.mu.Lock()
	st := c.b.sip
	c.b.mu.Unlock()
	if st == nil {
		return nil
	}
	return st.client(strings.ToLower(c.in.dss.InviteRequest.Transport()))
}

// ackReinvite acknowledges the 2xx of our re-INVITE: a request of the
// dialog with the INVITE's CSeq number, sent to the transport directly
// (RFC 3261 section 13.2.2.4), and sent again for every retransmission of
// the 2xx while the transaction absorbs them.
func (c *Call) ackReinvite(tx sip.ClientTransaction, req *sip.Request, res *sip.Response) error {
	client := c.dialogClient()
	if client == nil {
		return ErrNotReady
	}
	uri := req.Recipient
	if ct := res.Contact(); ct != nil {
		uri = ct.Address
	}
	ack := sip.NewRequest(sip.ACK, *uri.Clone())
	ack.SipVersion = req.SipVersion
	for _, h := range req.GetHeaders("Route") {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.AppendHeader(sip.HeaderClone(req.From()))
	ack.AppendHeader(sip.HeaderClone(res.To()))
	ack.AppendHeader(sip.HeaderClone(req.CallID()))
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	ack.SetTransport(req.Transport())
	if len(req.GetHeaders("Route")) == 0 {
		ack.SetDestination(req.Destination())
	}
	ack.SetBody(nil)
	if err := sipgo.ClientRequestAddVia(client, ack); err != nil {
		return err
	}
	again := ack.Clone()
	asIs := func(*sipgo.Client, *sip.Request) error { return nil }
	tx.OnRetransmission(func(r *sip.Response) {
		if r.IsSuccess() {
			_ = client.WriteRequest(again.Clone(), asIs)
		}
	})
	return client.WriteRequest(ack, asIs)
}

// applyAnswerSDP applies the far end's SDP answer body to our offer
// ours. why names the exchange in the log. An unusable answer leaves the
// session as it was (RFC 3261 section 14.1) and is returned as an error.
func (c *Call) applyAnswerSDP(ours sdpParams, body []byte, why string) error {
	ans, err := ParseSDP(body)
	var audio Codec
	var dtmf *Codec
	if err == nil {
		audio, dtmf, err = Negotiate(ans, ours.codecs)
	}
	if err != nil {
		c.b.log.Info("sip answer unusable", "call", c.id, "why", why, "err", err)
		return fmt.Errorf("answer: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.local = ours
	// Later offers name only what was agreed.
	c.local.codecs = []Codec{audio}
	c.local.dtmf = nil
	if dtmf != nil {
		c.local.dtmf = []Codec{*dtmf}
	}
	c.applyMediaLocked(weOffered, ours.direction, ans, audio, dtmf, why)
	return nil
}

// noteTargetLocked takes a far end's target refresh (RFC 3261 section
// 12.2): its Contact and Allow. c.mu held.
func (c *Call) noteTargetLocked(m sipHeaders) {
	ctl := &c.ctl
	var ct *sip.ContactHeader
	switch m := m.(type) {
	case *sip.Request:
		ct = m.Contact()
	case *sip.Response:
		ct = m.Contact()
	}
	if ct != nil {
		ctl.target = *ct.Address.Clone()
	}
	if len(m.GetHeaders("Allow")) > 0 {
		ctl.peerUpdate = allows(m, sip.UPDATE)
	}
}

// sameSession reports whether two SDPs of ours describe the same session,
// their o= versions aside (RFC 3264 section 8: the version changes only
// with the session).
func sameSession(a, b sdpParams) bool {
	return a.sessionID == b.sessionID && a.addr == b.addr && a.port == b.port && a.direction == b.direction &&
		a.ptime == b.ptime && slices.Equal(a.codecs, b.codecs) && slices.Equal(a.dtmf, b.dtmf)
}

// onReoffer answers a far end's re-INVITE or UPDATE in the call's dialog:
// hold, resume, a moved address, another codec, a session refresh, or a
// re-INVITE without SDP, which we answer with an offer and whose ACK
// carries their answer.
func (c *Call) onReoffer(req *sip.Request, tx sip.ServerTransaction) {
	ctl := c.control()
	invite := req.IsInvite()
	c.mu.Lock()
	live := !c.ended && c.media != nil && ctl.mm.phase == phaseLive
	cseq := req.CSeq().SeqNo
	inOrder := cseq >= ctl.remoteCSeq
	if live && inOrder {
		ctl.remoteCSeq = cseq
	}
	c.mu.Unlock()
	switch {
	case !live:
		// Not answered yet (or over): nothing to change now.
		c.reply(tx, req, sip.StatusRequestPending, "Request Pending")
		return
	case !inOrder:
		c.reply(tx, req, sip.StatusInternalServerError, "CSeq Out of Order")
		return
	}
	if owner, ok := c.claimForThem(); !ok {
		if owner == ownerUs {
			// Glare: ours is pending (RFC 3261 section 14.2).
			c.reply(tx, req, sip.StatusRequestPending, "Request Pending")
			return
		}
		// Their earlier INVITE still waits for its ACK.
		c.reply(tx, req, sip.StatusInternalServerError, "Server Internal Error",
			sip.NewHeader("Retry-After", strconv.Itoa(rand.N(11)))) //nolint:gosec // Retry-After spread; math/rand/v2 is ChaCha8 seeded by the runtime
		return
	}
	defer c.release()

	now := time.Now()
	c.mu.Lock()
	timers, tooSmall, terr := uasTimer(req, ctl.timers, c.b.cfg.MinSE, now)
	c.mu.Unlock()
	switch {
	case terr != nil:
		c.reply(tx, req, sip.StatusBadRequest, "Bad Session-Expires")
		return
	case tooSmall:
		c.reply(tx, req, 422, "Session Interval Too Small",
			sip.NewHeader("Min-SE", strconv.FormatInt(int64(c.b.cfg.MinSE/time.Second), 10)))
		return
	}
	var offer *SDP
	if body := req.Body(); len(body) > 0 {
		var err error
		if offer, err = ParseSDP(body); err != nil {
			c.reply(tx, req, sip.StatusBadRequest, "Bad SDP")
			return
		}
	}

	var next sdpParams
	var audio Codec
	var dtmf *Codec
	c.mu.Lock()
	next = c.local
	switch {
	case offer != nil:
		var err error
		audio, dtmf, err = pickReoffer(offer, c.codec, ctl.accept)
		if err != nil {
			c.mu.Unlock()
			c.b.log.Info("sip re-offer refused", "call", c.id, "err", err)
			c.reply(tx, req, 488, "Not Acceptable Here")
			return
		}
		next.codecs, next.dtmf = []Codec{audio}, nil
		if dtmf != nil {
			next.dtmf = []Codec{*dtmf}
		}
		next.direction = answerDirection(offer.Direction, ctl.mm.localHold)
	case invite:
		// No SDP: we offer (RFC 3261 section 14.2), what we use now
		// first, then everything else we take.
		next.codecs, next.dtmf = OfferCodecs(append([]Codec{c.codec}, ctl.accept...))
		next.direction = offerDirection(ctl.mm.localHold, ctl.mm.remoteHold)
	}
	if !sameSession(next, c.local) {
		next.version = c.local.version + 1
	}
	hdrs := timers.responseHeaders()
	var got chan *sip.Request
	if invite {
		got = make(chan *sip.Request, 1)
		ctl.ack = &pendingAck{cseq: cseq, got: got}
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if ctl.ack != nil && ctl.ack.got == got {
			ctl.ack = nil
		}
		c.mu.Unlock()
	}()

	hdrs = append(hdrs, sip.NewHeader("Allow", allowMethods))
	var body []byte
	if offer != nil || invite {
		body = buildSDP(next)
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", body)
	c.sendReply(tx, req, res, hdrs...)
	why := "their " + string(req.Method)
	c.mu.Lock()
	c.noteTargetLocked(req)
	ctl.timers = timers
	c.armLocked(now)
	if offer != nil {
		// The answer is sent: the new session holds from now on.
		c.local = next
		c.applyMediaLocked(theyOffered, next.direction, offer, audio, dtmf, why)
	}
	c.mu.Unlock()
	if !invite {
		return
	}
	ack := c.awaitAck(tx, req, res, got)
	switch {
	case ack == nil:
		select {
		case <-c.done:
			return
		default:
		}
		// No ACK for 64*T1: the session should end (RFC 3261 section
		// 13.3.1.4).
		c.abortCall(CallEvent{Reason: monitor.ReasonFailed, Text: "Call dropped — the other side did not confirm a change of the call"}, true)
	case offer == nil:
		// Our offer went in the 200; the ACK carries their answer.
		if err := c.applyAnswerSDP(next, ack.Body(), why+" without sdp"); err != nil {
			c.abortCall(CallEvent{Reason: monitor.ReasonFailed, Text: "Call dropped — the other side's answer has no usable audio"}, true)
		}
	}
}

// takeAck passes an ACK to the far end's re-INVITE it confirms; false
// when it confirms none.
func (c *Call) takeAck(req *sip.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.ctl.ack
	if p == nil || req.CSeq() == nil || req.CSeq().SeqNo != p.cseq {
		return false
	}
	select {
	case p.got <- req:
	default:
	}
	return true
}

// awaitAck waits for the ACK of our 2xx res to a far end's re-INVITE,
// sending res again on UDP at T1, doubling up to T2, for 64*T1 (RFC 3261
// section 13.3.1.4); nil when none came or the call ended.
func (c *Call) awaitAck(tx sip.ServerTransaction, req *sip.Request, res *sip.Response, got <-chan *sip.Request) *sip.Request {
	udp := !sip.IsReliable(req.Transport())
	every := sip.T1
	again := time.NewTimer(every)
	defer again.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-got:
			return ack
		case <-again.C:
			if udp {
				_ = tx.Respond(res)
			}
			every = min(2*every, sip.T2)
			again.Reset(every)
		case <-giveUp.C:
			c.b.log.Info("sip no ack for re-invite answer", "call", c.id)
			return nil
		case <-c.done:
			return nil
		}
	}
}

// reply answers a request of the dialog with our Contact and hdrs.
func (c *Call) reply(tx sip.ServerTransaction, req *sip.Request, code int, reason string, hdrs ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	c.sendReply(tx, req, res, hdrs...)
	return res
}

// sendReply sends res with our Contact and hdrs.
func (c *Call) sendReply(tx sip.ServerTransaction, req *sip.Request, res *sip.Response, hdrs ...sip.Header) {
	c.b.mu.Lock()
	st := c.b.sip
	c.b.mu.Unlock()
	if st != nil && res.StatusCode >= 200 && res.StatusCode < 300 {
		contact := st.contact(c.acct.cfg.Username, strings.ToLower(req.Transport()))
		res.AppendHeader(&contact)
	}
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		c.b.log.Info("sip response not sent", "call", c.id, "status", res.StatusCode, "err", err)
	}
}

// pickReoffer chooses the codec of our answer to a far end's new offer:
// the one in use when it is still offered (with the offer's payload
// type), else the first of accept in the offer's order.
func pickReoffer(offer *SDP, cur Codec, accept []Codec) (Codec, *Codec, error) {
	if offer.Port != 0 {
		for _, o := range offer.Codecs {
			if o.SameFormat(cur) {
				return Negotiate(offer, []Codec{cur})
			}
		}
	}
	return Negotiate(offer, accept)
}
