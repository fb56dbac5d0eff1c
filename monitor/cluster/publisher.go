package cluster

import (
	"context"
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

// Publisher is the Sink this node's sources publish through: it sends
// every change to the stream, where every node's Feed (this one's too)
// hands it to its hub. Nothing a source publishes reaches the local hub
// any other way, so no change is applied twice.
//
// Sources publish under their tracker's lock, so Publisher never waits:
// changes queue in memory, in order, and one goroutine (Run) sends them
// one after the other, each with a Nats-Msg-Id of its own, retried until
// NATS stores it; a retry of a change NATS did store is dropped by the
// stream's duplicate window.
type Publisher struct {
	node  *Node
	limit int

	mu      sync.Mutex
	queue   []outMsg
	next    uint64
	wake    chan struct{}
	dropped atomic.Uint64
	sent    atomic.Uint64
	// stored is the stream sequence of the last change NATS stored.
	stored atomic.Uint64
	// present records in the present bucket what NATS stored.
	present *presentWriter
}

type outMsg struct {
	subject string
	id      string
	data    []byte
	// kept: an item the hubs keep, recorded in the present bucket;
	// present: one still there (not a call that ended).
	kept, present bool
}

var (
	_ monitor.Sink      = (*Publisher)(nil)
	_ monitor.Publisher = (*Publisher)(nil)
)

// Publisher returns the node's publisher; Run sends what it queues.
func (n *Node) Publisher() *Publisher {
	return &Publisher{node: n, limit: DefaultOutboxLimit, wake: make(chan struct{}, 1), present: newPresentWriter(n)}
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
	m := outMsg{subject: subject, id: p.node.origin + strconv.FormatUint(p.next, 10), data: data,
		kept: kept, present: monitor.Present(pl)}
	if len(p.queue) >= p.limit {
		p.queue = p.queue[1:]
		p.dropped.Add(1)
	}
	p.queue = append(p.queue, m)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Queued returns how many changes wait to be sent.
func (p *Publisher) Queued() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// Dropped returns how many changes were dropped because the outbox was
// full during an outage.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Sent returns how many changes NATS stored.
func (p *Publisher) Sent() uint64 { return p.sent.Load() }

// Stored returns the stream sequence of the last change NATS stored: a
// feed that applied it has every change this node published before.
func (p *Publisher) Stored() uint64 { return p.stored.Load() }

// Run sends the queued changes in order until ctx ends, then tries for
// up to a second more to send what is left (a stop in order: the last
// statuses of the sources). Beside it, what NATS stored is recorded in
// the present bucket, by a goroutine Run waits for.
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

// send is Run's loop.
func (p *Publisher) send(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	down := false
	var drainUntil time.Time
	for {
		p.mu.Lock()
		var (
			m  outMsg
			ok bool
		)
		if len(p.queue) > 0 {
			m, ok = p.queue[0], true
		}
		p.mu.Unlock()
		if !ok {
			select {
			case <-ctx.Done():
				return nil
			case <-p.wake:
			}
			continue
		}
		sendCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if ctx.Err() != nil {
			cancel()
			if drainUntil.IsZero() {
				drainUntil = time.Now().Add(time.Second)
			}
			sendCtx, cancel = context.WithDeadline(context.WithoutCancel(ctx), drainUntil)
		}
		ack, err := p.node.js.Publish(sendCtx, m.subject, m.data, jetstream.WithMsgID(m.id))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				p.node.log.Warn("cluster: stopped with changes not sent", "queued", p.Queued(), "error", err)
				return nil
			}
			if !down {
				p.node.log.Warn("cluster: changes cannot be sent to NATS; they wait and are sent once it answers", "error", err)
				down = true
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		if down {
			p.node.log.Info("cluster: NATS takes changes again", "queued", p.Queued())
			down = false
		}
		backoff = 50 * time.Millisecond
		p.sent.Add(1)
		p.stored.Store(max(p.stored.Load(), ack.Sequence))
		if m.kept { // a duplicate's ack names the stored one
			p.present.add(m.subject, ack.Sequence, m.data, m.present)
		}
		p.mu.Lock()
		// The head may have been dropped as the oldest meanwhile.
		if len(p.queue) > 0 && p.queue[0].id == m.id {
			p.queue = p.queue[1:]
		}
		p.mu.Unlock()
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
		if ofSource(m.subject, prefix, tok) {
			n++
			continue
		}
		kept = append(kept, m)
	}
	// The head may be in flight: Run pops it only while it is still first.
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
