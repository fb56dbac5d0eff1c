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
