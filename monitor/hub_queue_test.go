package monitor

import (
	"fmt"
	"testing"
)

// TestHubQueuedTakesAllInOrder: a queued subscription signals Ready once
// for a backlog, Take returns every waiting event in order, and a full
// queue drops the subscriber as slow.
func TestHubQueuedTakesAllInOrder(t *testing.T) {
	h := NewHub(HubConfig{SubscriberBuffer: 8})
	defer h.Close()
	sub, err := h.Subscribe(nil, Queued())
	if err != nil {
		t.Fatal(err)
	}
	if sub.Events() != nil {
		t.Fatal("a queued subscription has an events channel")
	}
	var buf []Event
	for round := range 3 {
		for i := range 5 {
			h.Call(call(fmt.Sprintf("s:%d-%d", round, i), Ringing))
		}
		<-sub.Ready()
		buf = sub.Take(buf[:0])
		if len(buf) != 5 {
			t.Fatalf("round %d: took %d events, want 5", round, len(buf))
		}
		for i, ev := range buf {
			if c := ev.Payload.(*Call); c.ID != CallID(fmt.Sprintf("s:%d-%d", round, i)) {
				t.Fatalf("round %d event %d: %s", round, i, c.ID)
			}
		}
		select {
		case <-sub.Ready():
			t.Fatal("ready again with nothing waiting")
		default:
		}
	}
	for i := range 9 {
		h.Call(call(fmt.Sprintf("s:over-%d", i), Ringing))
	}
	<-sub.Done()
	if sub.Reason() != CloseSlow {
		t.Fatalf("reason %s, want %s", sub.Reason(), CloseSlow)
	}
}

// TestHubNotify: a Notify subscription is called once when its queue
// stops being empty (not for every event of a backlog) and once more when
// it ends.
func TestHubNotify(t *testing.T) {
	h := NewHub(HubConfig{SubscriberBuffer: 8})
	defer h.Close()
	calls := 0
	sub, err := h.Subscribe(nil, Notify(func() { calls++ })) // called under the hub's lock
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		h.Call(call(fmt.Sprintf("n:%d", i), Ringing))
	}
	h.mu.Lock()
	got := calls
	h.mu.Unlock()
	if got != 1 {
		t.Fatalf("notified %d times for a backlog of 3, want 1", got)
	}
	if evs := sub.Take(nil); len(evs) != 3 {
		t.Fatalf("took %d events, want 3", len(evs))
	}
	h.Call(call("n:again", Ringing))
	sub.Close()
	h.mu.Lock()
	got = calls
	h.mu.Unlock()
	if got != 3 {
		t.Fatalf("notified %d times in all, want 3 (backlog, new event, end)", got)
	}
	if sub.Reason() != CloseClientClosed {
		t.Fatalf("reason %s", sub.Reason())
	}
}

// TestHubNotifyBacklog: with NotifyBacklog(n) the subscriber is called
// again when n events wait (once per backlog), Waiting counts them
// without the lock, and Ended turns true with the end.
func TestHubNotifyBacklog(t *testing.T) {
	h := NewHub(HubConfig{SubscriberBuffer: 16})
	defer h.Close()
	var calls []int // Waiting at each call
	var sub *Subscription
	sub, err := h.Subscribe(nil, Notify(func() { calls = append(calls, sub.Waiting()) }), NotifyBacklog(4))
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		calls = calls[:0]
		for i := range 6 {
			h.Call(call(fmt.Sprintf("b:%d-%d", round, i), Ringing))
		}
		if len(calls) != 2 || calls[0] != 1 || calls[1] != 4 {
			t.Fatalf("round %d: called with %v waiting, want [1 4]", round, calls)
		}
		if n := sub.Waiting(); n != 6 {
			t.Fatalf("round %d: %d waiting, want 6", round, n)
		}
		if evs := sub.Take(nil); len(evs) != 6 || sub.Waiting() != 0 {
			t.Fatalf("round %d: took %d events, %d still waiting", round, len(evs), sub.Waiting())
		}
	}
	if sub.Ended() {
		t.Fatal("ended before its end")
	}
	sub.Close()
	if !sub.Ended() {
		t.Fatal("not ended after Close")
	}
}

// TestHubNotifyHasNoReady: a Notify subscription has no Ready channel
// (notify says it, and nothing would read it), a queued one without
// Notify has.
func TestHubNotifyHasNoReady(t *testing.T) {
	h := NewHub(HubConfig{SubscriberBuffer: 8})
	defer h.Close()
	sub, err := h.Subscribe(nil, Notify(func() {}))
	if err != nil {
		t.Fatal(err)
	}
	if sub.Ready() != nil {
		t.Fatal("a Notify subscription has a Ready channel")
	}
	h.Call(call("t:1", Ringing))
	if n := len(sub.Take(nil)); n != 1 {
		t.Errorf("took %d events, want 1", n)
	}
	if q, err := h.Subscribe(nil, Queued()); err != nil || q.Ready() == nil {
		t.Fatalf("a queued subscription without Notify has no Ready channel (%v)", err)
	}
}
