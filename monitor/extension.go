package monitor

import (
	"slices"
	"time"
)

// ExtensionID identifies an extension across sources: the source name, a
// colon, and the source's own key (an Asterisk hint's exten@context, a
// FreeSWITCH user@domain, a Fritz!Box port, a softphone account).
type ExtensionID string

// MakeExtensionID builds the ExtensionID of the extension a source knows
// by key.
func MakeExtensionID(source SourceName, key string) ExtensionID {
	return ExtensionID(string(source) + ":" + key)
}

// DeviceState is what an extension's phone is doing, in one vocabulary
// every source maps its own onto (Asterisk's hint and device states,
// FreeSWITCH presence, a Fritz!Box's calls, a softphone account's).
type DeviceState string

// Device states.
const (
	// DeviceIdle: registered and on no call.
	DeviceIdle DeviceState = "idle"
	// DeviceRinging: a call rings it.
	DeviceRinging DeviceState = "ringing"
	// DeviceInUse: on a call, and may take more.
	DeviceInUse DeviceState = "in-use"
	// DeviceRingingInUse: on a call while another rings it.
	DeviceRingingInUse DeviceState = "ringing+in-use"
	// DeviceOnHold: its call is on hold.
	DeviceOnHold DeviceState = "on-hold"
	// DeviceBusy: on a call and takes no other (or busy by the PBX's
	// word, such as a phone in do-not-disturb that only says busy).
	DeviceBusy DeviceState = "busy"
	// DeviceUnavailable: not registered, not reachable.
	DeviceUnavailable DeviceState = "unavailable"
	// DeviceUnknown: the source does not know (or its link is down).
	DeviceUnknown DeviceState = "unknown"
)

// DeviceStates lists every device state, in documentation order.
var DeviceStates = []DeviceState{DeviceIdle, DeviceRinging, DeviceInUse, DeviceRingingInUse, DeviceOnHold, DeviceBusy, DeviceUnavailable, DeviceUnknown}

// Presence is what a person set about themselves, beside what their phone
// does; empty when they set nothing.
type Presence string

// Presence states.
const (
	PresenceAvailable Presence = "available"
	PresenceAway      Presence = "away"
	// PresenceDND is do not disturb: it lights the lamp (LampDND) even
	// while the phone is idle.
	PresenceDND Presence = "dnd"
	// PresenceXA is extended away (on holiday, gone for the day).
	PresenceXA Presence = "xa"
)

// Lamp is the one word a busy-lamp field shows for an extension: its
// device state and presence together.
type Lamp string

// Lamps.
const (
	// LampFree: idle and not away: a call put through is taken.
	LampFree Lamp = "free"
	// LampRinging: a call rings it and it is on no other.
	LampRinging Lamp = "ringing"
	// LampBusy: on a call (in use, on hold, ringing while in use, busy).
	LampBusy Lamp = "busy"
	// LampDND: do not disturb, set by the person or their phone.
	LampDND Lamp = "dnd"
	// LampAway: away or extended away while the phone is idle.
	LampAway Lamp = "away"
	// LampOffline: the phone is not reachable.
	LampOffline Lamp = "offline"
	// LampUnknown: nothing is known.
	LampUnknown Lamp = "unknown"
)

// LampOf is the lamp of an extension in device state d with presence p.
// What the phone does comes first (a person on a call is busy whatever
// they set), then do not disturb and away, so DND lights the lamp of an
// idle phone.
func LampOf(d DeviceState, p Presence) Lamp {
	switch d {
	case DeviceRinging:
		return LampRinging
	case DeviceInUse, DeviceRingingInUse, DeviceOnHold, DeviceBusy:
		return LampBusy
	case DeviceUnavailable:
		return LampOffline
	}
	switch p {
	case PresenceDND:
		return LampDND
	case PresenceAway, PresenceXA:
		return LampAway
	}
	if d == DeviceIdle {
		return LampFree
	}
	return LampUnknown
}

// Extension is one extension as it now is: the payload of an "extension"
// event, kept by the hub and in every snapshot. Values are copied freely;
// Calls is never changed once published (ExtensionTracker clones).
type Extension struct {
	ID     ExtensionID `json:"id"`
	Source SourceName  `json:"source"`
	// Number is what to dial to reach it.
	Number string `json:"number"`
	// Name is the person's or device's name, when known.
	Name string `json:"name,omitempty"`
	// Device is the PBX's name of what it watches: an Asterisk hint
	// ("PJSIP/201&Custom:DND201"), a FreeSWITCH user, a Fritz!Box port.
	Device string `json:"device,omitempty"`
	// State is what the phone does.
	State DeviceState `json:"state"`
	// Presence and Message are what the person set, when the source
	// reports it (Asterisk presence state, FreeSWITCH presence).
	Presence Presence `json:"presence,omitempty"`
	Message  string   `json:"message,omitempty"`
	// Lamp is LampOf(State, Presence).
	Lamp Lamp `json:"lamp"`
	// Since is when State, Presence or Message last changed.
	Since time.Time `json:"since"`
	// Group is the operator panel's group of the extension, when the
	// configuration gives one.
	Group string `json:"group,omitempty"`
	// Calls are the active calls it is on, when the source can tell.
	Calls []CallID `json:"calls,omitempty"`
	// Peers are the other parties of its calls when the source names them
	// without a call of its own (a busy lamp's dialog-info: RFC 4235
	// remote identities), in the order the calls began.
	Peers []Party `json:"peers,omitempty"`
	// Removed is set on the last event of an extension the source no
	// longer has (removed from the dialplan, its source stopped): the hub
	// lets it go.
	Removed bool `json:"removed,omitempty"`
}

// Present reports whether the extension stays in the hub's state.
func (e *Extension) Present() bool { return !e.Removed }

// Clone returns a deep copy of e, safe to change.
func (e *Extension) Clone() Extension {
	out := *e
	out.Calls = slices.Clone(e.Calls)
	out.Peers = slices.Clone(e.Peers)
	return out
}

// sameExtension reports whether a and b show the same thing.
func sameExtension(a, b *Extension) bool {
	return a.Number == b.Number && a.Name == b.Name && a.Device == b.Device && a.State == b.State &&
		a.Presence == b.Presence && a.Message == b.Message && a.Removed == b.Removed && a.Group == b.Group &&
		slices.Equal(a.Calls, b.Calls) && slices.Equal(a.Peers, b.Peers)
}
