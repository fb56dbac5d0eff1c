package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// node is one cluster node of a test: its NATS side, its hub, and the
// publisher and feed running until the test ends.
type node struct {
	*cluster.Node
	hub  *monitor.Hub
	pub  *cluster.Publisher
	feed *cluster.Feed
	stop context.CancelFunc
	wg   sync.WaitGroup
	// fromHere counts the changes the hub applied that this node
	// published, as a webhook observer would see them.
	fromHere atomic.Int64
}

func startNode(t *testing.T, url, name string, ttl time.Duration, opts ...cluster.Option) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	opts = append([]cluster.Option{cluster.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	cn, err := cluster.Connect(ctx, cluster.Config{NATS: cluster.NATSConfig{URL: url}, Node: name, LeaseTTL: ttl}, opts...)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	n := &node{Node: cn}
	n.hub = monitor.NewHub(monitor.HubConfig{RingSize: 1 << 14, SubscriberBuffer: 1 << 14}, monitor.WithEpoch(cn.Epoch()),
		monitor.WithObserver(func(monitor.Event) {
			if n.feed.FromHere() {
				n.fromHere.Add(1)
			}
		}))
	n.pub = cn.Publisher()
	n.feed = cn.Feed(n.hub)
	rctx, stop := context.WithCancel(context.Background())
	n.stop = stop
	n.wg.Go(func() { _ = n.pub.Run(rctx) })
	n.wg.Go(func() { _ = n.feed.Run(rctx) })
	t.Cleanup(n.close)
	return n
}

func (n *node) close() {
	n.stop()
	n.wg.Wait()
	n.hub.Close()
	n.Close()
}

func call(id string, st monitor.State) monitor.Call {
	c := monitor.Call{ID: monitor.CallID(id), Source: "box.1", Direction: monitor.Inbound, State: st,
		From: monitor.Party{Number: "0301234"}, To: monitor.Party{Number: "10"}, Started: time.Unix(1_700_000_000, 0).UTC()}
	if st == monitor.Ended {
		c.Ended = c.Started.Add(time.Minute)
	}
	return c
}

// publishCalls publishes ring → connected → ended for calls first..last.
func publishCalls(sink monitor.Sink, first, last int) {
	for i := first; i <= last; i++ {
		id := fmt.Sprintf("c%d", i)
		for _, st := range []monitor.State{monitor.Ringing, monitor.Connected, monitor.Ended} {
			sink.Call(call(id, st))
		}
	}
}

// collect reads calls from sub until it has want of them.
func collect(t *testing.T, sub *monitor.Subscription, want int) []monitor.Call {
	t.Helper()
	var got []monitor.Call
	timeout := time.After(30 * time.Second)
	for len(got) < want {
		select {
		case ev := <-sub.Events():
			if c, ok := ev.Payload.(*monitor.Call); ok {
				got = append(got, *c)
			}
		case <-sub.Done():
			t.Fatalf("subscription ended: %s", sub.Reason())
		case <-timeout:
			t.Fatalf("got %d calls, want %d", len(got), want)
		}
	}
	return got
}

// follow appends sub's calls to got, those it missed first, until got
// holds want; each change's seq must be above the one before it, *last,
// which it advances.
func follow(t *testing.T, sub *monitor.Subscription, node string, last *uint64, got []monitor.Call, want int) []monitor.Call {
	t.Helper()
	take := func(ev monitor.Event) {
		if ev.Seq <= *last {
			t.Fatalf("node %s: seq %d after %d", node, ev.Seq, *last)
		}
		*last = ev.Seq
		got = append(got, *ev.Payload.(*monitor.Call))
	}
	for _, ev := range sub.Missed {
		take(ev)
	}
	timeout := time.After(30 * time.Second)
	for len(got) < want {
		select {
		case ev := <-sub.Events():
			take(ev)
		case <-sub.Done():
			t.Fatalf("node %s: subscription ended: %s", node, sub.Reason())
		case <-timeout:
			t.Fatalf("node %s: %d of the %d changes", node, len(got), want)
		}
	}
	return got
}

// checkOrder checks got is ring → connected → ended for every call
// first..last, once each.
func checkOrder(t *testing.T, got []monitor.Call, first, last int) {
	t.Helper()
	next := map[monitor.CallID]int{}
	states := []monitor.State{monitor.Ringing, monitor.Connected, monitor.Ended}
	for _, c := range got {
		i := next[c.ID]
		if i >= len(states) {
			t.Fatalf("call %s: a change after it ended (%s)", c.ID, c.State)
		}
		if c.State != states[i] {
			t.Fatalf("call %s: %s, want %s", c.ID, c.State, states[i])
		}
		next[c.ID] = i + 1
	}
	for i := first; i <= last; i++ {
		id := monitor.CallID(fmt.Sprintf("c%d", i))
		if next[id] != len(states) {
			t.Fatalf("call %s: %d of its 3 changes", id, next[id])
		}
	}
}

func subscribe(t *testing.T, h *monitor.Hub) *monitor.Subscription {
	t.Helper()
	sub, err := h.Subscribe(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

func waitReady(t *testing.T, n *node) {
	t.Helper()
	select {
	case <-n.feed.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("feed not ready")
	}
}

// TestEventsReachEveryNode: what node A's source publishes reaches node
// B's hub and A's own, each change once, in order per call.
func TestEventsReachEveryNode(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, a)
	waitReady(t, b)
	subA, subB := subscribe(t, a.hub), subscribe(t, b.hub)
	publishCalls(a.pub, 1, 200)
	checkOrder(t, collect(t, subB, 600), 1, 200)
	checkOrder(t, collect(t, subA, 600), 1, 200)
	// Nothing more: no change was applied twice on A.
	select {
	case ev := <-subA.Events():
		t.Fatalf("node a: an extra event %s", ev.Kind())
	case <-time.After(200 * time.Millisecond):
	}
	if a.hub.Stats().Published != 600 || b.hub.Stats().Published != 600 {
		t.Fatalf("published a=%d b=%d, want 600 each", a.hub.Stats().Published, b.hub.Stats().Published)
	}
	// Once per cluster: only the node a change came from acts on it.
	publishCalls(b.pub, 201, 210)
	collect(t, subA, 30)
	checkOrder(t, collect(t, subB, 30), 201, 210)
	// Observers run just after the subscribers got the change.
	for deadline := time.Now().Add(5 * time.Second); b.fromHere.Load() < 30 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if a.fromHere.Load() != 600 || b.fromHere.Load() != 30 {
		t.Fatalf("changes from here: a=%d b=%d, want 600 and 30", a.fromHere.Load(), b.fromHere.Load())
	}
}

// TestStartingNodeGetsThePresent: a node that starts later serves the
// active calls and the sources at once, and none of the ended calls.
func TestStartingNodeGetsThePresent(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)
	publishCalls(a.pub, 1, 20)
	a.pub.SourceStatus(monitor.SourceStatus{Name: "box.1", Type: "fritz", State: monitor.LinkConnected})
	a.pub.Call(call("live", monitor.Ringing))
	a.pub.Call(call("live", monitor.Connected))
	a.pub.UserEvent(monitor.UserEvent{Source: "box.1", Name: "past"})
	// Everything is stored once node a has applied it all. (Node a was
	// ready before its feed's consumer existed once, and the changes
	// stored in between reached it as their subjects' last only.)
	for deadline := time.Now().Add(30 * time.Second); a.hub.Stats().Published < 64; {
		if time.Now().After(deadline) {
			t.Fatalf("node a applied %d of 64", a.hub.Stats().Published)
		}
		time.Sleep(10 * time.Millisecond)
	}

	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, b)
	snap := b.hub.Snapshot()
	calls := snap.Calls()
	if len(calls) != 1 || calls[0].ID != "live" || calls[0].State != monitor.Connected {
		t.Fatalf("node b's calls at start = %+v, want only live, connected", calls)
	}
	if src := snap.Sources(); len(src) != 1 || src[0].State != monitor.LinkConnected {
		t.Fatalf("node b's sources at start = %+v", src)
	}
	if got := b.hub.Stats().Published; got != 2 {
		t.Fatalf("node b applied %d changes at start, want 2 (the source and the live call)", got)
	}
}

// TestNodeStartsDuringTraffic: a node that starts while calls ring, are
// answered and end ends up with the same present as the node making them:
// no call missing, none left over that ended while it read the present.
func TestNodeStartsDuringTraffic(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)
	const calls = 400
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Go(func() {
		for i := 1; i <= calls; i++ {
			id := fmt.Sprintf("c%d", i)
			a.pub.Call(call(id, monitor.Ringing))
			a.pub.Call(call(id, monitor.Connected))
			if i%10 != 0 { // every tenth call stays connected
				a.pub.Call(call(id, monitor.Ended))
			}
			if i == calls/4 {
				close(started)
			}
			if i%20 == 0 {
				// Let node b start while this goes on.
				for a.pub.Queued() > 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}
		a.pub.Call(call("last", monitor.Ringing))
	})
	<-started
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, b)
	wg.Wait()
	for _, n := range []*node{a, b} {
		for deadline := time.Now().Add(30 * time.Second); !hasCall(n.hub.Snapshot(), "last"); {
			if time.Now().After(deadline) {
				t.Fatalf("node %s: the last call did not come", n.Name())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ids := func(n *node) []monitor.CallID {
		var out []monitor.CallID
		for _, c := range n.hub.Snapshot().Calls() {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	if ga, gb := ids(a), ids(b); !slices.Equal(ga, gb) || len(ga) != calls/10+1 {
		t.Fatalf("node a has %d calls, node b %d (want %d each, the same)\na: %v\nb: %v", len(ga), len(gb), calls/10+1, ga, gb)
	}
}

func hasCall(s monitor.Snapshot, id monitor.CallID) bool {
	for _, c := range s.Calls() {
		if c.ID == id {
			return true
		}
	}
	return false
}

// TestResumeOnAnotherNode: a wallboard that read part of the changes on
// node a and resumes on node b, with a's epoch and last seq, gets the rest
// from b: every change once, none missing; one that comes back from
// before what b has gets a snapshot.
func TestResumeOnAnotherNode(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)
	publishCalls(a.pub, 1, 5) // before b starts: b has only their present
	subA := subscribe(t, a.hub)
	if subA.Snapshot == nil || subA.Snapshot.Epoch != a.Epoch() {
		t.Fatalf("node a's snapshot %+v, want epoch %s", subA.Snapshot, a.Epoch())
	}
	collect(t, subA, 15)
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, b)
	if a.Epoch() != b.Epoch() || b.hub.Epoch() != a.hub.Epoch() {
		t.Fatalf("epochs: nodes %s and %s, hubs %s and %s", a.Epoch(), b.Epoch(), a.hub.Epoch(), b.hub.Epoch())
	}
	publishCalls(a.pub, 6, 100)
	// The wallboard on a reads 150 of the changes, then its node goes.
	var last uint64
	got := follow(t, subA, "a", &last, nil, 150)
	subB, err := b.hub.Subscribe(&monitor.Resume{Epoch: a.hub.Epoch(), Since: last})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(subB.Close)
	if subB.Snapshot != nil {
		t.Fatalf("node b answered the resume from %d with a snapshot", last)
	}
	got = follow(t, subB, "b", &last, got, 285)
	checkOrder(t, got, 6, 100)
	if lag := b.Lag(); lag != 0 {
		t.Fatalf("node b's lag %d after the last change, want 0", lag)
	}
	// From before b's present: b cannot know what happened then.
	old, err := b.hub.Subscribe(&monitor.Resume{Epoch: a.hub.Epoch(), Since: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if old.Snapshot == nil {
		t.Fatalf("a resume from before node b's start got %d changes, want a snapshot", len(old.Missed))
	}
}

// TestNATSRestartLosesNothing: changes published while NATS is down wait
// and are delivered once it is back, with those before, none twice.
func TestNATSRestartLosesNothing(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, a)
	waitReady(t, b)
	subB := subscribe(t, b.hub)
	publishCalls(a.pub, 1, 50)
	first := collect(t, subB, 150)
	srv.Stop()
	publishCalls(a.pub, 51, 100)
	time.Sleep(300 * time.Millisecond)
	srv.StartAgain()
	rest := collect(t, subB, 150)
	checkOrder(t, append(first, rest...), 1, 100)
	select {
	case ev := <-subB.Events():
		t.Fatalf("node b: an extra event %s", ev.Kind())
	case <-time.After(500 * time.Millisecond):
	}
	if a.pub.Dropped() != 0 {
		t.Fatalf("dropped %d", a.pub.Dropped())
	}
}

// holder runs a lease and records when its run starts and stops.
type holder struct {
	running atomic.Bool
	starts  atomic.Int32
	stopped chan struct{}
	started chan struct{}
}

func newHolder() *holder {
	return &holder{stopped: make(chan struct{}, 16), started: make(chan struct{}, 16)}
}

func (h *holder) run(overlap *atomic.Int32) cluster.LeaseRun {
	return func(ctx context.Context) error {
		if overlap.Add(1) > 1 {
			panic("two nodes run the same source")
		}
		h.running.Store(true)
		h.starts.Add(1)
		h.started <- struct{}{}
		<-ctx.Done()
		h.running.Store(false)
		overlap.Add(-1)
		h.stopped <- struct{}{}
		return nil
	}
}

func within(t *testing.T, ch <-chan struct{}, d time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ch:
		return time.Since(start)
	case <-time.After(d):
		t.Fatalf("%s: not within %s", what, d)
	}
	return 0
}

// TestLeaseTakenOverWhenOwnerLosesNATS: one node at a time runs the
// source; when the owner cannot renew (its NATS connection gone), it stops
// the source, and another takes it over within the TTL.
func TestLeaseTakenOverWhenOwnerLosesNATS(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", ttl)
	b := startNode(t, srv.URL(), "b", ttl)
	var overlap atomic.Int32
	ha, hb := newHolder(), newHolder()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { a.Lease(ctx, "box.1", ha.run(&overlap), nil) })
	within(t, ha.started, 5*time.Second, "a takes the lease")
	wg.Go(func() { b.Lease(ctx, "box.1", hb.run(&overlap), nil) })
	time.Sleep(2 * ttl)
	if hb.starts.Load() != 0 {
		t.Fatal("b runs the source while a renews its lease")
	}
	owners, err := b.Owners(ctx)
	if err != nil || owners["box.1"] != "a" {
		t.Fatalf("owners = %v, %v; want box.1 → a", owners, err)
	}
	a.Close() // a loses NATS: it cannot renew any more
	within(t, ha.stopped, ttl, "a stops the source")
	took := within(t, hb.started, 2*ttl, "b takes the source over")
	t.Logf("b took over %s after a stopped", took)
	owners, err = b.Owners(ctx)
	if err != nil || owners["box.1"] != "b" {
		t.Fatalf("owners = %v, %v; want box.1 → b", owners, err)
	}
}

// TestLeaseGivenUpOnStop: an owner that stops in order deletes its lease,
// and another takes the source at once (well within the TTL).
func TestLeaseGivenUpOnStop(t *testing.T) {
	const ttl = 6 * time.Second
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", ttl)
	b := startNode(t, srv.URL(), "b", ttl)
	var overlap atomic.Int32
	ha, hb := newHolder(), newHolder()
	actx, acancel := context.WithCancel(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { acancel(); cancel(); wg.Wait() }()
	var aDone sync.WaitGroup
	aDone.Go(func() { a.Lease(actx, "box.1", ha.run(&overlap), nil) })
	within(t, ha.started, 5*time.Second, "a takes the lease")
	wg.Go(func() { b.Lease(ctx, "box.1", hb.run(&overlap), nil) })
	acancel()
	aDone.Wait()
	within(t, hb.started, ttl-time.Second, "b takes the given-up lease")
}

// TestTermDropsStaleChanges: a closed term's queued changes and later
// ones never reach the stream; other sources' do.
func TestTermDropsStaleChanges(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)
	srv.Stop()
	term := a.pub.Term("box.1")
	term.Call(call("old", monitor.Ringing))
	other := monitor.Call{ID: "x", Source: "box.10", State: monitor.Ringing}
	a.pub.Call(other)
	if n := term.Close(); n != 1 {
		t.Fatalf("closed term dropped %d, want 1", n)
	}
	term.Call(call("old", monitor.Ended))
	sub := subscribe(t, a.hub)
	srv.StartAgain()
	got := collect(t, sub, 1)
	if got[0].ID != "x" {
		t.Fatalf("got %s, want x", got[0].ID)
	}
	select {
	case ev := <-sub.Events():
		t.Fatalf("an extra event %s", ev.Kind())
	case <-time.After(300 * time.Millisecond):
	}
}

// TestLeasedSourceNamesItsNode: a status a lease term publishes names the
// node holding the lease, on every node and in the snapshot of a node
// that starts later; one published beside a lease (a source every node
// runs) names none.
func TestLeasedSourceNamesItsNode(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)
	a.pub.Term("box.1").SourceStatus(monitor.SourceStatus{Name: "box.1", Type: "fritz", State: monitor.LinkConnected, Node: "forged"})
	a.pub.SourceStatus(monitor.SourceStatus{Name: "fs.out", Type: "esl-outbound", State: monitor.LinkConnected})
	want := map[monitor.SourceName]string{"box.1": "a", "fs.out": ""}
	nodes := func(h *monitor.Hub) (bool, string) {
		got := map[monitor.SourceName]string{}
		for _, s := range h.Sources() {
			got[s.Name] = s.Node
		}
		return maps.Equal(got, want), fmt.Sprint(got)
	}
	waitFor(t, "node a's hub names a as box.1's node", func() (bool, string) { return nodes(a.hub) })
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, b)
	if ok, got := nodes(b.hub); !ok {
		t.Fatalf("node b's sources at start = %s, want %v", got, want)
	}

	// b takes the source over: its term's status names b everywhere.
	b.pub.Term("box.1").SourceStatus(monitor.SourceStatus{Name: "box.1", Type: "fritz", State: monitor.LinkResyncing})
	want["box.1"] = "b"
	waitFor(t, "node a's hub names b after the takeover", func() (bool, string) { return nodes(a.hub) })
	waitFor(t, "node b's hub names b after the takeover", func() (bool, string) { return nodes(b.hub) })
}
