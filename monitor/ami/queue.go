package ami

import (
	"strconv"

	"github.com/switchboard/switchboard/monitor"
)

// Queues (app_queue, Asterisk 13+): QueueCallerJoin when a caller enters
// a queue, DialBegin/AgentCalled as members ring (queue members are often
// Local channels themselves), AgentConnect when a member answers and is
// bridged to the caller, QueueCallerAbandon when the caller hangs up
// while still waiting, QueueCallerLeave either way.

// queueJoin notes the queue a caller waits in.
func (tr *Tracker) queueJoin(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	ci := tr.callOf(ch)
	if ci == nil || !ci.started {
		return
	}
	q := own(m.Get("Queue"))
	ci.queue = q
	tr.t.Update(ci.key, func(c *monitor.Call) { c.Queue = q })
}

// queueAbandon marks a caller who hung up while waiting in a queue:
// abandoned, whatever rang meanwhile, after waiting HoldTime seconds.
func (tr *Tracker) queueAbandon(m Message) {
	ch := tr.chans[m.Get("Uniqueid")]
	ci := tr.callOf(ch)
	if ci == nil || !ci.started {
		return
	}
	ci.abandoned = true
	ci.waited = own(m.Get("HoldTime"))
	if _, err := strconv.Atoi(ci.waited); err != nil {
		ci.waited = "0"
	}
	if q := m.Get("Queue"); q != "" {
		ci.queue = own(q)
	}
	pos, orig, waited := m.Get("Position"), m.Get("OriginalPosition"), ci.waited
	tr.t.Update(ci.key, func(c *monitor.Call) {
		vars := make(map[string]string, len(c.Vars)+2)
		for k, v := range c.Vars {
			vars[k] = v
		}
		vars["queue_abandoned"] = "position " + pos + " of " + orig
		vars["queue_wait"] = waited
		c.Vars = vars
	})
}

// agentConnect names the member that answered a queue call (MemberName,
// when the queue knows one beyond its interface) and answers the call
// should the bridge not have said so yet.
func (tr *Tracker) agentConnect(m Message) {
	ci := tr.callOf(tr.chans[m.Get("Uniqueid")])
	if ci == nil || !ci.started {
		return
	}
	if name := m.Get("MemberName"); name != m.Get("Interface") {
		ci.agent = own(name)
	}
	if q := m.Get("Queue"); q != "" {
		ci.queue = own(q)
	}
	member := tr.realOf(tr.chans[m.Get("DestUniqueid")], ci.caller)
	switch {
	case !ci.answered && member != nil:
		tr.answer(ci, member, eventTime(m))
	case ci.answered && ci.answeredBy != nil && ci.agent != "":
		p := tr.answerParty(ci, ci.answeredBy)
		tr.t.Update(ci.key, func(c *monitor.Call) { c.AnsweredBy = &p })
	}
}
