package cluster

import (
	"context"
	"errors"
	"fmt"
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
// A starting node first reads the last message of every subject (each
// item as it now is: see Subject) and applies those that are still
// present (the active calls, the sources, …), so that its first snapshot
// is the cluster's present; ended calls and passing events of the past
// are skipped. From then on it applies every change. Its consumer is an
// ordered one: after a NATS outage it is made again from the stream
// sequence after the last one applied, so nothing is lost and nothing
// applied twice.
type Feed struct {
	node *Node
	hub  monitor.Publisher

	ready     chan struct{}
	readyOnce sync.Once
	applied   atomic.Uint64
	skipped   atomic.Uint64
	// fromHere is set, while the hub applies a change, when this run of
	// the node published it.
	fromHere atomic.Bool
}

// Feed returns a feed into hub; Run runs it.
func (n *Node) Feed(hub monitor.Publisher) *Feed {
	return &Feed{node: n, hub: hub, ready: make(chan struct{})}
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
	backoff := 100 * time.Millisecond
	for {
		err := f.consume(ctx)
		if ctx.Err() != nil {
			return nil
		}
		f.node.log.Warn("cluster: the event feed stopped; starting it again", "after", f.applied.Load(), "error", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// consume runs one ordered consumer until it fails or ctx ends.
func (f *Feed) consume(ctx context.Context) error {
	info, err := f.node.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: stream info: %w", ErrNATS, err)
	}
	// Until the stream's last message at start, only the present counts.
	catchUp := info.State.LastSeq
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjectPrefix + ">"}}
	if last := f.applied.Load(); last > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = last + 1
		catchUp = 0
	} else {
		cfg.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	}
	if info.State.Msgs == 0 || catchUp == 0 && info.State.LastSeq <= f.applied.Load() {
		f.markReady()
	}
	cons, err := f.node.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%w: consumer: %w", ErrNATS, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("%w: consume: %w", ErrNATS, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return err
			}
			// A missed heartbeat or a reset in progress: the ordered
			// consumer makes itself again from where it was.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		f.apply(msg, catchUp)
	}
}

// apply hands one message to the hub.
func (f *Feed) apply(msg jetstream.Msg, catchUp uint64) {
	md, err := msg.Metadata()
	if err != nil {
		f.skipped.Add(1)
		return
	}
	seq := md.Sequence.Stream
	if seq <= f.applied.Load() {
		return
	}
	defer func() {
		f.applied.Store(seq)
		if md.NumPending == 0 || seq >= catchUp {
			f.markReady()
		}
	}()
	var ev monitor.Event
	if err := ev.UnmarshalJSON(msg.Data()); err != nil {
		f.skipped.Add(1)
		if errors.Is(err, monitor.ErrUnknownKind) {
			f.node.log.Debug("cluster: a change of a kind this version does not know; skipped", "subject", msg.Subject(), "error", err)
		} else {
			f.node.log.Warn("cluster: a change that cannot be read; skipped", "subject", msg.Subject(), "seq", seq, "error", err)
		}
		return
	}
	if seq <= catchUp && !monitor.Present(ev.Payload) {
		return
	}
	f.fromHere.Store(strings.HasPrefix(msg.Headers().Get(jetstream.MsgIDHeader), f.node.origin))
	if err := f.hub.Publish(ev.Payload); err != nil && !errors.Is(err, monitor.ErrHubClosed) {
		f.node.log.Warn("cluster: the hub did not take a change", "subject", msg.Subject(), "seq", seq, "error", err)
	}
}
