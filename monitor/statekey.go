package monitor

// StateKey returns the key the hub keeps p under and whether p's kind is
// kept at all (a call's id, a source's name); a passing kind (user
// events) has no key. Other nodes use it to name each item's subject, so
// that the last message of a subject is the item as it now is.
func StateKey(p Payload) (key string, kept bool) {
	s, err := specOf(p)
	if err != nil || s.key == nil {
		return "", false
	}
	return s.key(p), true
}

// Present reports whether the hub keeps p in the present: a kept item
// that is still active (a call not ended, an extension still there).
func Present(p Payload) bool {
	s, err := specOf(p)
	if err != nil || s.key == nil {
		return false
	}
	return s.active == nil || s.active(p)
}

// SourceOf returns the source p belongs to: a call's, a status's own
// name, a user event's, an extension's or a queue's source. It is empty
// for a payload of a kind without one.
func SourceOf(p Payload) SourceName {
	switch v := p.(type) {
	case *Call:
		return v.Source
	case *SourceStatus:
		return v.Name
	case *UserEvent:
		return v.Source
	case *Extension:
		return v.Source
	case *Queue:
		return v.Source
	}
	return ""
}
