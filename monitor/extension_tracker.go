package monitor

import (
	"slices"
	"sync"
	"time"
)

// ExtensionTracker is the single writer of one source's extensions: the
// source's event mapping changes them through it, and it publishes each
// change (and only a change) with its lamp and the time its state last
// changed. Like Tracker it is safe for concurrent use; its lock is taken
// under the source's own and before the hub's.
type ExtensionTracker struct {
	source SourceName
	pub    Publisher
	now    func() time.Time

	mu   sync.Mutex
	exts map[string]*Extension
}

// NewExtensionTracker returns a tracker publishing source's extensions to
// sink, when sink is a Publisher (else it only keeps them).
func NewExtensionTracker(source SourceName, sink Sink) *ExtensionTracker {
	return &ExtensionTracker{source: source, pub: PublisherOf(sink), now: time.Now, exts: map[string]*Extension{}}
}

// SetClock replaces time.Now, for tests and replays.
func (t *ExtensionTracker) SetClock(now func() time.Time) { t.now = now }

// Update applies fn to the extension the source knows by key, making it
// (number key, state unknown) when it is new, and publishes it when it
// changed. at is when the change happened (zero: now); Since moves to at
// when State, Presence or Message changed. It reports whether anything
// was published.
func (t *ExtensionTracker) Update(key string, at time.Time, fn func(e *Extension)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.updateLocked(key, at, fn)
}

// updateLocked is Update; t.mu held on entry.
func (t *ExtensionTracker) updateLocked(key string, at time.Time, fn func(e *Extension)) bool {
	if at.IsZero() {
		at = t.now()
	}
	cur, known := t.exts[key]
	var next Extension
	if known {
		next = cur.Clone()
	} else {
		next = Extension{Number: key, State: DeviceUnknown, Since: at}
	}
	fn(&next)
	next.ID, next.Source, next.Removed = MakeExtensionID(t.source, key), t.source, false
	if next.State == "" {
		next.State = DeviceUnknown
	}
	next.Lamp = LampOf(next.State, next.Presence)
	if known {
		if sameExtension(cur, &next) {
			return false
		}
		if cur.State != next.State || cur.Presence != next.Presence || cur.Message != next.Message {
			next.Since = at
		}
	}
	t.exts[key] = &next
	t.publish(&next)
	return true
}

// publish hands a copy of e to the publisher; t.mu held on entry.
func (t *ExtensionTracker) publish(e *Extension) {
	if t.pub != nil {
		c := e.Clone()
		_ = t.pub.Publish(&c)
	}
}

// Remove forgets the extension known by key and publishes it removed.
func (t *ExtensionTracker) Remove(key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.removeLocked(key)
}

func (t *ExtensionTracker) removeLocked(key string) bool {
	cur, ok := t.exts[key]
	if !ok {
		return false
	}
	delete(t.exts, key)
	gone := cur.Clone()
	gone.Removed, gone.Calls = true, nil
	t.publish(&gone)
	return true
}

// Retain removes every extension whose key keep rejects (one the PBX no
// longer lists) and returns how many went.
func (t *ExtensionTracker) Retain(keep func(key string) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range t.keysLocked() {
		if !keep(k) && t.removeLocked(k) {
			n++
		}
	}
	return n
}

// RemoveAll removes every extension: the source stops.
func (t *ExtensionTracker) RemoveAll() int { return t.Retain(func(string) bool { return false }) }

// Unknown sets every extension's state to unknown and clears its
// presence and calls: the link stayed down too long to know anything.
func (t *ExtensionTracker) Unknown() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range t.keysLocked() {
		if t.updateLocked(k, time.Time{}, func(e *Extension) {
			e.State, e.Presence, e.Message, e.Calls = DeviceUnknown, "", "", nil
		}) {
			n++
		}
	}
	return n
}

// Each calls fn with a copy of every extension, by key; fn must not call
// the tracker.
func (t *ExtensionTracker) Each(fn func(key string, e Extension)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range t.keysLocked() {
		fn(k, t.exts[k].Clone())
	}
}

// Get returns the extension known by key.
func (t *ExtensionTracker) Get(key string) (Extension, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.exts[key]
	if !ok {
		return Extension{}, false
	}
	return e.Clone(), true
}

// Len returns how many extensions the tracker keeps.
func (t *ExtensionTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.exts)
}

// keysLocked returns the keys in order; t.mu held on entry.
func (t *ExtensionTracker) keysLocked() []string {
	keys := make([]string, 0, len(t.exts))
	for k := range t.exts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
