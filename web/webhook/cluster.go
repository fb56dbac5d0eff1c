package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/monitor"
)

// Queue carries the posts of a cluster (monitor/cluster's Webhooks): the
// node a change came from offers them, and whichever node pulls one posts
// it with Deliver, so each is posted once per cluster even when the node
// it came from dies first.
type Queue interface {
	// Offer keeps a post of body, an event of kind typ whose id is id,
	// for the endpoint named endpoint (ID), without blocking or I/O;
	// false when it cannot (its buffer is full).
	Offer(endpoint, typ, id string, body []byte) bool
	// Queued is how many posts for endpoint wait in this node.
	Queued(endpoint string) int
}

// queueBox holds a Queue in an atomic.Pointer.
type queueBox struct{ q Queue }

// ID names an endpoint between nodes: a digest of its URL, so that
// neither its query nor its credentials leave the configuration, and the
// same on every node configured alike.
func ID(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:8])
}

// EventID is the id a post of body carries in EventIDHeader.
func EventID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}

// Endpoints returns the IDs of the configured endpoints, in their order.
func (d *Dispatcher) Endpoints() []string {
	ids := make([]string, 0, len(d.endpoints))
	for _, e := range d.endpoints {
		ids = append(ids, e.id)
	}
	return ids
}

// UseQueue hands every event Observe gets from now on to q instead of
// the endpoints' own queues: in a cluster, where q's pullers post them
// with Deliver. What this dispatcher queued before (the spool of the
// last run) is still posted from here.
func (d *Dispatcher) UseQueue(q Queue) { d.queue.Store(&queueBox{q: q}) }

// offerShared hands ev to q for every endpoint that wants its kind; what
// q cannot take is dropped and counted, as a full queue alone is.
func (d *Dispatcher) offerShared(q Queue, ev monitor.Event) {
	var (
		body []byte
		err  error
	)
	for _, e := range d.endpoints {
		if !e.kinds[ev.Kind()] {
			continue
		}
		if body == nil {
			if body, err = ev.JSON(); err != nil {
				d.log.Error("webhook: an event cannot be encoded; not posted", "type", ev.Kind(), "seq", ev.Seq, "err", err)
				return
			}
		}
		if !q.Offer(e.id, string(ev.Kind()), EventID(body), body) {
			e.shared.dropped.Add(1)
		}
	}
}

// ErrUnknownEndpoint: a post for an endpoint this node is not configured
// with.
var ErrUnknownEndpoint = errors.New("webhook endpoint not configured here")

// Deliver posts body to the endpoint named endpointID (ID) as the
// endpoint's worker would: signed, with its timeout, retried with backoff
// on network errors, 5xx, 408 and 429, not on another 4xx. tried, if set,
// is called after every try (a queue keeps its message in progress). It
// returns nil once the endpoint accepted the post and an error when it
// gave up (counted as failed) or ctx ended first (not counted: the post
// is left to be posted again).
func (d *Dispatcher) Deliver(ctx context.Context, endpointID, typ, id string, body []byte, tried func()) error {
	var e *endpoint
	for _, x := range d.endpoints {
		if x.id == endpointID {
			e = x
		}
	}
	if e == nil {
		return fmt.Errorf("%w: %s", ErrUnknownEndpoint, endpointID)
	}
	e.shared.start()
	err := d.deliver(ctx, e, typ, id, body, tried)
	e.shared.done(err, ctx.Err() != nil)
	if err != nil && ctx.Err() == nil {
		d.log.Info("webhook delivery failed", "url", e.cfg.URL, "type", typ, "id", id, "err", err)
	}
	return err
}

// Unsent takes a post a cluster's queue could not store in NATS before
// the node stopped: Close saves it to the spool (WithSpool), and the next
// start posts it from this node; without a spool it is dropped and
// counted.
func (d *Dispatcher) Unsent(endpoint, typ string, body []byte) {
	for _, e := range d.endpoints {
		if e.id != endpoint {
			continue
		}
		if d.spool == "" {
			e.shared.dropped.Add(1)
			return
		}
		d.mu.Lock()
		d.left = append(d.left, spooled{URL: e.cfg.URL, Type: typ, Body: body})
		d.mu.Unlock()
		return
	}
}

// sharedStats counts what this node did with a cluster's posts of one
// endpoint.
type sharedStats struct {
	delivered, failed, dropped atomic.Uint64

	mu    sync.Mutex
	since time.Time // a post in hand since
}

func (s *sharedStats) start() {
	s.mu.Lock()
	s.since = time.Now()
	s.mu.Unlock()
}

func (s *sharedStats) done(err error, cut bool) {
	s.mu.Lock()
	s.since = time.Time{}
	s.mu.Unlock()
	switch {
	case err == nil:
		s.delivered.Add(1)
	case !cut:
		s.failed.Add(1)
	}
}

type sharedCounts struct {
	delivered, failed, dropped uint64
}

func (s *sharedStats) stats() (sharedCounts, time.Duration) {
	c := sharedCounts{delivered: s.delivered.Load(), failed: s.failed.Load(), dropped: s.dropped.Load()}
	s.mu.Lock()
	var behind time.Duration
	if !s.since.IsZero() {
		behind = time.Since(s.since)
	}
	s.mu.Unlock()
	return c, behind
}

// statusOf is e's state, with what this node holds of a cluster's posts
// for it.
func (d *Dispatcher) statusOf(e *endpoint) (EndpointStatus, time.Duration) {
	st, behind := e.status()
	if q := d.queue.Load(); q != nil {
		st.Queued += q.q.Queued(e.id)
	}
	return st, behind
}
