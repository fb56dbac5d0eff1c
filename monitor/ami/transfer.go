package ami

import (
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// realOf is the real channel an event names: the channel itself, or,
// for a Local half left in the media path, the party it stands for to
// the channels it is bridged with: the real channel at the far end of
// its chain, behind its other half (not not).
func (tr *Tracker) realOf(ch, not *channel) *channel {
	if ch == nil || ch.real() {
		return ch
	}
	if ch.peer == nil || ch.peer.gone {
		return nil
	}
	if ch.peer.real() {
		return ch.peer
	}
	return tr.walk(ch.peer, ch, not)
}

// newPhase starts the part of a call after a transfer: the transferred
// party is now the caller and nobody has answered it yet.
func (ci *callInfo) newPhase(caller *channel) {
	ci.caller = caller
	ci.statuses = ci.statuses[:0]
	ci.rang, ci.answered, ci.answeredBy, ci.callerLeftRng = false, false, nil, false
	ci.callerCause, ci.callerText = "", ""
	ci.xfer = true
}

// blindTransfer records a successful blind transfer (Asterisk 13+
// BlindTransfer event): the transferer hands the transferee to Extension,
// and the call goes on between those two; the phones the transfer then
// rings become its targets.
func (tr *Tracker) blindTransfer(m Message) {
	if m.Get("Result") != "Success" {
		return
	}
	transferer, transferee := tr.chans[m.Get("TransfererUniqueid")], tr.chans[m.Get("TransfereeUniqueid")]
	key := m.Get("TransfereeLinkedid")
	if transferee != nil {
		key = transferee.key
	}
	ci := tr.calls[key]
	if ci == nil || !ci.started {
		return
	}
	xfer := monitor.Transfer{
		Kind:        monitor.TransferBlind,
		Transferer:  eventParty(m, "Transferer"),
		Transferred: eventParty(m, "Transferee"),
		Targets:     []monitor.Party{{Number: own(m.Get("Extension"))}},
		At:          orNow(eventTime(m)),
	}
	if r := tr.realOf(transferer, transferee); r != nil && r != transferer {
		xfer.Transferer = tr.partyOf(r)
	}
	caller := tr.realOf(transferee, transferer)
	if caller != nil && caller != transferee {
		xfer.Transferred = tr.partyOf(caller)
	}
	ci.before = [2]monitor.Party{ci.from, ci.to}
	ci.newPhase(caller)
	ci.blind, ci.xferTargets = true, false
	ci.from, ci.to = xfer.Transferred, xfer.Targets[0]
	tr.t.Update(ci.key, func(c *monitor.Call) {
		c.Transfers = append(c.Transfers, xfer)
		c.From, c.To = xfer.Transferred, xfer.Targets[0]
	})
}

// orNow is t, or the current time for events that carry none.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// attendedTransfer joins two conversations (Asterisk 13+
// AttendedTransfer): the transferer had the transferee on the first call
// and the target on the second, and leaves them to each other. DestType
// Bridge (or Link, two bridges joined by a Local pair) joins the bridges:
// the target talks to the transferee at once. DestType App moves the
// transferee into the application the second call ran, Dial: the target
// still rings, a blonde transfer. Either way the second call ends (the
// consultation is over) and its channels join the first, which records
// the transfer and goes on between transferee and target.
func (tr *Tracker) attendedTransfer(m Message) {
	if m.Get("Result") != "Success" {
		return
	}
	dest := m.Get("DestType")
	if dest != "Bridge" && dest != "App" && dest != "Link" {
		return
	}
	orig, second := tr.chans[m.Get("OrigTransfererUniqueid")], tr.chans[m.Get("SecondTransfererUniqueid")]
	firstKey, secondKey := m.Get("OrigTransfererLinkedid"), m.Get("SecondTransfererLinkedid")
	if orig != nil {
		firstKey = orig.key
	}
	if second != nil {
		secondKey = second.key
	}
	ci, ci2 := tr.calls[firstKey], tr.calls[secondKey]
	if ci == nil || ci2 == nil || ci == ci2 || !ci.started || !ci2.started {
		return
	}
	transferee := tr.realOf(tr.chans[m.Get("TransfereeUniqueid")], orig)
	target := tr.realOf(tr.chans[m.Get("TransferTargetUniqueid")], second)
	if b := tr.bridges[m.Get("DestBridgeUniqueid")]; b != nil && (transferee == nil || target == nil) {
		// Asterisk before 13.? names neither: the destination bridge holds
		// both, each still in its own conversation.
		for _, ch := range b.members {
			if ch == orig || ch == second {
				continue
			}
			r := tr.realOf(ch, nil)
			switch {
			case r == nil:
			case ch.key == firstKey && transferee == nil:
				transferee = r
			case ch.key == secondKey && target == nil:
				target = r
			}
		}
	}
	if transferee == nil && orig != nil {
		transferee = tr.farEnd(orig, nil)
	}
	if target == nil && second != nil {
		target = tr.farEnd(second, nil)
	}
	if target == nil && len(ci2.targets) > 0 {
		target = ci2.targets[0]
	}
	kind := monitor.TransferAttended
	if dest == "App" || !ci2.answered {
		// Transferred while the target still rang: a blonde transfer.
		kind = monitor.TransferBlonde
	}
	xfer := monitor.Transfer{Kind: kind, Transferer: eventParty(m, "OrigTransferer"), At: orNow(eventTime(m))}
	if orig != nil && !orig.real() {
		if r := tr.farEnd(orig, transferee); r != nil {
			xfer.Transferer = tr.partyOf(r)
		}
	}
	switch {
	case transferee != nil:
		xfer.Transferred = tr.partyOf(transferee)
		// Whether the caller ID may be shown was set on the transferee's
		// own channel (NewCallerid with CID-CallingPres).
		xfer.Transferred.Private = xfer.Transferred.Private || transferee.party.Private
	case m.Get("TransfereeChannel") != "":
		xfer.Transferred = eventParty(m, "Transferee")
	}
	ringing := ci2.ringingTargets()
	switch {
	case kind == monitor.TransferBlonde && len(ringing) > 0:
		for _, ch := range ringing {
			xfer.Targets = append(xfer.Targets, ch.target)
		}
	case target != nil:
		xfer.Targets = []monitor.Party{tr.partyOf(target)}
	case m.Get("TransferTargetChannel") != "":
		xfer.Targets = []monitor.Party{eventParty(m, "TransferTarget")}
	default:
		xfer.Targets = []monitor.Party{ci2.to}
	}
	tr.merge(ci, ci2, xfer.At)
	ci.blind, ci.xferTargets = false, true
	ci.before = [2]monitor.Party{ci.from, ci.to}
	if kind == monitor.TransferBlonde {
		ci.newPhase(transferee)
		ci.targets = append(ci.targets[:0], ringing...)
		ci.rang = ci2.rang
	} else {
		ci.caller = transferee
		ci.xfer = false
	}
	ci.from, ci.to = xfer.Transferred, xfer.Targets[0]
	var by *monitor.Party
	if kind == monitor.TransferAttended && target != nil {
		ci.answered, ci.answeredBy = true, target
		p := tr.answerParty(ci, target)
		by = &p
	}
	tr.t.Update(ci.key, func(c *monitor.Call) {
		c.Transfers = append(c.Transfers, xfer)
		c.From, c.To = xfer.Transferred, xfer.Targets[0]
		if by != nil {
			c.AnsweredBy = by
		}
		if c.State == monitor.Held {
			c.State = monitor.Connected // the transferer held the transferee, and has left
		}
	})
	ci.shown = ci.shown[:0]
	tr.ring(ci)
}

// ringingTargets are the real channels the call's dials ring now.
func (ci *callInfo) ringingTargets() []*channel {
	var out []*channel
	for _, ch := range ci.targets {
		if ch.ringing && !ch.gone {
			out = append(out, ch)
		}
	}
	return out
}

// merge ends call b, joined to call a by a transfer, and moves its
// channels into a.
func (tr *Tracker) merge(a, b *callInfo, at time.Time) {
	for _, ch := range tr.chans {
		if ch.key == b.key {
			ch.key = a.key
		}
	}
	a.n += b.n
	a.live += b.live
	delete(tr.calls, b.key)
	tr.t.End(b.key, monitor.Ending{Reason: monitor.ReasonCompleted, Cause: "joined by attended transfer", At: at})
}

// pickup: a phone took a call ringing elsewhere (Asterisk 13+ Pickup
// event; Channel is the picking phone, Target* the ringing channel). The
// picking phone's own call (to the pickup code) joins the call it took.
func (tr *Tracker) pickup(m Message) {
	target := tr.chans[m.Get("TargetUniqueid")]
	ci := tr.callOf(target)
	if ci == nil || !ci.started {
		return
	}
	target.ringing = false
	picker := tr.chans[m.Get("Uniqueid")]
	if picker == nil {
		num, name := ownCID(m.Get("CallerIDNum"), m.Get("CallerIDName"))
		by := monitor.Party{Number: num, Name: name, Account: own(account(m.Get("Channel")))}
		ci.answered, ci.everAnswered, ci.xfer = true, true, false
		tr.t.Answer(ci.key, &by, eventTime(m))
		ci.shown = ci.shown[:0]
		tr.ring(ci)
		return
	}
	if own := tr.callOf(picker); own != nil && own != ci {
		tr.leave(own, picker, eventTime(m))
		picker.key = ci.key
		ci.n++
		if picker.real() {
			ci.live++
		}
	}
	tr.answer(ci, picker, eventTime(m))
}

// leave takes ch out of call ci, which ends once nothing real is left
// of it.
func (tr *Tracker) leave(ci *callInfo, ch *channel, at time.Time) {
	ci.n--
	if ch.real() {
		ci.live--
	}
	if ci.caller == ch {
		ci.caller = nil
	}
	if ci.live > 0 {
		return
	}
	delete(tr.calls, ci.key)
	if ci.started {
		tr.t.End(ci.key, monitor.Ending{Reason: monitor.ReasonCompleted, Cause: "picked up a call", At: at})
	}
}
