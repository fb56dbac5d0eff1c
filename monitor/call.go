package monitor

import (
	"slices"
	"time"
)

// CallID identifies a call across all sources: the source name, a colon,
// and the source's own key (Fritz connection id, Asterisk Linkedid,
// FreeSWITCH call UUID, SIP Call-ID).
type CallID string

// SourceName names a configured source ("home", "pbx1") or a softphone
// account.
type SourceName string

// MakeCallID builds the CallID of the call a source knows by key.
func MakeCallID(source SourceName, key string) CallID {
	return CallID(string(source) + ":" + key)
}

// Direction says who started a call as seen from the site.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
	Internal Direction = "internal"
)

// State is where a call is in its life.
type State string

// States. A call starts ringing (inbound) or dialing (outbound), may become
// connected, held and connected again, and always ends.
const (
	Ringing   State = "ringing"
	Dialing   State = "dialing"
	Connected State = "connected"
	Held      State = "held"
	Ended     State = "ended"
)

// Reason says how a call ended, in one vocabulary shared by every source.
type Reason string

// End reasons.
const (
	// ReasonCompleted: the call was answered and then hung up normally.
	ReasonCompleted Reason = "completed"
	// ReasonNoAnswer: an inbound call rang and nobody took it (a missed call).
	ReasonNoAnswer Reason = "no-answer"
	// ReasonBusy: the called party was busy.
	ReasonBusy Reason = "busy"
	// ReasonRejected: the called party declined the call.
	ReasonRejected Reason = "rejected"
	// ReasonCancelled: the caller gave up before anyone answered.
	ReasonCancelled Reason = "cancelled"
	// ReasonAbandoned: the caller hung up while waiting in a queue (a
	// missed call); the source says how long they waited in Cause.
	ReasonAbandoned Reason = "abandoned"
	// ReasonAnsweredElsewhere: another device took the call.
	ReasonAnsweredElsewhere Reason = "answered-elsewhere"
	// ReasonFailed: the call failed (network, congestion, unknown number,
	// lost link to the source).
	ReasonFailed Reason = "failed"
)

// Reasons lists every end reason, in documentation order.
var Reasons = []Reason{ReasonCompleted, ReasonNoAnswer, ReasonBusy, ReasonRejected, ReasonCancelled, ReasonAbandoned, ReasonAnsweredElsewhere, ReasonFailed}

// Party is one end of a call.
type Party struct {
	// Number is the telephone number or SIP user as the source reports it.
	Number string `json:"number"`
	// Name is the caller-ID name, when known.
	Name string `json:"name,omitempty"`
	// Extension is the internal extension or device (Fritz port, Asterisk
	// channel peer), when known.
	Extension string `json:"extension,omitempty"`
	// Account is the SIP account or PBX account code, when known.
	Account string `json:"account,omitempty"`
	// Private is true when the caller ID may not be shown (presentation
	// restricted).
	Private bool `json:"private,omitempty"`
}

// IsZero reports whether nothing is known of p.
func (p Party) IsZero() bool { return p == Party{} }

// TransferKind says how a call was transferred.
type TransferKind string

// Transfer kinds.
const (
	TransferBlind    TransferKind = "blind"
	TransferAttended TransferKind = "attended"
	// TransferBlonde is an attended transfer completed while the target was
	// still ringing.
	TransferBlonde TransferKind = "blonde"
)

// Transfer records that Transferer handed Transferred on to Targets.
type Transfer struct {
	Kind        TransferKind `json:"kind"`
	Transferer  Party        `json:"transferer"`
	Transferred Party        `json:"transferred"`
	Targets     []Party      `json:"targets"`
	At          time.Time    `json:"at"`
}

// Call is a call as it now is. Values are copied freely; the slices and the
// map are never mutated once a Call has been published (the tracker clones
// before it changes them).
type Call struct {
	ID        CallID     `json:"id"`
	Source    SourceName `json:"source"`
	Direction Direction  `json:"direction"`
	State     State      `json:"state"`
	From      Party      `json:"from"`
	To        Party      `json:"to"`
	// Ringing lists the destinations ringing now (ring groups ring several).
	Ringing []Party `json:"ringing,omitempty"`
	// AnsweredBy is the party that took the call, when it differs from To
	// or To was a group.
	AnsweredBy *Party `json:"answered_by,omitempty"`
	// Line is the line, trunk or SIP account the call uses.
	Line     string    `json:"line,omitempty"`
	Started  time.Time `json:"started"`
	Answered time.Time `json:"answered,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	// Duration is the talk time in whole seconds (answer to end), set when
	// the call ends; for a live call clients compute it from Answered.
	Duration int64  `json:"duration,omitempty"`
	Reason   Reason `json:"reason,omitempty"`
	// Cause is the source's own end cause (Q.850 cause, SIP status), kept
	// beside the shared Reason.
	Cause string `json:"cause,omitempty"`
	// Queue is the queue the call waits in or came through, when any.
	Queue     string     `json:"queue,omitempty"`
	Transfers []Transfer `json:"transfers,omitempty"`
	// Vars holds source-specific details worth showing (Asterisk account
	// codes, FreeSWITCH variables); keys are lower case.
	Vars map[string]string `json:"vars,omitempty"`
}

// Active reports whether the call has not ended.
func (c *Call) Active() bool { return c.State != Ended }

// Missed reports whether this is an inbound call nobody answered. A call
// another device took (answered elsewhere: a forked or group call that
// rang here too) is not missed: someone did answer it.
func (c *Call) Missed() bool {
	return c.State == Ended && c.Answered.IsZero() && c.Direction == Inbound && c.Reason != ReasonAnsweredElsewhere
}

// Clone returns a deep copy of c, safe to change.
func (c *Call) Clone() Call {
	out := *c
	out.Ringing = slices.Clone(c.Ringing)
	if c.AnsweredBy != nil {
		p := *c.AnsweredBy
		out.AnsweredBy = &p
	}
	if c.Transfers != nil {
		out.Transfers = make([]Transfer, len(c.Transfers))
		for i, t := range c.Transfers {
			t.Targets = slices.Clone(t.Targets)
			out.Transfers[i] = t
		}
	}
	if c.Vars != nil {
		out.Vars = make(map[string]string, len(c.Vars))
		for k, v := range c.Vars {
			out.Vars[k] = v
		}
	}
	return out
}
