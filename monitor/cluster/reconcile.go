package cluster

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
)

// A node killed between a change's publish and its write to the present
// bucket leaves the item's older value there (or an ended call's last
// value, or nothing of a call that started). Nobody else writes that key
// unless the item changes again, so the rule is: the node that takes a
// source's lease (another node's after a takeover, or its own again after
// a restart) reconciles the source's keys with the stream. By then the
// old owner's term stores no more changes (it stopped the source and
// dropped its queue before its lease could expire; at most a publish
// already on its way lands after, and its own writer records it), so the
// stream's last message of each of the source's subjects is the newest
// change of that item from before the new term. Of
// each, the bucket gets that message when its value is older (the key
// purged when the message says the item went away), through writePresent,
// revision-checked, so a change of the new term (its resync, written by
// the new owner meanwhile) is never overwritten.
//
// A key whose item the stream no longer has (older than the stream
// keeps) is left: its value is the newest there was when a lease was last
// taken, and the new owner's resync decides on the item (a call the PBX no
// longer has ends, and its end purges the key).

// reconcileSource repairs the present bucket's keys of source from the
// stream; it returns how many it wrote.
func (n *Node) reconcileSource(ctx context.Context, source monitor.SourceName) (int, error) {
	tok := Token(string(source))
	keyFilter := "*." + tok + ".*"
	info, err := n.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: stream info: %w", ErrNATS, err)
	}
	latest := map[string]presentItem{}
	if info.State.Msgs > 0 {
		if err := n.lastPerSubject(ctx, subjectPrefix+keyFilter, info.State.LastSeq, latest); err != nil {
			return 0, err
		}
	}
	entries, err := n.readPresentKeys(ctx, keyFilter)
	if err != nil {
		return 0, err
	}
	stored := make(map[string]uint64, len(entries))
	for _, e := range entries {
		stored[e.subject] = e.seq
	}
	written := 0
	for subject, it := range latest {
		seq, there := stored[subject]
		if there && seq >= it.seq {
			continue
		}
		var ev monitor.Event
		if err := ev.UnmarshalJSON(it.data); err != nil {
			continue // the feed logs it
		}
		if _, kept := monitor.StateKey(ev.Payload); !kept {
			continue
		}
		present := monitor.Present(ev.Payload)
		if !there && !present {
			continue // gone, and not in the bucket
		}
		if err := n.writePresent(ctx, subject, it.seq, it.data, present); err != nil {
			return written, err
		}
		written++
	}
	return written, nil
}

// lastPerSubject gathers into latest the last message, up to the stream's
// message last, of every subject matching filter.
func (n *Node) lastPerSubject(ctx context.Context, filter string, last uint64, latest map[string]presentItem) error {
	cons, err := n.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("%w: consumer: %w", ErrNATS, err)
	}
	if ci := cons.CachedInfo(); ci != nil && ci.NumPending == 0 {
		return nil // nothing of the source
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
			return fmt.Errorf("%w: consume: %w", ErrNATS, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			continue
		}
		seq := md.Sequence.Stream
		if seq > last {
			return nil // stored since: its writer records it
		}
		if prev, ok := latest[msg.Subject()]; !ok || prev.seq < seq {
			latest[msg.Subject()] = presentItem{seq: seq, subject: msg.Subject(), data: msg.Data()}
		}
		if seq == last || md.NumPending == 0 {
			return nil
		}
	}
}
