package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/switchboard/switchboard/monitor"
)

// A lease is one key of the lease bucket, the source's name (Token), whose
// value is the owning node's name. NATS drops a key the bucket's TTL after
// it was last written; the owner writes it again every third of the TTL,
// each write conditional on the revision it wrote last, so two nodes can
// never both believe they hold it. A node that cannot renew for four
// fifths of the TTL stops the source before NATS can give the lease to
// another; a node that stops in order deletes its leases, so another
// takes them over at once.

// LeaseRun is what a node runs while it holds a source's lease: it must
// return soon after ctx ends.
type LeaseRun func(ctx context.Context) error

// Lease runs run whenever this node holds the lease of source, until ctx
// ends: it tries to take the lease every tenth of the TTL, runs run while
// it holds it, stops run when it loses it, and deletes it when ctx ends.
// A run that returns by itself is started again after a pause, lease
// kept. onChange, when set, is called with true when the lease is taken
// and false when it is given up or lost.
func (n *Node) Lease(ctx context.Context, source monitor.SourceName, run LeaseRun, onChange func(held bool)) {
	key := Token(string(source))
	// A free lease is looked for often (a tenth of the TTL), so that a
	// dead owner's source is taken over soon after its lease expires.
	every := max(n.ttl/10, 100*time.Millisecond)
	log := n.log.With("source", source)
	for ctx.Err() == nil {
		sent := time.Now()
		rev, err := n.acquire(ctx, key)
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
				log.Debug("cluster: lease not taken", "error", err)
			}
			sleep(ctx, every)
			continue
		}
		log.Info("cluster: lease taken; this node connects the source", "node", n.cfg.Node)
		n.leaseStats.acquired.Add(1)
		n.leaseStats.held.Add(1)
		if onChange != nil {
			onChange(true)
		}
		rev = n.hold(ctx, source, rev, sent, run, log)
		n.leaseStats.held.Add(-1)
		if onChange != nil {
			onChange(false)
		}
		switch {
		case rev == 0:
			n.leaseStats.lost.Add(1)
		case ctx.Err() != nil:
			// Given up as the node stops, whether or not the delete
			// reaches NATS (if not, the key expires by itself).
			n.leaseStats.released.Add(1)
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			if err := n.leases.Delete(dctx, key, jetstream.LastRevision(rev)); err != nil {
				log.Warn("cluster: lease not given up; another node takes the source over once it expires", "error", err)
			}
			cancel()
		}
	}
}

// leaseStats counts what became of this node's leases, for /metrics.
type leaseStats struct {
	acquired, lost, released atomic.Uint64
	// held is the number of leases this node holds now.
	held atomic.Int64
}

// LeaseStats is what became of this node's leases since Connect.
type LeaseStats struct {
	// Acquired counts leases taken; Lost, those lost to another node or
	// not renewed in time; Released, those given up as the node stopped.
	Acquired, Lost, Released uint64
	// Held is how many leases the node holds now.
	Held int
}

// LeaseStats returns the node's lease counts now.
func (n *Node) LeaseStats() LeaseStats {
	return LeaseStats{
		Acquired: n.leaseStats.acquired.Load(),
		Lost:     n.leaseStats.lost.Load(),
		Released: n.leaseStats.released.Load(),
		Held:     int(n.leaseStats.held.Load()),
	}
}

// acquire takes the lease of key: creates it, or takes it back when it
// still names this node (its own lease from before a restart).
func (n *Node) acquire(ctx context.Context, key string) (uint64, error) {
	tctx, cancel := context.WithTimeout(ctx, n.ttl/3)
	defer cancel()
	rev, err := n.leases.Create(tctx, key, []byte(n.cfg.Node))
	if err == nil || !errors.Is(err, jetstream.ErrKeyExists) {
		return rev, err
	}
	e, gerr := n.leases.Get(tctx, key)
	if gerr != nil || string(e.Value()) != n.cfg.Node {
		return 0, err
	}
	return n.leases.Update(tctx, key, []byte(n.cfg.Node), e.Revision())
}

// hold runs run while renewing the lease of key written at rev, by a
// request sent at since. It
// returns when the lease is lost (0) or ctx ends (the revision last
// written, to delete), always after run has returned.
func (n *Node) hold(ctx context.Context, source monitor.SourceName, rev uint64, since time.Time, run LeaseRun, log *slog.Logger) uint64 {
	key := Token(string(source))
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	done := make(chan struct{})
	// Beside the source's start: what the term's resync writes is newer,
	// and writePresent never lets the older overwrite it.
	wg.Go(func() { n.reconcile(runCtx, source, log) })
	wg.Go(func() {
		defer close(done)
		for runCtx.Err() == nil {
			if err := run(runCtx); err != nil && runCtx.Err() == nil {
				log.Warn("cluster: the source stopped; starting it again", "error", err)
			}
			sleep(runCtx, time.Second)
		}
	})
	defer func() {
		stop()
		wg.Wait()
	}()
	// Renewed every third of the TTL; after a failure, tried again every
	// tenth, until four fifths of the TTL have passed since the last
	// write that NATS took was sent: NATS cannot have dropped the key
	// before then, so the source stops before anyone else can start it.
	every, retry := n.ttl/3, max(n.ttl/10, 50*time.Millisecond)
	giveUp := n.ttl * 4 / 5
	wait := every
	for {
		select {
		case <-ctx.Done():
			return rev
		case <-time.After(wait):
		}
		sent := time.Now()
		tctx, cancel := context.WithTimeout(ctx, retry)
		r, err := n.leases.Update(tctx, key, []byte(n.cfg.Node), rev)
		cancel()
		switch {
		case err == nil:
			rev, since, wait = r, sent, every
		case ctx.Err() != nil:
			return rev
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists):
			log.Warn("cluster: lease lost to another node; the source is stopped here", "error", err)
			return 0
		case time.Since(since)+retry >= giveUp:
			log.Warn("cluster: lease not renewed in time; the source is stopped here before another node takes it over", "error", err)
			return 0
		default:
			wait = retry
		}
	}
}

// reconcile repairs the present bucket's keys of source from the stream
// (reconcileSource), tried again after a failure until ctx ends.
func (n *Node) reconcile(ctx context.Context, source monitor.SourceName, log *slog.Logger) {
	failures := 0 // in a row, for the backoff
	for ctx.Err() == nil {
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		written, err := n.reconcileSource(tctx, source)
		cancel()
		if err == nil {
			n.reconciled.Add(1)
			if written > 0 {
				log.Info("cluster: present items of the source repaired from the stream (a node stopped before it wrote them)", "items", written)
			}
			return
		}
		if ctx.Err() == nil {
			log.Warn("cluster: the source's present items cannot be checked against the stream; tried again", "error", err)
		}
		sleep(ctx, monitor.Backoff(100*time.Millisecond, 5*time.Second, failures))
		failures++
	}
}

// Owners returns the node holding each source's lease now, read from the
// bucket; a source nobody holds is missing.
func (n *Node) Owners(ctx context.Context) (map[monitor.SourceName]string, error) {
	tctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	lister, err := n.leases.ListKeys(tctx)
	if err != nil {
		return nil, fmt.Errorf("%w: leases: %w", ErrNATS, err)
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[monitor.SourceName]string, len(keys))
	for _, k := range keys {
		e, err := n.leases.Get(tctx, k)
		if err != nil {
			continue // expired or given up meanwhile
		}
		out[monitor.SourceName(untoken(k))] = string(e.Value())
	}
	return out, nil
}

// untoken reverses Token.
func untoken(t string) string {
	if t == "=" {
		return ""
	}
	b := make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		if t[i] == '=' && i+2 < len(t) {
			if v, err := strconv.ParseUint(t[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(v))
				i += 2
				continue
			}
		}
		b = append(b, t[i])
	}
	return string(b)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
