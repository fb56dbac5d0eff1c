package fritz

import (
	"slices"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// lamps makes the router's ports and lines extensions from its calls
// (the call monitor says nothing of presence): a port (a DECT handset,
// an analogue or IP phone, keyed "port:<ext>") is in use while it dials
// or talks; a line (an account such as SIP0, keyed "line:<account>")
// rings while an inbound call rings on it and is in use while a call
// holds it. Both appear with their first call and go back to idle when
// their calls end. Used by the tracker's goroutine only.
type lamps struct {
	source monitor.SourceName
	exts   *monitor.ExtensionTracker
	// conns holds each active connection's use of a port and a line, by
	// connection id.
	conns map[string]*use
}

type use struct {
	key       string // the call's key
	port      string // "" until a port dials or answers
	line      string
	ringing   bool
	connected bool
}

func newLamps(source monitor.SourceName, sink monitor.Sink, now func() time.Time) *lamps {
	l := &lamps{source: source, exts: monitor.NewExtensionTracker(source, sink), conns: map[string]*use{}}
	l.exts.SetClock(now)
	return l
}

// portNumber is the internal number of a port (**610 for DECT handset 1
// on port 10) and what it is.
func portNumber(ext string) (number, device string) {
	n, err := strconv.Atoi(ext)
	switch {
	case err != nil:
		return ext, "port " + ext
	case n >= 0 && n <= 2:
		return "**" + strconv.Itoa(n+1), "FON " + strconv.Itoa(n+1)
	case n >= 10 && n <= 19:
		return "**6" + strconv.Itoa(n), "DECT " + strconv.Itoa(n-9)
	case n >= 20 && n <= 29:
		return "**6" + strconv.Itoa(n), "IP phone " + strconv.Itoa(n-19)
	}
	return ext, "port " + ext
}

// apply follows line l that the tracker applied to the call with key.
func (lp *lamps) apply(l Line, key string) {
	switch l.Kind {
	case KindRing:
		lp.conns[l.ID] = &use{key: key, line: l.Account, ringing: true}
		lp.publishLine(l.Account, l.Called, l.Time)
	case KindCall:
		u := &use{key: key, line: l.Account, port: l.Ext}
		lp.conns[l.ID] = u
		lp.publishPort(u.port, l.Time)
		lp.publishLine(l.Account, l.Caller, l.Time)
	case KindConnect:
		u := lp.conns[l.ID]
		if u == nil {
			return
		}
		u.ringing, u.connected = false, true
		if l.Ext != "" && u.port == "" {
			u.port = l.Ext
		}
		lp.publishPort(u.port, l.Time)
		lp.publishLine(u.line, "", l.Time)
	case KindDisconnect:
		u := lp.conns[l.ID]
		if u == nil {
			return
		}
		delete(lp.conns, l.ID)
		lp.publishPort(u.port, l.Time)
		lp.publishLine(u.line, "", l.Time)
	}
}

// forget drops every connection (the calls ended) and shows what is left.
func (lp *lamps) forget(stopped bool) {
	clear(lp.conns)
	if stopped {
		lp.exts.RemoveAll()
		return
	}
	lp.exts.Unknown()
}

// state is the device state of the connections using a port or line.
func (lp *lamps) state(match func(*use) bool) (monitor.DeviceState, []monitor.CallID) {
	var ids []monitor.CallID
	var ringing, busy bool
	for _, u := range lp.conns {
		if !match(u) {
			continue
		}
		ids = append(ids, monitor.MakeCallID(lp.source, u.key))
		if u.ringing {
			ringing = true
		} else {
			busy = true
		}
	}
	slices.Sort(ids)
	switch {
	case ringing && busy:
		return monitor.DeviceRingingInUse, ids
	case ringing:
		return monitor.DeviceRinging, ids
	case busy:
		return monitor.DeviceInUse, ids
	}
	return monitor.DeviceIdle, nil
}

func (lp *lamps) publishPort(port string, at time.Time) {
	if port == "" {
		return
	}
	state, keys := lp.state(func(u *use) bool { return u.port == port })
	number, device := portNumber(port)
	lp.exts.Update("port:"+port, at, func(e *monitor.Extension) {
		e.Number, e.Device, e.State, e.Calls = number, device, state, keys
	})
}

func (lp *lamps) publishLine(line, own string, at time.Time) {
	if line == "" {
		return
	}
	state, keys := lp.state(func(u *use) bool { return u.line == line })
	lp.exts.Update("line:"+line, at, func(e *monitor.Extension) {
		if own != "" {
			e.Number = own
		} else if e.Number == "line:"+line {
			e.Number = ""
		}
		e.Device, e.State, e.Calls = "line "+line, state, keys
	})
}
