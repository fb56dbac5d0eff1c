package cluster_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/cluster/natstest"
)

// TestPipelinedAcrossOutage: many changes are on their way to NATS at
// once, and a NATS server stopped while they are and started again later
// loses none, stores none twice, and keeps every call's order.
func TestPipelinedAcrossOutage(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, a)
	waitReady(t, b)
	subB := subscribe(t, b.hub)
	var last uint64
	publishCalls(a.pub, 1, 1000)
	// Stopped mid-way: changes are on their way, some stored, some not,
	// some stored with their ack lost.
	got := follow(t, subB, "b", &last, nil, 600)
	srv.Stop()
	publishCalls(a.pub, 1001, 1200)
	// While NATS is away, each round of retries sends the first waiting
	// change of every call at once (the window, 256, is the bound).
	waitFor(t, "200 changes on their way at once", func() (bool, string) {
		return a.pub.MaxInFlight() >= 200, strconv.Itoa(a.pub.MaxInFlight())
	})
	time.Sleep(300 * time.Millisecond) // a few rounds of retries
	srv.StartAgain()
	got = follow(t, subB, "b", &last, got, 3600)
	checkOrder(t, got, 1, 1200)
	select {
	case ev := <-subB.Events():
		t.Fatalf("node b: an extra event %s", ev.Kind())
	case <-time.After(500 * time.Millisecond):
	}
	if a.pub.Dropped() != 0 {
		t.Fatalf("dropped %d", a.pub.Dropped())
	}
	waitFor(t, "the outbox empty", func() (bool, string) {
		return a.pub.Queued() == 0, strconv.Itoa(a.pub.Queued())
	})
	if a.pub.Stored() < last {
		t.Fatalf("stored up to %d, node b applied up to %d", a.pub.Stored(), last)
	}
}

// TestOneSubjectInOrder: the changes of one item (a source's status,
// published over and over among calls) reach the other node in the order
// published, each once, across a NATS restart while they are on their way.
func TestOneSubjectInOrder(t *testing.T) {
	const n = 600
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	b := startNode(t, srv.URL(), "b", 0)
	waitReady(t, a)
	waitReady(t, b)
	sub := subscribe(t, b.hub)
	status := func(i int) {
		a.pub.SourceStatus(monitor.SourceStatus{Name: "box.9", Type: "fritz", State: monitor.LinkRetrying,
			Error: strconv.Itoa(i), Since: time.Unix(1_700_000_000, 0).UTC()})
	}
	next, calls := 0, 0
	take := func(want int) {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for next < want {
			select {
			case ev := <-sub.Events():
				switch p := ev.Payload.(type) {
				case *monitor.SourceStatus:
					if p.Name != "box.9" {
						continue
					}
					if p.Error != strconv.Itoa(next) {
						t.Fatalf("status %s, want %d", p.Error, next)
					}
					next++
				case *monitor.Call:
					calls++
				}
			case <-sub.Done():
				t.Fatalf("subscription ended: %s", sub.Reason())
			case <-timeout:
				t.Fatalf("%d of the %d statuses", next, want)
			}
		}
	}
	for i := range n / 2 {
		status(i)
		a.pub.Call(call(fmt.Sprintf("c%d", i), monitor.Ringing))
	}
	take(n / 4)
	srv.Stop()
	for i := n / 2; i < n; i++ {
		status(i)
		a.pub.Call(call(fmt.Sprintf("c%d", i), monitor.Ringing))
	}
	time.Sleep(300 * time.Millisecond) // a few rounds of retries
	srv.StartAgain()
	take(n)
	waitFor(t, "every call", func() (bool, string) {
		for calls < n {
			select {
			case ev := <-sub.Events():
				if _, ok := ev.Payload.(*monitor.Call); ok {
					calls++
				}
			case <-time.After(100 * time.Millisecond):
				return false, strconv.Itoa(calls)
			}
		}
		return true, ""
	})
	select {
	case ev := <-sub.Events():
		t.Fatalf("an extra event %s", ev.Kind())
	case <-time.After(500 * time.Millisecond):
	}
}

// TestStopWhileNATSAway: a publisher stopped with changes on their way
// to a NATS that does not answer gives up after its drain second, not
// never.
func TestStopWhileNATSAway(t *testing.T) {
	srv := natstest.Start(t)
	a := startNode(t, srv.URL(), "a", 0)
	waitReady(t, a)
	srv.Stop()
	publishCalls(a.pub, 1, 300)
	waitFor(t, "changes sent to the stopped NATS", func() (bool, string) {
		return a.pub.MaxInFlight() > 0, strconv.Itoa(a.pub.MaxInFlight())
	})
	a.stop()
	stopped := make(chan struct{})
	go func() { a.wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the publisher did not stop")
	}
	if a.pub.Queued() != 900 {
		t.Fatalf("%d changes left, want all 900", a.pub.Queued())
	}
}
