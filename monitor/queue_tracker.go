package monitor

import (
	"slices"
	"sync"
	"time"
)

// QueueTracker is the single writer of one source's queues: the source's
// event mapping changes them through it, and it publishes each change
// with its KPIs and longest wait computed. It is safe for concurrent use;
// its lock is taken under the source's own and before the hub's.
type QueueTracker struct {
	source SourceName
	pub    Publisher
	now    func() time.Time
	// threshold is the service-level threshold in seconds of a queue the
	// PBX gives none (by name, then "" for every queue).
	threshold func(queue string) int

	mu     sync.Mutex
	queues map[string]*Queue
}

// NewQueueTracker returns a tracker publishing source's queues to sink,
// when sink is a Publisher (else it only keeps them). threshold gives the
// service-level threshold in seconds of a new queue (nil: 0 until the PBX
// says).
func NewQueueTracker(source SourceName, sink Sink, threshold func(queue string) int) *QueueTracker {
	if threshold == nil {
		threshold = func(string) int { return 0 }
	}
	return &QueueTracker{source: source, pub: PublisherOf(sink), now: time.Now, threshold: threshold, queues: map[string]*Queue{}}
}

// SetClock replaces time.Now, for tests and replays.
func (t *QueueTracker) SetClock(now func() time.Time) { t.now = now }

// Update applies fn to the queue named name, making it when it is new,
// and publishes it when it changed. at is when the change happened
// (zero: now). It reports whether anything was published.
func (t *QueueTracker) Update(name string, at time.Time, fn func(q *Queue)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.updateLocked(name, at, fn)
}

func (t *QueueTracker) updateLocked(name string, at time.Time, fn func(q *Queue)) bool {
	if at.IsZero() {
		at = t.now()
	}
	cur, known := t.queues[name]
	var next Queue
	if known {
		next = cur.Clone()
	} else {
		next = Queue{Name: name, Stats: QueueStats{ServiceLevel: t.threshold(name)}}
	}
	fn(&next)
	next.ID, next.Source, next.Name, next.Removed = MakeQueueID(t.source, name), t.source, name, false
	if next.Callers == nil {
		next.Callers = []QueueCaller{}
	}
	if next.Members == nil {
		next.Members = []QueueMember{}
	}
	next.Stats = next.Stats.WithKPIs()
	if known && sameQueue(cur, &next) {
		return false
	}
	next.Updated = at
	next.LongestWait = longestWait(next.Callers, at)
	t.queues[name] = &next
	t.publish(&next)
	return true
}

func (t *QueueTracker) publish(q *Queue) {
	if t.pub != nil {
		c := q.Clone()
		_ = t.pub.Publish(&c)
	}
}

// Get returns the queue named name.
func (t *QueueTracker) Get(name string) (Queue, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	q, ok := t.queues[name]
	if !ok {
		return Queue{}, false
	}
	return q.Clone(), true
}

// Names returns the names of the queues, in order.
func (t *QueueTracker) Names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.namesLocked()
}

func (t *QueueTracker) namesLocked() []string {
	names := make([]string, 0, len(t.queues))
	for k := range t.queues {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// Remove forgets the queue named name and publishes it removed.
func (t *QueueTracker) Remove(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.removeLocked(name)
}

func (t *QueueTracker) removeLocked(name string) bool {
	cur, ok := t.queues[name]
	if !ok {
		return false
	}
	delete(t.queues, name)
	gone := cur.Clone()
	gone.Removed, gone.Updated = true, t.now()
	t.publish(&gone)
	return true
}

// Retain removes every queue whose name keep rejects (one the PBX no
// longer lists) and returns how many went.
func (t *QueueTracker) Retain(keep func(name string) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range t.namesLocked() {
		if !keep(k) && t.removeLocked(k) {
			n++
		}
	}
	return n
}

// RemoveAll removes every queue: the source stops.
func (t *QueueTracker) RemoveAll() int { return t.Retain(func(string) bool { return false }) }

// Unknown empties every queue's callers and sets its members' states to
// unknown, keeping the totals: the link stayed down too long to know who
// waits.
func (t *QueueTracker) Unknown() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, k := range t.namesLocked() {
		if t.updateLocked(k, time.Time{}, func(q *Queue) {
			q.Callers = nil
			for i := range q.Members {
				q.Members[i].State, q.Members[i].InCall, q.Members[i].Call = DeviceUnknown, false, ""
			}
		}) {
			n++
		}
	}
	return n
}
