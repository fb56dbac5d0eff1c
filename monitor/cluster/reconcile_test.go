package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// seqsOf collects from sub the stream sequence of each of want's calls
// (by id and state), in any order.
func seqsOf(t *testing.T, sub *monitor.Subscription, want int) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	timeout := time.After(30 * time.Second)
	for len(out) < want {
		select {
		case ev := <-sub.Events():
			if c, ok := ev.Payload.(*monitor.Call); ok {
				out[string(c.ID)+"/"+string(c.State)] = ev.Seq
			}
		case <-timeout:
			t.Fatalf("%d of %d changes: %v", len(out), want, out)
		}
	}
	return out
}

// killedBeforeWrite publishes through n's publisher, as a node does:
// before, changes that reach the bucket; after, changes whose bucket
// write never happens (the node is killed between). It returns the
// stream sequences of the calls' changes.
func killedBeforeWrite(t *testing.T, n *node, sub *monitor.Subscription) map[string]uint64 {
	t.Helper()
	ctx := context.Background()
	n.pub.SourceStatus(monitor.SourceStatus{Name: "box.1", Type: "fritz", State: monitor.LinkConnected})
	for _, id := range []string{"answered", "ended", "kept"} {
		n.pub.Call(call(id, monitor.Ringing))
	}
	waitFor(t, "the first changes are in the bucket", func() (bool, string) {
		seqs, err := n.PresentSeqs(ctx)
		return err == nil && len(seqs) == 4 && n.pub.PresentQueued() == 0, fmt.Sprint(seqs, err)
	})
	n.pub.SkipPresentWrites(true)
	n.pub.Call(call("answered", monitor.Connected))
	n.pub.Call(call("ended", monitor.Ended))
	n.pub.Call(call("new", monitor.Ringing))
	seqs := seqsOf(t, sub, 6)
	waitFor(t, "every change stored", func() (bool, string) {
		return n.pub.Sent() == 7, fmt.Sprint(n.pub.Sent())
	})
	// The hole: the bucket is behind the stream.
	stale, err := n.PresentSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stale[key("answered")] != seqs["answered/ringing"] || stale[key("ended")] == 0 || stale[key("new")] != 0 {
		t.Fatalf("the bucket before the repair: %v (changes %v)", stale, seqs)
	}
	return seqs
}

func key(id string) string {
	c := call(id, monitor.Ringing)
	return presentKey(&c)
}

// checkRepaired checks the bucket has each call's newest change from the
// stream, and not the call that ended.
func checkRepaired(t *testing.T, n *node, seqs map[string]uint64) {
	t.Helper()
	got, err := n.PresentSeqs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{
		key("answered"): seqs["answered/connected"],
		key("kept"):     seqs["kept/ringing"],
		key("new"):      seqs["new/ringing"],
	}
	for k, seq := range want {
		if got[k] != seq {
			t.Errorf("bucket %s at seq %d, want %d (all: %v)", k, got[k], seq, got)
		}
	}
	if seq, there := got[key("ended")]; there {
		t.Errorf("the ended call is still in the bucket at seq %d", seq)
	}
}

// checkCalls checks n's snapshot has exactly the calls left.
func checkCalls(t *testing.T, n *node) {
	t.Helper()
	got := map[monitor.CallID]monitor.State{}
	for _, c := range n.hub.Snapshot().Calls() {
		got[c.ID] = c.State
	}
	want := map[monitor.CallID]monitor.State{"answered": monitor.Connected, "kept": monitor.Ringing, "new": monitor.Ringing}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("node %s's calls %v, want %v", n.Name(), got, want)
	}
}

// TestKilledBeforeBucketWrite: the owner of a source is killed after it
// published changes and before it wrote them to the present bucket. The
// node that takes the lease over repairs the bucket from the stream, so
// that a node starting once the stream no longer has those changes still
// serves them.
func TestKilledBeforeBucketWrite(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	// Long enough for the takeover to happen while the stream still has
	// the changes, short enough to wait for them to age out.
	maxAge := cluster.WithStreamMaxAge(8 * time.Second)
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", ttl, maxAge)
	b := startNode(t, srv.URL(), "b", ttl, maxAge)
	waitReady(t, a)
	waitReady(t, b)
	var overlap atomic.Int32
	ha, hb := newHolder(), newHolder()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { a.Lease(ctx, "box.1", ha.run(&overlap), nil) })
	within(t, ha.started, 5*time.Second, "a takes the lease")
	wg.Go(func() { b.Lease(ctx, "box.1", hb.run(&overlap), nil) })

	seqs := killedBeforeWrite(t, a, subscribe(t, b.hub))
	a.Close() // killed: no renewal, no delete
	within(t, hb.started, 10*time.Second, "b takes the source over")
	waitFor(t, "b reconciled the source", func() (bool, string) {
		return b.Reconciled() >= 1, fmt.Sprint(b.Reconciled())
	})
	checkRepaired(t, b, seqs)

	ctxQ := context.Background()
	waitFor(t, "the stream aged out", func() (bool, string) {
		n, err := b.StreamMsgs(ctxQ)
		return err == nil && n == 0, fmt.Sprintf("%d messages, %v", n, err)
	})
	c := startNode(t, srv.URL(), "c", ttl, maxAge)
	waitReady(t, c)
	checkCalls(t, c)
	checkRepaired(t, c, seqs)
}

// TestRestartReacquiresOwnLease: a node killed before its bucket writes
// and started again under its name takes its own lease back at once, and
// repairs the bucket as another node would.
func TestRestartReacquiresOwnLease(t *testing.T) {
	const ttl = 20 * time.Second // the lease must not expire meanwhile
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", ttl)
	waitReady(t, a)
	var overlap atomic.Int32
	ha := newHolder()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { a.Lease(ctx, "box.1", ha.run(&overlap), nil) })
	within(t, ha.started, 5*time.Second, "a takes the lease")
	seqs := killedBeforeWrite(t, a, subscribe(t, a.hub))
	a.Close() // its lease stays, naming it

	again := startNode(t, srv.URL(), "a", ttl)
	waitReady(t, again)
	var overlap2 atomic.Int32
	h2 := newHolder()
	wg.Go(func() { again.Lease(ctx, "box.1", h2.run(&overlap2), nil) })
	within(t, h2.started, ttl/2, "the restarted node takes its own lease back")
	waitFor(t, "the restarted node reconciled the source", func() (bool, string) {
		return again.Reconciled() >= 1, fmt.Sprint(again.Reconciled())
	})
	checkRepaired(t, again, seqs)
	checkCalls(t, again)
}
