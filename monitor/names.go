package monitor

import "slices"

// NameLookup finds the name a telephone number belongs to (a phonebook).
// It runs on the path from a source's tracker to the hub, under the
// tracker's lock: it must answer from memory at once, never wait.
type NameLookup interface {
	LookupName(number string) (name string, ok bool)
}

// Names is a Sink in front of another that fills in the name of every
// party whose source gave only a number (the caller of an inbound call, a
// queue's waiting callers, an extension without a name) from a
// NameLookup. A party whose caller ID is withheld is never named. It
// forwards everything else as it is, and is a Publisher when the sink
// behind is.
type Names struct {
	sink Sink
	book NameLookup
}

var (
	_ Sink      = (*Names)(nil)
	_ Publisher = (*Names)(nil)
)

// NewNames returns a Names publishing to sink, naming parties from book.
func NewNames(sink Sink, book NameLookup) *Names { return &Names{sink: sink, book: book} }

// name fills in p's name; it reports whether it did.
func (n *Names) name(p *Party) bool {
	if p.Name != "" || p.Private || p.Number == "" {
		return false
	}
	name, ok := n.book.LookupName(p.Number)
	if !ok || name == "" {
		return false
	}
	p.Name = name
	return true
}

// Call forwards c with its parties named. The call's slices are shared
// with its tracker (copy on write), so a named one is a new slice.
func (n *Names) Call(c Call) {
	n.name(&c.From)
	n.name(&c.To)
	if c.AnsweredBy != nil {
		p := *c.AnsweredBy
		if n.name(&p) {
			c.AnsweredBy = &p
		}
	}
	cloned := false
	for i := range c.Ringing {
		p := c.Ringing[i]
		if n.name(&p) {
			if !cloned {
				c.Ringing, cloned = slices.Clone(c.Ringing), true
			}
			c.Ringing[i] = p
		}
	}
	n.sink.Call(c)
}

// SourceStatus forwards s.
func (n *Names) SourceStatus(s SourceStatus) { n.sink.SourceStatus(s) }

// UserEvent forwards e.
func (n *Names) UserEvent(e UserEvent) { n.sink.UserEvent(e) }

// Publish forwards p, a queue's callers and an extension named first.
func (n *Names) Publish(p Payload) error {
	switch v := p.(type) {
	case *Queue:
		if v != nil {
			cp := *v
			cp.Callers = slices.Clone(v.Callers)
			for i := range cp.Callers {
				c := &cp.Callers[i]
				party := Party{Number: c.Number, Name: c.Name, Private: c.Private}
				if n.name(&party) {
					c.Name = party.Name
				}
			}
			p = &cp
		}
	case *Extension:
		if v != nil {
			cp := v.Clone()
			changed := false
			party := Party{Number: v.Number, Name: v.Name}
			if n.name(&party) {
				cp.Name, changed = party.Name, true
			}
			// The other parties of its calls (a busy lamp's dialogs).
			for i := range cp.Peers {
				if n.name(&cp.Peers[i]) {
					changed = true
				}
			}
			if changed {
				p = &cp
			}
		}
	}
	if pub := PublisherOf(n.sink); pub != nil {
		return pub.Publish(p)
	}
	return nil
}
