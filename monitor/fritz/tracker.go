package fritz

import (
	"errors"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// DefaultInternalPrefixes are the prefixes of the router's internal
// numbers: **1 to **9 ring analogue ports, **610 to **615 DECT handsets,
// **620 to **629 IP phones, **9 all phones.
var DefaultInternalPrefixes = []string{"**"}

// Tracker maps call-monitor lines onto the shared call model through a
// monitor.Tracker:
//
//   - RING starts an inbound call, ringing (From the caller, To the
//     called number, Line the account);
//   - CALL starts an outbound call, dialing (From our number and the
//     dialling extension, To the dialled number);
//   - CONNECT answers it (AnsweredBy the answering extension for inbound
//     calls);
//   - DISCONNECT ends it: completed with the reported talk time when
//     answered, else no-answer (a missed call) when inbound and cancelled
//     when outbound.
//
// The router numbers connections from 0 and reuses a number as soon as
// its call ended, and its times have whole seconds, so neither the
// connection id nor its start time tells calls apart (a missed call and
// an instant redial share both). A call's key is its connection id and a
// key from the tracker's monitor.KeyAllocator ("3-17.42": connection 3,
// the 42nd call of server run 17): unique for ever, so call ids never
// collide in the history, a webhook receiver or on a wallboard's list of
// recent calls. A call to or from an internal number (**610) is
// internal. Duplicate and
// out-of-order lines are counted as unknown and ignored; the router
// reusing a connection id whose DISCONNECT never came ends the old call
// first (as failed "ended while disconnected" when the call was carried
// over a reconnect, whose gap the DISCONNECT fell into).
//
// A Tracker is used by one goroutine at a time.
type Tracker struct {
	calls    *monitor.Tracker
	keys     map[string]string // connection id → key of its active call
	carried  map[string]bool   // keys of calls active across a reconnect
	loc      *time.Location
	internal []string
	o        options
	bad      *monitor.ParseErrorLog
	// lamps are the ports and lines as extensions (lamps.go).
	lamps *lamps
}

// NewTracker returns a tracker publishing source's calls to sink. loc is
// the router's time zone (nil: time.Local); internal lists the prefixes of
// internal numbers (nil: DefaultInternalPrefixes).
func NewTracker(source monitor.SourceName, sink monitor.Sink, loc *time.Location, internal []string, opts ...Option) *Tracker {
	if loc == nil {
		loc = time.Local
	}
	if internal == nil {
		internal = DefaultInternalPrefixes
	}
	o := newOptions(opts)
	t := &Tracker{calls: monitor.NewTracker(source, sink), keys: map[string]string{}, carried: map[string]bool{},
		loc: loc, internal: internal, o: o, bad: monitor.NewParseErrorLog(o.counters, o.log)}
	t.calls.SetClock(t.o.now)
	t.lamps = newLamps(source, sink, t.o.now)
	return t
}

// Calls returns the underlying call tracker (active calls, lookups).
func (t *Tracker) Calls() *monitor.Tracker { return t.calls }

// Handle parses raw and applies it. A malformed line counts as a parse
// error (logged at most once a minute), a line of an unknown kind as
// unknown (logged at Debug); both are returned, and the tracker carries
// on.
func (t *Tracker) Handle(raw []byte) error {
	t.o.counters.Events.Add(1)
	l, err := ParseLine(raw, t.loc)
	if err != nil {
		if errors.Is(err, ErrUnknownKind) {
			t.o.counters.Unknown.Add(1)
			t.o.log.Debug("fritz: unknown line", "error", err)
		} else {
			t.bad.Note(err)
		}
		return err
	}
	t.Apply(l)
	return nil
}

// Apply applies a parsed line. It returns false when the line was
// ignored as a duplicate or out of order (and counted as unknown).
func (t *Tracker) Apply(l Line) bool {
	var ok bool
	key := t.keys[l.ID]
	switch l.Kind {
	case KindRing:
		ok = t.start(l, t.ringCall(l))
		key = t.keys[l.ID]
	case KindCall:
		ok = t.start(l, t.dialCall(l))
		key = t.keys[l.ID]
	case KindConnect:
		ok = t.connect(l)
	case KindDisconnect:
		if key, found := t.keys[l.ID]; found {
			delete(t.keys, l.ID)
			delete(t.carried, key)
			ok = t.calls.End(key, monitor.Ending{At: l.Time, Duration: time.Duration(l.Seconds) * time.Second})
		}
	}
	if ok {
		t.lamps.apply(l, key)
	}
	if !ok {
		t.o.counters.Unknown.Add(1)
		t.o.log.Debug("fritz: ignored out-of-order line", "line", l.String())
	}
	return ok
}

// EndAll ends every active call as failed with cause, for a link that
// broke: its calls can no longer be followed. It returns how many ended.
func (t *Tracker) EndAll(cause string) int {
	return t.endCalls(monitor.Ending{Reason: monitor.ReasonFailed, Cause: cause})
}

// endCalls ends every active call with e (at now unless e says when).
func (t *Tracker) endCalls(e monitor.Ending) int {
	clear(t.keys)
	clear(t.carried)
	t.lamps.forget(e.Cause == monitor.CauseStopped)
	if e.At.IsZero() {
		e.At = t.o.now()
	}
	return t.calls.EndAll(e)
}

// carryOver marks the active calls as carried over a reconnect: their
// DISCONNECT may have been sent while the link was down.
func (t *Tracker) carryOver() {
	for _, key := range t.keys {
		t.carried[key] = true
	}
}

func (t *Tracker) ringCall(l Line) monitor.Call {
	dir := monitor.Inbound
	if t.isInternal(l.Caller) {
		dir = monitor.Internal
	}
	return monitor.Call{
		Direction: dir,
		From:      monitor.Party{Number: l.Caller, Private: l.Caller == ""},
		To:        monitor.Party{Number: l.Called},
		Line:      l.Account,
		Started:   l.Time,
	}
}

func (t *Tracker) dialCall(l Line) monitor.Call {
	dir := monitor.Outbound
	if t.isInternal(l.Called) {
		dir = monitor.Internal
	}
	return monitor.Call{
		Direction: dir,
		// An internal call dials, it does not ring here: the ringing is
		// at the called handset, which reports no line of its own.
		State:   monitor.Dialing,
		From:    monitor.Party{Number: l.Caller, Extension: l.Ext},
		To:      monitor.Party{Number: l.Called},
		Line:    l.Account,
		Started: l.Time,
	}
}

// start begins c under l.ID. A connection id still active means the
// router reused it without a DISCONNECT we saw: the old call is ended
// first. An identical repeat of the starting line is a duplicate.
func (t *Tracker) start(l Line, c monitor.Call) bool {
	if oldKey, ok := t.keys[l.ID]; ok {
		old, _ := t.calls.Get(oldKey)
		if old.Started.Equal(c.Started) && old.From == c.From && old.To == c.To && old.Line == c.Line {
			return false
		}
		e := monitor.Ending{At: l.Time, Cause: "connection id reused"}
		if t.carried[oldKey] {
			// The router ended the call while we were disconnected.
			e = monitor.EndedWhileDisconnected
			e.At = l.Time
		} else {
			t.o.log.Info("fritz: connection id reused before its DISCONNECT", "id", l.ID)
		}
		t.calls.End(oldKey, e)
		delete(t.keys, l.ID)
		delete(t.carried, oldKey)
	}
	key := l.ID + "-" + t.o.keys.NextKey(t.calls.Source())
	if !t.calls.Start(key, c) {
		return false
	}
	t.keys[l.ID] = key
	return true
}

func (t *Tracker) connect(l Line) bool {
	key, ok := t.keys[l.ID]
	if !ok {
		return false
	}
	c, ok := t.calls.Get(key)
	if !ok || !c.Answered.IsZero() {
		return false
	}
	var by *monitor.Party
	if c.Direction != monitor.Outbound {
		// The extension that picked up; the number it answered on is the
		// number that was called.
		by = &monitor.Party{Number: c.To.Number, Extension: l.Ext}
	}
	return t.calls.Answer(key, by, l.Time)
}

func (t *Tracker) isInternal(number string) bool {
	for _, p := range t.internal {
		if p != "" && strings.HasPrefix(number, p) {
			return true
		}
	}
	return false
}
