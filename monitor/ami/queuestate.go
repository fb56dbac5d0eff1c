package ami

import (
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Queue state (app_queue, Asterisk 13 and later, and the older names):
// QueueStatus lists each queue as QueueParams (its totals), QueueMember
// (each member; Asterisk before 12 says Name for MemberName and Location
// for Interface) and QueueEntry (each caller waiting), QueueSummary as one
// QueueSummary per queue. Then the deltas: QueueCallerJoin, Leave and
// Abandon for callers; QueueMemberStatus, Added, Removed and Pause (and
// QueueMemberPaused before 12) for members; AgentCalled, Connect,
// Complete and RingNoAnswer for the calls members take.

func num(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0
	}
	return n
}

func float(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}

func seconds(s string) time.Duration { return time.Duration(num(s)) * time.Second }

// truthy reads a flag as app_queue prints it ("1"/"0"; older versions
// "true"/"false").
func truthy(s string) bool {
	s = strings.TrimSpace(s)
	return s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "yes")
}

// memberIface is the member's interface: Interface, or Location in the
// QueueMember events of older versions.
func memberIface(m Message) string {
	if v := m.Get("Interface"); v != "" {
		return v
	}
	return m.Get("Location")
}

// memberName is the member's name: MemberName, or Name in older
// QueueMember events.
func memberName(m Message) string {
	if v := m.Get("MemberName"); v != "" {
		return v
	}
	return m.Get("Name")
}

// queueListed records what one QueueStatus listing named; mu held on
// entry.
func (tr *Tracker) queueListed(m Message, queue, member, caller string) {
	id, ok := m.Lookup("ActionID")
	if !ok {
		return
	}
	if l := tr.st.queueList; l == nil || l.id != id {
		tr.st.queueList = &queueListing{id: own(id), queues: map[string]bool{}, members: map[string]map[string]bool{}, callers: map[string]map[string]bool{}}
	}
	tr.queueChanged(queue, member, caller)
}

// queueChanged records, while a QueueStatus listing is on its way, the
// member or caller an event added: the listing's end removes only what
// neither the listing nor a change since its start named (Asterisk sends
// events between a listing's items, and a member added in between would
// otherwise go again at QueueStatusComplete). mu held on entry.
func (tr *Tracker) queueChanged(queue, member, caller string) {
	l := tr.st.queueList
	if l == nil {
		return
	}
	l.queues[queue] = true
	if l.members[queue] == nil {
		l.members[queue] = map[string]bool{}
		l.callers[queue] = map[string]bool{}
	}
	if member != "" {
		l.members[queue][member] = true
	}
	if caller != "" {
		l.callers[queue][caller] = true
	}
}

// queueParams sets a queue's totals from Asterisk's own: they replace
// what the events added since the last listing.
func (tr *Tracker) queueParams(m Message) {
	q := m.Get("Queue")
	if q == "" {
		return
	}
	tr.queueListed(m, own(q), "", "")
	threshold := num(m.Get("ServiceLevel"))
	completed, abandoned := num(m.Get("Completed")), num(m.Get("Abandoned"))
	hold, talk := num(m.Get("Holdtime")), num(m.Get("TalkTime"))
	sl, slOK := float(m.Get("ServicelevelPerf"))
	sl2, sl2OK := float(m.Get("ServicelevelPerf2"))
	if !sl2OK {
		sl2 = -1
	}
	strategy := own(m.Get("Strategy"))
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		qu.Strategy = strategy
		s := &qu.Stats
		s.Completed, s.Abandoned = completed, abandoned
		s.HoldTotal, s.TalkTotal = int64(hold)*int64(completed), int64(talk)*int64(completed)
		if threshold > 0 {
			s.ServiceLevel = threshold
			if slOK {
				s.FromPercent(sl, sl2)
			}
		}
		// A queue without servicelevel keeps the configured threshold and
		// its own counts within it, bounded by Asterisk's totals.
		s.CompletedInSL, s.AbandonedInSL = min(s.CompletedInSL, completed), min(s.AbandonedInSL, abandoned)
	})
}

// applyMember sets a member's fields from any event that carries them
// all (QueueMember, QueueMemberStatus, Added, Pause, …).
func applyMember(mem *monitor.QueueMember, m Message, when time.Time) {
	if name := memberName(m); name != "" && name != mem.Interface {
		mem.Name = own(name)
	}
	if _, ok := m.Lookup("Status"); ok {
		mem.State = deviceStateNum(m.Get("Status"))
	}
	if v := m.Get("Membership"); v != "" {
		mem.Membership = own(v)
	}
	if _, ok := m.Lookup("Penalty"); ok {
		mem.Penalty = num(m.Get("Penalty"))
	}
	if _, ok := m.Lookup("CallsTaken"); ok {
		mem.CallsTaken = num(m.Get("CallsTaken"))
	}
	if t := epoch(m.Get("LastCall")); !t.IsZero() {
		mem.LastCall = t
	}
	if v, ok := m.Lookup("InCall"); ok {
		mem.InCall = truthy(v)
		if !mem.InCall {
			mem.Call = ""
		}
	}
	if v, ok := m.Lookup("Paused"); ok {
		reason := m.Get("PausedReason")
		if reason == "" {
			reason = m.Get("Reason")
		}
		since := epoch(m.Get("LastPause"))
		if since.IsZero() {
			since = when
		}
		mem.Pause(truthy(v), own(reason), since)
	}
}

// queueMemberListed is one member in a QueueStatus listing.
func (tr *Tracker) queueMemberListed(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" || iface == "" {
		return
	}
	tr.queueListed(m, own(q), own(iface), "")
	tr.queueMemberEvent(m)
}

// queueMemberEvent applies a member event carrying its fields.
func (tr *Tracker) queueMemberEvent(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" || iface == "" {
		return
	}
	when := tr.now(m)
	iface = own(iface)
	tr.queueChanged(own(q), iface, "")
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) { applyMember(qu.Member(iface), m, when) })
}

// queueMemberPaused is the pause event of Asterisk before 12
// (QueueMemberPaused: Queue, Location, MemberName, Paused, Reason).
func (tr *Tracker) queueMemberPaused(m Message) { tr.queueMemberEvent(m) }

func (tr *Tracker) queueMemberRemoved(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" || iface == "" {
		return
	}
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) { qu.RemoveMember(iface) })
}

// queueEntry is one caller waiting in a QueueStatus listing; Wait is how
// long they have waited.
func (tr *Tracker) queueEntry(m Message) {
	q, uid := m.Get("Queue"), m.Get("Uniqueid")
	if q == "" {
		return
	}
	if uid == "" {
		uid = m.Get("Channel")
	}
	uid = own(uid)
	tr.queueListed(m, own(q), "", uid)
	c := tr.queueCaller(m, uid)
	c.Joined = tr.now(m).Add(-seconds(m.Get("Wait")))
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		if old := qu.Caller(uid); old != nil && !old.Joined.IsZero() {
			// The time they joined as seen live is finer than whole
			// seconds of Wait.
			c.Joined = old.Joined
		}
		qu.AddCaller(c)
	})
}

// queueCaller is the waiting caller m names.
func (tr *Tracker) queueCaller(m Message, uid string) monitor.QueueCaller {
	number, name := ownCID(m.Get("CallerIDNum"), m.Get("CallerIDName"))
	c := monitor.QueueCaller{ID: uid, Call: tr.callOfChannel(uid), Position: num(m.Get("Position")), Number: number, Name: name}
	if ch := tr.chans[uid]; ch != nil {
		c.Private = ch.party.Private
		if c.Number == "" {
			c.Number, c.Name = ch.party.Number, ch.party.Name
		}
	}
	return c
}

// queueStatusComplete ends a QueueStatus listing: members and callers it
// did not name have gone, and so have queues it did not list.
func (tr *Tracker) queueStatusComplete(m Message) {
	id, ok := m.Lookup("ActionID")
	if !ok {
		return
	}
	l := tr.st.queueList
	tr.st.queueList = nil
	if l == nil || l.id != id {
		l = &queueListing{queues: map[string]bool{}}
	}
	for q := range l.queues {
		members, callers := l.members[q], l.callers[q]
		tr.st.queues.Update(q, at(m), func(qu *monitor.Queue) {
			for _, mem := range append([]monitor.QueueMember(nil), qu.Members...) {
				if !members[mem.Interface] {
					qu.RemoveMember(mem.Interface)
				}
			}
			for _, c := range append([]monitor.QueueCaller(nil), qu.Callers...) {
				if !callers[c.ID] {
					qu.RemoveCaller(c.ID)
				}
			}
		})
	}
	tr.st.queues.Retain(func(q string) bool { return l.queues[q] })
}

// queueSummary makes a queue known and clears callers it says are gone.
func (tr *Tracker) queueSummary(m Message) {
	q := m.Get("Queue")
	if q == "" {
		return
	}
	empty := strings.TrimSpace(m.Get("Callers")) == "0"
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		if empty {
			qu.Callers = nil
		}
	})
}

func (tr *Tracker) queueCallerJoin(m Message) {
	q, uid := m.Get("Queue"), m.Get("Uniqueid")
	if q == "" || uid == "" {
		return
	}
	uid = own(uid)
	c := tr.queueCaller(m, uid)
	c.Joined = tr.now(m)
	tr.queueChanged(own(q), "", uid)
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) { qu.AddCaller(c) })
}

func (tr *Tracker) queueCallerLeave(m Message) {
	q, uid := m.Get("Queue"), m.Get("Uniqueid")
	if q == "" || uid == "" {
		return
	}
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) { qu.RemoveCaller(uid) })
}

// queueCallerAbandon counts a caller who hung up waiting, after HoldTime
// seconds.
func (tr *Tracker) queueCallerAbandon(m Message) {
	q, uid := m.Get("Queue"), m.Get("Uniqueid")
	if q == "" {
		return
	}
	wait := seconds(m.Get("HoldTime"))
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		qu.RemoveCaller(uid)
		qu.Stats.Abandon(wait)
	})
}

// agentCalled: a member's phone rings with a queue call.
func (tr *Tracker) agentCalled(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" || iface == "" {
		return
	}
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		if mem := qu.FindMember(iface); mem != nil && !mem.InCall {
			mem.State = monitor.DeviceRinging
		}
	})
}

// agentRingNoAnswer: the member did not answer in time.
func (tr *Tracker) agentRingNoAnswer(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" || iface == "" {
		return
	}
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		if mem := qu.FindMember(iface); mem != nil && mem.State == monitor.DeviceRinging {
			mem.State = monitor.DeviceIdle
		}
	})
}

// agentConnected: the member took the caller, who leaves the waiting.
func (tr *Tracker) agentConnected(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" || iface == "" {
		return
	}
	uid := m.Get("Uniqueid")
	call := tr.callOfChannel(uid)
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		qu.RemoveCaller(uid)
		if mem := qu.FindMember(iface); mem != nil {
			mem.InCall, mem.Call, mem.State = true, call, monitor.DeviceInUse
		}
	})
}

// agentComplete: the member's queue call ended after HoldTime seconds of
// waiting and TalkTime of talk.
func (tr *Tracker) agentComplete(m Message) {
	q, iface := m.Get("Queue"), memberIface(m)
	if q == "" {
		return
	}
	hold, talk, when := seconds(m.Get("HoldTime")), seconds(m.Get("TalkTime")), tr.now(m)
	tr.st.queues.Update(own(q), at(m), func(qu *monitor.Queue) {
		qu.Stats.Complete(hold, talk)
		if mem := qu.FindMember(iface); mem != nil {
			mem.InCall, mem.Call = false, ""
			mem.CallsTaken++
			mem.LastCall = when
		}
	})
}
