package monitor

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

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
	// Published counts the events this hub handed out (not their seq,
	// which on a hub fed from a stream is the stream's).
	Published uint64
	Dropped   map[CloseReason]uint64
}

// Hub keeps the present (the items of every kept kind: active calls,
// source statuses, …) and a ring of recent events, and fans each change out
// to subscribers. It implements Sink.
//
// One mutex guards all state; publishing never waits: each subscriber has a
// bounded channel and is closed as slow when it is full, and observers only
// enqueue (durable consumers hand events to their own Outbox). Sources
// publish while holding their tracker's lock, so the lock order is
// tracker → hub, and nothing the hub calls may block.
type Hub struct {
	cfg   HubConfig
	epoch string

	// observers run for every event in the publishing goroutine, outside
	// mu but often under the publisher's tracker lock: they must not block
	// or do I/O.
	observers []func(Event)

	mu     sync.Mutex
	closed bool
	seq    uint64
	// published counts the events; seq is their number, which skips
	// ahead on a hub fed from a stream (PublishSeq, Gap).
	published uint64
	// floor is the seq up to which the ring cannot resume a subscriber:
	// the newest event it dropped, or a gap the publisher declared.
	floor uint64
	// state holds the items of each kept kind by key, indexed like the
	// kind table (nil for a passing kind).
	state    []map[string]Payload
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
// source, in the publishing goroutine. fn must return at once and never
// block or do I/O: a durable consumer (the history, a webhook) offers the
// event to its own Outbox and does its work there. Observers see every
// event, unlike subscribers, which are dropped when slow.
func WithObserver(fn func(Event)) HubOption {
	return func(h *Hub) { h.observers = append(h.observers, fn) }
}

// WithEpoch sets the hub's epoch instead of a random one: a hub fed from
// a shared, numbered stream of changes (a cluster's) takes the stream's
// identity, so that a subscriber can resume on any hub fed from it.
func WithEpoch(epoch string) HubOption {
	return func(h *Hub) {
		if epoch != "" {
			h.epoch = epoch
		}
	}
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
		state:    make([]map[string]Payload, len(kinds.list)),
		subs:     make(map[*Subscription]struct{}),
		dropped:  make(map[CloseReason]uint64),
		counters: make(map[SourceName]*Counters),
	}
	for _, s := range kinds.kept {
		h.state[s.index] = make(map[string]Payload)
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Epoch identifies this hub's run.
func (h *Hub) Epoch() string { return h.epoch }

// boxed holds a payload the hub copied together with its event's JSON
// cache, so publishing a call costs one allocation, not two.
type boxed[T any] struct {
	v   T
	enc encoding
}

// Call publishes a call change.
func (h *Hub) Call(c Call) {
	b := &boxed[Call]{v: c}
	h.publish(callSpec, &b.v, &b.enc)
}

// SourceStatus publishes a source status change; a zero Since is now.
func (h *Hub) SourceStatus(s SourceStatus) {
	if s.Since.IsZero() {
		s.Since = time.Now()
	}
	b := &boxed[SourceStatus]{v: s}
	h.publish(sourceSpec, &b.v, &b.enc)
}

// UserEvent publishes a source's custom event; a zero At is now.
func (h *Hub) UserEvent(e UserEvent) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	b := &boxed[UserEvent]{v: e}
	h.publish(userSpec, &b.v, &b.enc)
}

// Publish publishes a payload of any kind in the kind table, for kinds
// that have no method of their own. The hub keeps p itself (for a kept
// kind) and shares it with every subscriber: the caller must not change it
// afterwards. It returns ErrUnknownKind for a kind the table lacks,
// ErrBadEnvelope for a nil payload or one of the wrong type, and
// ErrHubClosed after Close.
func (h *Hub) Publish(p Payload) error {
	spec, err := specOf(p)
	if err != nil {
		return fmt.Errorf("hub publish: %w", err)
	}
	if !h.publish(spec, p, new(encoding)) {
		return ErrHubClosed
	}
	return nil
}

// PublishSeq publishes p as the change numbered seq at time at, for a hub
// fed from a numbered stream (see WithEpoch): the events' seq is then the
// stream's, the same on every hub it feeds. seq must be above every seq
// before; numbers skipped in between are changes this hub never gets,
// which a resuming subscriber does not miss either. Errors as Publish,
// and ErrStaleSeq for a seq not above the last.
func (h *Hub) PublishSeq(seq uint64, at time.Time, p Payload) error {
	spec, err := specOf(p)
	if err != nil {
		return fmt.Errorf("hub publish: %w", err)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return ErrHubClosed
	}
	if seq <= h.seq {
		last := h.seq
		h.mu.Unlock()
		return fmt.Errorf("hub publish %d after %d: %w", seq, last, ErrStaleSeq)
	}
	h.seq = seq - 1
	h.publishLocked(spec, p, new(encoding), at)
	return nil
}

// Gap tells the hub that the changes up to seq did not all reach it (it
// read only the present of them, or they were gone from the stream): a
// subscriber resuming from before seq gets a snapshot. The next change is
// numbered above seq.
func (h *Hub) Gap(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.floor = max(h.floor, seq)
	h.seq = max(h.seq, seq)
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

// publish numbers p, applies it to the state, keeps it in the ring and
// hands it to every subscriber and observer. It reports false when the
// hub is closed.
func (h *Hub) publish(spec *kindSpec, p Payload, enc *encoding) bool {
	at := time.Now()
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	h.publishLocked(spec, p, enc, at)
	return true
}

// publishLocked is publish with h.mu held on entry; it unlocks h.mu
// before it runs the observers.
func (h *Hub) publishLocked(spec *kindSpec, p Payload, enc *encoding, at time.Time) {
	h.seq++
	h.published++
	ev := Event{Seq: h.seq, At: at, Payload: p, enc: enc}
	if spec.key != nil {
		m := h.state[spec.index]
		if spec.active == nil || spec.active(p) {
			m[spec.key(p)] = p
		} else {
			delete(m, spec.key(p))
		}
	}
	if len(h.ring) < h.cfg.RingSize {
		h.ring = append(h.ring, ev)
	} else {
		h.floor = max(h.floor, h.ring[h.ringNext].Seq)
		h.ring[h.ringNext] = ev
		h.ringNext = (h.ringNext + 1) % h.cfg.RingSize
	}
	for s := range h.subs {
		if ev.Seq <= s.after {
			continue
		}
		s.offerLocked(ev)
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
	s.ended.Store(true)
	close(s.done)
	if s.notify != nil {
		s.notify()
	}
}

// snapshotLocked returns the present; h.mu held on entry.
func (h *Hub) snapshotLocked() Snapshot {
	s := Snapshot{Epoch: h.epoch, Seq: h.seq, Now: time.Now(), State: make(map[Kind][]Payload, len(kinds.kept))}
	for _, spec := range kinds.kept {
		m := h.state[spec.index]
		items := make([]Payload, 0, len(m))
		for _, p := range m {
			items = append(items, p)
		}
		slices.SortFunc(items, spec.order)
		s.State[spec.kind] = items
	}
	return s
}

// Snapshot returns the present.
func (h *Hub) Snapshot() Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.snapshotLocked()
}

// Sources returns every source's status.
func (h *Hub) Sources() []SourceStatus { return h.Snapshot().Sources() }

// Resume asks Subscribe to continue after event Since of hub run Epoch.
type Resume struct {
	Epoch string
	Since uint64
}

// Subscription is one subscriber's view of the hub: first Snapshot or
// Missed, then Events (or, when queued, Ready and Take) until Done.
type Subscription struct {
	hub *Hub
	// ch carries the events of a channel subscription; nil when queued.
	ch chan Event
	// A queued subscription keeps its waiting events in queue (guarded by
	// hub.mu, at most limit of them) and signals ready when the queue
	// stops being empty (a Notify subscription calls notify instead). Its
	// memory grows with the backlog instead of being reserved up front: an
	// idle wall screen holds no buffer. (A lock per queue, so that taking
	// does not wait for a publish, measured slower at 10 000 subscribers:
	// two more atomic operations per delivery on a line both cores touch.)
	queue  []Event
	limit  int
	queued bool
	ready  chan struct{}
	// notify, when set (Notify), is called with hub.mu held when the
	// queue stops being empty, when it reaches notifyAt (NotifyBacklog;
	// 0: never) and when the subscription ends.
	notify   func()
	notifyAt int
	// waiting is len(queue), readable without the hub's lock (Waiting).
	waiting atomic.Int32
	// Snapshot is set when the subscriber starts from the present.
	Snapshot *Snapshot
	// Missed holds the events after Resume.Since when the hub could resume.
	Missed []Event

	// after is the seq up to which events are not delivered: a resume
	// from ahead of this hub (another hub fed from the same stream was
	// further along) skips what the subscriber already has.
	after uint64

	done   chan struct{}
	reason CloseReason // set before done is closed
	ended  atomic.Bool // set when done is closed
}

// Events delivers every change after the snapshot or the missed events.
// It is never closed; watch Done. A queued subscription has none (nil):
// use Ready and Take.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Ready has a value when events wait for Take (queued subscriptions
// without Notify only; nil otherwise). It is never closed; watch Done.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// keepSpare is the largest queue capacity Take hands back for reuse: a
// backlog's big array is dropped, not kept for the subscriber's life.
const keepSpare = 64

// Take appends every waiting event to buf, in order, and returns it; the
// queue takes over buf's old array when it is small, so a steady
// subscriber swaps two arrays and allocates nothing. Take never waits.
func (s *Subscription) Take(buf []Event) []Event {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	if len(s.queue) == 0 {
		return buf
	}
	s.waiting.Store(0)
	if len(buf) == 0 {
		// Swap: the caller gets the queue, the queue gets buf's array.
		out := s.queue
		s.queue = nil
		if cap(buf) <= keepSpare {
			clear(buf[:cap(buf)]) // drop the payloads the caller is done with
			s.queue = buf[:0]
		}
		return out
	}
	buf = append(buf, s.queue...)
	clear(s.queue)
	s.queue = s.queue[:0]
	if cap(s.queue) > keepSpare {
		s.queue = nil
	}
	return buf
}

// offerLocked hands ev to s, dropping s as slow when its buffer is full;
// s.hub.mu held on entry.
func (s *Subscription) offerLocked(ev Event) {
	if s.ch != nil {
		select {
		case s.ch <- ev:
		default:
			s.hub.dropLocked(s, CloseSlow)
		}
		return
	}
	if len(s.queue) >= s.limit {
		s.hub.dropLocked(s, CloseSlow)
		return
	}
	s.queue = append(s.queue, ev)
	n := len(s.queue)
	s.waiting.Store(int32(n)) //nolint:gosec // at most limit, an int32
	switch {
	case s.notify != nil:
		if n == 1 || n == s.notifyAt {
			s.notify()
		}
	case n == 1:
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// Waiting is how many events wait for Take (queued subscriptions), read
// without the hub's lock: a writer holding changes back to send several
// at once asks it to send early when enough have come.
func (s *Subscription) Waiting() int { return int(s.waiting.Load()) }

// Ended reports whether the subscription has ended, without the select
// on Done: a writer serving thousands of subscribers asks it on every
// run.
func (s *Subscription) Ended() bool { return s.ended.Load() }

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

// SubscribeOption sets how a subscription receives its events.
type SubscribeOption func(*Subscription)

// Queued makes the subscription keep its waiting events in a queue that
// grows with the backlog (up to HubConfig.SubscriberBuffer) and is read
// with Ready and Take, all at once, instead of a channel reserved at
// full size. A writer that sends what has piled up in one go uses it.
func Queued() SubscribeOption {
	return func(s *Subscription) {
		s.ch = nil
		s.queued = true
		if s.notify == nil {
			s.ready = make(chan struct{}, 1)
		}
	}
}

// Notify makes the subscription queued (see Queued) and calls f when
// events start waiting for Take and when the subscription ends, so that
// a writer serving many subscribers needs no goroutine waiting on each
// one's Ready and Done. f is called with the hub's lock held: it must
// only hand the subscriber on (never call the hub or wait).
func Notify(f func()) SubscribeOption {
	return func(s *Subscription) {
		s.notify = f
		Queued()(s)
		s.ready = nil // notify says it instead
	}
}

// NotifyBacklog, with Notify, calls f once more when n events wait
// (n > 1): a writer that holds changes back to send several in one write
// learns when waiting longer would gain little.
func NotifyBacklog(n int) SubscribeOption {
	return func(s *Subscription) {
		if n > 1 {
			s.notifyAt = n
		}
	}
}

// Subscribe adds a subscriber. With a nil resume, or one the hub cannot
// honour (another epoch, or events no longer in the ring), it starts from a
// snapshot; otherwise it gets the events it missed.
func (h *Hub) Subscribe(resume *Resume, opts ...SubscribeOption) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	s := &Subscription{hub: h, limit: h.cfg.SubscriberBuffer, done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if !s.queued {
		s.ch = make(chan Event, h.cfg.SubscriberBuffer)
	}
	if resume != nil && resume.Epoch == h.epoch && resume.Since > h.seq && resume.Since-h.seq <= uint64(h.cfg.RingSize) { //nolint:gosec // RingSize > 0, set in NewHub
		// Ahead of this hub, by no more than it could have resumed from
		// behind: the events up to Since are skipped when they come.
		s.Missed, s.after = []Event{}, resume.Since
	} else if missed, ok := h.sinceLocked(resume); ok {
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
	if r == nil || r.Epoch != h.epoch || r.Since > h.seq || r.Since < h.floor {
		return nil, false
	}
	n := len(h.ring)
	start := 0
	if n == h.cfg.RingSize {
		start = h.ringNext
	}
	// The ring is in seq order from start; the first event after Since:
	first := sort.Search(n, func(i int) bool { return h.ring[(start+i)%n].Seq > r.Since })
	out := make([]Event, 0, n-first)
	for i := first; i < n; i++ {
		out = append(out, h.ring[(start+i)%n])
	}
	return out, true
}

// Stats returns the hub's running totals.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HubStats{Subscribers: len(h.subs), Published: h.published, Dropped: make(map[CloseReason]uint64, len(h.dropped))}
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
