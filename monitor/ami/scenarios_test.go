package ami

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

var writeScenarios = flag.Bool("write-scenarios", false, "write testdata/scenarios/*.jsonl from the scenario scripts")

// Outside numbers and the phones of the scenarios.
const (
	customer = "+31301234567" // calls in from the trunk
	did      = "+31201234567" // the office's number
	mobile   = "+31612345678"
)

// inbound starts a call from the trunk to the office's number.
func inbound(p *pbx) *pchan {
	return p.channel("PJSIP/trunk", customer, "from-trunk", did, psRing, nil)
}

// phone creates the channel of a phone a dial rings.
func phone(p *pbx, ext string, of *pchan) *pchan {
	c := p.channel("PJSIP/"+ext, "", "from-internal", "s", psDown, of)
	p.callerID(c, ext, "")
	if of != nil {
		p.connectedLine(c, of.num, of.cname)
	}
	return c
}

// trunkOut creates the channel of an outside number a dial reaches.
func trunkOut(p *pbx, number string, of *pchan) *pchan {
	c := p.channel("PJSIP/trunk", "", "from-trunk", "s", psDown, of)
	p.callerID(c, number, "")
	return c
}

// originate makes the Local pair an Originate of Local/first@ctd/n
// creates (its ;1 the first channel of the conversation) and has ;2 ring
// ext through the accounts context; it returns the pair, the phone and
// its chain once the phone answered.
func originate(p *pbx, ext string) (one, two, ph *pchan, pairs [][2]*pchan) {
	one, two = p.local(ext, "ctd", nil, true)
	p.dial(nil, one)
	pairs = p.chain(two, ext+"@accounts")
	ph = phone(p, ext, one)
	p.dial(pairs[0][1], ph)
	p.ringing(ph, pairs)
	p.newState(one, psRinging)
	p.wait(3)
	p.answer(two, ph, pairs)
	p.newState(one, psUp)
	p.dialEnd(nil, one, "ANSWER")
	p.optimise(pairs[0][0], pairs[0][1])
	return one, two, ph, pairs
}

// scenarios are the event sequences the recorded logs do not show,
// written from the Asterisk 13 AMI event documentation and what Local
// channel optimisation does; testdata/FIXTURES.md says what each must
// give.
var scenarios = map[string]func(p *pbx){
	"local_chain2_optimised": func(p *pbx) {
		caller := inbound(p)
		pairs := p.chain(caller, did+"@route", "201@accounts")
		ph := phone(p, "201", caller)
		p.connectedLine(ph, customer, "Jan Jansen")
		p.dial(pairs[1][1], ph)
		p.ringing(ph, pairs)
		p.wait(5)
		p.answer(caller, ph, pairs)
		p.optimise(pairs[1][0], pairs[1][1])
		p.optimise(pairs[0][0], pairs[0][1])
		p.wait(60)
		p.hangup(caller, 16, "Normal Clearing")
		p.hangup(ph, 16, "Normal Clearing")
	},
	"local_chain3_not_optimised": func(p *pbx) {
		caller := inbound(p)
		pairs := p.chain(caller, did+"@route/n", "sales@groups/n", "201@accounts/n")
		ph := phone(p, "201", caller)
		p.dial(pairs[2][1], ph)
		p.ringing(ph, pairs)
		p.wait(4)
		p.answer(caller, ph, pairs)
		p.wait(30)
		// The phone hangs up first; the chain unwinds towards the caller.
		p.hangup(ph, 16, "Normal Clearing")
		for i := len(pairs) - 1; i >= 0; i-- {
			p.hangup(pairs[i][1], 16, "Normal Clearing")
			p.hangup(pairs[i][0], 16, "Normal Clearing")
		}
		p.hangup(caller, 16, "Normal Clearing")
	},
	"local_chain_busy": func(p *pbx) {
		caller := inbound(p)
		pairs := p.chain(caller, did+"@route", "201@accounts")
		ph := phone(p, "201", caller)
		p.dial(pairs[1][1], ph)
		p.fail(caller, ph, pairs, "BUSY", 17, "User busy")
		p.hangup(caller, 17, "User busy")
	},
	"local_ringgroup": func(p *pbx) {
		caller := inbound(p)
		route := p.chain(caller, did+"@route")
		r2 := route[0][1]
		a := p.chain(r2, "201@accounts")
		b := p.chain(r2, "202@accounts")
		ph1, ph2 := phone(p, "201", caller), phone(p, "202", caller)
		p.dial(a[0][1], ph1)
		p.dial(b[0][1], ph2)
		p.ringing(ph1, a)
		p.ringing(ph2, b)
		p.newState(route[0][0], psRinging)
		p.wait(6)
		p.answer(r2, ph2, b)
		// The group's other phone stops ringing, answered elsewhere.
		p.dialEnd(a[0][1], ph1, "CANCEL")
		p.hangup(ph1, 26, "Answered elsewhere")
		p.hangup(a[0][1], 26, "Answered elsewhere")
		p.dialEnd(r2, a[0][0], "CANCEL")
		p.hangup(a[0][0], 26, "Answered elsewhere")
		p.answerHop(caller, route[0][0])
		p.optimise(b[0][0], b[0][1])
		p.optimise(route[0][0], route[0][1])
		p.wait(20)
		p.hangup(ph2, 16, "Normal Clearing")
		p.hangup(caller, 16, "Normal Clearing")
	},
	"originate_world": func(p *pbx) {
		one, two, ph, _ := originate(p, "201")
		// The originate goes on in ;1 at the number to call.
		p.callerID(one, did, "")
		out := p.chain(one, mobile+"@outbound")
		tr := trunkOut(p, mobile, one)
		p.dial(out[0][1], tr)
		p.ringing(tr, out)
		p.wait(8)
		p.answer(one, tr, out)
		p.emit("OriginateResponse", "Response", "Success", "Channel", one.name, "Context", "ctd", "Exten", "201", "Reason", "4", "Uniqueid", one.uid, "CallerIDNum", "<unknown>", "CallerIDName", "<unknown>")
		p.optimise(out[0][0], out[0][1])
		p.wait(42)
		p.hangup(tr, 16, "Normal Clearing")
		p.hangup(one, 16, "Normal Clearing")
		p.hangup(two, 16, "Normal Clearing")
		p.hangup(ph, 16, "Normal Clearing")
	},
	"originate_account": func(p *pbx) {
		one, two, ph, _ := originate(p, "201")
		out := p.chain(one, "202@accounts")
		callee := phone(p, "202", one)
		p.dial(out[0][1], callee)
		p.ringing(callee, out)
		p.wait(2)
		p.answer(one, callee, out)
		p.optimise(out[0][0], out[0][1])
		p.wait(15)
		p.hangup(ph, 16, "Normal Clearing")
		p.hangup(two, 16, "Normal Clearing")
		p.hangup(one, 16, "Normal Clearing")
		p.hangup(callee, 16, "Normal Clearing")
	},
	"originate_busy": func(p *pbx) {
		one, two, ph, _ := originate(p, "201")
		out := p.chain(one, mobile+"@outbound")
		tr := trunkOut(p, mobile, one)
		p.dial(out[0][1], tr)
		p.fail(one, tr, out, "BUSY", 17, "User busy")
		p.hangup(one, 17, "User busy")
		p.hangup(two, 17, "User busy")
		p.hangup(ph, 17, "User busy")
	},
	"originate_declined": func(p *pbx) {
		one, two := p.local("201", "ctd", nil, true)
		p.dial(nil, one)
		pairs := p.chain(two, "201@accounts")
		ph := phone(p, "201", one)
		p.dial(pairs[0][1], ph)
		p.ringing(ph, pairs)
		p.wait(4)
		// The user declines on the phone the click rang first.
		p.fail(two, ph, pairs, "BUSY", 21, "Call Rejected")
		p.hangup(two, 21, "Call Rejected")
		p.dialEnd(nil, one, "BUSY")
		p.hangup(one, 21, "Call Rejected")
		p.emit("OriginateResponse", "Response", "Failure", "Channel", one.name, "Context", "ctd", "Exten", "201", "Reason", "1", "Uniqueid", one.uid, "CallerIDNum", "<unknown>", "CallerIDName", "<unknown>")
	},
	"originate_unreachable": func(p *pbx) {
		// The phone is not registered: Dial fails without creating it.
		one, two := p.local("201", "ctd", nil, true)
		p.dial(nil, one)
		pairs := p.chain(two, "201@accounts")
		p.dialEnd(two, pairs[0][0], "CHANUNAVAIL")
		p.hangup(pairs[0][1], 20, "Subscriber absent")
		p.hangup(pairs[0][0], 20, "Subscriber absent")
		p.hangup(two, 20, "Subscriber absent")
		p.dialEnd(nil, one, "CHANUNAVAIL")
		p.hangup(one, 20, "Subscriber absent")
		p.emit("OriginateResponse", "Response", "Failure", "Channel", one.name, "Context", "ctd", "Exten", "201", "Reason", "0", "Uniqueid", one.uid, "CallerIDNum", "<unknown>", "CallerIDName", "<unknown>")
	},
	"acceptance_refused": func(p *pbx) {
		caller := inbound(p)
		pairs := p.chain(caller, did+"@route", mobile+"@acceptance")
		mob := trunkOut(p, mobile, caller)
		p.dial(pairs[1][1], mob)
		p.ringing(mob, pairs)
		p.wait(7)
		// The mobile answers; the acceptance macro runs on it (press 1),
		// before app_dial would bridge it with the caller.
		p.newState(mob, psUp)
		p.dialEnd(pairs[1][1], mob, "ANSWER")
		p.emit("NewExten", concat(mob.snap(""), []string{"Extension", "s", "Application", "Read", "AppData", "ACCEPT,press-1,1,,,10"})...)
		p.wait(4)
		// The person does not accept: the PBX drops the mobile leg.
		p.hangup(mob, 16, "Normal Clearing")
		p.hangup(pairs[1][1], 16, "Normal Clearing")
		p.dialEnd(pairs[0][1], pairs[1][0], "NOANSWER")
		p.hangup(pairs[1][0], 16, "Normal Clearing")
		p.hangup(pairs[0][1], 16, "Normal Clearing")
		p.dialEnd(caller, pairs[0][0], "NOANSWER")
		p.hangup(pairs[0][0], 16, "Normal Clearing")
		p.hangup(caller, 16, "Normal Clearing")
	},
	"acceptance_timeout_voicemail": func(p *pbx) {
		caller := inbound(p)
		pairs := p.chain(caller, did+"@route", mobile+"@acceptance")
		mob := trunkOut(p, mobile, caller)
		p.dial(pairs[1][1], mob)
		p.ringing(mob, pairs)
		p.wait(5)
		p.newState(mob, psUp)
		p.dialEnd(pairs[1][1], mob, "ANSWER")
		p.wait(10) // the prompt times out unanswered
		p.hangup(mob, 16, "Normal Clearing")
		p.hangup(pairs[1][1], 16, "Normal Clearing")
		p.dialEnd(pairs[0][1], pairs[1][0], "NOANSWER")
		p.hangup(pairs[1][0], 16, "Normal Clearing")
		p.hangup(pairs[0][1], 19, "No Answer")
		p.dialEnd(caller, pairs[0][0], "NOANSWER")
		p.hangup(pairs[0][0], 19, "No Answer")
		// Voicemail: the PBX answers the caller itself, bridged with no one.
		p.newState(caller, psUp)
		p.emit("NewExten", concat(caller.snap(""), []string{"Extension", "vm", "Application", "VoiceMail", "AppData", "201@default"})...)
		p.wait(20)
		p.hangup(caller, 16, "Normal Clearing")
	},
	"acceptance_accepted": func(p *pbx) {
		caller := inbound(p)
		pairs := p.chain(caller, did+"@route", mobile+"@acceptance")
		mob := trunkOut(p, mobile, caller)
		p.dial(pairs[1][1], mob)
		p.ringing(mob, pairs)
		p.wait(5)
		p.wait(3) // the person presses 1
		p.answer(caller, mob, pairs)
		p.optimise(pairs[1][0], pairs[1][1])
		p.optimise(pairs[0][0], pairs[0][1])
		p.wait(25)
		p.hangup(mob, 16, "Normal Clearing")
		p.hangup(caller, 16, "Normal Clearing")
	},
	"redirect": func(p *pbx) {
		// An answered call is redirected (AMI Redirect, as Switchboard's
		// transfer does) to 202: the caller leaves the bridge, 201 hangs
		// up, and the caller's channel dials on.
		caller := inbound(p)
		pa := p.chain(caller, "201@accounts")
		ph1 := phone(p, "201", caller)
		p.dial(pa[0][1], ph1)
		p.ringing(ph1, pa)
		p.wait(2)
		p.answer(caller, ph1, pa)
		p.optimise(pa[0][0], pa[0][1])
		p.wait(20)
		p.leave(caller)
		p.hangup(ph1, 16, "Normal Clearing")
		p.emit("NewExten", concat(caller.snap(""), []string{"Extension", "202", "Application", "Dial", "AppData", "Local/202@accounts"})...)
		pb := p.chain(caller, "202@accounts")
		ph2 := phone(p, "202", caller)
		p.dial(pb[0][1], ph2)
		p.ringing(ph2, pb)
		p.wait(4)
		p.answer(caller, ph2, pb)
		p.optimise(pb[0][0], pb[0][1])
		p.wait(30)
		p.hangup(ph2, 16, "Normal Clearing")
		p.hangup(caller, 16, "Normal Clearing")
	},
	"blonde_transfer":        func(p *pbx) { blonde(p, []string{"202"}, "") },
	"blonde_transfer_group":  func(p *pbx) { blonde(p, []string{"202", "203"}, "203") },
	"blonde_transfer_reject": func(p *pbx) { blonde(p, []string{"202"}, "reject") },
	"originate_attended_transfer": func(p *pbx) {
		// Click-to-dial 201 → 202 through Local pairs that stay in the
		// media path (/n), so 202 talks to a Local half.
		one, two := p.local("201", "ctd", nil, true)
		p.dial(nil, one)
		pa := p.chain(two, "201@accounts/n")
		ph1 := phone(p, "201", one)
		p.dial(pa[0][1], ph1)
		p.ringing(ph1, pa)
		p.wait(2)
		p.answer(two, ph1, pa)
		p.newState(one, psUp)
		p.dialEnd(nil, one, "ANSWER")
		pb := p.chain(one, "202@accounts/n")
		ph2 := phone(p, "202", one)
		p.dial(pb[0][1], ph2)
		p.ringing(ph2, pb)
		p.wait(3)
		p.answer(one, ph2, pb)
		p.wait(20)
		// 202 puts 201 on hold and calls 203, who answers.
		p.emit("Hold", concat(ph2.snap(""), []string{"MusicClass", "default"})...)
		consult := p.channel("PJSIP/202", "202", "from-internal", "203", psRing, nil)
		pc := p.chain(consult, "203@accounts")
		ph3 := phone(p, "203", consult)
		p.dial(pc[0][1], ph3)
		p.ringing(ph3, pc)
		p.wait(4)
		p.answer(consult, ph3, pc)
		p.optimise(pc[0][0], pc[0][1])
		p.wait(10)
		// 202 completes the transfer: the half 202 talked to joins 203.
		held := p.peerIn(ph2)
		second := consult.bridge
		p.leave(held)
		ms := p.members[second]
		for i, m := range ms {
			if m == consult {
				ms[i] = held
			}
		}
		held.bridge, consult.bridge = second, ""
		p.emit("BridgeEnter", concat(p.bridgeFields(second), held.snap(""), []string{"SwapUniqueid", consult.uid})...)
		p.emit("BridgeLeave", concat(p.bridgeFields(second), consult.snap(""))...)
		p.emit("AttendedTransfer", concat([]string{"Result", "Success"}, ph2.snap("OrigTransferer"), []string{"OrigBridgeUniqueid", ph2.bridge},
			consult.snap("SecondTransferer"), []string{"SecondBridgeUniqueid", second, "DestType", "Bridge", "DestBridgeUniqueid", second},
			held.snap("Transferee"), ph3.snap("TransferTarget"), []string{"IsExternal", "No"})...)
		p.hangup(ph2, 16, "Normal Clearing")
		p.hangup(consult, 16, "Normal Clearing")
		p.wait(30)
		p.hangup(ph3, 16, "Normal Clearing")
		p.hangup(held, 16, "Normal Clearing")
		p.hangup(pb[0][0], 16, "Normal Clearing")
		p.hangup(one, 16, "Normal Clearing")
		p.hangup(two, 16, "Normal Clearing")
		p.hangup(pa[0][0], 16, "Normal Clearing")
		p.hangup(pa[0][1], 16, "Normal Clearing")
		p.hangup(ph1, 16, "Normal Clearing")
	},
	"queue_abandoned": func(p *pbx) {
		caller := inbound(p)
		p.newState(caller, psUp) // Queue answers the caller, music plays
		p.emit("QueueCallerJoin", concat(caller.snap(""), []string{"Queue", "support", "Position", "1", "Count", "1"})...)
		var members [][][2]*pchan
		var phones []*pchan
		for _, ext := range []string{"201", "202"} {
			m := p.chain(caller, ext+"@agents/n")
			ph := phone(p, ext, caller)
			p.emit("AgentCalled", concat(caller.snap(""), m[0][0].snap("Dest"), []string{"Queue", "support", "MemberName", "Agent " + ext, "Interface", "Local/" + ext + "@agents/n"})...)
			p.dial(m[0][1], ph)
			p.ringing(ph, m)
			members = append(members, m)
			phones = append(phones, ph)
		}
		p.wait(42)
		p.emit("QueueCallerAbandon", concat(caller.snap(""), []string{"Queue", "support", "Position", "1", "OriginalPosition", "1", "HoldTime", "42"})...)
		p.emit("QueueCallerLeave", concat(caller.snap(""), []string{"Queue", "support", "Position", "1", "Count", "0"})...)
		p.hangup(caller, 16, "Normal Clearing")
		for i, m := range members {
			p.dialEnd(m[0][1], phones[i], "CANCEL")
			p.hangup(phones[i], 16, "Normal Clearing")
			p.hangup(m[0][1], 16, "Normal Clearing")
			p.dialEnd(caller, m[0][0], "CANCEL")
			p.hangup(m[0][0], 16, "Normal Clearing")
		}
	},
	"queue_agent": func(p *pbx) {
		caller := inbound(p)
		p.newState(caller, psUp)
		p.emit("QueueCallerJoin", concat(caller.snap(""), []string{"Queue", "support", "Position", "1", "Count", "1"})...)
		m := p.chain(caller, "202@agents/n")
		ph := phone(p, "202", caller)
		p.emit("AgentCalled", concat(caller.snap(""), m[0][0].snap("Dest"), []string{"Queue", "support", "MemberName", "Bea Agent", "Interface", "Local/202@agents/n"})...)
		p.dial(m[0][1], ph)
		p.ringing(ph, m)
		p.wait(9)
		p.answer(caller, ph, m)
		p.emit("AgentConnect", concat(caller.snap(""), m[0][0].snap("Dest"), []string{"Queue", "support", "MemberName", "Bea Agent", "Interface", "Local/202@agents/n", "HoldTime", "9", "RingTime", "9"})...)
		p.emit("QueueCallerLeave", concat(caller.snap(""), []string{"Queue", "support", "Position", "1", "Count", "0"})...)
		p.wait(50)
		p.hangup(ph, 16, "Normal Clearing")
		p.hangup(m[0][1], 16, "Normal Clearing")
		p.hangup(m[0][0], 16, "Normal Clearing")
		p.hangup(caller, 16, "Normal Clearing")
	},
	"masquerade_optimisation": func(p *pbx) {
		// An older Asterisk optimises the Local pair away by masquerading
		// the phone into the half bridged with the caller.
		caller := inbound(p)
		pairs := p.chain(caller, "201@accounts")
		ph := phone(p, "201", caller)
		p.dial(pairs[0][1], ph)
		p.ringing(ph, pairs)
		p.wait(3)
		p.answer(caller, ph, pairs)
		one, two := pairs[0][0], pairs[0][1]
		p.emit("Masquerade", "Clone", ph.name, "CloneState", "Up", "Original", one.name, "OriginalState", "Up")
		p.emit("Rename", "Channel", ph.name, "Newname", ph.name+"<MASQ>", "Uniqueid", ph.uid)
		p.emit("Rename", "Channel", one.name, "Newname", ph.name, "Uniqueid", one.uid)
		p.emit("Rename", "Channel", ph.name+"<MASQ>", "Newname", one.name+"<ZOMBIE>", "Uniqueid", ph.uid)
		zombie := &pchan{name: one.name + "<ZOMBIE>", uid: ph.uid, linked: ph.linked, state: psUp, context: "from-internal", exten: "s"}
		p.leave(ph)
		p.hangup(zombie, 16, "Normal Clearing")
		p.hangup(two, 16, "Normal Clearing")
		masq := &pchan{name: ph.name, uid: one.uid, linked: one.linked, state: psUp, num: "201", context: "from-internal", exten: "s", bridge: one.bridge}
		p.wait(12)
		p.hangup(caller, 16, "Normal Clearing")
		p.hangup(masq, 16, "Normal Clearing")
	},
}

// blonde: an outside call answered by 201, who calls targets (a ring
// group when several) and hangs up while they ring (Asterisk: an
// AttendedTransfer to the Dial the consultation ran, DestType App).
// answer names the target that answers, or "reject" when it declines.
func blonde(p *pbx, targets []string, answer string) {
	caller := inbound(p)
	pa := p.chain(caller, did+"@route", "201@accounts")
	ph1 := phone(p, "201", caller)
	p.dial(pa[1][1], ph1)
	p.ringing(ph1, pa)
	p.wait(3)
	p.answer(caller, ph1, pa)
	p.optimise(pa[1][0], pa[1][1])
	p.optimise(pa[0][0], pa[0][1])
	p.wait(30)
	consult := p.channel("PJSIP/201", "201", "from-internal", "600", psRing, nil)
	group := p.chain(consult, "600@groups")
	g2 := group[0][1]
	var chains [][][2]*pchan
	var phones []*pchan
	for _, ext := range targets {
		c := p.chain(g2, ext+"@accounts")
		ph := phone(p, ext, consult)
		p.dial(c[0][1], ph)
		p.ringing(ph, c)
		chains = append(chains, c)
		phones = append(phones, ph)
	}
	p.newState(group[0][0], psRinging)
	p.wait(2)
	p.emit("AttendedTransfer", concat([]string{"Result", "Success"}, ph1.snap("OrigTransferer"), []string{"OrigBridgeUniqueid", ph1.bridge},
		consult.snap("SecondTransferer"), []string{"DestType", "App", "DestApp", "Dial"},
		caller.snap("Transferee"), []string{"IsExternal", "No"})...)
	// The transferee takes the consultation's place in its Dial.
	p.dialEnd(consult, group[0][0], "NOANSWER")
	p.dial(caller, group[0][0])
	p.hangup(ph1, 16, "Normal Clearing")
	p.hangup(consult, 16, "Normal Clearing")
	p.wait(5)
	if answer == "reject" {
		p.fail(g2, phones[0], chains[0], "BUSY", 17, "User busy")
		p.dialEnd(caller, group[0][0], "BUSY")
		p.hangup(g2, 17, "User busy")
		p.hangup(group[0][0], 17, "User busy")
		p.hangup(caller, 17, "User busy")
		return
	}
	won := 0
	for i, ext := range targets {
		if ext == answer {
			won = i
		}
	}
	for i := range targets {
		if i != won {
			p.dialEnd(chains[i][0][1], phones[i], "CANCEL")
			p.hangup(phones[i], 26, "Answered elsewhere")
			p.hangup(chains[i][0][1], 26, "Answered elsewhere")
			p.dialEnd(g2, chains[i][0][0], "CANCEL")
			p.hangup(chains[i][0][0], 26, "Answered elsewhere")
		}
	}
	p.answer(g2, phones[won], chains[won])
	p.answerHop(caller, group[0][0])
	p.optimise(chains[won][0][0], chains[won][0][1])
	p.optimise(group[0][0], group[0][1])
	p.wait(40)
	p.hangup(caller, 16, "Normal Clearing")
	p.hangup(phones[won], 16, "Normal Clearing")
}

func scenarioPath(name string) string {
	return filepath.Join("testdata", "scenarios", name+".jsonl")
}

// TestWriteScenarios writes the scenario files with -write-scenarios and
// otherwise checks the committed ones are what the scripts write.
func TestWriteScenarios(t *testing.T) {
	for name, script := range scenarios {
		p := newPBX()
		script(p)
		path := scenarioPath(name)
		if *writeScenarios {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(p.jsonl()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test -run TestWriteScenarios -write-scenarios)", name, err)
		}
		if string(got) != p.jsonl() {
			t.Errorf("%s differs from its script (run go test -run TestWriteScenarios -write-scenarios)", path)
		}
	}
}

// replayScenario replays a scenario file and returns every published
// change.
func replayScenario(t *testing.T, name string) []monitor.Call {
	t.Helper()
	f, err := os.Open(scenarioPath(name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	if err := decodeRecording(t.Context(), f, tr.Handle); err != nil {
		t.Fatal(err)
	}
	if n := tr.t.Len(); n != 0 {
		t.Errorf("%d calls still active", n)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.chans) != 0 || len(tr.calls) != 0 {
		t.Errorf("left behind: %d channels, %d calls", len(tr.chans), len(tr.calls))
	}
	return sink.Calls()
}

func ended(calls []monitor.Call) []monitor.Call {
	var out []monitor.Call
	for _, c := range calls {
		if c.State == monitor.Ended {
			out = append(out, c)
		}
	}
	return out
}

type wantCall struct {
	from, to   string
	dir        monitor.Direction
	answeredBy string // number of who took it; "" = nobody
	reason     monitor.Reason
	duration   int64
	transfer   string // "kind transferer transferred target,target"
	cause      string // when set, the cause
	name       string // when set, the name of who took it
	fromName   string // when set, the caller's name
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name  string
		calls []wantCall // ended calls in order
	}{
		{"local_chain2_optimised", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: "201", reason: monitor.ReasonCompleted, duration: 60, fromName: "Jan Jansen"}}},
		{"local_chain3_not_optimised", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: "201", reason: monitor.ReasonCompleted, duration: 30}}},
		{"local_chain_busy", []wantCall{{from: customer, to: did, dir: monitor.Inbound, reason: monitor.ReasonBusy}}},
		{"local_ringgroup", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: "202", reason: monitor.ReasonCompleted, duration: 20}}},
		{"originate_world", []wantCall{{from: "201", to: mobile, dir: monitor.Outbound, answeredBy: mobile, reason: monitor.ReasonCompleted, duration: 42}}},
		{"originate_account", []wantCall{{from: "201", to: "202", dir: monitor.Internal, answeredBy: "202", reason: monitor.ReasonCompleted, duration: 15}}},
		{"originate_busy", []wantCall{{from: "201", to: mobile, dir: monitor.Outbound, reason: monitor.ReasonBusy}}},
		{"originate_declined", nil},
		{"originate_unreachable", nil},
		{"acceptance_refused", []wantCall{{from: customer, to: did, dir: monitor.Inbound, reason: monitor.ReasonNoAnswer}}},
		{"acceptance_timeout_voicemail", []wantCall{{from: customer, to: did, dir: monitor.Inbound, reason: monitor.ReasonNoAnswer}}},
		{"acceptance_accepted", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: mobile, reason: monitor.ReasonCompleted, duration: 25}}},
		{"blonde_transfer", []wantCall{
			{from: "201", to: "600", dir: monitor.Internal, reason: monitor.ReasonCompleted, cause: "joined by attended transfer"},
			{from: customer, to: "202", dir: monitor.Inbound, answeredBy: "202", reason: monitor.ReasonCompleted, transfer: "blonde 201 " + customer + " 202"},
		}},
		{"blonde_transfer_group", []wantCall{
			{from: "201", to: "600", dir: monitor.Internal, reason: monitor.ReasonCompleted, cause: "joined by attended transfer"},
			{from: customer, to: "202", dir: monitor.Inbound, answeredBy: "203", reason: monitor.ReasonCompleted, transfer: "blonde 201 " + customer + " 202,203"},
		}},
		{"blonde_transfer_reject", []wantCall{
			{from: "201", to: "600", dir: monitor.Internal, reason: monitor.ReasonCompleted, cause: "joined by attended transfer"},
			{from: customer, to: "202", dir: monitor.Inbound, answeredBy: "201", reason: monitor.ReasonBusy, transfer: "blonde 201 " + customer + " 202"},
		}},
		{"originate_attended_transfer", []wantCall{
			{from: "202", to: "203", dir: monitor.Internal, answeredBy: "203", reason: monitor.ReasonCompleted, cause: "joined by attended transfer"},
			{from: "201", to: "203", dir: monitor.Internal, answeredBy: "203", reason: monitor.ReasonCompleted, transfer: "attended 202 201 203"},
		}},
		{"queue_abandoned", []wantCall{{from: customer, to: did, dir: monitor.Inbound, reason: monitor.ReasonAbandoned, cause: "waited 42 s in queue support"}}},
		{"queue_agent", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: "202", name: "Bea Agent", reason: monitor.ReasonCompleted, duration: 50}}},
		{"redirect", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: "202", reason: monitor.ReasonCompleted, duration: 54}}},
		{"masquerade_optimisation", []wantCall{{from: customer, to: did, dir: monitor.Inbound, answeredBy: "201", reason: monitor.ReasonCompleted, duration: 12}}},
	}
	if len(tests) != len(scenarios) {
		t.Fatalf("%d scenarios, %d tested", len(scenarios), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := replayScenario(t, tc.name)
			got := ended(all)
			if len(got) != len(tc.calls) {
				t.Fatalf("%d calls ended, want %d: %+v", len(got), len(tc.calls), got)
			}
			if len(all) > 0 && strings.HasPrefix(tc.name, "originate_") && (all[0].From.Number != "201" || all[0].To.Number == "") {
				t.Errorf("the click-to-dial call was published before its second leg: %+v", all[0])
			}
			for i, w := range tc.calls {
				c := got[i]
				by := ""
				if c.AnsweredBy != nil {
					by = c.AnsweredBy.Number
				}
				if c.From.Number != w.from || c.To.Number != w.to || c.Direction != w.dir || by != w.answeredBy || c.Reason != w.reason {
					t.Errorf("call %d: %s → %s %s, answered by %q, %s (%s); want %s → %s %s, answered by %q, %s",
						i, c.From.Number, c.To.Number, c.Direction, by, c.Reason, c.Cause, w.from, w.to, w.dir, w.answeredBy, w.reason)
				}
				if (w.answeredBy == "") != c.Answered.IsZero() && w.reason != monitor.ReasonBusy {
					t.Errorf("call %d: answered at %v, answered by %q", i, c.Answered, w.answeredBy)
				}
				if w.duration != 0 && c.Duration != w.duration {
					t.Errorf("call %d: duration %d, want %d", i, c.Duration, w.duration)
				}
				if w.cause != "" && c.Cause != w.cause {
					t.Errorf("call %d: cause %q, want %q", i, c.Cause, w.cause)
				}
				if w.name != "" && (c.AnsweredBy == nil || c.AnsweredBy.Name != w.name) {
					t.Errorf("call %d: answered by %+v, want name %q", i, c.AnsweredBy, w.name)
				}
				if w.fromName != "" && c.From.Name != w.fromName {
					t.Errorf("call %d: from %+v, want name %q", i, c.From, w.fromName)
				}
				if xfer := transferString(c); xfer != w.transfer {
					t.Errorf("call %d: transfer %q, want %q", i, xfer, w.transfer)
				}
				if len(c.Ringing) != 0 {
					t.Errorf("call %d ended still ringing %+v", i, c.Ringing)
				}
			}
		})
	}
}

func transferString(c monitor.Call) string {
	if len(c.Transfers) == 0 {
		return ""
	}
	x := c.Transfers[len(c.Transfers)-1]
	var targets []string
	for _, p := range x.Targets {
		targets = append(targets, p.Number)
	}
	return string(x.Kind) + " " + x.Transferer.Number + " " + x.Transferred.Number + " " + strings.Join(targets, ",")
}
