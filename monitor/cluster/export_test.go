package cluster

import (
	"context"
	"time"
)

// WithStreamMaxAge sets how long the stream keeps a change (default
// StreamMaxAge), so a test can see an item outlive its messages.
func WithStreamMaxAge(d time.Duration) Option { return func(n *Node) { n.maxAge = d } }

// WritePresent is writePresent, for a test to write as a late or a second
// writer would.
func (n *Node) WritePresent(ctx context.Context, subject string, seq uint64, data []byte, present bool) error {
	return n.writePresent(ctx, subject, seq, data, present)
}

// PresentSeqs returns the stream sequence of every item in the present
// bucket, by key.
func (n *Node) PresentSeqs(ctx context.Context) (map[string]uint64, error) {
	entries, err := n.readPresentBucket(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(entries))
	for _, e := range entries {
		out[presentKey(e.subject)] = e.seq
	}
	return out, nil
}

// StreamMsgs returns how many messages the stream holds now.
func (n *Node) StreamMsgs(ctx context.Context) (uint64, error) {
	info, err := n.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// PresentQueued returns how many items wait to be written to the present
// bucket.
func (p *Publisher) PresentQueued() int { return p.present.queued() }

// SkipPresentWrites makes the publisher leave the present bucket
// unwritten from now on (on) or write it again: a node killed between a
// change's publish and its write.
func (p *Publisher) SkipPresentWrites(on bool) { p.present.skip.Store(on) }

// Reconciled returns how many lease terms reconciled their source's
// present keys with the stream.
func (n *Node) Reconciled() uint64 { return n.reconciled.Load() }
