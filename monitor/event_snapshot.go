package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Snapshot is the hub's present as of event Seq: the items of every kind
// the hub keeps (the active calls, every source's status, and whatever the
// kind table adds). Its JSON form is
//
//	{"type":"snapshot","epoch":E,"seq":N,"now":T,"calls":[...],"sources":[...]}
//
// with one array per kept kind under its plural key, empty arrays
// included.
type Snapshot struct {
	// Epoch changes every time a hub starts, so a client never resumes
	// sequence numbers of a previous process.
	Epoch string
	Seq   uint64
	// Now is when the snapshot was taken, by the clock of whoever sends it,
	// so a client can correct for its own clock.
	Now time.Time
	// State holds the items of every kept kind, in the kind's order
	// (calls by start time, sources by name). The items are shared and
	// must not be changed.
	State map[Kind][]Payload
}

// Calls returns copies of the active calls, oldest first.
func (s Snapshot) Calls() []Call { return values[Call](s.State[KindCall]) }

// Sources returns copies of every source's status, by name.
func (s Snapshot) Sources() []SourceStatus { return values[SourceStatus](s.State[KindSource]) }

// Extensions returns copies of every extension, by id.
func (s Snapshot) Extensions() []Extension { return values[Extension](s.State[KindExtension]) }

// Queues returns copies of every queue, by id.
func (s Snapshot) Queues() []Queue { return values[Queue](s.State[KindQueue]) }

// values copies the items of one kind out of their pointers.
func values[T any](items []Payload) []T {
	out := make([]T, 0, len(items))
	for _, p := range items {
		if v, ok := any(p).(*T); ok && v != nil {
			out = append(out, *v)
		}
	}
	return out
}

// MarshalJSON implements json.Marshaler with the snapshot's form.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"type":"snapshot","epoch":`)
	epoch, _ := json.Marshal(s.Epoch)
	b.Write(epoch)
	b.WriteString(`,"seq":`)
	b.WriteString(strconv.FormatUint(s.Seq, 10))
	now, err := s.Now.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encode snapshot: %w", err)
	}
	b.WriteString(`,"now":`)
	b.Write(now)
	for _, spec := range kinds.kept {
		items := s.State[spec.kind]
		if items == nil {
			items = []Payload{}
		}
		for _, p := range items {
			if !spec.fits(p) {
				return nil, fmt.Errorf("encode snapshot: %w: %T among the %s", ErrBadEnvelope, p, spec.plural)
			}
		}
		arr, err := json.Marshal(items)
		if err != nil {
			return nil, fmt.Errorf("encode snapshot %s: %w", spec.plural, err)
		}
		plural, _ := json.Marshal(spec.plural)
		b.WriteByte(',')
		b.Write(plural)
		b.WriteByte(':')
		b.Write(arr)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler. Keys of kinds this program
// does not know are ignored; a kept kind the JSON lacks is empty.
func (s *Snapshot) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEnvelope, err)
	}
	var head struct {
		Type  string    `json:"type"`
		Epoch string    `json:"epoch"`
		Seq   uint64    `json:"seq"`
		Now   time.Time `json:"now"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return fmt.Errorf("%w: %w", ErrBadEnvelope, err)
	}
	if head.Type != "" && head.Type != "snapshot" {
		return fmt.Errorf("%w: type %q is not a snapshot", ErrBadEnvelope, head.Type)
	}
	out := Snapshot{Epoch: head.Epoch, Seq: head.Seq, Now: head.Now, State: make(map[Kind][]Payload, len(kinds.kept))}
	for _, spec := range kinds.kept {
		var raws []json.RawMessage
		if raw, ok := fields[spec.plural]; ok {
			if err := json.Unmarshal(raw, &raws); err != nil {
				return fmt.Errorf("decode snapshot %s: %w: %w", spec.plural, ErrBadEnvelope, err)
			}
		}
		items := make([]Payload, 0, len(raws))
		for _, raw := range raws {
			p, err := spec.decode(raw)
			if err != nil {
				return fmt.Errorf("decode snapshot %s: %w: %w", spec.plural, ErrBadEnvelope, err)
			}
			items = append(items, p)
		}
		out.State[spec.kind] = items
	}
	*s = out
	return nil
}
