package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
)

// The present bucket holds every item the hubs keep (an active call, a
// source's status, an extension, a queue) as it now is: the key is the
// item's subject without the prefix (KIND.SOURCE.KEY), the value its
// latest envelope and the stream sequence it was stored at. It does not
// age as the stream does, so a node starting after an item's last change
// left the stream still has the item in its first snapshot. An item that
// goes away (a call that ended) is purged from it.
//
// Each value is written by the node that published the change, once NATS
// has stored it in the stream. Two nodes may write one key (the lease
// of a source moved while changes were on their way), so a write is
// conditional: on the key's revision, read before the stream's newest
// message of the item's subject is looked at. A write of a change that is
// no longer the newest is dropped; one whose key changed in between is
// tried again. So the value left is the newest change's, whichever node
// writes last.

// PresentBucket is the key-value bucket of the present items.
const PresentBucket = "switchboard_present"

// presentMarkerTTL is how long the marker of a purged item stays: long
// enough that a write of an older change cannot come after it, short
// enough that ended calls do not pile up in the bucket.
const presentMarkerTTL = time.Hour

// kvOperation is the header of the bucket's markers.
const kvOperation = "KV-Operation"

// ErrBadPresent is wrapped by decodePresent's errors.
var ErrBadPresent = errors.New("invalid present value")

// presentValue is a value of the present bucket.
type presentValue struct {
	Seq   uint64          `json:"seq"`
	Event json.RawMessage `json:"event"`
}

func encodePresent(seq uint64, event []byte) ([]byte, error) {
	return json.Marshal(presentValue{Seq: seq, Event: event})
}

// decodePresent reads a value of the present bucket: the stream sequence
// and the envelope. The envelope itself is read by the feed.
func decodePresent(data []byte) (uint64, []byte, error) {
	var v presentValue
	if err := json.Unmarshal(data, &v); err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrBadPresent, err)
	}
	if v.Seq == 0 {
		return 0, nil, fmt.Errorf("%w: no stream sequence", ErrBadPresent)
	}
	if len(v.Event) == 0 || v.Event[0] != '{' {
		return 0, nil, fmt.Errorf("%w: the event is not an object", ErrBadPresent)
	}
	return v.Seq, v.Event, nil
}

// presentKey is the bucket's key of an event subject.
func presentKey(subject string) string { return strings.TrimPrefix(subject, subjectPrefix) }

// writePresent records the change stored at seq on subject in the bucket:
// its envelope data while present, the item purged when not. It does
// nothing when the stream has a newer change of the item.
func (n *Node) writePresent(ctx context.Context, subject string, seq uint64, data []byte, present bool) error {
	key := presentKey(subject)
	raw := "$KV." + PresentBucket + "." + key
	var value []byte
	if present {
		v, err := encodePresent(seq, data)
		if err != nil {
			return err
		}
		value = v
	}
	// Each round lost to another writer is one of a newer change (only
	// the stream's newest is written), so the rounds are few.
	for {
		// The revision first, the stream's newest after: a change newer
		// than seq stored meanwhile is seen, and its writer's write,
		// whenever it comes, is on a revision after rev.
		var (
			rev  uint64
			live bool
		)
		m, err := n.presentRaw.GetLastMsgForSubject(ctx, raw)
		switch {
		case err == nil:
			rev = m.Sequence
			live = m.Header.Get(kvOperation) == ""
			if live {
				if stored, _, derr := decodePresent(m.Data); derr == nil && stored >= seq {
					return nil // this change or a newer one is there
				}
			}
		case errors.Is(err, jetstream.ErrMsgNotFound):
		default:
			return fmt.Errorf("%w: present %s: %w", ErrNATS, key, err)
		}
		lm, err := n.stream.GetLastMsgForSubject(ctx, subject)
		switch {
		case err == nil:
			if lm.Sequence > seq {
				return nil // a newer change: its writer records it
			}
		case errors.Is(err, jetstream.ErrMsgNotFound):
			// Aged out of the stream: the revision check alone decides.
		default:
			return fmt.Errorf("%w: stream %s: %w", ErrNATS, subject, err)
		}
		if present {
			_, err = n.present.Update(ctx, key, value, rev)
		} else {
			if !live {
				return nil // not there
			}
			opts := []jetstream.KVDeleteOpt{jetstream.LastRevision(rev)}
			if n.markerTTL {
				opts = append(opts, jetstream.PurgeTTL(presentMarkerTTL))
			}
			err = n.present.Purge(ctx, key, opts...)
		}
		if err == nil {
			return nil
		}
		if !wrongRevision(err) {
			return fmt.Errorf("%w: present %s: %w", ErrNATS, key, err)
		}
		// Written by another meanwhile: look again.
	}
}

// wrongRevision reports whether err says the key was not at the revision
// a write was conditional on.
func wrongRevision(err error) bool {
	if errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// presentEntry is one value of the bucket, read at start.
type presentEntry struct {
	subject string
	seq     uint64
	data    []byte
}

// readPresentBucket returns every value in the bucket now; a value that
// cannot be read is logged and skipped.
func (n *Node) readPresentBucket(ctx context.Context) ([]presentEntry, error) {
	return n.readPresentKeys(ctx, ">")
}

// readPresentKeys returns the values in the bucket now whose keys match
// filter (a subject filter on the keys).
func (n *Node) readPresentKeys(ctx context.Context, filter string) ([]presentEntry, error) {
	w, err := n.present.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("%w: present: %w", ErrNATS, err)
	}
	defer func() { _ = w.Stop() }()
	var out []presentEntry
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("%w: present: the watch ended", ErrNATS)
			}
			if e == nil { // all there was
				return out, nil
			}
			seq, data, err := decodePresent(e.Value())
			if err != nil {
				n.log.Warn("cluster: a present item that cannot be read; skipped", "key", e.Key(), "error", err)
				continue
			}
			out = append(out, presentEntry{subject: subjectPrefix + e.Key(), seq: seq, data: data})
		}
	}
}

// presentWriter records the changes this node published in the bucket,
// behind the publisher: of several changes of one item waiting, only the
// newest is written.
type presentWriter struct {
	node *Node

	mu      sync.Mutex
	pending map[string]pendingWrite
	wake    chan struct{}
	// skip drops what is added: a test's node killed between its
	// publishes and their writes.
	skip atomic.Bool
}

type pendingWrite struct {
	seq     uint64
	data    []byte
	present bool
}

func newPresentWriter(n *Node) *presentWriter {
	return &presentWriter{node: n, pending: map[string]pendingWrite{}, wake: make(chan struct{}, 1)}
}

// add queues the change stored at seq on subject.
func (w *presentWriter) add(subject string, seq uint64, data []byte, present bool) {
	if w.skip.Load() {
		return
	}
	w.mu.Lock()
	if p, ok := w.pending[subject]; !ok || p.seq < seq {
		w.pending[subject] = pendingWrite{seq: seq, data: data, present: present}
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Queued returns how many items wait to be written.
func (w *presentWriter) queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// run writes what is queued until ctx ends, then for up to a second more
// what is left.
func (w *presentWriter) run(ctx context.Context) {
	failures := 0 // of this outage, for the backoff
	down := false
	wctx := ctx
	for {
		w.mu.Lock()
		var (
			subject string
			p       pendingWrite
			ok      bool
		)
		for s, v := range w.pending {
			subject, p, ok = s, v, true
			break
		}
		w.mu.Unlock()
		if !ok {
			if ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
			case <-w.wake:
			}
			continue
		}
		if ctx.Err() != nil && wctx == ctx {
			var cancel context.CancelFunc
			wctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
		}
		tctx, cancel := context.WithTimeout(wctx, 2*time.Second)
		err := w.node.writePresent(tctx, subject, p.seq, p.data, p.present)
		cancel()
		if err != nil {
			if wctx.Err() != nil {
				if n := w.queued(); n > 0 {
					w.node.log.Warn("cluster: stopped with present items not written", "queued", n, "error", err)
				}
				return
			}
			if !down {
				w.node.log.Warn("cluster: the present bucket cannot be written; tried again", "error", err)
				down = true
			}
			sleep(wctx, monitor.Backoff(50*time.Millisecond, 2*time.Second, failures))
			failures++
			continue
		}
		if down {
			w.node.log.Info("cluster: the present bucket is written again")
			down = false
		}
		failures = 0
		w.mu.Lock()
		if cur, ok := w.pending[subject]; ok && cur.seq == p.seq {
			delete(w.pending, subject)
		}
		w.mu.Unlock()
	}
}
