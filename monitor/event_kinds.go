package monitor

import (
	"cmp"
	"encoding/json"
	"fmt"
)

// Kinds of events.
const (
	// KindCall carries a *Call: a call as it now is.
	KindCall Kind = "call"
	// KindSource carries a *SourceStatus: a source's link changed.
	KindSource Kind = "source"
	// KindUser carries a *UserEvent: a source's custom event, passed on.
	KindUser Kind = "user"
	// KindExtension carries an *Extension: an extension's device state
	// or presence changed (the busy-lamp field).
	KindExtension Kind = "extension"
	// KindQueue carries a *Queue: a queue's callers, members or totals
	// changed.
	KindQueue Kind = "queue"
)

// kinds is the one table of what an Event may carry. A new kind is a
// payload type with a Kind method and one row here; the hub's state, the
// snapshot, the JSON form (both ways) and everything that consumes events
// (/events, webhooks, replay) follow from the row.
//
// A kept kind is state the hub holds and every snapshot carries, under its
// plural key, one item per key; an item leaves the state when it is no
// longer active (a call that ended). A passing kind is only an event.
var kinds = newKindTable(
	kept(KindCall, "call", "calls", func(c *Call) string { return string(c.ID) }, (*Call).Active,
		func(a, b *Call) int { return a.Started.Compare(b.Started) }),
	kept(KindSource, "source", "sources", func(s *SourceStatus) string { return string(s.Name) }, nil,
		func(a, b *SourceStatus) int { return cmp.Compare(a.Name, b.Name) }),
	passing[UserEvent](KindUser, "event"),
	kept(KindExtension, "extension", "extensions", func(e *Extension) string { return string(e.ID) }, (*Extension).Present,
		func(a, b *Extension) int { return cmp.Compare(a.ID, b.ID) }),
	kept(KindQueue, "queue", "queues", func(q *Queue) string { return string(q.ID) }, (*Queue).Present,
		func(a, b *Queue) int { return cmp.Compare(a.ID, b.ID) }),
)

// Kind implements Payload.
func (*Call) Kind() Kind { return KindCall }

// Kind implements Payload.
func (*SourceStatus) Kind() Kind { return KindSource }

// Kind implements Payload.
func (*UserEvent) Kind() Kind { return KindUser }

// Kind implements Payload.
func (*Extension) Kind() Kind { return KindExtension }

// Kind implements Payload.
func (*Queue) Kind() Kind { return KindQueue }

// The rows the hub's typed methods publish through, looked up once.
var (
	callSpec   = kinds.byKind[KindCall]
	sourceSpec = kinds.byKind[KindSource]
	userSpec   = kinds.byKind[KindUser]
)

// KindInfo describes one row of the kind table.
type KindInfo struct {
	// Kind is the envelope's "type".
	Kind Kind
	// Field is the envelope's key of the payload ("call", "event").
	Field string
	// Plural is the snapshot's key of the kind's items ("calls"); empty
	// for a kind the hub does not keep.
	Plural string
}

// Kinds lists every kind, in table order.
func Kinds() []KindInfo {
	out := make([]KindInfo, 0, len(kinds.list))
	for _, s := range kinds.list {
		out = append(out, KindInfo{Kind: s.kind, Field: s.field, Plural: s.plural})
	}
	return out
}

// LookupKind returns the row of k.
func LookupKind(k Kind) (KindInfo, bool) {
	s, ok := kinds.byKind[k]
	if !ok {
		return KindInfo{}, false
	}
	return KindInfo{Kind: s.kind, Field: s.field, Plural: s.plural}, true
}

// kindSpec is one row of the kind table, with its payload type hidden
// behind functions.
type kindSpec struct {
	kind   Kind
	field  string
	plural string // "" for a passing kind

	// index is the row's place in the table, and of its state in a hub.
	index int
	// fits reports whether p is a non-nil payload of the row's type.
	fits func(p Payload) bool
	// decode reads one payload from its JSON.
	decode func(raw []byte) (Payload, error)
	// key names a kept item; nil for a passing kind.
	key func(p Payload) string
	// active reports whether a kept item stays in the state; nil: always.
	active func(p Payload) bool
	// order sorts kept items in a snapshot.
	order func(a, b Payload) int

	// head and tag are the envelope's JSON around seq and the payload:
	// {"type":"call","seq": and ,"call":
	head, tag []byte
}

// payloadPtr is the constraint of a row's payload type: a pointer to T
// that is a Payload.
type payloadPtr[T any] interface {
	*T
	Payload
}

// kept is the row of a kind the hub keeps as state.
func kept[T any, P payloadPtr[T]](kind Kind, field, plural string, key func(P) string, active func(P) bool, order func(a, b P) int) *kindSpec {
	s := passing[T, P](kind, field)
	s.plural = plural
	s.key = func(p Payload) string { return key(p.(P)) }
	if active != nil {
		s.active = func(p Payload) bool { return active(p.(P)) }
	}
	// Ties (two calls started in the same instant) are broken by key, so a
	// snapshot's order does not depend on map iteration.
	s.order = func(a, b Payload) int {
		if c := order(a.(P), b.(P)); c != 0 {
			return c
		}
		return cmp.Compare(key(a.(P)), key(b.(P)))
	}
	return s
}

// passing is the row of a kind that is only an event.
func passing[T any, P payloadPtr[T]](kind Kind, field string) *kindSpec {
	return &kindSpec{
		kind:  kind,
		field: field,
		fits: func(p Payload) bool {
			v, ok := p.(P)
			return ok && v != nil
		},
		decode: func(raw []byte) (Payload, error) {
			v := P(new(T))
			if err := json.Unmarshal(raw, v); err != nil {
				return nil, err
			}
			return v, nil
		},
	}
}

// kindTable is the kind table, indexed.
type kindTable struct {
	list   []*kindSpec
	kept   []*kindSpec
	byKind map[Kind]*kindSpec
}

func newKindTable(rows ...*kindSpec) *kindTable {
	t := &kindTable{byKind: make(map[Kind]*kindSpec, len(rows))}
	for _, s := range rows {
		t.add(s)
	}
	return t
}

// add appends a row. Only the table's initialisation (and tests, from an
// init function) call it: the table is read without a lock.
func (t *kindTable) add(s *kindSpec) {
	kind, _ := json.Marshal(s.kind)
	field, _ := json.Marshal(s.field)
	s.head = fmt.Appendf(nil, `{"type":%s,"seq":`, kind)
	s.tag = fmt.Appendf(nil, `,%s:`, field)
	s.index = len(t.list)
	t.list = append(t.list, s)
	if s.key != nil {
		t.kept = append(t.kept, s)
	}
	t.byKind[s.kind] = s
}

// specOf returns the row of p, checking p is of the row's type.
func specOf(p Payload) (*kindSpec, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no payload", ErrBadEnvelope)
	}
	s, ok := kinds.byKind[p.Kind()]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKind, p.Kind())
	}
	if !s.fits(p) {
		return nil, fmt.Errorf("%w: %T is not a %s payload", ErrBadEnvelope, p, s.kind)
	}
	return s, nil
}
