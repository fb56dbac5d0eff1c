package ami

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Extensions (the busy-lamp field), Asterisk 13 and later: every dialplan
// hint is an extension, keyed exten@context. ExtensionStateList lists
// them as ExtensionStatus events; later ExtensionStatus events carry each
// change of the hint's state, a bit set. DeviceStateList and
// DeviceStateChange give the state of every device behind the hints;
// PresenceStateList, PresenceStateChange and PresenceStatus the presence
// the hint's provider (CustomPresence:201) reports. Phones no hint
// covers are extensions of their own, keyed by device.

// Hint state bits (ast_extension_states, include/asterisk/pbx.h), as the
// Status of ExtensionStatus carries them.
const (
	hintRemoved     = -2 // the extension was removed from the dialplan
	hintDeactivated = -1 // its hint was removed (or: extension not found)
	hintInUse       = 1
	hintBusy        = 2
	hintUnavailable = 4
	hintRinging     = 8
	hintOnHold      = 16
)

// hintState maps a hint state bit set onto the device states: 0 idle,
// 1 in use, 2 busy, 4 unavailable, 8 ringing, 9 ringing while in use,
// 16 on hold, 17 in use and on hold.
func hintState(s int) monitor.DeviceState {
	switch {
	case s < 0:
		return monitor.DeviceUnknown
	case s == 0:
		return monitor.DeviceIdle
	case s&hintRinging != 0 && s&(hintInUse|hintBusy|hintOnHold) != 0:
		return monitor.DeviceRingingInUse
	case s&hintRinging != 0:
		return monitor.DeviceRinging
	case s&hintOnHold != 0:
		return monitor.DeviceOnHold
	case s&hintBusy != 0:
		return monitor.DeviceBusy
	case s&hintInUse != 0:
		return monitor.DeviceInUse
	case s&hintUnavailable != 0:
		return monitor.DeviceUnavailable
	}
	return monitor.DeviceUnknown
}

// deviceState maps a device state as DeviceStateChange names it
// (ast_devstate_str) onto the device states.
func deviceState(s string) monitor.DeviceState {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "NOT_INUSE":
		return monitor.DeviceIdle
	case "INUSE":
		return monitor.DeviceInUse
	case "BUSY":
		return monitor.DeviceBusy
	case "INVALID", "UNAVAILABLE":
		return monitor.DeviceUnavailable
	case "RINGING":
		return monitor.DeviceRinging
	case "RINGINUSE":
		return monitor.DeviceRingingInUse
	case "ONHOLD":
		return monitor.DeviceOnHold
	}
	return monitor.DeviceUnknown
}

// deviceStateNum maps the numeric device state of a queue member
// (enum ast_device_state: 0 unknown, 1 not in use, 2 in use, 3 busy,
// 4 invalid, 5 unavailable, 6 ringing, 7 ringing in use, 8 on hold).
func deviceStateNum(s string) monitor.DeviceState {
	switch strings.TrimSpace(s) {
	case "1":
		return monitor.DeviceIdle
	case "2":
		return monitor.DeviceInUse
	case "3":
		return monitor.DeviceBusy
	case "4", "5":
		return monitor.DeviceUnavailable
	case "6":
		return monitor.DeviceRinging
	case "7":
		return monitor.DeviceRingingInUse
	case "8":
		return monitor.DeviceOnHold
	}
	return monitor.DeviceUnknown
}

// presenceOf maps a presence state (ast_presence_state: not_set,
// unavailable, available, away, xa, chat, dnd) onto the presences:
// chat is available, unavailable (the person is not there) extended
// away; not_set and invalid are none.
func presenceOf(s string) monitor.Presence {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "available", "chat":
		return monitor.PresenceAvailable
	case "away":
		return monitor.PresenceAway
	case "xa", "unavailable":
		return monitor.PresenceXA
	case "dnd":
		return monitor.PresenceDND
	}
	return ""
}

// on reports whether a do-not-disturb device is set: the feature codes
// set Custom:DND… to BUSY (some dialplans INUSE).
func on(d monitor.DeviceState) bool {
	switch d {
	case monitor.DeviceIdle, monitor.DeviceUnknown, monitor.DeviceUnavailable, "":
		return false
	}
	return true
}

// isDND reports whether a hint device is a do-not-disturb flag.
func isDND(dev string) bool {
	return len(dev) > len("Custom:DND") && strings.EqualFold(dev[:len("Custom:DND")], "Custom:DND")
}

// phoneDevice reports whether dev is a phone that may be an extension of
// its own: a channel technology and an extension number
// ("PJSIP/201"), not Local channels, trunks with names, or the
// pseudo-devices (Custom:, Queue:, Park:, Calendar:).
func phoneDevice(dev string) (number string, ok bool) {
	tech, res, found := strings.Cut(dev, "/")
	if !found || tech == "" || strings.ContainsRune(tech, ':') || strings.EqualFold(tech, "Local") {
		return "", false
	}
	if len(res) < 2 || len(res) > 8 {
		return "", false
	}
	for _, r := range res {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return res, true
}

// setHint makes or updates the hint key with the hint text raw
// ("PJSIP/201&Custom:DND201,CustomPresence:201"); mu held on entry.
func (tr *Tracker) setHint(key, exten, raw string) *hint {
	st := tr.st
	h := st.hints[key]
	if h != nil && h.raw == raw {
		return h
	}
	if h != nil {
		st.unindex(h)
	} else {
		h = &hint{key: own(key), exten: own(exten)}
		st.hints[h.key] = h
	}
	h.raw = own(raw)
	devs, provider, _ := strings.Cut(h.raw, ",")
	h.devices, h.dnd, h.provider = nil, nil, strings.TrimSpace(provider)
	for _, d := range strings.Split(devs, "&") {
		d = strings.TrimSpace(d)
		switch {
		case d == "":
		case isDND(d):
			h.dnd = append(h.dnd, d)
		default:
			h.devices = append(h.devices, d)
		}
	}
	for _, d := range slices.Concat(h.devices, h.dnd) {
		st.byDevice[d] = append(st.byDevice[d], h)
		// A phone a hint covers is shown through the hint only.
		if st.deviceExts[d] {
			delete(st.deviceExts, d)
			delete(st.busy, d)
			st.exts.Remove(d)
		}
	}
	if h.provider != "" {
		st.byPresence[h.provider] = append(st.byPresence[h.provider], h)
		if p, ok := st.presences[h.provider]; ok {
			h.pres, h.message = p.p, p.message
		}
	}
	return h
}

// unindex takes h out of the device and presence indexes.
func (st *state) unindex(h *hint) {
	for _, d := range slices.Concat(h.devices, h.dnd) {
		st.byDevice[d] = slices.DeleteFunc(st.byDevice[d], func(x *hint) bool { return x == h })
		if len(st.byDevice[d]) == 0 {
			delete(st.byDevice, d)
		}
	}
	if h.provider != "" {
		st.byPresence[h.provider] = slices.DeleteFunc(st.byPresence[h.provider], func(x *hint) bool { return x == h })
		if len(st.byPresence[h.provider]) == 0 {
			delete(st.byPresence, h.provider)
		}
	}
}

// dropHint forgets a hint the dialplan no longer has; mu held on entry.
func (tr *Tracker) dropHint(key string) {
	h := tr.st.hints[key]
	if h == nil {
		return
	}
	tr.st.unindex(h)
	delete(tr.st.hints, key)
	delete(tr.st.busy, key)
	tr.st.exts.Remove(key)
}

// hintDeviceState is the state of a hint's phones. Asterisk's hint state
// counts every device of the hint, so a do-not-disturb flag set BUSY
// makes an idle phone busy; when the hint has such a flag and every
// phone's own state is known, the phones alone decide (ringing over in
// use over on hold over busy over idle; unavailable when all are).
func (st *state) hintDeviceState(h *hint) monitor.DeviceState {
	if len(h.dnd) > 0 && len(h.devices) > 0 {
		states := make([]monitor.DeviceState, 0, len(h.devices))
		for _, d := range h.devices {
			s, ok := st.devices[d]
			if !ok {
				states = nil
				break
			}
			states = append(states, s)
		}
		if states != nil {
			return aggregate(states)
		}
	}
	if !h.known {
		return monitor.DeviceUnknown
	}
	return hintState(h.status)
}

// aggregate combines the states of several phones into one.
func aggregate(states []monitor.DeviceState) monitor.DeviceState {
	has := func(s ...monitor.DeviceState) bool {
		return slices.ContainsFunc(states, func(x monitor.DeviceState) bool { return slices.Contains(s, x) })
	}
	all := func(s monitor.DeviceState) bool {
		return !slices.ContainsFunc(states, func(x monitor.DeviceState) bool { return x != s })
	}
	switch {
	case has(monitor.DeviceRingingInUse), has(monitor.DeviceRinging) && has(monitor.DeviceInUse, monitor.DeviceBusy, monitor.DeviceOnHold):
		return monitor.DeviceRingingInUse
	case has(monitor.DeviceRinging):
		return monitor.DeviceRinging
	case has(monitor.DeviceInUse):
		return monitor.DeviceInUse
	case has(monitor.DeviceOnHold):
		return monitor.DeviceOnHold
	case has(monitor.DeviceBusy):
		return monitor.DeviceBusy
	case has(monitor.DeviceIdle):
		return monitor.DeviceIdle
	case all(monitor.DeviceUnavailable):
		return monitor.DeviceUnavailable
	}
	return monitor.DeviceUnknown
}

// publishHint publishes the extension of h as it now is; calls are the
// devices' calls (nil: found now); mu held on entry.
func (tr *Tracker) publishHint(h *hint, at time.Time, calls map[string][]monitor.CallID) {
	st := tr.st
	if calls == nil {
		calls = tr.deviceCalls()
	}
	state := st.hintDeviceState(h)
	pres, msg := h.pres, h.message
	for _, d := range h.dnd {
		if on(st.devices[d]) && pres != monitor.PresenceDND {
			// Do not disturb by feature code: the lamp shows it, and a
			// message the person set stays.
			pres = monitor.PresenceDND
		}
	}
	ids := callsOf(calls, h.devices...)
	st.noteBusy(h.key, ids)
	exten, raw := h.exten, h.raw
	st.exts.Update(h.key, at, func(e *monitor.Extension) {
		e.Number, e.Device, e.State, e.Presence, e.Message, e.Calls = exten, raw, state, pres, msg, ids
	})
}

// publishDevice publishes a phone no hint covers; mu held on entry.
func (tr *Tracker) publishDevice(dev string, at time.Time, calls map[string][]monitor.CallID) {
	st := tr.st
	number, _ := phoneDevice(dev)
	if calls == nil {
		calls = tr.deviceCalls()
	}
	ids := callsOf(calls, dev)
	st.noteBusy(dev, ids)
	state, ok := st.devices[dev]
	if !ok {
		state = monitor.DeviceUnknown
	}
	st.exts.Update(dev, at, func(e *monitor.Extension) {
		e.Number, e.Device, e.State, e.Calls = number, dev, state, ids
	})
}

// noteListed records key in the listing of the list action m belongs to
// (by its ActionID), starting a new listing at the first item of one.
func noteListed(l **listing, m Message, key string) {
	id, ok := m.Lookup("ActionID")
	if !ok {
		return // a live event, not a list's
	}
	if *l == nil || (*l).id != id {
		*l = &listing{id: own(id), seen: map[string]bool{}}
	}
	(*l).seen[key] = true
}

// listed returns what the listing m completes named: nil when m
// completes none that this tracker followed (a live event), empty for an
// empty list.
func listed(l **listing, m Message) map[string]bool {
	id, ok := m.Lookup("ActionID")
	if !ok {
		return nil
	}
	cur := *l
	*l = nil
	if cur == nil || cur.id != id {
		return map[string]bool{}
	}
	return cur.seen
}

func (tr *Tracker) extensionStatus(m Message) {
	exten, ctx := m.Get("Exten"), m.Get("Context")
	if exten == "" {
		return
	}
	key := exten + "@" + ctx
	status, err := strconv.Atoi(strings.TrimSpace(m.Get("Status")))
	if err != nil {
		return
	}
	if status == hintRemoved || status == hintDeactivated {
		tr.dropHint(key)
		return
	}
	raw, ok := m.Lookup("Hint")
	h := tr.st.hints[key]
	if ok || h == nil {
		h = tr.setHint(key, exten, raw)
	}
	h.status, h.known = status, true
	noteListed(&tr.st.extList, m, h.key)
	tr.publishHint(h, at(m), nil)
}

// extensionListComplete ends an ExtensionStateList: hints it did not
// name are gone from the dialplan.
func (tr *Tracker) extensionListComplete(m Message) {
	seen := listed(&tr.st.extList, m)
	if seen == nil {
		return
	}
	for key := range tr.st.hints {
		if !seen[key] {
			tr.dropHint(key)
		}
	}
}

func (tr *Tracker) deviceStateChange(m Message) {
	dev := m.Get("Device")
	if dev == "" {
		return
	}
	st := tr.st
	state := deviceState(m.Get("State"))
	if old, ok := st.devices[dev]; !ok || old != state {
		st.devices[own(dev)] = state
	}
	hs := st.byDevice[dev]
	if len(hs) == 0 {
		if _, phone := phoneDevice(dev); phone {
			st.deviceExts[own(dev)] = true
			noteListed(&st.devList, m, dev)
			tr.publishDevice(dev, at(m), nil)
		}
		return
	}
	// A hint's own ExtensionStatus follows a change of one of its
	// phones; a do-not-disturb flag, and the phones of a hint that has
	// one, count only from here.
	for _, h := range hs {
		if isDND(dev) || len(h.dnd) > 0 {
			tr.publishHint(h, at(m), nil)
		}
	}
}

// deviceListComplete ends a DeviceStateList: phones without a hint it
// did not name are gone.
func (tr *Tracker) deviceListComplete(m Message) {
	seen := listed(&tr.st.devList, m)
	if seen == nil {
		return
	}
	for dev := range tr.st.deviceExts {
		if !seen[dev] {
			delete(tr.st.deviceExts, dev)
			delete(tr.st.busy, dev)
			tr.st.exts.Remove(dev)
		}
	}
}

// presenceStatus is a hint's presence changing (Asterisk 13+).
func (tr *Tracker) presenceStatus(m Message) {
	h := tr.st.hints[m.Get("Exten")+"@"+m.Get("Context")]
	if h == nil {
		return
	}
	h.pres, h.message = presenceOf(m.Get("Status")), own(m.Get("Message"))
	tr.publishHint(h, at(m), nil)
}

// presenceStateChange is a presence provider changing (and each item of
// PresenceStateList): every hint it serves follows.
func (tr *Tracker) presenceStateChange(m Message) {
	who := m.Get("Presentity")
	if who == "" {
		return
	}
	p := presence{p: presenceOf(m.Get("Status")), message: own(m.Get("Message"))}
	tr.st.presences[own(who)] = p
	for _, h := range tr.st.byPresence[who] {
		h.pres, h.message = p.p, p.message
		tr.publishHint(h, at(m), nil)
	}
}
