package sipbridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/switchboard/switchboard/monitor"
)

// Transfers with REFER (RFC 3515) both ways. sipgo has no REFER or
// subscription state machine, so the implicit subscription a REFER
// creates (its NOTIFYs with message/sipfrag bodies) is kept here, per
// call: at most one transfer this side started, and the NOTIFYs of each
// REFER the far end sent.

// transferState is a call's transfer state; all of it under Call.mu.
type transferState struct {
	// codecs are what the call was placed or answered with, in
	// preference order; a call that replaces it offers them.
	codecs []Codec
	// transferredFrom is the call this one replaces.
	transferredFrom monitor.CallID
	// xfer is the transfer this side started, until its outcome.
	xfer *referOut
	// refers counts the REFERs accepted from the far end.
	refers int
	// ending, when set, is what a normal end of the call says (a
	// transfer moved the far end on).
	ending string
	// observe sees every event the call delivers; set before the first.
	observe func(CallEvent)
}

// referByeGrace is how long, after the call a REFER made us place was
// answered, the transferor gets to send its BYE (RFC 5589 section 6:
// it ends the old call) before we end it ourselves.
const referByeGrace = 2 * time.Second

// referOut is a transfer this side started: a REFER the far end
// accepted, waiting for the NOTIFY that carries the final status.
type referOut struct {
	kind monitor.TransferKind
	// target is who the far end is handed to.
	target monitor.Party
	// consult is the consultation call of an attended transfer.
	consult *Call
	notify  chan referNotify
}

// referNotify is one NOTIFY of a REFER's subscription.
type referNotify struct {
	frag sipfrag
	// terminated is set for Subscription-State: terminated.
	terminated bool
	// empty is set when the NOTIFY had no sipfrag body.
	empty bool
}

// ourParty is the account as a party of a call.
func (c *Call) ourParty() monitor.Party {
	return monitor.Party{Number: c.acct.cfg.Username, Account: c.acct.cfg.Name}
}

// transfer is Transfer.
func (c *Call) transfer(ctx context.Context, target string) error {
	uri, err := c.acct.referURI(target)
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	x := &referOut{kind: monitor.TransferBlind, target: monitor.Party{Number: uri.User}}
	return c.startTransfer(ctx, "<"+(&uri).String()+">", x)
}

// referURI is the Refer-To of a blind transfer to target. The far end
// calls it itself, not through our registrar, so a number sent to the
// account's domain names the registrar's port when the domain is the
// registrar's host and the port is not the default.
func (a *account) referURI(target string) (sip.Uri, error) {
	uri, err := a.targetURI(target)
	if err != nil {
		return sip.Uri{}, err
	}
	t := strings.ToLower(strings.TrimSpace(target))
	if strings.HasPrefix(t, "sip:") || strings.HasPrefix(t, "sips:") || strings.Contains(t, "@") {
		return uri, nil
	}
	def := 5060
	if a.transport == "tls" {
		def = 5061
	}
	if uri.Port == 0 && strings.EqualFold(uri.Host, a.host) && a.port != def {
		uri.Port = a.port
	}
	if a.transport == "tcp" {
		if uri.UriParams == nil {
			uri.UriParams = sip.NewParams()
		}
		uri.UriParams.Add("transport", "tcp")
	}
	return uri, nil
}

// transferTo is TransferTo: the Refer-To names the consultation's far
// end by its Contact (RFC 5589 section 7) with a Replaces header naming
// the consultation dialog as that far end knows it, so its to-tag is the
// far end's tag and its from-tag ours (RFC 3891 section 3).
func (c *Call) transferTo(ctx context.Context, consult *Call) error {
	if consult == nil || consult == c || consult.b != c.b {
		return fmt.Errorf("attended transfer: %w: not a second call of this bridge", ErrCallState)
	}
	id, err := consult.identity()
	if err != nil {
		return fmt.Errorf("attended transfer: consultation call: %w", err)
	}
	rep := replaces{callID: consult.key, toTag: id.remoteTag, fromTag: id.localTag}
	target := *id.target.Clone()
	target.Headers = nil
	referTo := "<" + target.String() + "?Replaces=" + escapeURIHeader(rep.String()) + ">"
	x := &referOut{kind: monitor.TransferAttended, target: consult.Remote(), consult: consult}
	return c.startTransfer(ctx, referTo, x)
}

// startTransfer sends a REFER with referTo and, once it is accepted,
// follows its NOTIFYs in a goroutine of the bridge's call group.
func (c *Call) startTransfer(ctx context.Context, referTo string, x *referOut) error {
	x.notify = make(chan referNotify, 16)
	c.mu.Lock()
	var err error
	switch {
	case c.ended:
		err = ErrCallEnded
	case c.state != StateConnected:
		err = ErrCallState
	case c.tr.xfer != nil:
		err = ErrTransferPending
	default:
		// Registered before the REFER goes out: its first NOTIFY may
		// overtake the 202 (RFC 3515 section 2.4.4). Counted in the
		// bridge's call group while c is live, so that Run's wait for
		// the calls cannot have begun.
		c.tr.xfer = x
		c.b.callsWG.Add(1)
	}
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	followed := false
	defer func() {
		if !followed {
			c.b.callsWG.Done()
		}
	}()
	req, err := c.newInDialog(sip.REFER)
	if err != nil {
		c.clearTransfer(x)
		return fmt.Errorf("transfer: %w", err)
	}
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	// RFC 3892: who asks for the transfer.
	aor := c.acct.aor()
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+aor.String()+">"))
	rctx, cancel := context.WithTimeout(ctx, inDialogTimeout)
	res, err := c.sendInDialog(rctx, req)
	cancel()
	if err != nil {
		c.clearTransfer(x)
		c.transferProgress(TransferFailed, 0, "Transfer failed: the other side did not answer the transfer request — the call stays with you")
		return fmt.Errorf("transfer: %w", err)
	}
	if !res.IsSuccess() {
		c.clearTransfer(x)
		c.transferProgress(TransferFailed, res.StatusCode, referRefusedText(res.StatusCode, res.Reason))
		return fmt.Errorf("transfer: %w: %d %s", ErrRefused, res.StatusCode, res.Reason)
	}
	c.b.log.Info("sip transfer accepted", "call", c.id, "kind", x.kind, "to", x.target.Number)
	c.transferProgress(TransferTrying, res.StatusCode, "Transferring to "+partyName(x.target)+"…")
	followed = true
	go func() {
		defer c.b.callsWG.Done()
		c.followTransfer(x)
	}()
	return nil
}

// clearTransfer forgets x as the call's transfer.
func (c *Call) clearTransfer(x *referOut) {
	c.mu.Lock()
	if c.tr.xfer == x {
		c.tr.xfer = nil
	}
	c.mu.Unlock()
}

// transferProgress delivers a step of the call's transfer.
func (c *Call) transferProgress(state TransferState, status int, msg string) {
	c.emit(CallEvent{State: c.State(), Transfer: &TransferProgress{State: state, Status: status, Message: msg}})
}

// followTransfer reads the NOTIFYs of an accepted REFER until the final
// status, a terminated subscription, TransferTimeout, or the call's end.
func (c *Call) followTransfer(x *referOut) {
	timeout := time.NewTimer(c.b.cfg.TransferTimeout)
	defer timeout.Stop()
	ringing := false
	for {
		select {
		case n := <-x.notify:
			st := n.frag.status
			switch {
			case !n.empty && st >= 300:
				c.transferFailed(x, st, transferFailureText(x.target, st, n.frag.reason))
				return
			case !n.empty && st >= 200:
				c.transferSucceeded(x, st)
				return
			case n.terminated:
				c.transferFailed(x, 0, "Transfer failed: the other side stopped reporting before "+partyName(x.target)+" answered — the call stays with you")
				return
			case (st == 180 || st == 183) && !ringing:
				ringing = true
				c.transferProgress(TransferRinging, st, partyName(x.target)+" is ringing…")
			}
		case <-timeout.C:
			c.transferFailed(x, sip.StatusRequestTimeout, "Transfer failed: no word from the other side within "+c.b.cfg.TransferTimeout.String()+" — the call stays with you")
			return
		case <-c.done:
			return
		}
	}
}

// transferFailed ends a transfer that did not work; the call goes on.
func (c *Call) transferFailed(x *referOut, status int, msg string) {
	c.clearTransfer(x)
	c.b.log.Info("sip transfer failed", "call", c.id, "kind", x.kind, "to", x.target.Number, "status", status)
	c.transferProgress(TransferFailed, status, msg)
}

// transferSucceeded records the transfer in the monitor and ends our leg
// (RFC 5589 section 6: the transferor sends BYE); an attended transfer's
// consultation call ends as well (its far end normally ended it already,
// replaced by the transferee's INVITE).
func (c *Call) transferSucceeded(x *referOut, status int) {
	rec := monitor.Transfer{Kind: x.kind, Transferer: c.ourParty(), Transferred: c.remote, Targets: []monitor.Party{x.target}, At: time.Now()}
	c.acct.tracker.Update(c.tkey, func(mc *monitor.Call) { mc.Transfers = append(mc.Transfers, rec) })
	text := "Transferred to " + partyName(x.target)
	c.mu.Lock()
	if c.tr.xfer == x {
		c.tr.xfer = nil
	}
	c.tr.ending = text
	c.mu.Unlock()
	c.b.log.Info("sip transfer done", "call", c.id, "kind", x.kind, "to", x.target.Number)
	c.transferProgress(TransferAccepted, status, text)
	c.askHangup()
	if k := x.consult; k != nil {
		k.mu.Lock()
		k.tr.ending = "Transferred: " + partyName(c.remote) + " and " + partyName(x.target) + " talk to each other now"
		k.mu.Unlock()
		k.askHangup()
	}
}

// partyName is how a party is named in messages: its name, else its
// number.
func partyName(p monitor.Party) string {
	if p.Name != "" {
		return p.Name
	}
	if p.Number != "" {
		return p.Number
	}
	return "the other party"
}

// referRefusedText puts the refusal of a REFER into plain words.
func referRefusedText(status int, reason string) string {
	switch status {
	case sip.StatusForbidden, sip.StatusGlobalDecline:
		return "Transfer refused by the other side — the call stays with you"
	case sip.StatusMethodNotAllowed, sip.StatusNotImplemented:
		return "Transfer not possible — the other side cannot transfer calls; the call stays with you"
	case sip.StatusCallTransactionDoesNotExists:
		return "Transfer failed — the other side no longer knows this call"
	case sip.StatusUnauthorized, sip.StatusProxyAuthRequired:
		return "Transfer refused — the phone system asks for credentials inside the call; the call stays with you"
	}
	return fmt.Sprintf("Transfer refused: %d %s — the call stays with you", status, reason)
}

// transferFailureText puts a final sipfrag failure into plain words.
func transferFailureText(target monitor.Party, status int, reason string) string {
	who := partyName(target)
	var what string
	switch status {
	case sip.StatusBusyHere, 600:
		what = who + " is busy"
	case sip.StatusNotFound, 604:
		what = who + " was not found — no such number or user"
	case sip.StatusGlobalDecline:
		what = who + " declined the call"
	case sip.StatusTemporarilyUnavailable:
		what = who + " cannot be reached now"
	case sip.StatusRequestTimeout, sip.StatusRequestTerminated:
		what = who + " did not answer"
	case sip.StatusForbidden:
		what = who + " may not be called from there"
	case 488, 606:
		what = "no common audio format with " + who
	default:
		what = strconv.Itoa(status) + " " + reason
	}
	return "Transfer failed: " + what + " — the call stays with you"
}

// onNotify takes a NOTIFY of a REFER's subscription (RFC 3515 section
// 2.4.4): answered 200 and handed to the transfer that waits for it; a
// NOTIFY no transfer waits for gets 481 (RFC 6665 section 4.1.3), one of
// another event package 489.
func (b *Bridge) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	b.counters.Events.Add(1)
	if h := req.GetHeader("Event"); h != nil {
		if ev, _, _ := strings.Cut(h.Value(), ";"); strings.EqualFold(strings.TrimSpace(ev), dialogEvent) {
			b.onDialogNotify(req, tx)
			return
		}
	}
	c := b.lookupCall(req.CallID().Value())
	if c == nil || !c.matches(req) {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	event := ""
	if h := req.GetHeader("Event"); h != nil {
		event, _, _ = strings.Cut(h.Value(), ";")
	}
	if !strings.EqualFold(strings.TrimSpace(event), "refer") {
		respond(tx, req, 489, "Bad Event")
		return
	}
	c.mu.Lock()
	x := c.tr.xfer
	c.mu.Unlock()
	if x == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Subscription Does Not Exist")
		return
	}
	n := referNotify{}
	if h := req.GetHeader("Subscription-State"); h != nil {
		state, _, _ := strings.Cut(h.Value(), ";")
		n.terminated = strings.EqualFold(strings.TrimSpace(state), "terminated")
	}
	if len(req.Body()) == 0 {
		n.empty = true
	} else {
		f, err := parseSipfrag(req.Body())
		if err != nil {
			b.log.Info("sip notify not understood", "call", c.id, "err", err)
			respond(tx, req, sip.StatusBadRequest, "Bad Request")
			return
		}
		n.frag = f
	}
	respond(tx, req, sip.StatusOK, "OK")
	b.log.Debug("sip transfer progress", "call", c.id, "status", n.frag.status, "terminated", n.terminated)
	select {
	case x.notify <- n:
	default:
		// Sixteen NOTIFYs unread means the follower is gone.
	}
}

// onRefer takes a REFER from the far end of a call (we are transferred):
// checked (RFC 3515 section 2.4.2: exactly one Refer-To, else 400; a URI
// we cannot call, 403; a target the account may not call, 603), accepted
// with 202, and followed by placing the new call from the same account
// and reporting its progress in NOTIFYs. A REFER outside a call is not
// acted on (403).
func (b *Bridge) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	b.counters.Events.Add(1)
	if toTag(req.To()) == "" {
		respond(tx, req, sip.StatusForbidden, "Forbidden")
		return
	}
	c := b.lookupCall(req.CallID().Value())
	if c == nil || !c.matches(req) {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	hs := req.GetHeaders("Refer-To")
	if len(hs) != 1 {
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	rt, err := parseReferTo(hs[0].Value())
	if err != nil {
		b.log.Info("sip refer not understood", "call", c.id, "err", err)
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	if (rt.scheme != "sip" && rt.scheme != "sips" && rt.scheme != "tel") || !inviteMethod(rt.uri) {
		respond(tx, req, sip.StatusForbidden, "Forbidden")
		return
	}
	var rep *replaces
	if v, ok := rt.header("Replaces"); ok {
		r, err := parseReplaces(v)
		if err != nil {
			respond(tx, req, sip.StatusBadRequest, "Bad Request")
			return
		}
		rep = &r
	}
	a := c.acct
	if rt.user == "" || !a.cfg.referAllowed(rt.user) {
		b.log.Info("sip refer refused", "call", c.id, "to", rt.user, "reason", "not allowed for this account (refer_allowed, refuse_refer)")
		respond(tx, req, sip.StatusGlobalDecline, "Decline")
		return
	}
	var uri sip.Uri
	if rt.scheme == "tel" {
		uri, err = a.targetURI(rt.user)
	} else {
		err = sip.ParseUri(rt.uri, &uri)
		if err == nil && (uri.User == "" || uri.Host == "") {
			err = fmt.Errorf("%w: %q", ErrBadReferTo, rt.uri)
		}
	}
	if err != nil {
		respond(tx, req, sip.StatusBadRequest, "Bad Request")
		return
	}
	uri.Headers = nil
	if b.stack() == nil {
		respond(tx, req, sip.StatusServiceUnavailable, "Service Unavailable")
		return
	}
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	c.tr.refers++
	first := c.tr.refers == 1
	// Counted while c is live, so that Run's wait cannot have begun.
	b.callsWG.Add(1)
	c.mu.Unlock()
	respond(tx, req, sip.StatusAccepted, "Accepted")
	// RFC 3515 section 2.4.6: the NOTIFYs of a second REFER in a dialog
	// carry the REFER's CSeq as the event id.
	event := "refer"
	if !first {
		event += ";id=" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
	}
	kind := monitor.TransferBlind
	if rep != nil {
		kind = monitor.TransferAttended
	}
	referredBy := ""
	if h := req.GetHeader("Referred-By"); h != nil {
		referredBy = h.Value()
	}
	b.log.Info("sip transferred by the other side", "call", c.id, "kind", kind, "to", uri.User)
	go func() {
		defer b.callsWG.Done()
		c.followRefer(uri, rep, referredBy, event, kind)
	}()
}

// inviteMethod reports whether a Refer-To URI asks for an INVITE: no
// method parameter, or method=INVITE (RFC 3261 section 19.1.1).
func inviteMethod(uri string) bool {
	for _, p := range strings.Split(uri, ";")[1:] {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "method") {
			return strings.EqualFold(strings.TrimSpace(v), "INVITE")
		}
	}
	return true
}

// followRefer places the call a REFER asked for and reports its progress
// to the transferor in NOTIFYs (RFC 3515 section 2.4.5), until it is
// answered or fails; once answered, the transferor gets referByeGrace to
// end this call before we do.
func (c *Call) followRefer(uri sip.Uri, rep *replaces, referredBy, event string, kind monitor.TransferKind) {
	c.notifyRefer(event, sip.StatusTrying, "Trying", false)
	events := make(chan CallEvent, eventBuffer)
	ex := dialExtras{
		transferredFrom: c.id,
		observe: func(ev CallEvent) {
			select {
			case events <- ev:
			default:
			}
		},
		transfer: &monitor.Transfer{Kind: kind, Transferer: c.remote, Transferred: c.ourParty(), Targets: []monitor.Party{{Number: uri.User}}, At: time.Now()},
	}
	if rep != nil {
		ex.headers = append(ex.headers, sip.NewHeader("Replaces", rep.String()))
	}
	if referredBy != "" {
		ex.headers = append(ex.headers, sip.NewHeader("Referred-By", referredBy))
	}
	next, err := c.b.dialURI(c.b.forceCtx, c.acct, uri, c.transferCodecs(), ex)
	if err != nil {
		c.b.log.Info("sip transfer call not placed", "call", c.id, "err", err)
		c.notifyRefer(event, sip.StatusServiceUnavailable, "Service Unavailable", true)
		return
	}
	c.b.transferred(c, next)
	for {
		select {
		case ev := <-events:
			switch ev.State {
			case StateRinging:
				c.notifyRefer(event, sip.StatusRinging, "Ringing", false)
			case StateEarly:
				c.notifyRefer(event, 183, "Session Progress", false)
			case StateConnected:
				c.notifyRefer(event, sip.StatusOK, "OK", true)
				c.mu.Lock()
				c.tr.ending = "Transferred to " + partyName(next.Remote())
				c.mu.Unlock()
				t := time.NewTimer(referByeGrace)
				select {
				case <-c.done:
				case <-t.C:
					c.askHangup()
				}
				t.Stop()
				return
			case StateEnded:
				status := ev.Status
				if status < 300 {
					status = sip.StatusRequestTerminated
				}
				c.notifyRefer(event, status, statusPhrase(status), true)
				return
			}
		case <-c.done:
			// The transferor hung up after the 202, as blind transfers
			// often do: nobody is left to notify, and the new call goes on.
			return
		}
	}
}

// transferCodecs are what a call replacing c offers: c's codec first,
// then the rest of what c was placed or answered with.
func (c *Call) transferCodecs() []Codec {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Codec, 0, len(c.tr.codecs)+1)
	if c.hasCodec {
		out = append(out, c.codec)
	}
	for _, k := range c.tr.codecs {
		dup := false
		for _, o := range out {
			dup = dup || o.SameFormat(k)
		}
		if !dup {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		out = append(out, supportedCodecs...)
	}
	return out
}

// notifyRefer sends one NOTIFY of a REFER's subscription with the
// sipfrag "SIP/2.0 status reason"; final ones end the subscription
// (RFC 3515 section 2.4.7). A call that has ended gets none.
func (c *Call) notifyRefer(event string, status int, reason string, final bool) {
	select {
	case <-c.done:
		return
	default:
	}
	req, err := c.newInDialog(sip.NOTIFY)
	if err != nil {
		return
	}
	req.AppendHeader(sip.NewHeader("Event", event))
	state := "active;expires=60"
	if final {
		state = "terminated;reason=noresource"
	}
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	req.AppendHeader(sip.NewHeader("Content-Type", "message/sipfrag;version=2.0"))
	req.SetBody(sipfragBody(status, reason))
	ctx, cancel := context.WithTimeout(c.b.forceCtx, inDialogTimeout)
	defer cancel()
	res, err := c.sendInDialog(ctx, req)
	switch {
	case err != nil:
		c.b.log.Info("sip notify failed", "call", c.id, "err", err)
	case !res.IsSuccess():
		c.b.log.Info("sip notify refused", "call", c.id, "status", res.StatusCode)
	}
}

// statusPhrase is the RFC 3261 section 21 reason phrase of the failures
// a transferred call reports.
func statusPhrase(code int) string {
	switch code {
	case sip.StatusRequestTimeout:
		return "Request Timeout"
	case sip.StatusRequestTerminated:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case sip.StatusForbidden:
		return "Forbidden"
	case sip.StatusServiceUnavailable:
		return "Service Unavailable"
	case 484:
		return "Address Incomplete"
	}
	return reasonPhrase(code)
}

// OnTransferred's handler call.
func (b *Bridge) transferred(old, next *Call) {
	b.mu.Lock()
	fn := b.onTransferred
	b.mu.Unlock()
	if fn != nil {
		fn(old, next)
	}
}
