package ami

import (
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// resync settles the calls after a (re)connect from the CoreShowChannel
// events Asterisk lists: channels that hung up while the link was down
// are forgotten, and the calls left without a real channel end as failed
// "ended while disconnected"; calls still up go on as the same calls,
// and channels not seen before join or start calls. The bridges are
// rebuilt from each channel's BridgeId, and a call whose caller is now
// joined to someone is answered; a listing without BridgeId (an older
// Asterisk) answers a call whose caller is Up. Each call is published
// once, as the resync leaves it (a call re-created here is started, then
// answered).
func (tr *Tracker) resync(list []Message) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.t.Batch(func() { tr.resyncLocked(list) })
}

// resyncLocked is resync's work; tr.mu held.
func (tr *Tracker) resyncLocked(list []Message) {
	live := make(map[string]Message, len(list))
	for _, m := range list {
		live[m.Get("Uniqueid")] = m
	}
	for uid, ch := range tr.chans {
		if _, ok := live[uid]; !ok {
			delete(tr.chans, uid)
			if tr.byName[ch.name] == ch {
				delete(tr.byName, ch.name)
			}
			ch.gone = true
			if ch.peer != nil {
				ch.peer.peer = nil
			}
		}
	}
	tr.bridges = map[string]*bridge{}
	for _, ch := range tr.chans {
		ch.bridge = nil
	}
	for _, m := range list {
		if _, known := tr.chans[m.Get("Uniqueid")]; !known {
			tr.newChannel(m)
		}
	}
	// Count again what each conversation still has, grouped as this
	// tracker grouped them (a transfer moves channels before Asterisk's
	// Linkedid says so).
	for _, ci := range tr.calls {
		ci.n, ci.live = 0, 0
	}
	for _, ch := range tr.chans {
		if ci := tr.calls[ch.key]; ci != nil {
			ci.n++
			if ch.real() {
				ci.live++
			}
		}
	}
	bridged := false
	for _, m := range list {
		ch := tr.chans[m.Get("Uniqueid")]
		if ch == nil {
			continue
		}
		if st := parseState(m.Get("ChannelStateDesc"), m.Get("ChannelState")); st != stateUnknown {
			ch.state = st
		}
		id, has := m.Lookup("BridgeId")
		bridged = bridged || has
		if id == "" {
			continue
		}
		b := tr.bridges[id]
		if b == nil {
			id = own(id)
			b = &bridge{id: id}
			tr.bridges[id] = b
		}
		tr.join(ch, b)
	}
	alive := map[string]bool{}
	for key, ci := range tr.calls {
		if ci.live == 0 {
			delete(tr.calls, key)
			continue
		}
		alive[key] = true
		if ci.caller != nil && ci.caller.gone {
			ci.caller = nil
		}
		if !ci.started && ci.caller != nil && ci.caller.state != stateDown {
			tr.startAsCaller(ci, time.Time{})
		}
	}
	tr.t.Retain(func(key string) bool { return alive[key] }, monitor.EndedWhileDisconnected)
	for _, ci := range tr.calls {
		if !ci.started {
			continue
		}
		tr.ring(ci)
		if ci.answered || ci.caller == nil {
			continue
		}
		if p := tr.farEnd(ci.caller, nil); p != nil {
			tr.answer(ci, p, time.Time{})
		} else if !bridged && ci.caller.state == stateUp {
			ci.answered, ci.everAnswered = true, true
			tr.t.Answer(ci.key, nil, time.Time{})
		}
	}
}

// endAll ends every call with e and forgets every channel: the link
// stayed down longer than its grace period, or the source stops.
func (tr *Tracker) endAll(e monitor.Ending) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.reset()
	return tr.t.EndAll(e)
}
