package sipbridge

import (
	"slices"
	"sync"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// lamp shows a softphone account as an extension of its own (the busy
// lamp of the person using it): unavailable until it is registered,
// then idle, ringing while an incoming call rings, in use while it dials
// or talks, on hold while its call is held. It is the Sink the account's
// call tracker publishes through: it watches the calls go by and passes
// them on unchanged.
type lamp struct {
	sink   monitor.Sink
	exts   *monitor.ExtensionTracker
	key    string
	number string
	device string

	mu         sync.Mutex
	registered bool
	known      bool
	calls      map[monitor.CallID]monitor.State
}

var _ monitor.Sink = (*lamp)(nil)

func newLamp(sink monitor.Sink, cfg AccountConfig, device string) *lamp {
	return &lamp{sink: sink, exts: monitor.NewExtensionTracker(monitor.SourceName(cfg.Name), sink),
		key: cfg.Name, number: cfg.Username, device: device, calls: map[monitor.CallID]monitor.State{}}
}

// Call notes the call's state and passes it on.
func (l *lamp) Call(c monitor.Call) {
	l.mu.Lock()
	if c.State == monitor.Ended {
		delete(l.calls, c.ID)
	} else {
		l.calls[c.ID] = c.State
	}
	l.publishLocked()
	l.mu.Unlock()
	if l.sink != nil {
		l.sink.Call(c)
	}
}

// SourceStatus passes s on.
func (l *lamp) SourceStatus(s monitor.SourceStatus) {
	if l.sink != nil {
		l.sink.SourceStatus(s)
	}
}

// UserEvent passes e on.
func (l *lamp) UserEvent(e monitor.UserEvent) {
	if l.sink != nil {
		l.sink.UserEvent(e)
	}
}

// registration follows the account's registration state.
func (l *lamp) registration(state monitor.LinkState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case monitor.LinkStopped:
		l.exts.RemoveAll()
		return
	case monitor.LinkRegistering:
		if !l.known {
			return
		}
	}
	l.registered, l.known = state == monitor.LinkRegistered, true
	l.publishLocked()
}

// publishLocked publishes the account's state; l.mu held on entry.
func (l *lamp) publishLocked() {
	if !l.known && len(l.calls) == 0 {
		return
	}
	var ringing, busy, held bool
	ids := make([]monitor.CallID, 0, len(l.calls))
	for id, st := range l.calls {
		ids = append(ids, id)
		switch st {
		case monitor.Ringing:
			ringing = true
		case monitor.Held:
			held = true
		default:
			busy = true
		}
	}
	state := monitor.DeviceUnavailable
	switch {
	case ringing && (busy || held):
		state = monitor.DeviceRingingInUse
	case ringing:
		state = monitor.DeviceRinging
	case busy:
		state = monitor.DeviceInUse
	case held:
		state = monitor.DeviceOnHold
	case l.registered:
		state = monitor.DeviceIdle
	}
	slices.Sort(ids)
	l.exts.Update(l.key, time.Time{}, func(e *monitor.Extension) {
		e.Number, e.Device, e.State, e.Calls = l.number, l.device, state, ids
	})
}
