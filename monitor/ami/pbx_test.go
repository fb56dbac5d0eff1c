package ami

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// pbx writes AMI event streams the way Asterisk 13 raises them, for the
// scenarios the recorded logs do not show: every channel event carries
// the channel's snapshot (manager_channels.c, in the field order of
// ast_manager_build_channel_state_string_prefix), dials carry the
// calling channel's snapshot and the dialled one's with the Dest prefix,
// Local pairs are two half-channels announced by LocalBridge
// (core_local.c) that optimise themselves away as
// LocalOptimizationBegin, a BridgeEnter with SwapUniqueid and
// LocalOptimizationEnd, and every event has the Timestamp of
// timestampevents=yes. It keeps the state a real PBX would (caller IDs,
// states, bridge members), so a scenario is written as the calls
// happen.
type pbx struct {
	system  string
	clock   float64
	ids     int
	locals  int
	chans   int
	bridges int
	members map[string][]*pchan
	lines   []string
}

type pchan struct {
	name, uid, linked        string
	state                    int
	num, cname, cnum, ccname string
	acct, context, exten     string
	prio                     int
	bridge                   string
}

func newPBX() *pbx {
	return &pbx{system: "pbx1", clock: 1700000000, members: map[string][]*pchan{}}
}

const (
	psDown    = 0
	psRing    = 4
	psRinging = 5
	psUp      = 6
)

var stateDescs = map[int]string{psDown: "Down", psRing: "Ring", psRinging: "Ringing", psUp: "Up"}

// wait lets seconds pass.
func (p *pbx) wait(seconds float64) { p.clock += seconds }

func (p *pbx) uid() string {
	p.ids++
	return fmt.Sprintf("%s-%d.%d", p.system, int(p.clock), p.ids)
}

// emit writes one event: its name, then the fields in order.
func (p *pbx) emit(name string, fields ...string) {
	var b strings.Builder
	b.WriteString(`{"Event":`)
	writeJSON(&b, name)
	b.WriteString(`,"Privilege":"call,all"`)
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteByte(',')
		writeJSON(&b, fields[i])
		b.WriteByte(':')
		writeJSON(&b, fields[i+1])
	}
	b.WriteString(`,"SystemName":`)
	writeJSON(&b, p.system)
	b.WriteString(`,"Timestamp":`)
	writeJSON(&b, strconv.FormatFloat(p.clock, 'f', 6, 64))
	b.WriteString("}\n")
	p.lines = append(p.lines, b.String())
	p.clock += 0.001
}

func writeJSON(b *strings.Builder, s string) {
	q, _ := json.Marshal(s)
	b.Write(q)
}

// snap is a channel's snapshot under prefix.
func (c *pchan) snap(prefix string) []string {
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	return []string{
		prefix + "Channel", c.name,
		prefix + "ChannelState", strconv.Itoa(c.state),
		prefix + "ChannelStateDesc", stateDescs[c.state],
		prefix + "CallerIDNum", unknown(c.num),
		prefix + "CallerIDName", unknown(c.cname),
		prefix + "ConnectedLineNum", unknown(c.cnum),
		prefix + "ConnectedLineName", unknown(c.ccname),
		prefix + "Language", "en",
		prefix + "AccountCode", c.acct,
		prefix + "Context", c.context,
		prefix + "Exten", c.exten,
		prefix + "Priority", strconv.Itoa(c.prio),
		prefix + "Uniqueid", c.uid,
		prefix + "Linkedid", c.linked,
	}
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// channel creates a channel (Newchannel). A channel calling in starts in
// state Ring (chan_pjsip); one Asterisk calls starts Down. of is the
// channel whose conversation it joins (its Linkedid); nil starts one.
func (p *pbx) channel(tech, num, context, exten string, state int, of *pchan) *pchan {
	p.chans++
	c := &pchan{name: fmt.Sprintf("%s-%08x", tech, p.chans), uid: p.uid(), state: state, num: num, context: context, exten: exten, prio: 1}
	c.acct = account(c.name)
	c.linked = c.uid
	if of != nil {
		c.linked = of.linked
	}
	p.emit("Newchannel", c.snap("")...)
	return c
}

// local creates a Local channel pair for exten@context (Newchannel ;1
// and ;2, LocalBridge); noOptimise is the /n of the dial string.
func (p *pbx) local(exten, context string, of *pchan, noOptimise bool) (one, two *pchan) {
	p.locals++
	base := fmt.Sprintf("Local/%s@%s-%08x", exten, context, p.locals)
	one = &pchan{name: base + ";1", uid: p.uid(), state: psDown, context: context, exten: exten, prio: 1}
	two = &pchan{name: base + ";2", uid: p.uid(), state: psRing, context: context, exten: exten, prio: 1}
	one.linked, two.linked = one.uid, one.uid
	if of != nil {
		one.linked, two.linked = of.linked, of.linked
	}
	p.emit("Newchannel", one.snap("")...)
	p.emit("Newchannel", two.snap("")...)
	opt := "Yes"
	if noOptimise {
		opt = "No"
	}
	p.emit("LocalBridge", concat(one.snap("LocalOne"), two.snap("LocalTwo"), []string{"Context", context, "Exten", exten, "LocalOptimization", opt})...)
	return one, two
}

// callerID changes a channel's caller ID (NewCallerid).
func (p *pbx) callerID(c *pchan, num, name string) {
	c.num, c.cname = num, name
	p.emit("NewCallerid", concat(c.snap(""), []string{"CID-CallingPres", "0 (Presentation Allowed, Not Screened)"})...)
}

// connectedLine changes who a channel is shown as talking to
// (NewConnectedLine).
func (p *pbx) connectedLine(c *pchan, num, name string) {
	c.cnum, c.ccname = num, name
	p.emit("NewConnectedLine", c.snap("")...)
}

func (p *pbx) newState(c *pchan, state int) {
	c.state = state
	p.emit("Newstate", c.snap("")...)
}

// dial begins a dial from from (nil: Originate, which has no calling
// channel) to to.
func (p *pbx) dial(from, to *pchan) {
	var fields []string
	if from != nil {
		fields = from.snap("")
	}
	fields = concat(fields, to.snap("Dest"), []string{"DialString", to.exten})
	p.emit("DialBegin", fields...)
}

func (p *pbx) dialEnd(from, to *pchan, status string) {
	var fields []string
	if from != nil {
		fields = from.snap("")
	}
	p.emit("DialEnd", concat(fields, to.snap("Dest"), []string{"DialStatus", status})...)
}

func (p *pbx) bridge() string {
	p.bridges++
	id := fmt.Sprintf("b%07d-0000-4000-8000-%012d", p.bridges, p.bridges)
	p.emit("BridgeCreate", p.bridgeFields(id)...)
	return id
}

func (p *pbx) bridgeFields(id string) []string {
	return []string{"BridgeUniqueid", id, "BridgeType", "basic", "BridgeTechnology", "simple_bridge", "BridgeCreator", "<unknown>",
		"BridgeName", "<unknown>", "BridgeNumChannels", strconv.Itoa(len(p.members[id])), "BridgeVideoSourceMode", "none"}
}

// enter puts c into bridge id, in place of swap when not nil.
func (p *pbx) enter(c *pchan, id string, swap *pchan) {
	p.members[id] = append(p.members[id], c)
	c.bridge = id
	fields := concat(p.bridgeFields(id), c.snap(""))
	if swap != nil {
		fields = append(fields, "SwapUniqueid", swap.uid)
	}
	p.emit("BridgeEnter", fields...)
}

func (p *pbx) leave(c *pchan) {
	id := c.bridge
	if id == "" {
		return
	}
	ms := p.members[id]
	for i, m := range ms {
		if m == c {
			p.members[id] = append(ms[:i:i], ms[i+1:]...)
			break
		}
	}
	c.bridge = ""
	p.emit("BridgeLeave", concat(p.bridgeFields(id), c.snap(""))...)
	if len(p.members[id]) == 0 {
		p.emit("BridgeDestroy", p.bridgeFields(id)...)
		delete(p.members, id)
	}
}

// peerIn is the other member of c's bridge.
func (p *pbx) peerIn(c *pchan) *pchan {
	for _, m := range p.members[c.bridge] {
		if m != c {
			return m
		}
	}
	return nil
}

func (p *pbx) hangup(c *pchan, cause int, text string) {
	p.leave(c)
	p.emit("Hangup", concat(c.snap(""), []string{"Cause", strconv.Itoa(cause), "Cause-txt", text})...)
}

// optimise takes a bridged Local pair out of the media path, as Asterisk
// 12+ does: the channel bridged with ;1 moves into ;2's bridge in its
// place, and the pair hangs up.
func (p *pbx) optimise(one, two *pchan) {
	src := p.peerIn(one)
	dest := two.bridge
	p.locals++
	id := strconv.Itoa(p.locals)
	p.emit("LocalOptimizationBegin", concat(one.snap("LocalOne"), two.snap("LocalTwo"), src.snap("Source"), []string{"DestUniqueId", two.uid, "Id", id})...)
	p.leave(src)
	// Leaving and entering are one swap: the half's bridge must not be
	// destroyed in between.
	ms := p.members[dest]
	for i, m := range ms {
		if m == two {
			ms[i] = src
		}
	}
	src.bridge, two.bridge = dest, ""
	p.emit("BridgeEnter", concat(p.bridgeFields(dest), src.snap(""), []string{"SwapUniqueid", two.uid})...)
	p.emit("BridgeLeave", concat(p.bridgeFields(dest), two.snap(""))...)
	p.emit("LocalOptimizationEnd", concat(one.snap("LocalOne"), two.snap("LocalTwo"), []string{"Success", "Yes", "Id", id})...)
	p.hangup(one, 16, "Normal Clearing")
	p.hangup(two, 16, "Normal Clearing")
}

// chain dials from through Local pairs, one per exten@context given as
// "exten@context" (a trailing "/n" keeps the pair in the media path),
// and returns the pairs; the last ;2 dials the real channel.
func (p *pbx) chain(from *pchan, hops ...string) [][2]*pchan {
	var pairs [][2]*pchan
	for _, hop := range hops {
		noOpt := strings.HasSuffix(hop, "/n")
		exten, context, _ := strings.Cut(strings.TrimSuffix(hop, "/n"), "@")
		one, two := p.local(exten, context, from, noOpt)
		if from != nil {
			// The half facing the caller shows who it is being connected to.
			p.callerID(two, from.num, from.cname)
		}
		p.dial(from, one)
		pairs = append(pairs, [2]*pchan{one, two})
		from = two
	}
	return pairs
}

// ringing shows a dialled phone and the chain towards it ringing.
func (p *pbx) ringing(target *pchan, pairs [][2]*pchan) {
	p.newState(target, psRinging)
	for i := len(pairs) - 1; i >= 0; i-- {
		p.newState(pairs[i][0], psRinging)
	}
}

// answer answers target at the end of pairs dialled by from: the dials
// end ANSWER hop by hop back to from, and each hop's two channels share
// a bridge (the dial's, as app_dial bridges them).
func (p *pbx) answer(from, target *pchan, pairs [][2]*pchan) {
	p.newState(target, psUp)
	callee := target
	for i := len(pairs) - 1; i >= 0; i-- {
		two := pairs[i][1]
		p.dialEnd(two, callee, "ANSWER")
		p.newState(two, psUp)
		b := p.bridge()
		p.enter(callee, b, nil)
		p.enter(two, b, nil)
		p.newState(pairs[i][0], psUp)
		callee = pairs[i][0]
	}
	if from != nil {
		p.dialEnd(from, callee, "ANSWER")
		if from.state != psUp {
			p.newState(from, psUp)
		}
		b := p.bridge()
		p.enter(callee, b, nil)
		p.enter(from, b, nil)
	}
}

// answerHop answers the dial from from to to (a Local ;1 whose ;2 is
// answered already) and bridges the two.
func (p *pbx) answerHop(from, to *pchan) {
	if to.state != psUp {
		p.newState(to, psUp)
	}
	p.dialEnd(from, to, "ANSWER")
	if from.state != psUp {
		p.newState(from, psUp)
	}
	b := p.bridge()
	p.enter(to, b, nil)
	p.enter(from, b, nil)
}

// fail ends the dial to target at the end of pairs with status, target
// hanging up with cause, and the chain unwinding back to from.
func (p *pbx) fail(from, target *pchan, pairs [][2]*pchan, status string, cause int, text string) {
	callee := target
	for i := len(pairs) - 1; i >= 0; i-- {
		two := pairs[i][1]
		p.dialEnd(two, callee, status)
		if callee != nil {
			p.hangup(callee, cause, text)
		}
		p.hangup(two, cause, text)
		callee = pairs[i][0]
	}
	if from != nil {
		p.dialEnd(from, callee, status)
	}
	p.hangup(callee, cause, text)
}

func (p *pbx) jsonl() string { return strings.Join(p.lines, "") }
