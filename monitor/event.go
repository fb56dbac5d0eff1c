package monitor

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Kind names what an Event carries: call, source, user, and whatever the
// kind table (event_kinds.go) lists next.
type Kind string

// Payload is what one Event carries: a *Call, a *SourceStatus, a
// *UserEvent, or another type with a row in the kind table. Once
// published a payload is shared by every subscriber and must not change.
type Payload interface {
	// Kind names the payload's row in the kind table. It must not depend
	// on the receiver's fields.
	Kind() Kind
}

// Event is one change, numbered by the hub: the envelope every consumer
// gets (/events, webhooks, replay, the history, other nodes). Its JSON form
// is
//
//	{"type":KIND,"seq":N,"at":T,FIELD:PAYLOAD}
//
// where FIELD is the kind's field in the kind table ("call", "source",
// "event"). An Event is a value, but it must not be changed once made:
// copies share the cached JSON (see JSON).
type Event struct {
	// Seq numbers the change within its hub's epoch.
	Seq uint64
	// At is when the hub published it.
	At time.Time
	// Payload is what changed.
	Payload Payload

	// enc caches the JSON form, shared by every copy of the event, so a
	// change fanned out to thousands of subscribers is encoded once. Nil
	// for an Event built as a literal: JSON then encodes on every call.
	enc *encoding
}

// encoding is an Event's JSON, made by the first consumer that asks.
type encoding struct {
	once sync.Once
	b    []byte
	err  error
}

// NewEvent returns the event numbered seq at at carrying p, with room for
// its JSON to be cached.
func NewEvent(seq uint64, at time.Time, p Payload) Event {
	return Event{Seq: seq, At: at, Payload: p, enc: new(encoding)}
}

// Kind names what the event carries; empty without a payload.
func (e Event) Kind() Kind {
	if e.Payload == nil {
		return ""
	}
	return e.Payload.Kind()
}

// JSON returns the event's JSON form. The first call encodes and every
// copy of the event shares the result: the caller must not modify it.
func (e Event) JSON() ([]byte, error) {
	if e.enc == nil {
		return e.encode()
	}
	e.enc.once.Do(func() { e.enc.b, e.enc.err = e.encode() })
	return e.enc.b, e.enc.err
}

// MarshalJSON implements json.Marshaler with the envelope's form.
func (e Event) MarshalJSON() ([]byte, error) { return e.JSON() }

func (e Event) encode() ([]byte, error) {
	spec, err := specOf(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	payload, err := json.Marshal(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	at, err := e.At.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	b := make([]byte, 0, len(spec.head)+20+len(`,"at":`)+len(at)+len(spec.tag)+len(payload)+1)
	b = append(b, spec.head...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"at":`...)
	b = append(b, at...)
	b = append(b, spec.tag...)
	b = append(b, payload...)
	return append(b, '}'), nil
}

// UnmarshalJSON implements json.Unmarshaler: it reads the envelope's form
// back, its payload decoded into the type the kind table names. A kind the
// table does not know is ErrUnknownKind, so a reader can skip what a newer
// writer added.
func (e *Event) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEnvelope, err)
	}
	var head struct {
		Type Kind      `json:"type"`
		Seq  uint64    `json:"seq"`
		At   time.Time `json:"at"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEnvelope, err)
	}
	spec, ok := kinds.byKind[head.Type]
	if !ok {
		return fmt.Errorf("decode event %d: %w %q", head.Seq, ErrUnknownKind, head.Type)
	}
	raw, ok := fields[spec.field]
	if !ok {
		return fmt.Errorf("decode %s event %d: %w: no %q", head.Type, head.Seq, ErrBadEnvelope, spec.field)
	}
	p, err := spec.decode(raw)
	if err != nil {
		return fmt.Errorf("decode %s event %d: %w: %w", head.Type, head.Seq, ErrBadEnvelope, err)
	}
	*e = NewEvent(head.Seq, head.At, p)
	return nil
}
