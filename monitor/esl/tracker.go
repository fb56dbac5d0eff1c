package esl

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Tracker turns FreeSWITCH channel events into calls. A call is the set of
// channels (legs) that share a Channel-Call-UUID (FreeSWITCH gives a
// bridged B-leg its A-leg's call UUID) or that were originated by one of
// them (Other-Leg-Unique-ID); it ends when its last leg hangs up, which
// keeps a call alive through blind transfers that hang up the leg it was
// first known by. A bridge between legs of two calls is an attended
// transfer: the consultation call joins the first.
type Tracker struct {
	t        *monitor.Tracker
	sink     monitor.Sink
	counters *monitor.Counters
	source   monitor.SourceName

	mu    sync.Mutex
	legs  map[string]*leg
	calls map[string]*callInfo
	// st is the extension and queue state (state.go); custom the CUSTOM
	// subclasses the state handles that pass on as user events too (nil:
	// all).
	st     *state
	custom map[string]bool
}

type leg struct {
	uuid     string
	call     *callInfo
	party    monitor.Party
	outbound bool // FreeSWITCH called this device (Call-Direction outbound)
	trunk    bool
	line     string
	ringing  bool
	answered bool
	ended    bool
	cause    string
	q850     string
	xferSrc  string
}

type callInfo struct {
	key        string
	first      *leg
	legs       []*leg
	transferer *monitor.Party // from sofia::transferor, for the next transfer record
	// queue is the mod_callcenter queue the caller waits in since
	// queueJoined; agent the agent who took them, once one did.
	queue       string
	queueJoined time.Time
	agent       *monitor.Party
}

// NewTracker returns a tracker publishing source's calls to sink. counters
// may be nil.
func NewTracker(source monitor.SourceName, sink monitor.Sink, counters *monitor.Counters) *Tracker {
	if counters == nil {
		counters = new(monitor.Counters)
	}
	return &Tracker{t: monitor.NewTracker(source, sink), sink: sink, counters: counters, source: source,
		legs: map[string]*leg{}, calls: map[string]*callInfo{}, st: newState(source, sink)}
}

// SetClock replaces time.Now for events that carry no timestamp.
func (tr *Tracker) SetClock(now func() time.Time) {
	tr.t.SetClock(now)
	tr.st.setClock(now)
}

var handlers = map[string]func(*Tracker, Event){
	"CHANNEL_CREATE":          (*Tracker).create,
	"CHANNEL_DATA":            (*Tracker).create,
	"CHANNEL_PROGRESS":        (*Tracker).progress,
	"CHANNEL_PROGRESS_MEDIA":  (*Tracker).progress,
	"CHANNEL_ANSWER":          (*Tracker).answer,
	"CHANNEL_BRIDGE":          (*Tracker).bridge,
	"CHANNEL_UNBRIDGE":        (*Tracker).touch,
	"CHANNEL_HOLD":            (*Tracker).hold,
	"CHANNEL_UNHOLD":          (*Tracker).unhold,
	"CHANNEL_CALLSTATE":       (*Tracker).callState,
	"CALL_UPDATE":             (*Tracker).callUpdate,
	"CHANNEL_HANGUP_COMPLETE": (*Tracker).hangup,
	"sofia::transferor":       (*Tracker).transferor,
	"sofia::transferee":       (*Tracker).touch,
	"sofia::replaced":         (*Tracker).touch,
	"HEARTBEAT":               func(*Tracker, Event) {},
	"BACKGROUND_JOB":          func(*Tracker, Event) {},
}

// Handle applies one event.
func (tr *Tracker) Handle(e Event) {
	tr.counters.Events.Add(1)
	name := e.Name()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if h, ok := handlers[name]; ok {
		h(tr, e)
		return
	}
	if e[hEventName] == "CUSTOM" {
		tr.userEvent(e)
		return
	}
	tr.counters.Unknown.Add(1)
}

// callOfLeg returns the id of the call channel uid is a leg of.
func (tr *Tracker) callOfLeg(uid string) (monitor.CallID, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	l := tr.legs[uid]
	if l == nil || l.call == nil {
		return "", false
	}
	c, ok := tr.t.Get(l.call.key)
	if !ok {
		return "", false
	}
	return c.ID, true
}

// channelsOf returns the live legs of call id, first leg first.
func (tr *Tracker) channelsOf(id monitor.CallID) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	key, ok := tr.t.Key(id)
	if !ok {
		return nil
	}
	ci := tr.calls[key]
	if ci == nil {
		return nil
	}
	var out []string
	for _, l := range ci.legs {
		if !l.ended {
			out = append(out, l.uuid)
		}
	}
	return out
}

// legParty is the device or number on a leg: for a leg FreeSWITCH called,
// the callee; for a leg that called FreeSWITCH, the caller.
func legParty(e Event, outbound, trunk bool) monitor.Party {
	var p monitor.Party
	if outbound {
		p.Number = first(e[hCalleeNumber], e["Variable_dialed_user"], e[hDestination])
		p.Name = e[hCalleeName]
		if !trunk {
			p.Extension = first(e["Variable_dialed_user"], channelUser(e[hChannelName]))
		}
	} else {
		p.Number, p.Name = e[hCallerNumber], e[hCallerName]
		p.Private = e[hPrivacy] == "true" || e["Variable_privacy"] == "yes"
		if !trunk {
			p.Extension = first(e[hUsername], channelUser(e[hChannelName]))
		}
	}
	if p.Name == p.Number {
		p.Name = ""
	}
	return p
}

// channelUser is "1001" of "sofia/internal/1001@10.0.0.5".
func channelUser(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	u, _, _ := strings.Cut(name[i+1:], "@")
	return u
}

// trunkOf reports the gateway a leg uses, if it goes to or comes from a
// SIP trunk ("sofia/gateway/NAME/…", or a call in the public context).
func trunkOf(e Event) (string, bool) {
	name := e[hChannelName]
	if rest, ok := strings.CutPrefix(name, "sofia/gateway/"); ok {
		gw, _, _ := strings.Cut(rest, "/")
		return gw, true
	}
	if gw := e[hGateway]; gw != "" {
		return gw, true
	}
	if e[hDirection] == "inbound" && e[hContext] == "public" {
		return first(e["Variable_sofia_profile_name"], "public"), true
	}
	return "", false
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// create starts tracking a leg (CHANNEL_CREATE, or the channel data of an
// outbound socket), joining the call it belongs to or starting one.
func (tr *Tracker) create(e Event) {
	uid := e[hUniqueID]
	if uid == "" || tr.legs[uid] != nil {
		return
	}
	line, trunk := trunkOf(e)
	l := &leg{uuid: uid, outbound: e[hDirection] == "outbound", trunk: trunk, line: line}
	l.party = legParty(e, l.outbound, trunk)
	tr.legs[uid] = l
	key := first(e[hCallUUID], uid)
	ci := tr.calls[key]
	if ci == nil {
		if o := tr.legs[e[hOtherLeg]]; o != nil && o != l {
			ci = o.call
		}
	}
	if ci != nil {
		l.call = ci
		ci.legs = append(ci.legs, l)
		if trunk {
			tr.t.Update(ci.key, func(c *monitor.Call) {
				if c.Direction == monitor.Internal {
					c.Direction = monitor.Outbound
				}
				if c.Line == "" {
					c.Line = line
				}
			})
		}
		tr.checkTransfer(l, e)
		return
	}
	ci = &callInfo{key: key, first: l, legs: []*leg{l}}
	l.call = ci
	tr.calls[key] = ci
	c := monitor.Call{From: l.party, To: monitor.Party{Number: e[hDestination]}, Line: line, Started: e.Time(),
		Direction: monitor.Internal}
	if trunk {
		c.Direction = monitor.Inbound
	}
	if l.outbound {
		// FreeSWITCH rang this device first: a call it originated
		// (click-to-dial); the number to connect to is the destination.
		c.To = monitor.Party{Number: first(e["Variable_switchboard_to"], e[hDestination])}
		if trunk {
			c.Direction = monitor.Outbound
		}
	}
	if q := e["Variable_cc_queue"]; q != "" {
		c.Queue = q
	}
	tr.t.Start(key, c)
	if l.outbound && e[hAnswerState] != "answered" {
		l.ringing = true
		tr.ring(ci)
	}
}

// leg returns the tracked leg of e, noting a transfer it reveals.
func (tr *Tracker) leg(e Event) *leg {
	l := tr.legs[e[hUniqueID]]
	if l != nil && !l.ended {
		tr.checkTransfer(l, e)
		return l
	}
	return nil
}

func (tr *Tracker) touch(e Event) { tr.leg(e) }

// ring publishes which legs of ci ring now.
func (tr *Tracker) ring(ci *callInfo) {
	var ps []monitor.Party
	for _, l := range ci.legs {
		if l.ringing && !l.answered && !l.ended {
			ps = append(ps, l.party)
		}
	}
	tr.t.Ring(ci.key, ps...)
}

// progress notes a leg that rings (180) or plays early media (183).
func (tr *Tracker) progress(e Event) {
	l := tr.leg(e)
	if l == nil || l.answered || l.ringing {
		return
	}
	if l == l.call.first && !l.outbound {
		// The caller's own leg hears ringback. When the legs that ring are
		// not followed (an outbound socket), the dialled number rings.
		if len(l.call.legs) == 1 {
			if c, ok := tr.t.Get(l.call.key); ok && len(c.Ringing) == 0 {
				tr.t.Ring(l.call.key, monitor.Party{Number: first(e[hCalleeNumber], c.To.Number), Name: e[hCalleeName]})
			}
		}
		return
	}
	l.ringing = true
	tr.ring(l.call)
}

// answer notes a leg that answered.
func (tr *Tracker) answer(e Event) {
	l := tr.leg(e)
	if l == nil || l.answered {
		return
	}
	l.answered, l.ringing = true, false
	ci := l.call
	switch {
	case l == ci.first && l.outbound:
		// The phone that click-to-dial rang first picked up; the call
		// connects when the far end does.
		tr.ring(ci)
	case l == ci.first:
		// FreeSWITCH answered the caller itself (IVR, voicemail, queue),
		// unless a callee did already.
		if c, ok := tr.t.Get(ci.key); ok && c.Answered.IsZero() {
			tr.t.Answer(ci.key, nil, e.Time())
		}
	default:
		p := l.party
		tr.t.Answer(ci.key, &p, e.Time())
	}
}

// bridge connects two legs; legs of two different calls make an attended
// transfer.
func (tr *Tracker) bridge(e Event) {
	a := tr.legs[first(e[hBridgeA], e[hUniqueID])]
	b := tr.legs[first(e[hBridgeB], e[hOtherLeg])]
	if a != nil && !a.ended && b == nil {
		// The other leg is not followed (an outbound socket sees only its
		// own channel): the Other-Leg headers describe who answered.
		tr.checkTransfer(a, e)
		p := monitor.Party{Number: first(e["Other-Leg-Callee-Id-Number"], e["Other-Leg-Destination-Number"]),
			Name: e["Other-Leg-Callee-Id-Name"]}
		if c, ok := tr.t.Get(a.call.key); ok && c.AnsweredBy == nil && p.Number != "" {
			tr.t.Answer(a.call.key, &p, e.Time())
		}
		return
	}
	if a == nil || b == nil || a.ended || b.ended {
		return
	}
	tr.checkTransfer(a, e)
	if a.call != b.call {
		tr.join(a, b, e.Time())
		return
	}
	if c, ok := tr.t.Get(a.call.key); ok && c.Answered.IsZero() {
		callee := b
		if b == b.call.first {
			callee = a
		}
		callee.answered, callee.ringing = true, false
		p := callee.party
		tr.t.Answer(a.call.key, &p, e.Time())
	}
}

// join merges the calls of two legs bridged together: the transferer had
// the transferee on one call and the target on the other. The younger
// call (the consultation) ends and its legs join the older.
func (tr *Tracker) join(a, b *leg, at time.Time) {
	ca, okA := tr.t.Get(a.call.key)
	cb, okB := tr.t.Get(b.call.key)
	if !okA || !okB {
		return
	}
	if cb.Started.Before(ca.Started) {
		a, b = b, a
		ca, cb = cb, ca
	}
	primary, secondary := a.call, b.call
	kind := monitor.TransferAttended
	if !b.answered && cb.Answered.IsZero() {
		kind = monitor.TransferBlonde // the target still rang
	}
	xfer := monitor.Transfer{Kind: kind, Transferred: a.party, Targets: []monitor.Party{b.party}, At: at}
	switch {
	case primary.transferer != nil:
		xfer.Transferer = *primary.transferer
	case secondary.transferer != nil:
		xfer.Transferer = *secondary.transferer
	default:
		xfer.Transferer = otherParty(primary, a)
	}
	primary.transferer = nil
	for _, l := range secondary.legs {
		l.call = primary
		primary.legs = append(primary.legs, l)
	}
	delete(tr.calls, secondary.key)
	tr.t.End(secondary.key, monitor.Ending{Reason: monitor.ReasonCompleted, Cause: "joined by attended transfer", At: at})
	b.answered, b.ringing = true, false
	tr.t.Update(primary.key, func(c *monitor.Call) {
		xfer.At = orNow(at)
		c.Transfers = append(c.Transfers, xfer)
		c.From, c.To = xfer.Transferred, xfer.Targets[0]
		p := b.party
		c.AnsweredBy = &p
		if c.State == monitor.Held {
			c.State = monitor.Connected // the transferer held the transferee, and has left
		}
		if kind == monitor.TransferBlonde {
			c.Ringing = []monitor.Party{b.party}
		}
	})
}

// orNow is t, or the current time for events that carry none.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// otherParty is the party of ci talking to l: the first leg's when l is
// not the first, else the leg that answered.
func otherParty(ci *callInfo, l *leg) monitor.Party {
	if l != ci.first {
		return ci.first.party
	}
	for _, o := range ci.legs {
		if o != l && o.answered {
			return o.party
		}
	}
	for _, o := range ci.legs {
		if o != l {
			return o.party
		}
	}
	return monitor.Party{}
}

// checkTransfer records a blind transfer the first time a leg carries a
// new transfer_source ("<epoch>:<uuid>:bl_xfer:<dest>/<context>/XML", set
// by uuid_transfer and by a SIP REFER without Replaces).
func (tr *Tracker) checkTransfer(l *leg, e Event) {
	src := e[hTransferSource]
	if src == "" || src == l.xferSrc {
		return
	}
	l.xferSrc = src
	parts := strings.SplitN(src, ":", 4)
	if len(parts) != 4 || parts[2] != "bl_xfer" {
		return
	}
	dest, _, _ := strings.Cut(parts[3], "/")
	ci := l.call
	xfer := monitor.Transfer{Kind: monitor.TransferBlind, Transferred: l.party, Targets: []monitor.Party{{Number: dest}}, At: e.Time()}
	if ci.transferer != nil {
		xfer.Transferer = *ci.transferer
		ci.transferer = nil
	} else {
		xfer.Transferer = otherParty(ci, l)
	}
	// The legs that still ring belong to the call before the transfer.
	for _, o := range ci.legs {
		if o != l && !o.answered {
			o.ringing = false
		}
	}
	tr.t.Update(ci.key, func(c *monitor.Call) {
		xfer.At = orNow(xfer.At)
		c.Transfers = append(c.Transfers, xfer)
		c.From, c.To = xfer.Transferred, xfer.Targets[0]
		c.Ringing = nil
	})
}

// transferor notes who is transferring (mod_sofia's sofia::transferor,
// raised on the leg that sent the REFER) for the transfer that follows.
func (tr *Tracker) transferor(e Event) {
	l := tr.leg(e)
	if l == nil {
		return
	}
	p := l.party
	l.call.transferer = &p
}

func (tr *Tracker) hold(e Event) {
	if l := tr.leg(e); l != nil {
		tr.t.Hold(l.call.key)
	}
}

func (tr *Tracker) unhold(e Event) {
	if l := tr.leg(e); l != nil {
		tr.t.Unhold(l.call.key)
	}
}

// callState follows CHANNEL_CALLSTATE: RINGING/EARLY, HELD and back.
func (tr *Tracker) callState(e Event) {
	switch e[hCallState] {
	case "RINGING", "EARLY":
		tr.progress(e)
	case "HELD":
		tr.hold(e)
	case "ACTIVE":
		if e[hOrigCallState] == "HELD" {
			tr.unhold(e)
		} else {
			tr.touch(e)
		}
	default:
		tr.touch(e)
	}
}

// callUpdate follows CALL_UPDATE, which FreeSWITCH raises when a leg's
// far end changes: a Bridged-To leg of another call is a transfer.
func (tr *Tracker) callUpdate(e Event) {
	l := tr.leg(e)
	if l == nil {
		return
	}
	if o := tr.legs[e[hBridgedTo]]; o != nil && !o.ended && o.call != l.call {
		tr.join(l, o, e.Time())
	}
}

// hangup ends a leg, and the call with its last leg.
func (tr *Tracker) hangup(e Event) {
	l := tr.legs[e[hUniqueID]]
	if l == nil || l.ended {
		return
	}
	l.ended, l.ringing = true, false
	l.cause, l.q850 = e[hHangupCause], e[hQ850]
	ci := l.call
	for _, o := range ci.legs {
		if !o.ended {
			tr.ring(ci)
			return
		}
	}
	for _, o := range ci.legs {
		delete(tr.legs, o.uuid)
	}
	delete(tr.calls, ci.key)
	c, ok := tr.t.Get(ci.key)
	if !ok {
		return
	}
	if ci.queue != "" && ci.agent == nil {
		tr.abandoned(ci, e)
		return
	}
	decisive := tr.decisiveLeg(ci, !c.Answered.IsZero())
	cause := decisive.cause
	if decisive.q850 != "" {
		cause = fmt.Sprintf("%s (%s)", decisive.cause, decisive.q850)
	}
	tr.t.End(ci.key, monitor.Ending{Reason: reasonFor(decisive.cause, !c.Answered.IsZero()), Cause: cause, At: e.Time()})
}

// decisiveLeg picks the leg whose hangup cause tells how the call ended:
// the first leg's, unless the call was never answered and the first leg
// only reports a normal clearing while a callee's leg says why (busy,
// declined, no answer).
func (tr *Tracker) decisiveLeg(ci *callInfo, answered bool) *leg {
	f := ci.first
	if answered || (f.cause != "NORMAL_CLEARING" && f.cause != "") {
		return f
	}
	for _, l := range ci.legs {
		switch l.cause {
		case "USER_BUSY", "CALL_REJECTED", "NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT", "UNALLOCATED_NUMBER",
			"NO_ROUTE_DESTINATION", "USER_NOT_REGISTERED", "SUBSCRIBER_ABSENT", "NORMAL_TEMPORARY_FAILURE":
			return l
		}
	}
	return f
}

// userEvent passes a CUSTOM event on, without its channel variables.
func (tr *Tracker) userEvent(e Event) {
	if tr.sink == nil {
		return
	}
	fields := make(map[string]string, len(e))
	for k, v := range e {
		if !strings.HasPrefix(k, "Variable_") && k != hEventName && k != hSubclass {
			fields[k] = v
		}
	}
	at := e.Time()
	if at.IsZero() {
		at = time.Now()
	}
	tr.sink.UserEvent(monitor.UserEvent{Source: tr.source, Name: e[hSubclass], Fields: fields, At: at})
}
