package ami

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Tracker turns AMI channel events (Asterisk 12 and later) into calls:
// one call per conversation, the channels sharing a Linkedid, kept under
// that one id from its first leg to its last.
//
// Real dialplans route through Local channels: pairs of half-channels
// (Local/…;1 and ;2) joined by LocalBridge, often several in a chain,
// that optimise themselves away (LocalOptimizationBegin/End, swaps seen
// as BridgeEnter with SwapUniqueid, Masquerade in older versions) or
// stay in the media path (/n). The tracker follows them as plumbing:
// its channels form a small graph (Local halves joined to each other,
// channels sharing a bridge joined to each other, a dialled channel
// hanging off the channel that dials it), and the parties of a call are
// only the real channels (phones and trunks) at the ends of that graph.
// A call is answered when its caller is joined through the graph to
// another real channel, not when a dialled channel goes Up: a forwarded
// leg that answers but is hung up by a call-acceptance macro before it
// is bridged was no conversation.
//
// It covers channel creation, caller-ID and connected-line changes,
// dialing (ring groups included), answer and hang-up with reasons, hold,
// blind, attended and blonde transfers, queues (join, agent, abandon),
// pickup, calls made by Originate (click-to-dial: the phone rung first is
// the caller, the number it then reaches the callee) and dialplan
// UserEvents; after a reconnect, resync settles the calls from
// CoreShowChannels. Nothing depends on the dialplan's context names.
type Tracker struct {
	// mu guards everything below: events arrive on the source's loop
	// while call control looks channels up.
	mu       sync.Mutex
	t        *monitor.Tracker
	sink     monitor.Sink
	source   monitor.SourceName
	counters *monitor.Counters
	chans    map[string]*channel // by Uniqueid
	byName   map[string]*channel // by channel name: Masquerade and Rename name channels, not ids
	halves   map[string]*channel // Local ;1 halves whose ;2 has not appeared, by pair name
	bridges  map[string]*bridge
	calls    map[string]*callInfo
	optims   map[string]optimisation // LocalOptimizationBegin by Id
	handlers map[string]func(Message)
	// st is the extension and queue state (state.go).
	st *state
}

// chanState is a channel's state as Newchannel and Newstate report it.
type chanState uint8

const (
	stateUnknown chanState = iota
	stateDown
	stateRing    // a call arriving at Asterisk: the caller's side
	stateRinging // a phone Asterisk called is ringing
	stateUp
)

type channel struct {
	uid, name string
	// key is the conversation the channel belongs to as this tracker
	// groups them: its Linkedid, until a transfer joins it to another.
	key       string
	party     monitor.Party
	connected monitor.Party // the connected line: who this side is shown as talking to
	// target is the party a dial to this channel named (its caller ID as
	// the dial began, its account); set for dialled real channels.
	target monitor.Party
	exten  string
	state  chanState
	// local: a half of a Local channel pair (half 1 or 2, peer the other).
	local  bool
	half   int8
	peer   *channel
	bridge *bridge
	// dialer is the channel whose Dial rings this one.
	dialer *channel
	// root: the first channel of its Linkedid. originated: rung by
	// Originate rather than calling in.
	root, originated bool
	// ringing: a dial to this real channel has begun and not ended;
	// answeredDial: that dial ended ANSWER.
	ringing, answeredDial bool
	// zombie: the husk a masquerade left behind; it only hangs up.
	zombie bool
	gone   bool
}

// real reports whether ch is a party (a phone or a trunk), not plumbing.
func (ch *channel) real() bool { return !ch.local && !ch.zombie }

type bridge struct {
	id      string
	members []*channel
}

func (b *bridge) remove(ch *channel) {
	for i, m := range b.members {
		if m == ch {
			last := len(b.members) - 1
			b.members[i] = b.members[last]
			b.members[last] = nil
			b.members = b.members[:last]
			return
		}
	}
}

type optimisation struct{ source, dest string }

// callInfo is what the tracker knows of one conversation beyond the
// published call.
type callInfo struct {
	key string
	// started: published. A call whose first channel is still Down, or one
	// made by Originate whose second leg has not been dialled, is not a
	// call yet: an originate the PBX or the first phone refuses is none.
	started    bool
	originated bool
	// caller is the real channel of the calling party; after a transfer,
	// the party transferred. first is the phone an originated call rang
	// first, once it answered.
	caller, first *channel
	// n counts the call's live channels, live its live real ones: the call
	// ends with its last real channel.
	n, live int
	from    monitor.Party
	to      monitor.Party
	// targets are the real channels dialled in this phase; shown the ones
	// published as ringing.
	targets []*channel
	shown   []*channel
	// The phase: the call up to its first transfer, then each transfer
	// to its end. statuses are the DialStatus of every ended dial to a
	// real channel, rang says a target was reached (rang or answered),
	// answered that the caller was joined to someone.
	statuses      []string
	rang          bool
	answered      bool
	everAnswered  bool
	answeredBy    *channel
	callerLeftRng bool // the caller hung up while a target still rang
	// xfer: the phase began with a transfer whose target has not
	// answered; blind: by BlindTransfer (targets not yet replaced by the
	// phones it rang while xferTargets is false); before holds the parties
	// to restore when a blind transfer reached nobody.
	xfer, blind, xferTargets bool
	before                   [2]monitor.Party
	callerCause, callerText  string
	abandoned                bool
	waited                   string
	queue                    string
	agent                    string
}

// NewTracker returns a tracker publishing calls of source to sink.
func NewTracker(source monitor.SourceName, sink monitor.Sink, counters *monitor.Counters) *Tracker {
	if counters == nil {
		counters = new(monitor.Counters)
	}
	tr := &Tracker{t: monitor.NewTracker(source, sink), sink: sink, source: source, counters: counters, st: newState(source, sink)}
	tr.reset()
	noop := func(Message) {}
	// One small method per event, as sipgo dispatches per SIP method.
	tr.handlers = map[string]func(Message){
		"Newchannel":             tr.newChannel,
		"Newstate":               tr.newState,
		"NewCallerid":            tr.newCallerID,
		"NewConnectedLine":       tr.newConnectedLine,
		"DialBegin":              tr.dialBegin,
		"DialState":              tr.dialState,
		"DialEnd":                tr.dialEnd,
		"BridgeEnter":            tr.bridgeEnter,
		"BridgeLeave":            tr.bridgeLeave,
		"BridgeDestroy":          tr.bridgeDestroy,
		"LocalBridge":            tr.localBridge,
		"LocalOptimizationBegin": tr.optimisationBegin,
		"LocalOptimizationEnd":   tr.optimisationEnd,
		"Masquerade":             tr.masquerade,
		"Rename":                 tr.rename,
		"Hangup":                 tr.hangup,
		"Hold":                   tr.hold,
		"Unhold":                 tr.unhold,
		"BlindTransfer":          tr.blindTransfer,
		"AttendedTransfer":       tr.attendedTransfer,
		"Pickup":                 tr.pickup,
		"QueueCallerJoin":        tr.queueJoin,
		"QueueCallerAbandon":     tr.queueAbandon,
		"AgentConnect":           tr.agentConnect,
		"UserEvent":              tr.userEvent,
		// Known and of no consequence for the calls: the events above say
		// all these would.
		"QueueCallerLeave":  noop,
		"AgentCalled":       noop,
		"AgentRingNoAnswer": noop,
		"AgentComplete":     noop,
		"AgentDump":         noop,
		"OriginateResponse": noop,
		"NewAccountCode":    noop,
		"NewExten":          noop,
		"VarSet":            noop,
		"BridgeCreate":      noop,
		"FullyBooted":       noop,
		"HangupRequest":     noop,
		"SoftHangupRequest": noop,
		"MusicOnHoldStart":  noop,
		"MusicOnHoldStop":   noop,
	}
	tr.addStateHandlers()
	return tr
}

// reset forgets every channel, bridge and call; mu held on entry (or
// the tracker not yet shared).
func (tr *Tracker) reset() {
	tr.chans = map[string]*channel{}
	tr.byName = map[string]*channel{}
	tr.halves = map[string]*channel{}
	tr.bridges = map[string]*bridge{}
	tr.calls = map[string]*callInfo{}
	tr.optims = map[string]optimisation{}
}

// SetClock replaces time.Now for events without a timestamp.
func (tr *Tracker) SetClock(now func() time.Time) {
	tr.t.SetClock(now)
	tr.st.setClock(now)
}

// Handle applies one event. It keeps no reference to m's fields slice,
// only to the strings in it.
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
// caller's first.
func (tr *Tracker) channelsOf(id monitor.CallID) []string {
	key, ok := tr.t.Key(id)
	if !ok {
		return nil
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	ci := tr.calls[key]
	if ci != nil && ci.caller != nil && !ci.caller.gone {
		out = append(out, ci.caller.name)
	}
	for _, ch := range tr.chans {
		if ch.key == key && ch.real() && (ci == nil || ch != ci.caller) {
			out = append(out, ch.name)
		}
	}
	return out
}

func isLocal(name string) bool { return strings.HasPrefix(name, "Local/") }

// localPair splits "Local/201@ctx-00000002;1" into the pair's name and
// the half (1 or 2); 0 when name is no Local half.
func localPair(name string) (string, int8) {
	n := len(name)
	if n < 2 || name[n-2] != ';' {
		return "", 0
	}
	switch name[n-1] {
	case '1':
		return name[:n-2], 1
	case '2':
		return name[:n-2], 2
	}
	return "", 0
}

// cid cleans a caller ID pair.
func cid(num, name string) (string, string) {
	if num == "<unknown>" {
		num = ""
	}
	if name == "<unknown>" {
		name = ""
	}
	return num, name
}

// ownCID cleans a caller ID pair for keeping.
func ownCID(num, name string) (string, string) {
	num, name = cid(num, name)
	return own(num), own(name)
}

// own returns a copy of s for the tracker to keep: a message's strings
// share the memory of a whole stretch of input (Reader, the replay's
// scanner), which a string kept in a call, and so in the hub's ring of
// recent events, would otherwise hold on to.
func own(s string) string { return strings.Clone(s) }

// dialStatus returns DialStatus as one of app_dial's constants.
func dialStatus(s string) string {
	for _, k := range [...]string{"ANSWER", "BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL", "DONTCALL", "TORTURE", "INVALIDARGS"} {
		if s == k {
			return k
		}
	}
	return own(s)
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

// parseState reads a channel state from its description (Asterisk's
// ast_state2str), else its number.
func parseState(desc, num string) chanState {
	switch desc {
	case "Down", "Rsrvd", "OffHook", "Dialing", "Pre-ring":
		return stateDown
	case "Ring":
		return stateRing
	case "Ringing":
		return stateRinging
	case "Up":
		return stateUp
	case "Busy", "Dialing Offhook", "Unknown":
		return stateUnknown
	}
	switch num {
	case "0", "1", "2", "3", "8":
		return stateDown
	case "4":
		return stateRing
	case "5":
		return stateRinging
	case "6":
		return stateUp
	}
	return stateUnknown
}

// eventTime is when Asterisk raised m (the Timestamp field of
// timestampevents=yes), or the zero time: now.
func eventTime(m Message) time.Time {
	ts, ok := m.Lookup("Timestamp")
	if !ok {
		return time.Time{}
	}
	f, err := strconv.ParseFloat(ts, 64)
	if err != nil || f <= 0 || f > 1e11 {
		return time.Time{}
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9))
}

// callOf returns the conversation of ch, or nil.
func (tr *Tracker) callOf(ch *channel) *callInfo {
	if ch == nil {
		return nil
	}
	return tr.calls[ch.key]
}

func (tr *Tracker) newChannel(m Message) {
	uid := m.Get("Uniqueid")
	if uid == "" || tr.chans[uid] != nil {
		return
	}
	uid = own(uid)
	name, linked := own(m.Get("Channel")), m.Get("Linkedid")
	if linked == "" || linked == uid {
		linked = uid
	} else {
		linked = own(linked)
	}
	ch := &channel{uid: uid, name: name, key: linked, local: isLocal(name), root: uid == linked,
		state: parseState(m.Get("ChannelStateDesc"), m.Get("ChannelState"))}
	if !ch.local {
		// Of a Local half only the graph counts.
		ch.exten = own(m.Get("Exten"))
		ch.party.Number, ch.party.Name = ownCID(m.Get("CallerIDNum"), m.Get("CallerIDName"))
		ch.party.Account = own(m.Get("AccountCode"))
		ch.connected.Number, ch.connected.Name = ownCID(m.Get("ConnectedLineNum"), m.Get("ConnectedLineName"))
	}
	tr.chans[uid] = ch
	tr.byName[name] = ch
	if ch.local {
		tr.pairHalf(ch)
	}
	ci := tr.calls[ch.key]
	if ci == nil {
		if !ch.root {
			// A channel of a conversation whose first channel was never
			// seen (it joined before we did): nothing to attach it to.
			return
		}
		ci = &callInfo{key: ch.key}
		tr.calls[ch.key] = ci
		// Only Originate (or a call file) creates a Local channel that is
		// the first of its conversation.
		ci.originated = ch.local
	}
	ci.n++
	if !ch.real() {
		return
	}
	ci.live++
	if ch.root && !ci.originated {
		ci.caller = ch
		// A channel created Down may be a call arriving (it turns Ring
		// next) or a phone Asterisk rings for an Originate (it turns
		// Ringing or Up): wait and see.
		if ch.state != stateDown {
			tr.startAsCaller(ci, eventTime(m))
		}
	}
}

// startAsCaller publishes the call its caller channel opened.
func (tr *Tracker) startAsCaller(ci *callInfo, at time.Time) {
	ch := ci.caller
	ci.started = true
	ci.from = ch.party
	ci.to = monitor.Party{Number: ch.exten}
	tr.t.Start(ci.key, monitor.Call{Direction: direction(ci.from.Number, ci.to.Number), From: ci.from, To: ci.to, Line: account(ch.name), Started: at})
}

// startOriginated publishes a call made by Originate once it dials its
// second leg: the phone that answered first calls the number dialled
// now.
func (tr *Tracker) startOriginated(ci *callInfo, b *channel, at time.Time) {
	a := ci.first
	ci.started = true
	ci.caller = a
	line := ""
	if a != nil {
		ci.from = monitor.Party{Number: a.party.Number, Name: a.party.Name, Account: account(a.name), Private: a.party.Private}
		line = account(a.name)
	}
	ci.to = monitor.Party{Number: b.target.Number, Name: b.target.Name}
	tr.t.Start(ci.key, monitor.Call{Direction: direction(ci.from.Number, ci.to.Number), From: ci.from, To: ci.to, Line: line, Started: at})
}

func (tr *Tracker) newState(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	if ch == nil {
		return
	}
	st := parseState(m.Get("ChannelStateDesc"), m.Get("ChannelState"))
	if st == ch.state || st == stateUnknown {
		return
	}
	ch.state = st
	if !ch.real() {
		return
	}
	ci := tr.callOf(ch)
	if ci == nil {
		return
	}
	if !ci.started {
		switch {
		case ch == ci.caller && st == stateRing:
			tr.startAsCaller(ci, eventTime(m))
		case ch == ci.caller:
			// Down to Ringing or Up without Ring: Asterisk called this
			// phone, for an Originate.
			ci.originated, ci.caller = true, nil
			ch.originated = true
			if st == stateUp {
				tr.firstAnswered(ci, ch)
			}
		case ci.originated && st == stateUp && !tr.secondLeg(ci, ch):
			tr.firstAnswered(ci, ch)
		}
		return
	}
	if ch.ringing && (st == stateRinging || st == stateUp) {
		ci.rang = true
	}
}

// firstAnswered notes the phone an originated call rang first picking up.
func (tr *Tracker) firstAnswered(ci *callInfo, ch *channel) {
	if ci.first == nil {
		ci.first = ch
	}
}

// secondLeg reports whether a dialled channel of an originated call
// belongs to its second leg (the number the first phone reaches), not
// its first (the phone rung first). Originate of a Local channel runs
// the first leg on the ;2 half of its pair and the second on the ;1
// half; anything a real channel dials is a second leg.
func (tr *Tracker) secondLeg(ci *callInfo, dest *channel) bool {
	d := dest.dialer
	for i := 0; d != nil && i < 64; i++ {
		if d.real() {
			return true
		}
		if d.half == 2 {
			if d.peer == nil {
				break
			}
			if d.peer.root {
				return false
			}
			d = d.peer
			continue
		}
		if d.root {
			return true
		}
		d = d.dialer
	}
	if dest.root || dest.originated {
		return false
	}
	return ci.first != nil
}

func (tr *Tracker) newCallerID(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	if ch == nil || ch.local {
		return
	}
	ch.party.Number, ch.party.Name = ownCID(m.Get("CallerIDNum"), m.Get("CallerIDName"))
	if p := m.Get("CID-CallingPres"); p != "" {
		ch.party.Private = strings.Contains(p, "Prohibited") || strings.Contains(p, "Restricted")
	}
	ci := tr.callOf(ch)
	if ci == nil || !ci.started || ch != ci.caller {
		return
	}
	// The account shown stays the one the call started with.
	p := ch.party
	p.Account = ci.from.Account
	if p == ci.from {
		return
	}
	ci.from = p
	answered := ci.everAnswered
	// Phones often register with their account as caller ID; the dialplan
	// then sets the extension, which decides the direction.
	tr.t.Update(ci.key, func(c *monitor.Call) {
		c.From = p
		if !answered {
			c.Direction = direction(p.Number, c.To.Number)
		}
	})
}

// newConnectedLine carries names across the chain: a party whose own
// channel does not name it is often named by the connected line the
// dialplan sets on the other side.
func (tr *Tracker) newConnectedLine(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	if ch == nil || ch.local {
		return
	}
	ch.connected.Number, ch.connected.Name = ownCID(m.Get("ConnectedLineNum"), m.Get("ConnectedLineName"))
	ci := tr.callOf(ch)
	if ci == nil || !ci.started || !ch.real() || ch.connected.Name == "" {
		return
	}
	name := ch.connected.Name
	switch {
	case ch == ci.caller && ci.answered && ci.answeredBy != nil && ci.answeredBy.target.Name == "" &&
		ch.connected.Number == tr.partyOf(ci.answeredBy).Number:
		ci.answeredBy.target.Name = name
		p := tr.answerParty(ci, ci.answeredBy)
		tr.t.Update(ci.key, func(c *monitor.Call) { c.AnsweredBy = &p })
	case ch != ci.caller && ci.from.Name == "" && ch.connected.Number == ci.from.Number && ci.from.Number != "":
		ci.from.Name = name
		from := ci.from
		tr.t.Update(ci.key, func(c *monitor.Call) { c.From = from })
	}
}

// dialTarget is the party a dial to a real channel reaches: its caller-ID
// number as the dial begins, and its account.
func dialTarget(m Message) monitor.Party {
	num, name := ownCID(m.Get("DestCallerIDNum"), m.Get("DestCallerIDName"))
	return monitor.Party{Number: num, Name: name, Account: own(account(m.Get("DestChannel")))}
}

// partyOf is the party on a real channel: as its dial named it, else its
// own caller ID.
func (tr *Tracker) partyOf(ch *channel) monitor.Party {
	if ch.target.Number != "" || ch.target.Account != "" {
		return ch.target
	}
	return monitor.Party{Number: ch.party.Number, Name: ch.party.Name, Account: account(ch.name), Private: ch.party.Private}
}

func (tr *Tracker) dialBegin(m Message) {
	dest := tr.chans[m.Get("DestUniqueid")]
	if dest == nil {
		return
	}
	callerID, hasCaller := m.Lookup("Uniqueid")
	if !hasCaller || callerID == "" {
		if dest.root {
			// Originate dials its first channel with no calling channel.
			dest.originated = true
			if ci := tr.callOf(dest); ci != nil && !ci.started && dest.real() {
				ci.originated, ci.caller = true, nil
			}
			return
		}
	}
	caller := tr.chans[callerID]
	if caller != nil && caller != dest {
		dest.dialer = caller
	}
	if !dest.real() {
		return // plumbing: the dial at the chain's end names the party
	}
	ci := tr.callOf(dest)
	if ci == nil {
		return
	}
	dest.ringing, dest.answeredDial = true, false
	dest.target = dialTarget(m)
	at := eventTime(m)
	if !ci.started {
		switch {
		case ci.originated && !tr.secondLeg(ci, dest):
			return // the phone an originated call rings first: not a call yet
		case ci.originated:
			tr.startOriginated(ci, dest, at)
		case ci.caller != nil:
			// The caller's channel stayed Down and dials: it called in.
			tr.startAsCaller(ci, at)
		default:
			return
		}
	}
	if dest == ci.caller {
		return
	}
	if ci.answered && !ci.xfer && ci.caller != nil && tr.farEnd(ci.caller, nil) == nil {
		// The caller, talking to no one now, dials again (Redirect to
		// another extension, a dialplan that goes on after the first
		// party hung up): who answers next takes the call.
		ci.statuses = ci.statuses[:0]
		ci.rang, ci.answered, ci.answeredBy, ci.callerLeftRng = false, false, nil, false
	}
	ci.targets = append(ci.targets, dest)
	p := dest.target
	if ci.to.Number == "" {
		// A call whose first channel dialled no extension of its own: the
		// first dial names its destination.
		ci.to = monitor.Party{Number: p.Number, Name: p.Name}
		to := ci.to
		tr.t.Update(ci.key, func(c *monitor.Call) {
			c.To = to
			c.Direction = direction(c.From.Number, to.Number)
		})
	}
	if ci.xfer && ci.blind {
		// The phones the transfer rings are its targets (a ring group
		// rings several); they replace the dialled extension.
		first := !ci.xferTargets
		ci.xferTargets = true
		tr.t.Update(ci.key, func(c *monitor.Call) {
			if n := len(c.Transfers); n > 0 {
				x := &c.Transfers[n-1]
				if first {
					x.Targets = nil
				}
				x.Targets = append(x.Targets, p)
			}
		})
	}
	tr.ring(ci)
}

// dialState notes progress Asterisk reports on a dial (DialState:
// RINGING, PROGRESS, PROCEEDING) for a target that never turns Ringing
// itself.
func (tr *Tracker) dialState(m Message) {
	dest := tr.chans[m.Get("DestUniqueid")]
	if dest == nil || !dest.ringing {
		return
	}
	if ci := tr.callOf(dest); ci != nil && ci.started {
		ci.rang = true
	}
}

func (tr *Tracker) dialEnd(m Message) {
	dest := tr.chans[m.Get("DestUniqueid")]
	if dest == nil {
		return
	}
	status := dialStatus(m.Get("DialStatus"))
	ci := tr.callOf(dest)
	if ci == nil || !dest.real() {
		return
	}
	if !ci.started {
		if ci.originated && status == "ANSWER" && !tr.secondLeg(ci, dest) {
			tr.firstAnswered(ci, dest)
		}
		return
	}
	if !dest.ringing {
		return
	}
	ci.statuses = append(ci.statuses, status)
	if status == "ANSWER" {
		// Answered, not yet joined to the caller: it goes on being shown
		// until it is (or it hangs up, as call acceptance does).
		dest.answeredDial = true
		ci.rang = true
		return
	}
	dest.ringing = false
	tr.ring(ci)
}

// ring publishes the destinations that ring now, if they changed.
func (tr *Tracker) ring(ci *callInfo) {
	if !ci.started {
		return
	}
	live := ci.targets[:0]
	for _, ch := range ci.targets {
		if ch.ringing && !ch.gone && ch.key == ci.key {
			live = append(live, ch)
		}
	}
	for i := len(live); i < len(ci.targets); i++ {
		ci.targets[i] = nil
	}
	ci.targets = live
	now := live
	if ci.answered {
		now = nil
	}
	if sameChannels(now, ci.shown) {
		return
	}
	ci.shown = append(ci.shown[:0], now...)
	parties := make([]monitor.Party, len(now))
	for i, ch := range now {
		parties[i] = ch.target
	}
	sortParties(parties)
	tr.t.Update(ci.key, func(c *monitor.Call) { c.Ringing = parties })
}

func sameChannels(a, b []*channel) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sortParties(ps []monitor.Party) {
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Account < ps[j-1].Account; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func (tr *Tracker) bridgeEnter(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	if ch == nil {
		return
	}
	id := m.Get("BridgeUniqueid")
	b := tr.bridges[id]
	if b == nil {
		id = own(id)
		b = &bridge{id: id}
		tr.bridges[id] = b
	}
	if swap := tr.chans[m.Get("SwapUniqueid")]; swap != nil && swap.bridge == b {
		// The channel takes the place of a Local half optimising away.
		b.remove(swap)
		swap.bridge = nil
	}
	tr.join(ch, b)
	tr.connected(ch, m)
}

// join puts ch into bridge b, out of any other.
func (tr *Tracker) join(ch *channel, b *bridge) {
	if ch.bridge == b {
		return
	}
	if ch.bridge != nil {
		ch.bridge.remove(ch)
	}
	ch.bridge = b
	b.members = append(b.members, ch)
}

func (tr *Tracker) bridgeLeave(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	if ch == nil || ch.bridge == nil || ch.bridge.id != m.Get("BridgeUniqueid") {
		return
	}
	ch.bridge.remove(ch)
	ch.bridge = nil
}

func (tr *Tracker) bridgeDestroy(m Message) {
	id := m.Get("BridgeUniqueid")
	if b := tr.bridges[id]; b != nil {
		for _, ch := range b.members {
			ch.bridge = nil
		}
		delete(tr.bridges, id)
	}
}

// connected answers the call of ch when its caller is now joined to
// another real channel through bridges and Local pairs, at the time of
// m.
func (tr *Tracker) connected(ch *channel, m Message) {
	ci := tr.callOf(ch)
	if ci == nil || !ci.started || ci.answered || ci.caller == nil || ci.caller.gone {
		return
	}
	if p := tr.farEnd(ci.caller, nil); p != nil {
		tr.answer(ci, p, eventTime(m))
	}
}

// farEnd returns the first real channel joined to from through bridges
// and Local pairs, other than from and not, or nil. Dialled channels
// still ringing are preferred over others in the same bridge only by
// the order of the walk: the graph of one conversation is small.
func (tr *Tracker) farEnd(from, not *channel) *channel {
	return tr.walk(from, nil, not)
}

// walk is farEnd from start, never going through behind (already seen).
func (tr *Tracker) walk(start, behind, not *channel) *channel {
	var stack [32]*channel
	var seen [32]*channel
	todo := append(stack[:0], start)
	visited := append(seen[:0], start)
	if behind != nil {
		visited = append(visited, behind)
	}
	for len(todo) > 0 {
		ch := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		next := func(o *channel) *channel {
			if o == nil || o.gone || o == not {
				return nil
			}
			for _, v := range visited {
				if v == o {
					return nil
				}
			}
			visited = append(visited, o)
			if o.real() {
				return o
			}
			todo = append(todo, o)
			return nil
		}
		if ch.local {
			if r := next(ch.peer); r != nil {
				return r
			}
		}
		if ch.bridge != nil {
			for _, o := range ch.bridge.members {
				if r := next(o); r != nil {
					return r
				}
			}
		}
	}
	return nil
}

// answer marks the call answered by the real channel p.
func (tr *Tracker) answer(ci *callInfo, p *channel, at time.Time) {
	ci.answered, ci.everAnswered, ci.rang, ci.xfer = true, true, true, false
	ci.answeredBy = p
	p.ringing = false
	party := tr.answerParty(ci, p)
	tr.t.Answer(ci.key, &party, at)
	ci.shown = ci.shown[:0]
	tr.ring(ci)
}

// answerParty is the party shown as having taken the call: a queue's
// agent by the member name the queue knows them by.
func (tr *Tracker) answerParty(ci *callInfo, p *channel) monitor.Party {
	party := tr.partyOf(p)
	if ci.agent != "" {
		party.Name = ci.agent
	}
	return party
}

func (tr *Tracker) hangup(m Message) {
	uid := m.Get("Uniqueid")
	ch := tr.chans[uid]
	if ch == nil {
		return
	}
	delete(tr.chans, uid)
	if tr.byName[ch.name] == ch {
		delete(tr.byName, ch.name)
	}
	if ch.local && ch.half == 1 {
		if base, _ := localPair(ch.name); tr.halves[base] == ch {
			delete(tr.halves, base)
		}
	}
	ch.gone = true
	if ch.bridge != nil {
		ch.bridge.remove(ch)
		ch.bridge = nil
	}
	if ch.peer != nil {
		ch.peer.peer = nil
	}
	ci := tr.callOf(ch)
	if ci == nil {
		return
	}
	ci.n--
	real := ch.real()
	if real {
		ci.live--
		if ch == ci.caller {
			ci.callerCause, ci.callerText = own(m.Get("Cause")), own(m.Get("Cause-txt"))
			for _, t := range ci.targets {
				if t.ringing && !t.answeredDial && !t.gone {
					ci.callerLeftRng = true
				}
			}
		}
	}
	switch {
	case ci.live > 0:
		if real && ci.started {
			tr.ring(ci)
		}
		return
	case !ci.started:
		if real || ci.n <= 0 {
			// Its only real channels are gone before it became a call (an
			// originate the first phone declined), or nothing is left.
			delete(tr.calls, ci.key)
		}
		return
	case !real && ci.n > 0:
		return
	}
	tr.end(ci, m)
}

// end ends a call whose last real channel hung up with m.
func (tr *Tracker) end(ci *callInfo, m Message) {
	delete(tr.calls, ci.key)
	code, text := ci.callerCause, ci.callerText
	if code == "" {
		code, text = m.Get("Cause"), m.Get("Cause-txt")
	}
	cause, _ := strconv.Atoi(code)
	e := monitor.Ending{Cause: text + " (" + code + ")", At: eventTime(m)}
	switch {
	case ci.abandoned:
		e.Reason = monitor.ReasonAbandoned
		e.Cause = "waited " + ci.waited + " s"
		if ci.queue != "" {
			e.Cause += " in queue " + ci.queue
		}
	case ci.xfer && ci.blind && !ci.rang:
		// The transfer reached nobody: it did not take place, and the call
		// ended as it was before.
		before := ci.before
		tr.t.Update(ci.key, func(c *monitor.Call) {
			if n := len(c.Transfers); n > 0 {
				c.Transfers = c.Transfers[:n-1]
			}
			c.From, c.To = before[0], before[1]
		})
	case ci.xfer, !ci.everAnswered:
		e.Reason = reasonFor(ci, cause)
	}
	tr.t.End(ci.key, e)
}

// reasonFor maps how the last phase of a call ended without anyone
// answering: the caller's Q.850 hang-up cause, and where that only says
// normal clearing, the statuses of the dials.
func reasonFor(ci *callInfo, cause int) monitor.Reason {
	allCancel := len(ci.statuses) > 0
	var answer, busy, noAnswer, failed bool
	for _, s := range ci.statuses {
		allCancel = allCancel && s == "CANCEL"
		switch s {
		case "ANSWER":
			answer = true
		case "BUSY":
			busy = true
		case "NOANSWER":
			noAnswer = true
		case "CONGESTION", "CHANUNAVAIL":
			failed = true
		}
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
	case cause != 0 && cause != 16: // not a normal clearing
		return monitor.ReasonFailed
	case len(ci.statuses) == 0 && !ci.callerLeftRng:
		// Created and cleared without dialing anyone: Asterisk reports a
		// normal clearing.
		return monitor.ReasonCompleted
	case ci.callerLeftRng:
		return monitor.ReasonCancelled
	case answer:
		// A target picked up but was never joined to the caller: call
		// acceptance refused or timed out.
		return monitor.ReasonNoAnswer
	case busy:
		return monitor.ReasonBusy
	case noAnswer:
		return monitor.ReasonNoAnswer
	case failed:
		return monitor.ReasonFailed
	default:
		return monitor.ReasonCancelled
	}
}

// hold marks the call of a channel held (Asterisk 13+ Hold event; the
// channel is the one that put the other side on hold).
func (tr *Tracker) hold(m Message) {
	if ch := tr.chans[m.Get("Uniqueid")]; ch != nil {
		tr.t.Hold(ch.key)
	}
}

func (tr *Tracker) unhold(m Message) {
	if ch := tr.chans[m.Get("Uniqueid")]; ch != nil {
		tr.t.Unhold(ch.key)
	}
}

// userEvent passes a dialplan UserEvent (UserEvent() application) on to
// subscribers with all its fields but the event framing.
func (tr *Tracker) userEvent(m Message) {
	fields := make(map[string]string, len(m))
	for _, f := range m {
		switch f.Key {
		case "Event", "UserEvent", "Privilege":
		default:
			fields[own(f.Key)] = own(f.Value)
		}
	}
	tr.sink.UserEvent(monitor.UserEvent{Source: tr.source, Name: own(m.Get("UserEvent")), Fields: fields})
}

// eventParty is the party a transfer event names by field prefix
// ("Transferer", "Transferee", "OrigTransferer", "TransferTarget").
func eventParty(m Message, prefix string) monitor.Party {
	num, name := ownCID(m.Get(prefix+"CallerIDNum"), m.Get(prefix+"CallerIDName"))
	return monitor.Party{Number: num, Name: name, Account: own(account(m.Get(prefix + "Channel")))}
}
