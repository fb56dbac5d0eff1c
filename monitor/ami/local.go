package ami

import "strings"

// Local channels are Asterisk's dialplan plumbing: Dial(Local/201@ctx)
// creates a pair of half-channels, ;1 facing the dialling channel and ;2
// running the dialplan at 201@ctx (chan_local, core_local.c). Whatever
// enters ;1 comes out of ;2, so the tracker treats a pair as one wire
// between the bridges its halves are in. When both halves are bridged,
// the pair optimises itself away (unless dialled with /n): Asterisk 12+
// moves the channel from one side into the other side's bridge in place
// of a half (LocalOptimizationBegin, BridgeEnter with SwapUniqueid,
// LocalOptimizationEnd) and hangs the pair up; older versions
// masquerade the channel into the half (Masquerade, Rename).

// pairHalf joins a new Local half to its other half: ;1 is always created
// first, so ;2 finds it by the pair's name.
func (tr *Tracker) pairHalf(ch *channel) {
	base, half := localPair(ch.name)
	ch.half = half
	switch half {
	case 1:
		tr.halves[base] = ch
	case 2:
		if one := tr.halves[base]; one != nil {
			delete(tr.halves, base)
			one.peer, ch.peer = ch, one
		}
	}
}

// localBridge joins the two halves of a pair (LocalBridge), should their
// names not have.
func (tr *Tracker) localBridge(m Message) {
	one, two := tr.chans[m.Get("LocalOneUniqueid")], tr.chans[m.Get("LocalTwoUniqueid")]
	if one == nil || two == nil || one == two {
		return
	}
	if one.peer == nil && two.peer == nil {
		one.peer, two.peer = two, one
		one.local, two.local = true, true
		one.half, two.half = 1, 2
	}
}

// optimisationBegin notes which channel will take the place of which
// half (LocalOptimizationBegin: Source*, and DestUniqueId the half).
func (tr *Tracker) optimisationBegin(m Message) {
	if len(tr.optims) > 1024 {
		// Begins whose End never came (events lost): forget them.
		clear(tr.optims)
	}
	if id := m.Get("Id"); id != "" {
		tr.optims[own(id)] = optimisation{source: own(m.Get("SourceUniqueid")), dest: own(m.Get("DestUniqueId"))}
	}
}

// optimisationEnd completes an optimisation: the source channel is now
// where the half was, whether or not the bridge events said so.
func (tr *Tracker) optimisationEnd(m Message) {
	id := m.Get("Id")
	o, ok := tr.optims[id]
	delete(tr.optims, id)
	if !ok || !strings.EqualFold(m.Get("Success"), "Yes") {
		return
	}
	src, dest := tr.chans[o.source], tr.chans[o.dest]
	if src == nil || dest == nil || dest.bridge == nil || src.bridge == dest.bridge {
		return
	}
	b := dest.bridge
	b.remove(dest)
	dest.bridge = nil
	tr.join(src, b)
	tr.connected(src, m)
}

// masquerade follows an older Asterisk's channel masquerade (Masquerade:
// Clone, Original, by name): the Original channel goes on with the
// Clone's identity (its technology, name and caller), the Clone is left
// a husk that only hangs up. Local channels optimised themselves away
// so before Asterisk 12.
func (tr *Tracker) masquerade(m Message) {
	clone, orig := tr.byName[m.Get("Clone")], tr.byName[m.Get("Original")]
	if clone == nil || orig == nil || clone == orig {
		return
	}
	wasReal, cloneReal := orig.real(), clone.real()
	orig.name, orig.party, orig.local, orig.target = clone.name, clone.party, clone.local, clone.target
	if clone.ringing {
		orig.ringing, orig.answeredDial = clone.ringing, clone.answeredDial
	}
	if orig.peer != nil && !orig.local {
		orig.peer.peer = nil
		orig.peer = nil
	}
	clone.zombie, clone.ringing = true, false
	if clone.bridge != nil {
		clone.bridge.remove(clone)
		clone.bridge = nil
	}
	tr.byName[orig.name] = orig
	tr.recount(orig, wasReal)
	tr.recount(clone, cloneReal)
	if ci := tr.callOf(orig); ci != nil {
		if ci.caller == clone {
			ci.caller = orig
		}
		if ci.answeredBy == clone {
			ci.answeredBy = orig
		}
		for i, t := range ci.targets {
			if t == clone {
				ci.targets[i] = orig
			}
		}
	}
	tr.connected(orig, m)
}

// recount adjusts the live real channels of ch's call after ch stopped
// or started being real.
func (tr *Tracker) recount(ch *channel, wasReal bool) {
	ci := tr.callOf(ch)
	if ci == nil || wasReal == ch.real() {
		return
	}
	if ch.real() {
		ci.live++
	} else {
		ci.live--
	}
}

// rename follows a channel's new name (Rename: Channel, Newname); a
// masquerade's husk is renamed <ZOMBIE>.
func (tr *Tracker) rename(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	if ch == nil {
		ch = tr.byName[m.Get("Channel")]
	}
	newName := own(m.Get("Newname"))
	if ch == nil || newName == "" {
		return
	}
	if tr.byName[ch.name] == ch {
		delete(tr.byName, ch.name)
	}
	ch.name = newName
	tr.byName[newName] = ch
	if strings.HasSuffix(newName, "<ZOMBIE>") && !ch.zombie {
		was := ch.real()
		ch.zombie = true
		tr.recount(ch, was)
	}
}
