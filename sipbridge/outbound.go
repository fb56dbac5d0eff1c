package sipbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"github.com/switchboard/switchboard/monitor"
)

// byeTimeout bounds a BYE or the ACK/BYE of a late 200.
const byeTimeout = 5 * time.Second

// targetURI turns what the user dialled into a Request-URI: a number or
// user goes to the account's domain; user@host and sip:/sips: URIs are
// used as given.
func (a *account) targetURI(target string) (sip.Uri, error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return sip.Uri{}, fmt.Errorf("empty target")
	}
	lower := strings.ToLower(t)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		if !strings.Contains(t, "@") {
			t = stripVisual(t) + "@" + a.cfg.Domain
		}
		t = "sip:" + t
	}
	var u sip.Uri
	if err := sip.ParseUri(t, &u); err != nil {
		return sip.Uri{}, fmt.Errorf("target %q: %w", target, err)
	}
	if u.User == "" || u.Host == "" {
		return sip.Uri{}, fmt.Errorf("target %q: needs a user and a host", target)
	}
	return u, nil
}

// stripVisual removes the visual separators of a typed number, which
// are not part of it.
func stripVisual(number string) string {
	return strings.NewReplacer(" ", "", "-", "", "(", "", ")", "", "/", "").Replace(number)
}

// uriHostPort is host:port of u with the SIP default port.
func uriHostPort(u sip.Uri) string {
	p := u.Port
	if p == 0 {
		p = 5060
		if u.IsEncrypted() {
			p = 5061
		}
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(p))
}

func hostOf(hostport string) string {
	h, _, _ := net.SplitHostPort(hostport)
	return h
}

func portOf(hostport string) int {
	_, p, _ := net.SplitHostPort(hostport)
	n, _ := strconv.Atoi(p)
	return n
}

// dial is Bridge.Dial for a known account.
func (b *Bridge) dial(ctx context.Context, a *account, target string, codecs []Codec) (*Call, error) {
	if b.stack() == nil {
		return nil, fmt.Errorf("dial %s: %w", target, ErrNotReady)
	}
	uri, err := a.targetURI(target)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return b.dialURI(ctx, a, uri, codecs, dialExtras{})
}

// dialExtras is what a call placed for a transfer carries beyond Dial's.
type dialExtras struct {
	// headers are added to the INVITE (Replaces, Referred-By).
	headers []sip.Header
	// transferredFrom is the call the new one replaces.
	transferredFrom monitor.CallID
	// observe sees the new call's events (refer.go).
	observe func(CallEvent)
	// transfer is recorded on the new call in the monitor.
	transfer *monitor.Transfer
}

// dialURI places a call from a to uri.
func (b *Bridge) dialURI(ctx context.Context, a *account, uri sip.Uri, codecs []Codec, ex dialExtras) (*Call, error) {
	target := uri.User
	st := b.stack()
	if st == nil {
		return nil, fmt.Errorf("dial %s: %w", target, ErrNotReady)
	}
	audio, dtmf := OfferCodecs(codecs)
	if len(audio) == 0 {
		return nil, fmt.Errorf("dial %s: %w: nothing to offer", target, ErrNoCommonCodec)
	}
	leg, err := listenRTP(netip.MustParseAddr(b.cfg.RTPListenIP), b.cfg.RTPPortMin, b.cfg.RTPPortMax, b.log)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	offer := sdpParams{
		sessionID: uint64(time.Now().UnixNano() & 0x7fffffffffff), version: 1,
		addr: netip.MustParseAddr(b.cfg.RTPAnnounceIP), port: leg.LocalAddr().Port(),
		codecs: audio, dtmf: dtmf, direction: SendRecv, ptime: 20,
	}
	body := buildSDP(offer)
	key := uuid.NewString()
	req := sip.NewRequest(sip.INVITE, uri)
	from := &sip.FromHeader{Address: a.aor(), Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	callID := sip.CallIDHeader(key)
	contact := st.contact(a.cfg.Username, a.transport)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}})
	req.AppendHeader(&callID)
	req.AppendHeader(&contact)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", b.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	// A second Supported line beside the timer headers' is the same as one
	// list (RFC 3261 section 7.3.1).
	req.AppendHeader(sip.NewHeader("Supported", "replaces"))
	for _, h := range append(b.inviteHeaders(), ex.headers...) {
		req.AppendHeader(h)
	}
	req.SetBody(body)
	req.SetTransport(strings.ToUpper(a.transport))
	if hop := a.nextHop(); hop != uriHostPort(uri) {
		// The registrar or outbound proxy is a preloaded route (RFC 3261
		// section 8.1.2), so that CANCEL and the ACK of an error take the
		// INVITE's path instead of heading for the Request-URI's host.
		route := sip.RouteHeader{Address: sip.Uri{Scheme: "sip", Host: hostOf(hop), Port: portOf(hop), UriParams: sip.NewParams()}}
		route.Address.UriParams.Add("lr", "")
		if a.transport != "udp" {
			route.Address.UriParams.Add("transport", a.transport)
		}
		req.AppendHeader(&route)
	}
	req.SetDestination(a.nextHop())

	c := newCall(b, a, key, monitor.Outbound, monitor.Party{Number: uri.User})
	c.local = offer
	c.tr.codecs = slices.Clone(codecs)
	c.tr.transferredFrom, c.tr.observe = ex.transferredFrom, ex.observe
	dua := &sipgo.DialogUA{Client: st.client(a.transport), ContactHDR: contact}
	// The call outlives the request that placed it.
	dcs, err := dua.WriteInvite(context.WithoutCancel(ctx), req)
	if err != nil {
		leg.Close()
		return nil, fmt.Errorf("dial %s: invite: %w", target, err)
	}
	c.out = dcs
	if !b.addCall(c) {
		leg.Close()
		_ = dcs.Close()
		return nil, fmt.Errorf("dial %s: %w", target, ErrNotReady)
	}
	mc := monitor.Call{
		Direction: monitor.Outbound,
		From:      monitor.Party{Number: a.cfg.Username, Account: a.cfg.Name},
		To:        monitor.Party{Number: uri.User},
		Line:      a.cfg.Name,
	}
	if ex.transfer != nil {
		mc.Transfers = []monitor.Transfer{*ex.transfer}
	}
	a.tracker.Start(c.tkey, mc)
	c.emit(CallEvent{State: StateTrying, Text: "Trying"})
	go c.runOutbound(dcs, leg, audio)
	return c, nil
}

// runOutbound owns an outgoing call from INVITE to end.
func (c *Call) runOutbound(dcs *sipgo.DialogClientSession, leg *RTPLeg, offered []Codec) {
	defer c.b.removeCall(c)
	defer dcs.Close()
	a := c.acct

	// Hangup or the ring timeout cancel the wait, and WaitAnswer then
	// sends CANCEL (RFC 3261 section 9.1).
	wctx, cancel := context.WithCancel(c.b.forceCtx)
	defer cancel()
	stopWatch := make(chan struct{})
	watchDone := make(chan monitor.Reason, 1)
	go func() {
		ring := time.NewTimer(c.b.cfg.RingTimeout)
		defer ring.Stop()
		select {
		case <-c.hangup:
			watchDone <- monitor.ReasonCancelled
			cancel()
		case <-ring.C:
			watchDone <- monitor.ReasonNoAnswer
			cancel()
		case <-stopWatch:
			watchDone <- ""
		}
	}()
	opts := sipgo.AnswerOptions{
		Username: a.authUser(),
		Password: a.password,
		OnResponse: func(res *sip.Response) error {
			c.provisional(res, leg, offered)
			return nil
		},
	}
	err := dcs.WaitAnswer(wctx, opts)
	for try := 1; try < maxOfferTries && retryTooSmall(wctx, dcs, err); try++ {
		err = dcs.WaitAnswer(wctx, opts)
	}
	close(stopWatch)
	why := <-watchDone
	if err != nil {
		c.outboundFailed(dcs, leg, err, why)
		return
	}

	res := dcs.InviteResponse
	if why == monitor.ReasonCancelled || why == monitor.ReasonNoAnswer {
		// The answer crossed the hangup: acknowledge it, then leave.
		c.outboundFailed(dcs, leg, context.Canceled, why)
		return
	}
	actx, acancel := context.WithTimeout(c.b.forceCtx, byeTimeout)
	ackErr := dcs.Ack(actx)
	acancel()
	if ackErr != nil {
		c.finish(leg, CallEvent{Reason: monitor.ReasonFailed, Status: res.StatusCode, Text: "Call failed: could not acknowledge the answer"})
		return
	}
	audio, dtmf, remote, err := answerMedia(res.Body(), offered)
	if err != nil {
		c.bye(dcs)
		c.finish(leg, CallEvent{Reason: monitor.ReasonFailed, Status: 488, Text: "No common audio format with the other side"})
		return
	}
	c.negotiated(audio, dtmf, leg, remote)
	c.mu.Lock()
	// Later offers and answers (re-INVITE) name only what was agreed.
	c.local.codecs, c.local.dtmf = []Codec{audio}, nil
	if dtmf != nil {
		c.local.dtmf = []Codec{*dtmf}
	}
	c.mu.Unlock()
	a.tracker.Answer(c.tkey, nil, time.Time{})
	ans, _ := ParseSDP(res.Body())
	media := c.startMedia(offered, weOffered, SendRecv, ans, audio, dtmf, res)
	codec := audio
	c.emit(CallEvent{State: StateConnected, Status: res.StatusCode, Text: res.Reason, Codec: &codec, Media: media})
	c.inCall(leg, func() { c.bye(dcs) }, dcs.Context())
}

// provisional turns a 1xx into an event; a 183 with SDP opens early
// media (RFC 3960).
func (c *Call) provisional(res *sip.Response, leg *RTPLeg, offered []Codec) {
	switch {
	case res.StatusCode == 100:
		c.emit(CallEvent{State: StateTrying, Status: 100, Text: res.Reason})
	case res.StatusCode == 183 && len(res.Body()) > 0:
		audio, dtmf, remote, err := answerMedia(res.Body(), offered)
		if err != nil {
			c.b.log.Info("sip early media unusable", "call", c.id, "err", err)
			c.emit(CallEvent{State: StateRinging, Status: res.StatusCode, Text: res.Reason})
			return
		}
		if _, ok := c.Codec(); ok {
			return
		}
		c.negotiated(audio, dtmf, leg, remote)
		codec := audio
		c.emit(CallEvent{State: StateEarly, Status: res.StatusCode, Text: res.Reason, Codec: &codec})
	case res.StatusCode > 100 && res.StatusCode < 200:
		if c.State() == StateEarly {
			return
		}
		c.emit(CallEvent{State: StateRinging, Status: res.StatusCode, Text: res.Reason})
	}
}

// answerMedia reads the SDP answer: the first answered codec that we
// offered, with the answer's payload type (what the far end expects to
// receive, RFC 3264 section 5.1).
func answerMedia(body []byte, offered []Codec) (Codec, *Codec, netip.AddrPort, error) {
	ans, err := ParseSDP(body)
	if err != nil {
		return Codec{}, nil, netip.AddrPort{}, err
	}
	audio, dtmf, err := Negotiate(ans, offered)
	if err != nil {
		return Codec{}, nil, netip.AddrPort{}, err
	}
	return audio, dtmf, ans.RTPAddr(), nil
}

// outboundFailed ends a call whose INVITE got no 2xx.
func (c *Call) outboundFailed(dcs *sipgo.DialogClientSession, leg *RTPLeg, err error, why monitor.Reason) {
	var dr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dr):
		reason, text := failureText(dr.Res.StatusCode, dr.Res.Reason)
		if dr.Res.StatusCode == sip.StatusRequestTerminated {
			// A 487 may carry a Reason (RFC 8606): cause 200 says the call
			// was taken by another device (a pickup), not cancelled.
			rs, rerr := messageReasons(dr.Res)
			if rerr != nil {
				c.b.log.Info("sip 487 with a bad Reason header", "call", c.id, "err", rerr)
			}
			if answeredElsewhere(rs) {
				reason, text = monitor.ReasonAnsweredElsewhere, "Answered elsewhere"
			}
		}
		c.finish(leg, CallEvent{Reason: reason, Status: dr.Res.StatusCode, Text: text})
	case why != "":
		// A 200 that crossed our CANCEL still made a dialog: close it
		// (RFC 3261 section 15).
		if res := dcs.InviteResponse; res != nil && res.IsSuccess() {
			actx, cancel := context.WithTimeout(c.b.forceCtx, byeTimeout)
			if dcs.Ack(actx) == nil {
				c.bye(dcs)
			}
			cancel()
		}
		text := "Cancelled"
		status := 487
		if why == monitor.ReasonNoAnswer {
			text, status = "No answer — nobody picked up", 408
		}
		c.finish(leg, CallEvent{Reason: why, Status: status, Text: text})
	default:
		c.b.log.Info("sip invite failed", "call", c.id, "err", err)
		c.finish(leg, CallEvent{Reason: monitor.ReasonFailed, Status: 408, Text: "No answer from the phone system — the call timed out"})
	}
}

// bye sends BYE on an outgoing dialog.
func (c *Call) bye(dcs *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(c.b.forceCtx, byeTimeout)
	defer cancel()
	if err := dcs.Bye(ctx); err != nil {
		c.b.log.Info("sip bye failed", "call", c.id, "err", err)
	}
}

// inCall waits, for a connected call, for a local hangup, the far end's
// BYE (dialog context done) or the media timeout.
func (c *Call) inCall(leg *RTPLeg, bye func(), dialog context.Context) {
	tick := time.NewTicker(c.mediaCheckInterval())
	defer tick.Stop()
	ctl := c.control()
	// Session refreshes run beside the loop, so that a hangup never waits
	// for one; the call ends only after them.
	var refreshes sync.WaitGroup
	defer refreshes.Wait()
	for {
		select {
		case <-c.hangup:
			bye()
			c.finish(leg, CallEvent{Reason: monitor.ReasonCompleted, Text: "Hung up"})
			return
		case <-dialog.Done():
			c.finish(leg, CallEvent{Reason: monitor.ReasonCompleted, Text: "The other side hung up"})
			return
		case now := <-tick.C:
			if c.mediaTimedOut(leg, now) {
				text := "Call dropped — no audio from the other side"
				c.mediaLost(text)
				bye()
				c.finish(leg, CallEvent{Reason: monitor.ReasonFailed, Text: text})
				return
			}
		case now := <-ctl.timer.C:
			switch c.sessionDue(now) {
			case sessionRefresh:
				refreshes.Go(c.refreshSession)
			case sessionExpired:
				bye()
				c.finish(leg, CallEvent{Reason: monitor.ReasonFailed, Text: "Call dropped — the other side stopped refreshing the session"})
				return
			}
		case a := <-ctl.abort:
			if a.bye {
				bye()
			}
			c.finish(leg, a.ev)
			return
		}
	}
}
