package monitor

import (
	"slices"
	"sync"
	"time"
)

// Tracker is the single writer of one source's calls. A source adapter
// translates its protocol into the Tracker's operations (Start, Ring,
// Answer, Hold, End, Update); the Tracker applies the rules every source
// shares (states, times, durations, end reasons) and publishes each change
// to the sink.
//
// Operations on a key the tracker does not know are ignored and return
// false: a source that joined mid-call, or a late event after the end,
// must never create half a call.
//
// A Tracker is safe for concurrent use; the source's event loop is its only
// writer in practice, while Controller implementations look keys up.
type Tracker struct {
	source SourceName
	sink   Sink
	now    func() time.Time
	// restart is the sink when it is a Restart: calls started under an
	// id an earlier run had active are taken over from it.
	restart adopter

	mu    sync.Mutex
	calls map[string]*Call
	// batch, while Batch runs, holds the calls changed meanwhile, as
	// they are now, in the order they first changed.
	batch    map[CallID]int
	batched  []Call
	batching bool
}

// NewTracker returns a tracker publishing source's calls to sink. When
// sink is a Restart, a call started under the id of a call the previous
// run had active (a PBX's own id, re-created by the first resync) goes on
// as that call: with its first start and answer times.
func NewTracker(source SourceName, sink Sink) *Tracker {
	t := &Tracker{source: source, sink: sink, now: time.Now, calls: make(map[string]*Call)}
	t.restart, _ = sink.(adopter)
	return t
}

// SetClock replaces time.Now, for tests and replays.
func (t *Tracker) SetClock(now func() time.Time) { t.now = now }

// Source returns the name the tracker publishes under.
func (t *Tracker) Source() SourceName { return t.source }

func (t *Tracker) at(at time.Time) time.Time {
	if at.IsZero() {
		return t.now()
	}
	return at
}

// publish sends c; t.mu held on entry. A shallow copy is enough: the
// tracker never changes a call it has stored, it stores a changed clone
// (copy on write), so the slices and map the sink sees stay as they are.
func (t *Tracker) publish(c *Call) {
	if t.batching {
		if i, ok := t.batch[c.ID]; ok {
			t.batched[i] = *c
			return
		}
		t.batch[c.ID] = len(t.batched)
		t.batched = append(t.batched, *c)
		return
	}
	if t.sink != nil {
		t.sink.Call(*c)
	}
}

// Batch runs fn, which changes calls through the tracker's operations,
// and then publishes each call fn changed once, as fn left it, in the
// order of their first changes. A resync re-creates a call a step at a
// time (started, then answered); in a Batch its wallboards see it as it
// is, not ringing again first — which they would see when the call was
// known before: a node that took the source over, a restart. Batches do
// not nest: fn must not call Batch.
func (t *Tracker) Batch(fn func()) {
	t.mu.Lock()
	t.batching, t.batch, t.batched = true, map[CallID]int{}, nil
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		calls := t.batched
		t.batching, t.batch, t.batched = false, nil, nil
		for i := range calls {
			t.publish(&calls[i])
		}
	}()
	fn()
}

// Start begins tracking the call the source knows by key, described by c
// (Direction, From, To, Line, Started; the rest optional). The state is
// Ringing for inbound and internal calls and Dialing for outbound ones
// unless c.State says otherwise. Starting a key that is active only
// updates nothing and returns false.
func (t *Tracker) Start(key string, c Call) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.calls[key]; ok {
		return false
	}
	nc := c.Clone()
	nc.ID = MakeCallID(t.source, key)
	nc.Source = t.source
	if nc.Direction == "" {
		nc.Direction = Inbound
	}
	if nc.State == "" {
		nc.State = Ringing
		if nc.Direction == Outbound {
			nc.State = Dialing
		}
	}
	nc.Started = t.at(nc.Started)
	if t.restart != nil {
		if prev, ok := t.restart.adopt(nc.ID, t.source); ok {
			resume(&nc, prev)
		}
	}
	if nc.State == Connected && nc.Answered.IsZero() {
		nc.Answered = nc.Started
	}
	t.calls[key] = &nc
	t.publish(&nc)
	return true
}

// Ring sets the destinations that ring now (empty: none rings any more).
func (t *Tracker) Ring(key string, targets ...Party) bool {
	return t.Update(key, func(c *Call) { c.Ringing = slices.Clone(targets) })
}

// Answer marks the call connected, answered by by (nil: by To) at at.
// Answering an answered call (a transfer target picking up) keeps the
// first answer time.
func (t *Tracker) Answer(key string, by *Party, at time.Time) bool {
	return t.Update(key, func(c *Call) {
		if c.Answered.IsZero() {
			c.Answered = t.at(at)
		}
		c.State = Connected
		c.Ringing = nil
		if by != nil {
			p := *by
			c.AnsweredBy = &p
		}
	})
}

// Hold marks the call held.
func (t *Tracker) Hold(key string) bool {
	return t.Update(key, func(c *Call) {
		if c.State == Connected {
			c.State = Held
		}
	})
}

// Unhold marks a held call connected again.
func (t *Tracker) Unhold(key string) bool {
	return t.Update(key, func(c *Call) {
		if c.State == Held {
			c.State = Connected
		}
	})
}

// Update applies fn to the call and publishes the result. fn must not keep
// c. It returns false when key is not active.
func (t *Tracker) Update(key string, fn func(c *Call)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.calls[key]
	if !ok {
		return false
	}
	nc := cur.Clone()
	fn(&nc)
	nc.ID, nc.Source = cur.ID, cur.Source
	if nc.State == Ended {
		// End is the only way out: it sets times and reason.
		nc.State = cur.State
	}
	t.calls[key] = &nc
	t.publish(&nc)
	return true
}

// Ending describes how a call ended.
type Ending struct {
	// Reason is the shared end reason; empty derives it: completed when
	// answered, else no-answer for inbound and internal calls and cancelled
	// for outbound ones.
	Reason Reason
	// Cause is the source's own cause (Q.850 code, SIP status).
	Cause string
	// At is when it ended; zero means now.
	At time.Time
	// Duration overrides the talk time the source reports itself (Fritz
	// DISCONNECT); zero computes it from the answer time.
	Duration time.Duration
}

// End ends the call and forgets it. It returns false for an unknown key.
func (t *Tracker) End(key string, e Ending) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, ok := t.calls[key]
	if !ok {
		return false
	}
	nc := cur.Clone()
	t.end(&nc, e)
	delete(t.calls, key)
	t.publish(&nc)
	return true
}

// end fills in the ended call; t.mu held on entry.
func (t *Tracker) end(c *Call, e Ending) { endCall(c, e, t.at(e.At)) }

// endCall fills in c as ended at at as e says.
func endCall(c *Call, e Ending, at time.Time) {
	c.State = Ended
	c.Ended = at
	if c.Ended.Before(c.Started) {
		c.Ended = c.Started
	}
	c.Ringing = nil
	c.Cause = e.Cause
	c.Reason = e.Reason
	if c.Reason == "" {
		c.Reason = DefaultReason(c)
	}
	switch {
	case e.Duration > 0:
		c.Duration = int64(e.Duration / time.Second)
	case !c.Answered.IsZero():
		c.Duration = int64(c.Ended.Sub(c.Answered) / time.Second)
	}
}

// DefaultReason is the end reason of c when its source gives none.
func DefaultReason(c *Call) Reason {
	switch {
	case !c.Answered.IsZero():
		return ReasonCompleted
	case c.Direction == Outbound:
		return ReasonCancelled
	default:
		return ReasonNoAnswer
	}
}

// EndAll ends every active call, for a source whose link broke: the
// calls can no longer be followed and must not ring on a wallboard
// forever.
func (t *Tracker) EndAll(e Ending) int {
	return t.Retain(func(string) bool { return false }, e)
}

// Retain ends every active call whose key keep rejects, for the resync
// after a reconnect: calls the source no longer lists ended while the link
// was down. Reason defaults as in End.
func (t *Tracker) Retain(keep func(key string) bool, e Ending) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.calls))
	for k := range t.calls {
		if !keep(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		nc := t.calls[k].Clone()
		t.end(&nc, e)
		delete(t.calls, k)
		t.publish(&nc)
	}
	return len(keys)
}

// Get returns the active call known by key.
func (t *Tracker) Get(key string) (Call, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.calls[key]
	if !ok {
		return Call{}, false
	}
	return c.Clone(), true
}

// Key returns the source's key of an active call id.
func (t *Tracker) Key(id CallID) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.calls {
		if c.ID == id {
			return k, true
		}
	}
	return "", false
}

// Active returns the active calls ordered by start time.
func (t *Tracker) Active() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Call, 0, len(t.calls))
	for _, c := range t.calls {
		out = append(out, c.Clone())
	}
	slices.SortFunc(out, func(a, b Call) int { return a.Started.Compare(b.Started) })
	return out
}

// Len returns the number of active calls.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.calls)
}
