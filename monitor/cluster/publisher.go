package cluster

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
)

// DefaultOutboxLimit is how many changes a Publisher holds while NATS is
// away before it drops the oldest.
const DefaultOutboxLimit = 100_000

// DefaultWindow is how many changes a Publisher has on their way to NATS
// at once, each waiting for its ack.
const DefaultWindow = 256

// scanDepth bounds how far into the outbox one pass looks for changes to
// send, in windows: a long outbox of few subjects (one source's statuses
// after an outage) costs each pass no more than this.
const scanDepth = 4

// Publisher is the Sink this node's sources publish through: it sends
// every change to the stream, where every node's Feed (this one's too)
// hands it to its hub. Nothing a source publishes reaches the local hub
// any other way, so no change is applied twice.
//
// Sources publish under their tracker's lock, so Publisher never waits:
// changes queue in memory, in order, and one goroutine (Run) sends them,
// each with a Nats-Msg-Id of its own, retried until NATS stores it; a
// retry of a change NATS did store is dropped by the stream's duplicate
// window. Up to a window of changes are on their way at once, but never
// two of one subject (one call, source, extension, queue): a change goes
// out once every earlier change of its subject is stored, so a retry can
// neither overtake nor be overtaken by a later change of its item. Across
// subjects the stream's order may differ from the sources'.
type Publisher struct {
	node   *Node
	limit  int
	window int

	mu    sync.Mutex
	queue []*outMsg
	// storedQueued counts the changes of queue NATS stored that wait
	// behind an earlier one still on its way.
	storedQueued int
	next         uint64
	wake         chan struct{}
	dropped      atomic.Uint64
	sent         atomic.Uint64
	// stored is the stream sequence of the last change NATS stored that
	// came after every earlier one of this node was stored.
	stored atomic.Uint64
	// maxInFlight is the most changes that were on their way at once.
	maxInFlight atomic.Int64
	// present records in the present bucket what NATS stored.
	present *presentWriter
}

// outState is where a change of the outbox is.
type outState uint8

const (
	waiting outState = iota // to be sent (again)
	sending                 // on its way, no ack yet
	stored                  // acked, behind an earlier one still on its way
)

type outMsg struct {
	subject string
	id      string
	data    []byte
	// kept: an item the hubs keep, recorded in the present bucket;
	// present: one still there (not a call that ended).
	kept, present bool

	// Under the publisher's mu:
	state outState
	// seq is the stream sequence NATS stored it at.
	seq uint64
	// cancelled: its term closed while it was on its way; it is not
	// sent again.
	cancelled bool
}

var (
	_ monitor.Sink      = (*Publisher)(nil)
	_ monitor.Publisher = (*Publisher)(nil)
)

// Publisher returns the node's publisher; Run sends what it queues.
func (n *Node) Publisher() *Publisher {
	return &Publisher{node: n, limit: DefaultOutboxLimit, window: DefaultWindow,
		wake: make(chan struct{}, 1), present: newPresentWriter(n)}
}

// Call queues a call change.
func (p *Publisher) Call(c monitor.Call) { _ = p.enqueue(&c) } // logged there

// SourceStatus queues a source status; a zero Since is now.
func (p *Publisher) SourceStatus(s monitor.SourceStatus) {
	if s.Since.IsZero() {
		s.Since = time.Now()
	}
	_ = p.enqueue(&s) // logged there
}

// UserEvent queues a source's custom event; a zero At is now.
func (p *Publisher) UserEvent(e monitor.UserEvent) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_ = p.enqueue(&e) // logged there
}

// Publish queues a payload of any kind in the kind table.
func (p *Publisher) Publish(pl monitor.Payload) error { return p.enqueue(pl) }

func (p *Publisher) enqueue(pl monitor.Payload) error {
	if pl == nil {
		return monitor.ErrBadEnvelope
	}
	data, err := monitor.NewEvent(0, time.Now(), pl).JSON()
	if err != nil {
		p.node.log.Error("cluster: a change cannot be encoded; not published", "kind", pl.Kind(), "error", err)
		return err
	}
	subject := Subject(pl)
	p.mu.Lock()
	p.next++
	_, kept := monitor.StateKey(pl)
	m := &outMsg{subject: subject, id: p.node.origin + strconv.FormatUint(p.next, 10), data: data,
		kept: kept, present: monitor.Present(pl)}
	if len(p.queue) >= p.limit {
		// The oldest not yet on its way: one on its way may be stored.
		if i := slices.IndexFunc(p.queue, func(m *outMsg) bool { return m.state == waiting }); i >= 0 {
			p.queue = slices.Delete(p.queue, i, i+1)
			p.dropped.Add(1)
		}
	}
	p.queue = append(p.queue, m)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Queued returns how many changes wait to be sent or for their ack.
func (p *Publisher) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) - p.storedQueued
}

// Dropped returns how many changes were dropped because the outbox was
// full during an outage.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Sent returns how many changes NATS stored.
func (p *Publisher) Sent() uint64 { return p.sent.Load() }

// Stored returns the stream sequence of the last change NATS stored: a
// feed that applied it has every change this node published before.
func (p *Publisher) Stored() uint64 { return p.stored.Load() }

// MaxInFlight returns the most changes that were on their way to NATS at
// once.
func (p *Publisher) MaxInFlight() int { return int(p.maxInFlight.Load()) }

// Run sends the queued changes until ctx ends, then tries for up to a
// second more to send what is left (a stop in order: the last statuses
// of the sources) and waits for the acks. Beside it, what NATS stored is
// recorded in the present bucket, by a goroutine Run waits for.
func (p *Publisher) Run(ctx context.Context) error {
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { p.present.run(wctx) })
	defer func() {
		// After the last publish: the writer writes what is left.
		stopWriter()
		wg.Wait()
	}()
	return p.send(ctx)
}

// sent is the outcome of one publish.
type sendResult struct {
	m   *outMsg
	seq uint64
	err error
}

// send is Run's loop: it starts a publish of every change ready to go
// while the window has room, and settles each as its ack (or error)
// comes back.
func (p *Publisher) send(ctx context.Context) error {
	// Publishes outlive ctx by the drain second, so that what is on its
	// way at the stop still gets its ack.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	results := make(chan sendResult, p.window) // never more on their way
	var flying sync.WaitGroup
	defer flying.Wait()
	var (
		inFlight int
		failures int // of this outage, for the backoff
		retryAt  time.Time
		down     bool
		done     = ctx.Done()
		stopping <-chan struct{} // base.Done() while draining
		retry    = time.NewTimer(time.Hour)
		busy     = map[string]struct{}{}
	)
	retry.Stop()
	defer retry.Stop()
	for {
		if base.Err() == nil && !time.Now().Before(retryAt) {
			p.mu.Lock()
			batch := ready(p.queue, p.window-inFlight, scanDepth*p.window, busy)
			p.mu.Unlock()
			for _, m := range batch {
				inFlight++
				flying.Go(func() {
					pctx, cancel := context.WithTimeout(base, 2*time.Second)
					defer cancel()
					ack, err := p.node.js.Publish(pctx, m.subject, m.data, jetstream.WithMsgID(m.id))
					r := sendResult{m: m, err: err}
					if err == nil {
						r.seq = ack.Sequence // a duplicate's ack names the stored one
					}
					results <- r
				})
			}
			if int64(inFlight) > p.maxInFlight.Load() {
				p.maxInFlight.Store(int64(inFlight))
			}
		}
		// Stopping: done once nothing is on its way and nothing is left,
		// or the drain second is over.
		if done == nil && inFlight == 0 && (base.Err() != nil || p.Queued() == 0) {
			if n := p.Queued(); n > 0 {
				p.node.log.Warn("cluster: stopped with changes not sent", "queued", n)
			}
			return nil
		}
		select {
		case <-done:
			if p.Queued() == 0 {
				return nil
			}
			done = nil
			stopping = base.Done()
			drain := time.AfterFunc(time.Second, cancelBase)
			defer drain.Stop()
		case <-stopping:
			stopping = nil // what is on its way fails now
		case <-p.wake:
		case <-retry.C:
		case r := <-results:
			inFlight--
			if r.err == nil {
				if down {
					p.node.log.Info("cluster: NATS takes changes again", "queued", p.Queued())
					down = false
				}
				failures = 0
				p.settle(r.m, r.seq)
				continue
			}
			p.failed(r.m)
			if base.Err() != nil {
				continue // stopping: not sent again
			}
			if !down {
				p.node.log.Warn("cluster: changes cannot be sent to NATS; they wait and are sent once it answers", "error", r.err)
				down = true
			}
			// The failures of one outage come back together: one
			// backoff for all those sent before it.
			if now := time.Now(); !now.Before(retryAt) {
				wait := monitor.Backoff(50*time.Millisecond, 2*time.Second, failures)
				failures++
				retryAt = now.Add(wait)
				retry.Reset(wait)
			}
		}
	}
}

// ready marks sending and returns, in outbox order, up to n changes of
// queue (looking at no more than the first scan) that may go out now: each
// waiting, with no earlier change of its subject still waiting or on its
// way. busy is scratch space, cleared first.
func ready(queue []*outMsg, n, scan int, busy map[string]struct{}) []*outMsg {
	clear(busy)
	var out []*outMsg
	for _, m := range queue[:min(scan, len(queue))] {
		if len(out) >= n {
			break
		}
		if m.state == stored {
			continue
		}
		if _, ok := busy[m.subject]; ok {
			continue
		}
		busy[m.subject] = struct{}{}
		if m.state == waiting && !m.cancelled {
			m.state = sending
			out = append(out, m)
		}
	}
	return out
}

// settle records that NATS stored m at seq: it leaves the outbox once
// every change before it has, and its item is recorded in the present
// bucket.
func (p *Publisher) settle(m *outMsg, seq uint64) {
	p.sent.Add(1)
	p.mu.Lock()
	m.state, m.seq = stored, seq
	p.storedQueued++
	last := uint64(0)
	i := 0
	for i < len(p.queue) && p.queue[i].state == stored {
		last = max(last, p.queue[i].seq)
		i++
	}
	clear(p.queue[:i])
	p.queue = p.queue[i:]
	p.storedQueued -= i
	if last > p.stored.Load() {
		p.stored.Store(last)
	}
	p.mu.Unlock()
	if m.kept {
		p.present.add(m.subject, seq, m.data, m.present)
	}
}

// failed puts m back to be sent again, or drops it when its term closed
// meanwhile.
func (p *Publisher) failed(m *outMsg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !m.cancelled {
		m.state = waiting
		return
	}
	if i := slices.Index(p.queue, m); i >= 0 {
		p.queue = slices.Delete(p.queue, i, i+1)
	}
}

// Term is the Sink of one source for one lease term: it forwards to the
// publisher until Close. A node that lost a source's lease closes the
// term, so that what the stopping source still says (its last statuses,
// changes queued while NATS was away) does not reach the stream after the
// new owner's: the new owner's resync is the truth then.
type Term struct {
	p      *Publisher
	source monitor.SourceName
	closed atomic.Bool
}

var (
	_ monitor.Sink      = (*Term)(nil)
	_ monitor.Publisher = (*Term)(nil)
)

// Term returns a new term of source.
func (p *Publisher) Term(source monitor.SourceName) *Term { return &Term{p: p, source: source} }

// Call forwards c until Close.
func (t *Term) Call(c monitor.Call) {
	if !t.closed.Load() {
		t.p.Call(c)
	}
}

// SourceStatus forwards s until Close, naming this node as the one that
// connects the source: a term is the lease holder's, so every node's hub
// and the present bucket say who owns the source, and a takeover's first
// status names the new owner.
func (t *Term) SourceStatus(s monitor.SourceStatus) {
	if !t.closed.Load() {
		s.Node = t.p.node.cfg.Node
		t.p.SourceStatus(s)
	}
}

// UserEvent forwards e until Close.
func (t *Term) UserEvent(e monitor.UserEvent) {
	if !t.closed.Load() {
		t.p.UserEvent(e)
	}
}

// Publish forwards pl until Close.
func (t *Term) Publish(pl monitor.Payload) error {
	if t.closed.Load() {
		return nil
	}
	return t.p.Publish(pl)
}

// Close drops what the term's source still has queued and everything it
// is given afterwards. It reports how many queued changes it dropped.
func (t *Term) Close() int {
	t.closed.Store(true)
	prefix := subjectPrefix
	tok := "." + Token(string(t.source))
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	kept := t.p.queue[:0]
	n := 0
	for _, m := range t.p.queue {
		if ofSource(m.subject, prefix, tok) && m.state != stored {
			n++
			if m.state == waiting {
				continue
			}
			// On its way: it may be stored already; if not, it is
			// dropped when its publish fails, not sent again. Till
			// then it holds its subject back.
			m.cancelled = true
		}
		kept = append(kept, m)
	}
	clear(t.p.queue[len(kept):])
	t.p.queue = kept
	return n
}

// ofSource reports whether subject, an event subject, is of the source
// whose token (with its leading dot) is tok.
func ofSource(subject, prefix, tok string) bool {
	rest := strings.TrimPrefix(subject, prefix)
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return false
	}
	rest = rest[i:]
	return rest == tok || strings.HasPrefix(rest, tok+".")
}
