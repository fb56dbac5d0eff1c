package ami

import (
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// resync settles the calls after a (re)connect from the CoreShowChannel
// events Asterisk lists: channels that hung up while the link was down
// are forgotten, and the calls left without a channel end as failed
// "ended while disconnected"; calls still up go on as the same calls
// (answered meanwhile when their opening channel is Up now), and
// channels not seen before join or start calls.
func (tr *Tracker) resync(list []Message) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	live := make(map[string]Message, len(list))
	for _, m := range list {
		live[m.Get("Uniqueid")] = m
	}
	for uid := range tr.chans {
		if _, ok := live[uid]; !ok {
			delete(tr.chans, uid)
		}
	}
	// A conversation lives while a channel of it does, grouped as this
	// tracker grouped them (an attended transfer moves channels before
	// Asterisk's Linkedid says so).
	alive := map[string]bool{}
	for uid, m := range live {
		alive[tr.linkOf(uid, m.Get("Linkedid"))] = true
	}
	for key, ci := range tr.calls {
		if !alive[key] {
			delete(tr.calls, key)
			continue
		}
		rang := len(ci.ringing)
		for dest := range ci.ringing {
			if _, ok := live[dest]; !ok {
				delete(ci.ringing, dest)
			}
		}
		if len(ci.ringing) != rang {
			tr.ring(key, ci)
		}
	}
	tr.t.Retain(func(key string) bool { return alive[key] }, monitor.EndedWhileDisconnected)
	for _, m := range list {
		uid := m.Get("Uniqueid")
		if _, known := tr.chans[uid]; !known {
			tr.newChannel(m)
		}
		if m.Get("ChannelStateDesc") != "Up" || uid != m.Get("Linkedid") {
			continue
		}
		if c, ok := tr.t.Get(uid); ok && c.Answered.IsZero() {
			tr.t.Answer(uid, nil, time.Time{})
		}
	}
}

// endAll ends every call with e and forgets every channel: the link
// stayed down longer than its grace period, or the source stops.
func (tr *Tracker) endAll(e monitor.Ending) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.chans = map[string]*channel{}
	tr.calls = map[string]*callInfo{}
	return tr.t.EndAll(e)
}
