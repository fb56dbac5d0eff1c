package sipbridge

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// supportedCodecs are the formats the softphone can pass through; an
// incoming offer without any of them is refused with 488 at once.
var supportedCodecs = []Codec{CodecOpus, CodecG722, CodecPCMU, CodecPCMA}

// inboundCall is the UAS side of an incoming call.
type inboundCall struct {
	dss   *sipgo.DialogServerSession
	offer *SDP
	// decide carries Answer and Reject to the INVITE handler, which sends
	// every response itself (sipgo issue #110).
	decide chan decision
}

type decision struct {
	accept []Codec
	code   int
	reply  chan decisionResult
}

type decisionResult struct {
	codec Codec
	err   error
}

// ask hands a decision to the INVITE handler and waits for its outcome.
func (in *inboundCall) ask(ctx context.Context, c *Call, d decision) (Codec, error) {
	d.reply = make(chan decisionResult, 1)
	select {
	case in.decide <- d:
	case <-c.done:
		return Codec{}, ErrCallEnded
	case <-ctx.Done():
		return Codec{}, ctx.Err()
	}
	select {
	case r := <-d.reply:
		return r.codec, r.err
	case <-ctx.Done():
		return Codec{}, ctx.Err()
	}
}

func (in *inboundCall) answer(ctx context.Context, c *Call, accept []Codec) (Codec, error) {
	return in.ask(ctx, c, decision{accept: accept})
}

func (in *inboundCall) reject(ctx context.Context, c *Call, code int) error {
	if code < 400 || code > 699 {
		code = sip.StatusGlobalDecline
	}
	_, err := in.ask(ctx, c, decision{code: code})
	return err
}

// accountFor finds the account an INVITE is for: the Request-URI user
// (kamailio rewrites it to our registered Contact), else the To user.
func (b *Bridge) accountFor(req *sip.Request) *account {
	users := []string{req.Recipient.User}
	if to := req.To(); to != nil {
		users = append(users, to.Address.User)
	}
	for _, u := range users {
		for _, a := range b.accounts {
			if u != "" && u == a.cfg.Username {
				return a
			}
		}
	}
	return nil
}

// respond answers a request outside any dialog.
func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

// onInvite handles an incoming INVITE. It blocks until the call is
// answered, rejected or given up, so that every response is sent from
// here; an answered call then continues in a goroutine of its own.
func (b *Bridge) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	b.counters.Events.Add(1)
	if to := req.To(); to != nil && to.Params.Has("tag") {
		b.onReinvite(req, tx)
		return
	}
	if hs := req.GetHeaders("Replaces"); len(hs) > 0 {
		b.onReplacingInvite(req, tx, hs)
		return
	}
	a := b.accountFor(req)
	if a == nil {
		respond(tx, req, sip.StatusNotFound, "Not Found")
		return
	}
	b.mu.Lock()
	fn := b.onIncoming
	b.mu.Unlock()
	if fn == nil {
		respond(tx, req, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
		return
	}
	// A burst of calls must not ring without end: past the cap the caller
	// hears busy (RFC 3261 section 21.4.24), and the call is neither shown
	// nor kept in the history.
	if !a.takeRinging() {
		b.metrics.refused(a.cfg.Name, refusedRinging)
		b.log.Debug("sip incoming call over the ringing cap", "account", a.cfg.Name, "max_ringing_calls", a.cfg.MaxRingingCalls)
		respond(tx, req, sip.StatusBusyHere, "Busy Here")
		return
	}
	defer a.doneRinging()
	offer, err := ParseSDP(req.Body())
	if err == nil {
		_, _, err = Negotiate(offer, supportedCodecs)
	}
	if err != nil {
		// Late offers (INVITE without SDP) are not supported either.
		b.log.Info("sip incoming call refused", "account", a.cfg.Name, "err", err)
		respond(tx, req, 488, "Not Acceptable Here")
		return
	}
	if b.refuseTimer(req, tx) {
		return
	}
	st := b.stack()
	if st == nil {
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	// The CANCEL's Reason (RFC 3326) tells "the caller hung up" from
	// "another device took the call": a forking registrar cancels the
	// other branches with cause 200 when one answers. This callback is
	// registered before ReadInvite's, so it runs before the dialog's
	// context ends. A CANCEL that came before this handler got here (the
	// transaction is already cancelled, OnCancel says false) has no
	// reason to read: that call ends as the caller hanging up.
	cancelled := make(chan []ReasonValue, 1)
	_ = tx.OnCancel(func(r *sip.Request) {
		rs, err := messageReasons(r)
		if err != nil {
			b.log.Info("sip cancel with a bad Reason header, taken as the caller hanging up", "account", a.cfg.Name, "err", err)
		}
		select {
		case cancelled <- rs:
		default:
		}
	})
	transport := strings.ToLower(req.Transport())
	dua := &sipgo.DialogUA{Client: st.client(transport), ContactHDR: st.contact(a.cfg.Username, transport)}
	dss, err := dua.ReadInvite(req, tx)
	if err != nil {
		b.log.Info("sip bad invite", "account", a.cfg.Name, "err", err)
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	defer dss.Close()
	remote := monitor.Party{}
	if from := req.From(); from != nil {
		remote = monitor.Party{Number: from.Address.User, Name: strings.Trim(from.DisplayName, `"`)}
	}
	key := req.CallID().Value()
	c := newCall(b, a, key, monitor.Inbound, remote)
	c.offered = offer.Codecs
	c.in = &inboundCall{dss: dss, offer: offer, decide: make(chan decision)}
	if !b.addCall(c) {
		_ = dss.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		return
	}
	answered := false
	defer func() {
		if !answered {
			b.removeCall(c)
		}
	}()
	_ = dss.Respond(sip.StatusTrying, "Trying", nil)
	if err := dss.Respond(sip.StatusRinging, "Ringing", nil); err != nil {
		c.finish(nil, CallEvent{Reason: monitor.ReasonFailed, Text: "Call failed: could not signal ringing"})
		return
	}
	a.tracker.Start(c.tkey, monitor.Call{
		Direction: monitor.Inbound,
		From:      remote,
		To:        monitor.Party{Number: a.cfg.Username, Account: a.cfg.Name},
		Line:      a.cfg.Name,
	})
	c.emit(CallEvent{State: StateRinging, Status: sip.StatusRinging, Text: "Ringing"})
	fn(c)

	ring := time.NewTimer(b.cfg.RingTimeout)
	defer ring.Stop()
	for {
		select {
		case d := <-c.in.decide:
			if d.code != 0 {
				_ = dss.Respond(d.code, reasonPhrase(d.code), nil)
				reason, text := failureText(d.code, reasonPhrase(d.code))
				if d.code == sip.StatusTemporarilyUnavailable {
					reason = monitor.ReasonRejected
				}
				c.finish(nil, CallEvent{Reason: reason, Status: d.code, Text: text})
				d.reply <- decisionResult{}
				return
			}
			codec, leg, err := c.acceptInbound(d.accept)
			if err != nil {
				d.reply <- decisionResult{err: err}
				return
			}
			answered = true
			d.reply <- decisionResult{codec: codec}
			go func() {
				defer b.removeCall(c)
				c.inCall(leg, c.inboundBye, dss.Context())
			}()
			return
		case <-c.hangup:
			_ = dss.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
			c.finish(nil, CallEvent{Reason: monitor.ReasonNoAnswer, Status: sip.StatusTemporarilyUnavailable, Text: "Not answered"})
			return
		case <-dss.Context().Done():
			// CANCEL: the transaction layer already sent 200 and 487
			// (RFC 3261 section 9.2).
			var rs []ReasonValue
			select {
			case rs = <-cancelled:
			default:
			}
			c.finish(nil, cancelEnding(rs))
			return
		case <-ring.C:
			_ = dss.Respond(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable", nil)
			c.finish(nil, CallEvent{Reason: monitor.ReasonNoAnswer, Status: sip.StatusTemporarilyUnavailable, Text: "Not answered"})
			return
		}
	}
}

// cancelEnding is how a ringing incoming call ends on a CANCEL with the
// reasons rs: answered elsewhere when the reasons say so, else the caller
// hung up.
func cancelEnding(rs []ReasonValue) CallEvent {
	if answeredElsewhere(rs) {
		return CallEvent{Reason: monitor.ReasonAnsweredElsewhere, Status: sip.StatusRequestTerminated, Text: "Answered elsewhere"}
	}
	return CallEvent{Reason: monitor.ReasonCancelled, Status: sip.StatusRequestTerminated, Text: "The caller hung up"}
}

// acceptInbound answers with 200 OK and SDP and waits for the ACK; on
// failure the call is finished.
func (c *Call) acceptInbound(accept []Codec) (Codec, *RTPLeg, error) {
	in, b := c.in, c.b
	audio, dtmf, err := Negotiate(in.offer, accept)
	if err != nil {
		_ = in.dss.Respond(488, "Not Acceptable Here", nil)
		c.finish(nil, CallEvent{Reason: monitor.ReasonFailed, Status: 488, Text: "No common audio format with the caller"})
		return Codec{}, nil, fmt.Errorf("answer: %w", err)
	}
	leg, err := listenRTP(netip.MustParseAddr(b.cfg.RTPListenIP), b.cfg.RTPPortMin, b.cfg.RTPPortMax, b.log)
	if err != nil {
		_ = in.dss.Respond(sip.StatusServiceUnavailable, "Service Unavailable", nil)
		c.finish(nil, CallEvent{Reason: monitor.ReasonFailed, Status: 503, Text: "Call failed: no free media port"})
		return Codec{}, nil, fmt.Errorf("answer: %w", err)
	}
	var dtmfs []Codec
	if dtmf != nil {
		dtmfs = append(dtmfs, *dtmf)
	}
	local := sdpParams{
		sessionID: uint64(time.Now().UnixNano() & 0x7fffffffffff), version: 1,
		addr: netip.MustParseAddr(b.cfg.RTPAnnounceIP), port: leg.LocalAddr().Port(),
		codecs: []Codec{audio}, dtmf: dtmfs, direction: in.offer.Direction.reverse(), ptime: 20,
	}
	c.mu.Lock()
	c.local = local
	if c.tr.codecs == nil {
		c.tr.codecs = slices.Clone(accept)
	}
	c.mu.Unlock()
	c.negotiated(audio, dtmf, leg, in.offer.RTPAddr())
	hdrs := append(c.inviteTimer(in.dss.InviteRequest), sip.NewHeader("Content-Type", "application/sdp"), sip.NewHeader("Allow", allowMethods))
	if err := in.dss.Respond(sip.StatusOK, "OK", buildSDP(local), hdrs...); err != nil {
		c.finish(leg, CallEvent{Reason: monitor.ReasonFailed, Status: 200, Text: "Call failed: the caller did not confirm the answer"})
		return Codec{}, nil, fmt.Errorf("answer: %w", err)
	}
	c.acct.tracker.Answer(c.tkey, nil, time.Time{})
	media := c.startMedia(accept, theyOffered, local.direction, in.offer, audio, dtmf, in.dss.InviteRequest)
	codec := audio
	c.emit(CallEvent{State: StateConnected, Status: 200, Text: "OK", Codec: &codec, Media: media})
	return audio, leg, nil
}

// inboundBye sends BYE on an incoming dialog.
func (c *Call) inboundBye() {
	ctx, cancel := context.WithTimeout(c.b.forceCtx, byeTimeout)
	defer cancel()
	if err := c.in.dss.Bye(ctx); err != nil {
		c.b.log.Info("sip bye failed", "call", c.id, "err", err)
	}
}

// onReinvite answers an in-dialog INVITE (hold, resume, a moved peer,
// another codec, a session refresh): reinvite.go.
func (b *Bridge) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := b.lookupCall(req.CallID().Value())
	if c == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.onReoffer(req, tx)
}

// onUpdate answers an UPDATE (RFC 3311) like a re-INVITE without its ACK.
func (b *Bridge) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	b.counters.Events.Add(1)
	b.onReinvite(req, tx)
}

// onAck passes an ACK to the incoming dialog it confirms.
func (b *Bridge) onAck(req *sip.Request, tx sip.ServerTransaction) {
	c := b.lookupCall(req.CallID().Value())
	if c == nil || c.takeAck(req) {
		return
	}
	if c.in != nil {
		_ = c.in.dss.ReadAck(req, tx)
	}
}

// onBye ends the call the far end hangs up.
func (b *Bridge) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := b.lookupCall(req.CallID().Value())
	var err error
	switch {
	case c == nil:
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	case c.out != nil:
		err = c.out.ReadBye(req, tx)
	case c.in != nil:
		err = c.in.dss.ReadBye(req, tx)
	}
	if err != nil {
		b.log.Info("sip bye not matched", "call", c.id, "err", err)
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
}

// onOptions answers keep-alive probes.
func (b *Bridge) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Supported", "replaces, timer"))
	_ = tx.Respond(res)
}

// reasonPhrase is the RFC 3261 section 21 phrase of the codes Reject
// sends.
func reasonPhrase(code int) string {
	switch code {
	case sip.StatusBusyHere:
		return "Busy Here"
	case sip.StatusGlobalDecline:
		return "Decline"
	case sip.StatusTemporarilyUnavailable:
		return "Temporarily Unavailable"
	case sip.StatusNotFound:
		return "Not Found"
	case 600:
		return "Busy Everywhere"
	}
	return "Rejected"
}
