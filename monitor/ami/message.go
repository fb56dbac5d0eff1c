package ami

import "strings"

// Field is one "Key: Value" line of a message.
type Field struct {
	Key, Value string
}

// Message is one AMI packet: an event, a response or an action, its
// fields in wire order. Keys compare case-insensitively, as Asterisk's own
// astman_get_header does.
type Message []Field

// Get returns the value of the first field named key.
func (m Message) Get(key string) string {
	v, _ := m.Lookup(key)
	return v
}

// Lookup returns the value of the first field named key and whether it is
// present.
func (m Message) Lookup(key string) (string, bool) {
	// Asterisk spells its keys one way: an exact match is the rule, the
	// case-insensitive one the fallback.
	for i := range m {
		if m[i].Key == key {
			return m[i].Value, true
		}
	}
	for i := range m {
		k := m[i].Key
		if len(k) == len(key) && len(k) > 0 && k[0]|0x20 == key[0]|0x20 && strings.EqualFold(k, key) {
			return m[i].Value, true
		}
	}
	return "", false
}

// Event is the event name, or "" for a response or an action.
func (m Message) Event() string { return m.Get("Event") }

// Map returns the fields as a map; a repeated key keeps its first value.
func (m Message) Map() map[string]string {
	out := make(map[string]string, len(m))
	for _, f := range m {
		if _, ok := out[f.Key]; !ok {
			out[f.Key] = f.Value
		}
	}
	return out
}

// M builds a message from alternating keys and values, in order; a
// trailing key without a value gets an empty one.
func M(kv ...string) Message {
	m := make(Message, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		f := Field{Key: kv[i]}
		if i+1 < len(kv) {
			f.Value = kv[i+1]
		}
		m = append(m, f)
	}
	return m
}
