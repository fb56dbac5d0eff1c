package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
)

// Feed hands the stream's changes to this node's hub, in the stream's
// order: the one order every node applies them in, so that every
// wallboard on every node sees each call's changes in the order they
// happened.
//
// A starting node first reads the present: the last message of every
// subject (each item as it now is: see Subject) up to the stream's last
// message when it looked, merged with the present bucket (which keeps an
// item longer than the stream does; the newer of the two wins), of which
// it applies those still present (the active calls, the sources, …), so
// that its first snapshot is the cluster's present; ended calls and
// passing events of the past are skipped. Then it follows the stream from the message after that one,
// every change by sequence, so a change made while it read the present is
// applied in full, not collapsed into its subject's last. Its consumer is
// an ordered one: after a NATS outage it is made again from the stream
// sequence after the last one applied, so nothing is lost and nothing
// applied twice.
type Feed struct {
	node *Node
	hub  Hub

	ready     chan struct{}
	readyOnce sync.Once
	// present is set once the present was read; owned by Run.
	present bool
	applied atomic.Uint64
	skipped atomic.Uint64
	// head is the highest stream sequence known to be stored: from
	// every message's pending count, and looked up every lagEvery, so
	// that a feed stuck on one change still sees the stream grow.
	head atomic.Uint64
	// fromHere is set, while the hub applies a change, when this run of
	// the node published it.
	fromHere atomic.Bool
}

// Hub is what a Feed needs of the node's hub (a *monitor.Hub made
// WithEpoch(Node.Epoch)): every change numbered with its stream sequence,
// the same on every node, so that a wallboard resumes on any node where it
// left off on another.
type Hub interface {
	PublishSeq(seq uint64, at time.Time, p monitor.Payload) error
	Gap(seq uint64)
}

var _ Hub = (*monitor.Hub)(nil)

// Feed returns a feed into hub; Run runs it.
func (n *Node) Feed(hub Hub) *Feed {
	f := &Feed{node: n, hub: hub, ready: make(chan struct{})}
	n.feed.Store(f)
	return f
}

// Ready is closed once the feed has applied the present: a node takes no
// source over before, so that the calls a source had are known.
func (f *Feed) Ready() <-chan struct{} { return f.ready }

// Applied returns the stream sequence of the last change applied.
func (f *Feed) Applied() uint64 { return f.applied.Load() }

// FromHere reports, to a hub observer while the hub applies a change,
// whether this run of the node published it: what must happen once per
// cluster (a webhook) is done by the node a change came from.
func (f *Feed) FromHere() bool { return f.fromHere.Load() }

// Skipped returns how many messages could not be read (another
// version's kind, a broken message).
func (f *Feed) Skipped() uint64 { return f.skipped.Load() }

func (f *Feed) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// Run applies changes until ctx ends. A consumer that fails (NATS gone
// for longer than the client's own recovery) is made again after a
// pause, from the sequence after the last one applied.
func (f *Feed) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	wg.Go(func() { f.watchHead(wctx) })
	failures := 0 // in a row: a run that applied changes starts the backoff anew
	for {
		before := f.applied.Load()
		err := f.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if f.applied.Load() != before {
			failures = 0
		}
		f.node.log.Warn("cluster: the event feed stopped; starting it again", "after", f.applied.Load(), "error", err)
		sleep(ctx, monitor.Backoff(100*time.Millisecond, 5*time.Second, failures))
		failures++
		if ctx.Err() != nil {
			return nil
		}
	}
}

// lagEvery is how often a feed looks up the stream's last sequence for
// its lag.
const lagEvery = time.Second

// Pending returns how many of the stream's messages this feed has not
// applied yet: its lag behind the stream, as of the newest of the last
// message it got and the stream's last sequence, looked up every second.
// It counts the message being applied, so a feed stuck on one change
// shows what piles up behind it.
func (f *Feed) Pending() uint64 {
	head, applied := f.head.Load(), f.applied.Load()
	if head <= applied {
		return 0
	}
	return head - applied
}

// seen records that the stream has stored up to seq.
func (f *Feed) seen(seq uint64) {
	for {
		cur := f.head.Load()
		if seq <= cur || f.head.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// watchHead looks up the stream's last sequence every lagEvery until ctx
// ends: what the messages' pending counts cannot tell while the feed does
// not get to the next one. A lookup that fails leaves the head as it was.
func (f *Feed) watchHead(ctx context.Context) {
	t := time.NewTicker(lagEvery)
	defer t.Stop()
	for {
		tctx, cancel := context.WithTimeout(ctx, lagEvery)
		info, err := f.node.stream.Info(tctx)
		cancel()
		if err == nil {
			f.seen(info.State.LastSeq)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// consume reads the present once, then follows the stream until its
// consumer fails or ctx ends.
func (f *Feed) consume(ctx context.Context) error {
	if !f.present {
		last, err := f.readPresent(ctx)
		if err != nil {
			return err
		}
		f.applied.Store(last)
		// Of the changes up to last the hub has only the present: a
		// wallboard resuming from before gets a snapshot.
		f.hub.Gap(last)
		f.present = true
		// Ready only now: the present is applied, and what is published
		// from here on is at a sequence above last, which follow applies
		// one by one, whenever its consumer starts.
		f.markReady()
	}
	return f.follow(ctx)
}

// readPresent applies the present as of the stream's last message now,
// and returns that message's sequence: of every item, the newer of the
// stream's last message of its subject and its value in the present
// bucket, if still present. The bucket holds what the stream no longer
// does (an item unchanged for longer than the stream keeps); the stream
// what the bucket does not have yet (a write behind its publish, or lost
// with the node that made it). Both are gathered before anything is
// applied, and applied in the order of their sequences.
func (f *Feed) readPresent(ctx context.Context) (uint64, error) {
	info, err := f.node.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: stream info: %w", ErrNATS, err)
	}
	last := info.State.LastSeq
	f.seen(last)
	latest := map[string]presentItem{}
	if info.State.Msgs > 0 {
		if err := f.readLastPerSubject(ctx, last, latest); err != nil {
			return 0, err
		}
	}
	entries, err := f.node.readPresentBucket(ctx)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		if e.seq > last {
			continue // stored after Info: follow applies it
		}
		if prev, ok := latest[e.subject]; !ok || prev.seq < e.seq {
			latest[e.subject] = presentItem{seq: e.seq, subject: e.subject, data: e.data}
		}
	}
	items := make([]presentItem, 0, len(latest))
	for _, it := range latest {
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b presentItem) int { return cmp.Compare(a.seq, b.seq) })
	for _, it := range items {
		f.apply(it.subject, it.data, it.msgID, it.seq, true)
	}
	return last, nil
}

// presentItem is an item as it was at seq, read at start.
type presentItem struct {
	seq     uint64
	subject string
	data    []byte
	msgID   string
}

// readLastPerSubject gathers into latest the last message of every
// subject up to the stream's message last. An ordered consumer that
// resets itself meanwhile goes on by sequence, handing over older
// messages of a subject too: only the last of each counts.
func (f *Feed) readLastPerSubject(ctx context.Context, last uint64, latest map[string]presentItem) error {
	cons, err := f.node.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("%w: consumer: %w", ErrNATS, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("%w: consume: %w", ErrNATS, err)
	}
	defer it.Stop()
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil // aged out meanwhile
	}
	for {
		msg, err := f.next(ctx, it)
		if err != nil {
			clear(latest)
			return err
		}
		if msg == nil {
			continue
		}
		md, err := msg.Metadata()
		if err != nil {
			f.skipped.Add(1)
			continue
		}
		seq := md.Sequence.Stream
		if seq > last {
			// Changed since Info: follow applies it, and everything
			// after last, by sequence.
			return nil
		}
		if prev, ok := latest[msg.Subject()]; !ok || prev.seq < seq {
			latest[msg.Subject()] = presentItem{seq: seq, subject: msg.Subject(), data: msg.Data(),
				msgID: msg.Headers().Get(jetstream.MsgIDHeader)}
		}
		if seq == last || md.NumPending == 0 {
			return nil
		}
	}
}

// follow applies every change after the last one applied, by sequence,
// until its consumer fails or ctx ends.
func (f *Feed) follow(ctx context.Context) error {
	cons, err := f.node.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjectPrefix + ">"},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    f.applied.Load() + 1,
	})
	if err != nil {
		return fmt.Errorf("%w: consumer: %w", ErrNATS, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("%w: consume: %w", ErrNATS, err)
	}
	defer it.Stop()
	for {
		msg, err := f.next(ctx, it)
		if err != nil {
			return err
		}
		if msg == nil {
			continue
		}
		md, err := msg.Metadata()
		if err != nil {
			f.skipped.Add(1)
			continue
		}
		seq := md.Sequence.Stream
		// NumPending: those after this one, not delivered yet to this
		// feed (not counting what the client holds for it).
		f.seen(seq + md.NumPending)
		if seq <= f.applied.Load() {
			continue
		}
		if want := f.applied.Load() + 1; seq > want {
			// The stream no longer has them (older than it keeps, after a
			// long outage): those changes are lost to this node.
			f.node.log.Warn("cluster: changes gone from the stream before this node applied them", "from", want, "to", seq-1)
			f.hub.Gap(seq - 1)
		}
		f.apply(msg.Subject(), msg.Data(), msg.Headers().Get(jetstream.MsgIDHeader), seq, false)
		f.applied.Store(seq)
	}
}

// next returns the next message, nil after a passing error (a missed
// heartbeat, a reset in progress: the ordered consumer makes itself again
// from where it was), or an error when the iterator is closed or ctx
// ended.
func (f *Feed) next(ctx context.Context, it jetstream.MessagesContext) (jetstream.Msg, error) {
	msg, err := it.Next(jetstream.NextContext(ctx))
	if err == nil {
		return msg, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(50 * time.Millisecond):
	}
	return nil, nil
}

// apply hands the change stored at seq on subject (its envelope data,
// its Nats-Msg-Id) to the hub; of the present (read at start) only what
// is still present.
func (f *Feed) apply(subject string, data []byte, msgID string, seq uint64, present bool) {
	var ev monitor.Event
	if err := ev.UnmarshalJSON(data); err != nil {
		f.skipped.Add(1)
		if errors.Is(err, monitor.ErrUnknownKind) {
			f.node.log.Debug("cluster: a change of a kind this version does not know; skipped", "subject", subject, "error", err)
		} else {
			f.node.log.Warn("cluster: a change that cannot be read; skipped", "subject", subject, "seq", seq, "error", err)
		}
		return
	}
	if present && !monitor.Present(ev.Payload) {
		return
	}
	f.fromHere.Store(strings.HasPrefix(msgID, f.node.origin))
	if err := f.hub.PublishSeq(seq, ev.At, ev.Payload); err != nil && !errors.Is(err, monitor.ErrHubClosed) {
		f.node.log.Warn("cluster: the hub did not take a change", "subject", subject, "seq", seq, "error", err)
	}
}
