package cluster

import (
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/monitor"
)

// Subjects: every change is published to
//
//	switchboard.events.KIND.SOURCE[.KEY]
//
// KEY, for a kind the hub keeps (calls, sources, extensions, queues), is
// the item's key, so that the last message of a subject is the item as it
// now is: a starting node reads the present from the last message of each
// subject. SOURCE and KEY are escaped with Token.
const (
	subjectPrefix = "switchboard.events."
	// StreamName is the stream all nodes share.
	StreamName = "SWITCHBOARD_EVENTS"
	// LeaseBucket is the key-value bucket of the sources' leases.
	LeaseBucket = "switchboard_leases"
)

// Token escapes s into one subject token: letters, digits, - and _ stay,
// every other byte is =XX, and the empty string is "=". It is one to one,
// so two sources never share a subject, and it is a key-value key too.
func Token(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "=%02X", c)
	}
	return b.String()
}

// Subject returns the subject p is published to.
func Subject(p monitor.Payload) string {
	s := subjectPrefix + string(p.Kind()) + "." + Token(string(monitor.SourceOf(p)))
	if key, kept := monitor.StateKey(p); kept {
		s += "." + Token(key)
	}
	return s
}
