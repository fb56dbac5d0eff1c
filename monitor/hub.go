package monitor

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// EventType names what an Event carries.
type EventType string

// Event types.
const (
	EventCall   EventType = "call"
	EventSource EventType = "source"
	EventUser   EventType = "user"
)

// Event is one change, numbered by the hub. Exactly one of Call, Source
// and User is set, as Type says.
type Event struct {
	Seq    uint64        `json:"seq"`
	Type   EventType     `json:"type"`
	At     time.Time     `json:"at"`
	Call   *Call         `json:"call,omitempty"`
	Source *SourceStatus `json:"source,omitempty"`
	User   *UserEvent    `json:"user,omitempty"`
}

// Snapshot is the hub's present: the active calls and every source's
// status, as of event Seq.
type Snapshot struct {
	// Epoch changes every time a hub starts, so a client never resumes
	// sequence numbers of a previous process.
	Epoch   string         `json:"epoch"`
	Seq     uint64         `json:"seq"`
	Calls   []Call         `json:"calls"`
	Sources []SourceStatus `json:"sources"`
}

// CloseReason says why a subscription ended.
type CloseReason string

// Close reasons.
const (
	CloseSlow         CloseReason = "slow"
	CloseShutdown     CloseReason = "shutdown"
	CloseClientClosed CloseReason = "client-closed"
	CloseAuthExpired  CloseReason = "auth-expired"
)

// CloseReasons lists every close reason, for metrics.
var CloseReasons = []CloseReason{CloseSlow, CloseShutdown, CloseClientClosed, CloseAuthExpired}

// HubConfig tunes a Hub. The zero value is usable.
type HubConfig struct {
	// RingSize is how many recent events are kept for resuming
	// subscribers. Default 4096.
	RingSize int
	// SubscriberBuffer is how many events may wait for one subscriber
	// before it is dropped as too slow. Default 256.
	SubscriberBuffer int
}

// Counters are a source's running totals, kept by the hub and read by
// metrics. Sources add to them.
type Counters struct {
	// Events is every event or line received.
	Events atomic.Uint64
	// ParseErrors is every malformed line, frame or event.
	ParseErrors atomic.Uint64
	// Unknown is every well-formed event the source does not handle.
	Unknown atomic.Uint64
	// Reconnects is every connection attempt after the first.
	Reconnects atomic.Uint64
}

// HubStats are the hub's running totals.
type HubStats struct {
	Subscribers int
	Published   uint64
	Dropped     map[CloseReason]uint64
}

// Hub keeps the active calls, every source's status and a ring of recent
// events, and fans each change out to subscribers. It implements Sink.
//
// One mutex guards all state; publishing never waits on a subscriber: each
// has a bounded channel and is closed as slow when it is full.
type Hub struct {
	cfg   HubConfig
	epoch string

	// observers run synchronously, outside mu, for every event, in the
	// publishing goroutine; they must not block for long (history, a
	// webhook queue).
	observers []func(Event)

	mu       sync.Mutex
	closed   bool
	seq      uint64
	calls    map[CallID]Call
	sources  map[SourceName]SourceStatus
	ring     []Event // circular, len == cfg.RingSize once full
	ringNext int
	subs     map[*Subscription]struct{}
	dropped  map[CloseReason]uint64
	counters map[SourceName]*Counters
}

var _ Sink = (*Hub)(nil)

// HubOption sets a rare hub knob.
type HubOption func(*Hub)

// WithObserver adds fn, called with every event in publishing order per
// source. The history store and webhooks use it: they must see every
// event, so they cannot be ordinary (droppable) subscribers.
func WithObserver(fn func(Event)) HubOption {
	return func(h *Hub) { h.observers = append(h.observers, fn) }
}

// NewHub returns an empty hub.
func NewHub(cfg HubConfig, opts ...HubOption) *Hub {
	if cfg.RingSize <= 0 {
		cfg.RingSize = 4096
	}
	if cfg.SubscriberBuffer <= 0 {
		cfg.SubscriberBuffer = 256
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	h := &Hub{
		cfg:      cfg,
		epoch:    hex.EncodeToString(b[:]),
		calls:    make(map[CallID]Call),
		sources:  make(map[SourceName]SourceStatus),
		subs:     make(map[*Subscription]struct{}),
		dropped:  make(map[CloseReason]uint64),
		counters: make(map[SourceName]*Counters),
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Epoch identifies this hub's run.
func (h *Hub) Epoch() string { return h.epoch }

// Call publishes a call change.
func (h *Hub) Call(c Call) {
	h.publish(Event{Type: EventCall, Call: &c})
}

// SourceStatus publishes a source status change.
func (h *Hub) SourceStatus(s SourceStatus) {
	if s.Since.IsZero() {
		s.Since = time.Now()
	}
	h.publish(Event{Type: EventSource, Source: &s})
}

// UserEvent publishes a source's custom event.
func (h *Hub) UserEvent(e UserEvent) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	h.publish(Event{Type: EventUser, User: &e})
}

// Counters returns the running totals of source, creating them.
func (h *Hub) Counters(source SourceName) *Counters {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.counters[source]
	if !ok {
		c = new(Counters)
		h.counters[source] = c
	}
	return c
}

// AllCounters returns a copy of the map of every source's counters.
func (h *Hub) AllCounters() map[SourceName]*Counters {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[SourceName]*Counters, len(h.counters))
	for k, v := range h.counters {
		out[k] = v
	}
	return out
}

func (h *Hub) publish(ev Event) {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.seq++
	ev.Seq = h.seq
	switch ev.Type {
	case EventCall:
		if ev.Call.Active() {
			h.calls[ev.Call.ID] = *ev.Call
		} else {
			delete(h.calls, ev.Call.ID)
		}
	case EventSource:
		h.sources[ev.Source.Name] = *ev.Source
	}
	if len(h.ring) < h.cfg.RingSize {
		h.ring = append(h.ring, ev)
	} else {
		h.ring[h.ringNext] = ev
		h.ringNext = (h.ringNext + 1) % h.cfg.RingSize
	}
	for s := range h.subs {
		select {
		case s.ch <- ev:
		default:
			h.dropLocked(s, CloseSlow)
		}
	}
	h.mu.Unlock()
	for _, o := range h.observers {
		o(ev)
	}
}

// dropLocked ends s; h.mu held on entry.
func (h *Hub) dropLocked(s *Subscription, why CloseReason) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	h.dropped[why]++
	s.reason = why
	close(s.done)
}

// snapshotLocked returns the present; h.mu held on entry.
func (h *Hub) snapshotLocked() Snapshot {
	s := Snapshot{Epoch: h.epoch, Seq: h.seq, Calls: make([]Call, 0, len(h.calls)), Sources: make([]SourceStatus, 0, len(h.sources))}
	for _, c := range h.calls {
		s.Calls = append(s.Calls, c)
	}
	slices.SortFunc(s.Calls, func(a, b Call) int { return a.Started.Compare(b.Started) })
	for _, st := range h.sources {
		s.Sources = append(s.Sources, st)
	}
	slices.SortFunc(s.Sources, func(a, b SourceStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return s
}

// Snapshot returns the present.
func (h *Hub) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

// Sources returns every source's status.
func (h *Hub) Sources() []SourceStatus { return h.Snapshot().Sources }

// Resume asks Subscribe to continue after event Since of hub run Epoch.
type Resume struct {
	Epoch string
	Since uint64
}

// Subscription is one subscriber's view of the hub: first Snapshot or
// Missed, then Events until Done.
type Subscription struct {
	hub *Hub
	ch  chan Event
	// Snapshot is set when the subscriber starts from the present.
	Snapshot *Snapshot
	// Missed holds the events after Resume.Since when the hub could resume.
	Missed []Event

	done   chan struct{}
	reason CloseReason // set before done is closed
}

// Events delivers every change after the snapshot or the missed events.
// It is never closed; watch Done.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Done is closed when the subscription ends; Reason says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Reason says why the subscription ended; valid once Done is closed.
func (s *Subscription) Reason() CloseReason {
	<-s.done
	return s.reason
}

// Close ends the subscription as closed by the client. It is idempotent.
func (s *Subscription) Close() { s.CloseWith(CloseClientClosed) }

// CloseWith ends the subscription for why. It is idempotent.
func (s *Subscription) CloseWith(why CloseReason) {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.dropLocked(s, why)
}

// Subscribe adds a subscriber. With a nil resume, or one the hub cannot
// honour (another epoch, or events no longer in the ring), it starts from a
// snapshot; otherwise it gets the events it missed.
func (h *Hub) Subscribe(resume *Resume) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	s := &Subscription{hub: h, ch: make(chan Event, h.cfg.SubscriberBuffer), done: make(chan struct{})}
	if missed, ok := h.sinceLocked(resume); ok {
		s.Missed = missed
	} else {
		snap := h.snapshotLocked()
		s.Snapshot = &snap
	}
	h.subs[s] = struct{}{}
	return s, nil
}

// sinceLocked returns the events after r.Since if the ring still holds
// them all; h.mu held on entry.
func (h *Hub) sinceLocked(r *Resume) ([]Event, bool) {
	if r == nil || r.Epoch != h.epoch || r.Since > h.seq {
		return nil, false
	}
	if r.Since == h.seq {
		return []Event{}, true
	}
	n := len(h.ring)
	oldest := h.seq - uint64(n) + 1
	if r.Since+1 < oldest {
		return nil, false
	}
	want := int(h.seq - r.Since)
	out := make([]Event, 0, want)
	start := (h.ringNext + n - want) % n
	if n < h.cfg.RingSize {
		start = n - want
	}
	for i := 0; i < want; i++ {
		out = append(out, h.ring[(start+i)%n])
	}
	return out, true
}

// Stats returns the hub's running totals.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HubStats{Subscribers: len(h.subs), Published: h.seq, Dropped: make(map[CloseReason]uint64, len(h.dropped))}
	for k, v := range h.dropped {
		st.Dropped[k] = v
	}
	return st
}

// Close ends every subscription with CloseShutdown and stops publishing.
// It is idempotent.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.closed = true
	for s := range h.subs {
		h.dropLocked(s, CloseShutdown)
	}
}
