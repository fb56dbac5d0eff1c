package ami

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Tracker turns AMI channel events into calls: one call per conversation
// (the channels sharing a Linkedid), started by the channel that opened it.
// It covers channel creation, caller-ID changes, dialing (ring groups
// included), answer and hang-up with reasons, hold, blind and attended
// (and blonde) transfers, queues (join, abandon), pickup, calls made by
// Originate and dialplan UserEvents; after a reconnect, resync settles
// the calls from CoreShowChannels.
//
// Local channels (Local/…;1 and ;2) are Asterisk's internal plumbing for
// dialplan routing; they never become parties.
type Tracker struct {
	// mu guards chans and calls: events arrive on the source's loop while
	// call control looks channels up.
	mu       sync.Mutex
	t        *monitor.Tracker
	sink     monitor.Sink
	source   monitor.SourceName
	counters *monitor.Counters
	chans    map[string]*channel // by Uniqueid
	calls    map[string]*callInfo
	handlers map[string]func(Message)
}

type channel struct {
	uid, linked, name string
	party             monitor.Party
}

type callInfo struct {
	ringing  map[string]monitor.Party // dest Uniqueid → party
	statuses []string                 // DialStatus of every ended dial to a real phone
	// transferred: the conversation goes on without the channel that
	// opened it, so it ends with its last real channel.
	transferred bool
	// xferDials are the dials a pending (not yet answered) blind transfer
	// made, by destination Uniqueid; xferTargets says the transfer's
	// targets were replaced by the phones those dials reached.
	xferPending bool
	xferDials   map[string]bool
	xferTargets bool
	// xferRejected: the transfer target declined, so the transferred
	// party was never answered again (no-answer); xferFailed: the target
	// could not be reached, so no transfer took place.
	xferRejected, xferFailed bool
	// abandoned: the caller gave up waiting in a queue.
	abandoned   bool
	originCause string // Cause of the opening channel's hang-up, once gone
	originText  string
}

// NewTracker returns a tracker publishing calls of source to sink.
func NewTracker(source monitor.SourceName, sink monitor.Sink, counters *monitor.Counters) *Tracker {
	if counters == nil {
		counters = new(monitor.Counters)
	}
	tr := &Tracker{t: monitor.NewTracker(source, sink), sink: sink, source: source, counters: counters, chans: map[string]*channel{}, calls: map[string]*callInfo{}}
	// One small method per event, as sipgo dispatches per SIP method.
	tr.handlers = map[string]func(Message){
		"Newchannel":         tr.newChannel,
		"NewCallerid":        tr.newCallerID,
		"DialBegin":          tr.dialBegin,
		"DialEnd":            tr.dialEnd,
		"Hangup":             tr.hangup,
		"Hold":               tr.hold,
		"BlindTransfer":      tr.blindTransfer,
		"AttendedTransfer":   tr.attendedTransfer,
		"QueueCallerJoin":    tr.queueJoin,
		"QueueCallerAbandon": tr.queueAbandon,
		"QueueCallerLeave":   func(Message) {},
		"Pickup":             tr.pickup,
		"Unhold":             tr.unhold,
		"UserEvent":          tr.userEvent,
		"Newstate":           func(Message) {},
		"NewConnectedLine":   func(Message) {},
		"BridgeEnter":        func(Message) {},
		"BridgeLeave":        func(Message) {},
		"BridgeCreate":       func(Message) {},
		"BridgeDestroy":      func(Message) {},
		"LocalBridge":        func(Message) {},
		"VarSet":             func(Message) {},
		"NewExten":           func(Message) {},
		"FullyBooted":        func(Message) {},
	}
	return tr
}

// SetClock replaces time.Now for events without a timestamp.
func (tr *Tracker) SetClock(now func() time.Time) { tr.t.SetClock(now) }

// Handle applies one event.
func (tr *Tracker) Handle(m Message) {
	tr.counters.Events.Add(1)
	h, ok := tr.handlers[m.Event()]
	if !ok {
		tr.counters.Unknown.Add(1)
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	h(m)
}

// channelsOf returns the live phone and trunk channels of a call, the
// opening one first.
func (tr *Tracker) channelsOf(id monitor.CallID) []string {
	key, ok := tr.t.Key(id)
	if !ok {
		return nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	if ch, ok := tr.chans[key]; ok && !isLocal(ch.name) {
		out = append(out, ch.name)
	}
	for uid, ch := range tr.chans {
		if ch.linked == key && uid != key && !isLocal(ch.name) {
			out = append(out, ch.name)
		}
	}
	return out
}

func isLocal(name string) bool { return strings.HasPrefix(name, "Local/") }

func cid(num, name string) (string, string) {
	if num == "<unknown>" {
		num = ""
	}
	if name == "<unknown>" {
		name = ""
	}
	return num, name
}

// account is the peer of a channel name: "SIP/150010002-00000005" → "150010002".
func account(chanName string) string {
	_, rest, ok := strings.Cut(chanName, "/")
	if !ok {
		return ""
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		rest = rest[:i]
	}
	return rest
}

// external reports whether a number reaches outside the PBX: extensions
// are short, outside numbers long or in international form.
func external(num string) bool {
	return strings.HasPrefix(num, "+") || len(num) > 6
}

// direction says who started a call from its two numbers.
func direction(from, to string) monitor.Direction {
	switch {
	case external(from):
		return monitor.Inbound
	case external(to):
		return monitor.Outbound
	default:
		return monitor.Internal
	}
}

func (tr *Tracker) newChannel(m Message) {
	uid, linked, name := m.Get("Uniqueid"), m.Get("Linkedid"), m.Get("Channel")
	num, cname := cid(m.Get("CallerIDNum"), m.Get("CallerIDName"))
	ch := &channel{uid: uid, linked: linked, name: name, party: monitor.Party{Number: num, Name: cname, Account: m.Get("AccountCode")}}
	tr.chans[uid] = ch
	if uid != linked || isLocal(name) {
		return
	}
	to := m.Get("Exten")
	tr.calls[linked] = &callInfo{ringing: map[string]monitor.Party{}}
	tr.t.Start(linked, monitor.Call{Direction: direction(num, to), From: ch.party, To: monitor.Party{Number: to}, Line: account(name)})
}

func (tr *Tracker) newCallerID(m Message) {
	ch, ok := tr.chans[m.Get("Uniqueid")]
	if !ok {
		return
	}
	num, cname := cid(m.Get("CallerIDNum"), m.Get("CallerIDName"))
	ch.party.Number, ch.party.Name = num, cname
	if p := m.Get("CID-CallingPres"); p != "" {
		ch.party.Private = strings.Contains(p, "Prohibited") || strings.Contains(p, "Restricted")
	}
	if ch.uid == ch.linked && !isLocal(ch.name) {
		p := ch.party
		// Phones often register with their account as caller ID; the
		// dialplan then sets the extension, which decides the direction.
		tr.t.Update(ch.linked, func(c *monitor.Call) {
			c.From = p
			if c.Answered.IsZero() {
				c.Direction = direction(p.Number, c.To.Number)
			}
		})
	}
}

// dialTarget is the party a dial to a real phone reaches: its caller-ID
// number as the dial begins, and its account.
func dialTarget(m Message) monitor.Party {
	num, name := cid(m.Get("DestCallerIDNum"), m.Get("DestCallerIDName"))
	return monitor.Party{Number: num, Name: name, Account: account(m.Get("DestChannel"))}
}

// dialCall is the conversation a dial to a real phone belongs to; dials
// between Local channels are dialplan plumbing and have none.
func (tr *Tracker) dialCall(m Message) (string, *callInfo, bool) {
	if isLocal(m.Get("DestChannel")) {
		return "", nil, false
	}
	linked := tr.linkOf(m.Get("DestUniqueid"), m.Get("DestLinkedid"))
	ci, ok := tr.calls[linked]
	return linked, ci, ok
}

func (tr *Tracker) dialBegin(m Message) {
	linked, ci, ok := tr.dialCall(m)
	if !ok {
		return
	}
	p := dialTarget(m)
	ci.ringing[m.Get("DestUniqueid")] = p
	// A call made by Originate has no extension of its own: the first
	// dial names its destination.
	if c, ok := tr.t.Get(linked); ok && c.To.Number == "" {
		tr.t.Update(linked, func(c *monitor.Call) {
			c.To = monitor.Party{Number: p.Number, Name: p.Name}
			c.Direction = direction(c.From.Number, c.To.Number)
		})
	}
	if ci.xferPending {
		// The phones the transfer rings are its targets (a ring group
		// rings several); they replace the dialled extension.
		ci.xferDials[m.Get("DestUniqueid")] = true
		first := !ci.xferTargets
		ci.xferTargets = true
		tr.t.Update(linked, func(c *monitor.Call) {
			x := &c.Transfers[len(c.Transfers)-1]
			if first {
				x.Targets = nil
			}
			x.Targets = append(x.Targets, p)
		})
	}
	tr.ring(linked, ci)
}

func (tr *Tracker) ring(linked string, ci *callInfo) {
	targets := make([]monitor.Party, 0, len(ci.ringing))
	for _, p := range ci.ringing {
		targets = append(targets, p)
	}
	sortParties(targets)
	tr.t.Ring(linked, targets...)
}

func sortParties(ps []monitor.Party) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Account < ps[j-1].Account; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func (tr *Tracker) dialEnd(m Message) {
	linked, ci, ok := tr.dialCall(m)
	if !ok {
		return
	}
	delete(ci.ringing, m.Get("DestUniqueid"))
	status := m.Get("DialStatus")
	ci.statuses = append(ci.statuses, status)
	if status == "ANSWER" {
		ci.xferPending = false
		p := dialTarget(m)
		tr.t.Answer(linked, &p, time.Time{})
		return
	}
	tr.ring(linked, ci)
}

// hold marks the call of a channel held (Asterisk 13+ Hold event; the
// channel is the one that put the other side on hold).
func (tr *Tracker) hold(m Message) {
	if ch, ok := tr.chans[m.Get("Uniqueid")]; ok {
		tr.t.Hold(ch.linked)
	}
}

func (tr *Tracker) unhold(m Message) {
	if ch, ok := tr.chans[m.Get("Uniqueid")]; ok {
		tr.t.Unhold(ch.linked)
	}
}

// userEvent passes a dialplan UserEvent (UserEvent() application) on to
// subscribers with all its fields but the event framing.
func (tr *Tracker) userEvent(m Message) {
	fields := map[string]string{}
	for _, f := range m {
		switch f.Key {
		case "Event", "UserEvent", "Privilege":
		default:
			fields[f.Key] = f.Value
		}
	}
	tr.sink.UserEvent(monitor.UserEvent{Source: tr.source, Name: m.Get("UserEvent"), Fields: fields})
}

// reasonFor maps how an unanswered call ended: the dials' statuses first,
// then the Q.850 cause of the hang-up of the channel that opened it.
func reasonFor(ci *callInfo, cause int) monitor.Reason {
	allCancel := len(ci.statuses) > 0
	for _, s := range ci.statuses {
		allCancel = allCancel && s == "CANCEL"
	}
	switch {
	case allCancel:
		return monitor.ReasonCancelled
	case cause == 17: // user busy
		return monitor.ReasonBusy
	case cause == 18 || cause == 19: // no user responding, no answer
		return monitor.ReasonNoAnswer
	case cause == 21: // call rejected
		return monitor.ReasonRejected
	case cause == 0 || cause == 16: // normal clearing
		if len(ci.statuses) == 0 {
			// Created and cleared without dialing anyone: Asterisk reports
			// a normal clearing.
			return monitor.ReasonCompleted
		}
		return monitor.ReasonCancelled
	default:
		return monitor.ReasonFailed
	}
}

func (tr *Tracker) hangup(m Message) {
	uid := m.Get("Uniqueid")
	ch, ok := tr.chans[uid]
	delete(tr.chans, uid)
	if !ok || isLocal(ch.name) {
		return
	}
	ci := tr.calls[ch.linked]
	if ci == nil {
		return
	}
	if uid == ch.linked {
		ci.originCause, ci.originText = m.Get("Cause"), m.Get("Cause-txt")
	} else if !ci.transferred {
		return
	}
	if ci.xferPending && ci.xferDials[uid] {
		delete(ci.xferDials, uid)
		switch m.Get("Cause") {
		case "21": // call rejected: the transfer happened, nobody took it
			ci.xferRejected = true
		case "26": // answered elsewhere: another member of the group took it
		default:
			if len(ci.xferDials) == 0 && !ci.xferRejected {
				// Nobody could be reached: no transfer took place.
				ci.xferFailed = true
			}
		}
	}
	if ci.transferred && tr.realChannels(ch.linked) > 0 {
		return
	}
	delete(tr.calls, ch.linked)
	code := ci.originCause
	text := ci.originText
	if code == "" {
		code, text = m.Get("Cause"), m.Get("Cause-txt")
	}
	cause, _ := strconv.Atoi(code)
	e := monitor.Ending{Cause: text + " (" + code + ")"}
	if c, ok := tr.t.Get(ch.linked); ok && c.Answered.IsZero() {
		e.Reason = reasonFor(ci, cause)
	}
	switch {
	case ci.abandoned:
		e.Reason = monitor.ReasonNoAnswer
	case ci.xferRejected:
		e.Reason = monitor.ReasonNoAnswer
	case ci.xferFailed:
		tr.t.Update(ch.linked, func(c *monitor.Call) {
			if n := len(c.Transfers); n > 0 {
				x := c.Transfers[n-1]
				c.Transfers = c.Transfers[:n-1]
				c.From, c.To = x.Transferer, x.Transferred
			}
		})
	}
	tr.t.End(ch.linked, e)
}

// realChannels counts the live phone and trunk channels of a conversation.
func (tr *Tracker) realChannels(linked string) int {
	n := 0
	for _, ch := range tr.chans {
		if ch.linked == linked && !isLocal(ch.name) {
			n++
		}
	}
	return n
}

// blindTransfer records a successful blind transfer (Asterisk 13+
// BlindTransfer event): the transferer hands the transferee to Extension,
// and the call goes on between those two.
func (tr *Tracker) blindTransfer(m Message) {
	if m.Get("Result") != "Success" {
		return
	}
	linked := m.Get("TransfereeLinkedid")
	ci, ok := tr.calls[linked]
	if !ok {
		return
	}
	ci.transferred = true
	ci.xferPending, ci.xferDials, ci.xferTargets = true, map[string]bool{}, false
	xfer := monitor.Transfer{
		Kind:        monitor.TransferBlind,
		Transferer:  eventParty(m, "Transferer"),
		Transferred: eventParty(m, "Transferee"),
		Targets:     []monitor.Party{{Number: m.Get("Extension")}},
	}
	tr.t.Update(linked, func(c *monitor.Call) {
		xfer.At = time.Now()
		c.Transfers = append(c.Transfers, xfer)
		c.From, c.To = xfer.Transferred, xfer.Targets[0]
	})
}

// attendedTransfer joins two conversations (Asterisk 13+ AttendedTransfer
// with DestType Bridge): the transferer had the transferee on the first
// call and the target on the second, and leaves them talking. The second
// call ends (the consultation is over) and its phones join the first,
// which records the transfer and goes on between transferee and target.
func (tr *Tracker) attendedTransfer(m Message) {
	if m.Get("Result") != "Success" || m.Get("DestType") != "Bridge" {
		return
	}
	first, second := m.Get("OrigTransfererLinkedid"), m.Get("SecondTransfererLinkedid")
	ci, ok := tr.calls[first]
	if !ok || first == second {
		return
	}
	callA, okA := tr.t.Get(first)
	callB, okB := tr.t.Get(second)
	if !okA || !okB {
		return
	}
	// other is the party of c that is not on the transferer's channel.
	other := func(c monitor.Call, transfererChannel string) monitor.Party {
		acct := account(transfererChannel)
		if c.From.Account == acct || c.Line == acct {
			if c.AnsweredBy != nil {
				return *c.AnsweredBy
			}
			return c.To
		}
		return c.From
	}
	kind := monitor.TransferAttended
	if callB.Answered.IsZero() {
		// Transferred while the target still rang: a blonde transfer.
		kind = monitor.TransferBlonde
	}
	xfer := monitor.Transfer{Kind: kind, Transferer: eventParty(m, "OrigTransferer"), At: time.Now()}
	if _, ok := m.Lookup("TransfereeChannel"); ok {
		xfer.Transferred = eventParty(m, "Transferee")
	} else {
		xfer.Transferred = other(callA, m.Get("OrigTransfererChannel"))
	}
	if _, ok := m.Lookup("TransferTargetChannel"); ok {
		xfer.Targets = []monitor.Party{eventParty(m, "TransferTarget")}
	} else {
		xfer.Targets = []monitor.Party{other(callB, m.Get("SecondTransfererChannel"))}
	}
	// Whether the caller ID may be shown was set on the transferee's own
	// channel (NewCallerid with CID-CallingPres).
	if ch, ok := tr.chans[m.Get("TransfereeUniqueid")]; ok && ch.party.Private {
		xfer.Transferred.Private = true
	}
	for _, ch := range tr.chans {
		if ch.linked == second {
			ch.linked = first
		}
	}
	delete(tr.calls, second)
	tr.t.End(second, monitor.Ending{Cause: "joined by attended transfer"})
	ci.transferred = true
	tr.t.Update(first, func(c *monitor.Call) {
		c.Transfers = append(c.Transfers, xfer)
		c.From, c.To = xfer.Transferred, xfer.Targets[0]
	})
}

// queueJoin notes the queue a caller waits in (app_queue QueueCallerJoin).
func (tr *Tracker) queueJoin(m Message) {
	ch, ok := tr.chans[m.Get("Uniqueid")]
	if !ok {
		return
	}
	q := m.Get("Queue")
	tr.t.Update(ch.linked, func(c *monitor.Call) { c.Queue = q })
}

// queueAbandon marks a caller who hung up while waiting in a queue: a
// missed call, whatever rang meanwhile.
func (tr *Tracker) queueAbandon(m Message) {
	ch, ok := tr.chans[m.Get("Uniqueid")]
	if !ok {
		return
	}
	if ci, ok := tr.calls[ch.linked]; ok {
		ci.abandoned = true
	}
	tr.t.Update(ch.linked, func(c *monitor.Call) {
		if c.Vars == nil {
			c.Vars = map[string]string{}
		}
		c.Vars["queue_abandoned"] = "position " + m.Get("Position") + " of " + m.Get("OriginalPosition")
	})
}

// linkOf is the conversation a channel belongs to as this tracker groups
// them (attended transfers move channels between conversations before
// Asterisk's own Linkedid says so), else the event's Linkedid.
func (tr *Tracker) linkOf(uid, linked string) string {
	if ch, ok := tr.chans[uid]; ok {
		return ch.linked
	}
	return linked
}

// pickup: a phone took a call ringing elsewhere (Asterisk 13+ Pickup
// event; Channel is the picking phone, Target* the ringing channel).
func (tr *Tracker) pickup(m Message) {
	target, ok := tr.chans[m.Get("TargetUniqueid")]
	if !ok {
		return
	}
	num, name := cid(m.Get("CallerIDNum"), m.Get("CallerIDName"))
	by := monitor.Party{Number: num, Name: name, Account: account(m.Get("Channel"))}
	if ci, ok := tr.calls[target.linked]; ok {
		ci.ringing = map[string]monitor.Party{}
	}
	tr.t.Answer(target.linked, &by, time.Time{})
}

// eventParty is the party a transfer event names by field prefix
// ("Transferer", "Transferee", "OrigTransferer", "TransferTarget").
func eventParty(m Message, prefix string) monitor.Party {
	num, name := cid(m.Get(prefix+"CallerIDNum"), m.Get(prefix+"CallerIDName"))
	return monitor.Party{Number: num, Name: name, Account: account(m.Get(prefix + "Channel"))}
}
