package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func call(id string, st State) Call {
	return Call{ID: CallID(id), Source: "s", State: st, Started: t0}
}

func recv(t *testing.T, s *Subscription) Event {
	t.Helper()
	select {
	case ev := <-s.Events():
		return ev
	case <-s.Done():
		t.Fatalf("subscription ended: %s", s.Reason())
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}

func TestHubSnapshotThenDeltas(t *testing.T) {
	h := NewHub(HubConfig{})
	defer h.Close()
	h.SourceStatus(SourceStatus{Name: "s", Type: "fritz", State: LinkConnected})
	h.Call(call("s:1", Ringing))
	h.Call(call("s:2", Ringing))
	h.Call(call("s:1", Ended))

	sub, err := h.Subscribe(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	snap := sub.Snapshot
	if snap == nil || snap.Seq != 4 || len(snap.Calls()) != 1 || snap.Calls()[0].ID != "s:2" || len(snap.Sources()) != 1 {
		t.Fatalf("snapshot = %+v", snap)
	}
	h.Call(call("s:2", Connected))
	ev := recv(t, sub)
	if c, ok := ev.Payload.(*Call); ev.Seq != 5 || ev.Kind() != KindCall || !ok || c.State != Connected {
		t.Fatalf("event = %+v", ev)
	}
	h.UserEvent(UserEvent{Source: "s", Name: "Queue"})
	if ev := recv(t, sub); ev.Kind() != KindUser || ev.Payload.(*UserEvent).Name != "Queue" {
		t.Fatalf("event = %+v", ev)
	}
}

func TestHubResume(t *testing.T) {
	h := NewHub(HubConfig{RingSize: 8})
	defer h.Close()
	for i := 1; i <= 5; i++ {
		h.Call(call(fmt.Sprintf("s:%d", i), Ringing))
	}
	tests := []struct {
		name       string
		resume     *Resume
		wantSnap   bool
		wantMissed []uint64
	}{
		{"nil resume gets a snapshot", nil, true, nil},
		{"up to date gets nothing", &Resume{Epoch: h.Epoch(), Since: 5}, false, []uint64{}},
		{"missed two", &Resume{Epoch: h.Epoch(), Since: 3}, false, []uint64{4, 5}},
		{"from zero while ring reaches back", &Resume{Epoch: h.Epoch(), Since: 0}, false, []uint64{1, 2, 3, 4, 5}},
		{"other epoch gets a snapshot", &Resume{Epoch: "old", Since: 3}, true, nil},
		{"future seq gets a snapshot", &Resume{Epoch: h.Epoch(), Since: 99}, true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub, err := h.Subscribe(tc.resume)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if (sub.Snapshot != nil) != tc.wantSnap {
				t.Fatalf("snapshot = %v, want %v", sub.Snapshot != nil, tc.wantSnap)
			}
			if tc.wantSnap {
				return
			}
			var got []uint64
			for _, ev := range sub.Missed {
				got = append(got, ev.Seq)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantMissed) || len(got) != len(tc.wantMissed) {
				t.Fatalf("missed = %v, want %v", got, tc.wantMissed)
			}
		})
	}
}

func TestHubResumeAfterRingWrapped(t *testing.T) {
	h := NewHub(HubConfig{RingSize: 4})
	defer h.Close()
	for i := 1; i <= 10; i++ {
		h.Call(call(fmt.Sprintf("s:%d", i), Ringing))
	}
	sub, _ := h.Subscribe(&Resume{Epoch: h.Epoch(), Since: 7})
	defer sub.Close()
	if len(sub.Missed) != 3 || sub.Missed[0].Seq != 8 || sub.Missed[2].Seq != 10 {
		t.Fatalf("missed = %+v", sub.Missed)
	}
	old, _ := h.Subscribe(&Resume{Epoch: h.Epoch(), Since: 5})
	defer old.Close()
	if old.Snapshot == nil || len(old.Snapshot.Calls()) != 10 {
		t.Fatalf("a resume beyond the ring must get a snapshot, got %+v", old)
	}
	edge, _ := h.Subscribe(&Resume{Epoch: h.Epoch(), Since: 6})
	defer edge.Close()
	if len(edge.Missed) != 4 || edge.Missed[0].Seq != 7 {
		t.Fatalf("edge missed = %+v", edge.Missed)
	}
}

func TestHubDropsSlowSubscriberOnly(t *testing.T) {
	h := NewHub(HubConfig{SubscriberBuffer: 4})
	defer h.Close()
	slow, _ := h.Subscribe(nil)
	fast, _ := h.Subscribe(nil)
	// The fast subscriber reads every event as it comes; the slow one never
	// reads. Publishing must go on for the fast one after the slow one fills.
	for i := 1; i <= 100; i++ {
		h.Call(call("s:1", Ringing))
		if ev := recv(t, fast); ev.Seq != uint64(i) {
			t.Fatalf("fast got seq %d, want %d", ev.Seq, i)
		}
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber was not dropped")
	}
	if slow.Reason() != CloseSlow {
		t.Fatalf("reason = %s", slow.Reason())
	}
	if st := h.Stats(); st.Dropped[CloseSlow] != 1 || st.Subscribers != 1 {
		t.Fatalf("stats = %+v", st)
	}
	fast.Close()
	fast.Close() // idempotent
	if fast.Reason() != CloseClientClosed {
		t.Fatalf("reason = %s", fast.Reason())
	}
}

func TestHubCloseEndsSubscriptions(t *testing.T) {
	h := NewHub(HubConfig{})
	sub, _ := h.Subscribe(nil)
	h.Close()
	h.Close()
	if sub.Reason() != CloseShutdown {
		t.Fatalf("reason = %s", sub.Reason())
	}
	if _, err := h.Subscribe(nil); !errors.Is(err, ErrHubClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	h.Call(call("s:1", Ringing)) // must not panic or block
}

func TestHubObserverSeesEveryEvent(t *testing.T) {
	var seen []uint64
	h := NewHub(HubConfig{SubscriberBuffer: 1}, WithObserver(func(ev Event) { seen = append(seen, ev.Seq) }))
	defer h.Close()
	for i := 0; i < 10; i++ {
		h.Call(call("s:1", Ringing))
	}
	if len(seen) != 10 || seen[9] != 10 {
		t.Fatalf("observer saw %v", seen)
	}
}

func TestHubConcurrentPublishers(t *testing.T) {
	h := NewHub(HubConfig{SubscriberBuffer: 10000})
	defer h.Close()
	sub, _ := h.Subscribe(nil)
	defer sub.Close()
	var wg sync.WaitGroup
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				h.Call(call(fmt.Sprintf("s:%d-%d", p, i), Ringing))
				_ = h.Counters(SourceName(fmt.Sprint(p)))
			}
		}()
	}
	wg.Wait()
	var last uint64
	for i := 0; i < 4000; i++ {
		ev := recv(t, sub)
		if ev.Seq != last+1 {
			t.Fatalf("seq %d after %d", ev.Seq, last)
		}
		last = ev.Seq
	}
	if n := len(h.Snapshot().Calls()); n != 4000 {
		t.Fatalf("active calls = %d", n)
	}
}

// TestHubKeepsExtensionsAndQueues: the two kinds the busy-lamp field and
// the queue tiles read reach a new subscriber in its snapshot and a
// subscribed one as deltas, and leave the state when removed.
func TestHubKeepsExtensionsAndQueues(t *testing.T) {
	h := NewHub(HubConfig{})
	defer h.Close()
	exts := NewExtensionTracker("pbx", h)
	queues := NewQueueTracker("pbx", h, nil)
	exts.Update("201@default", t0, func(e *Extension) { e.Number, e.State = "201", DeviceIdle })
	queues.Update("support", t0, func(q *Queue) { q.AddCaller(QueueCaller{ID: "1.1", Joined: t0}) })

	sub, err := h.Subscribe(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	snap := sub.Snapshot
	if e := snap.Extensions(); len(e) != 1 || e[0].Lamp != LampFree {
		t.Fatalf("snapshot extensions %+v", e)
	}
	if q := snap.Queues(); len(q) != 1 || len(q[0].Callers) != 1 {
		t.Fatalf("snapshot queues %+v", q)
	}
	b, err := json.Marshal(snap)
	if err != nil || !bytes.Contains(b, []byte(`"extensions":[{"id":"pbx:201@default"`)) || !bytes.Contains(b, []byte(`"queues":[{"id":"pbx:support"`)) {
		t.Fatalf("snapshot JSON %s, %v", b, err)
	}

	exts.Update("201@default", t0, func(e *Extension) { e.State = DeviceRinging })
	queues.Update("support", t0, func(q *Queue) { q.RemoveCaller("1.1") })
	exts.Remove("201@default")
	want := []string{
		`{"type":"extension","seq":3,`, `"state":"ringing"`,
		`{"type":"queue","seq":4,`, `"callers":[]`,
		`{"type":"extension","seq":5,`, `"removed":true`,
	}
	for i := 0; i < 3; i++ {
		ev := <-sub.Events()
		b, err := ev.JSON()
		if err != nil || !bytes.HasPrefix(b, []byte(want[2*i])) || !bytes.Contains(b, []byte(want[2*i+1])) {
			t.Fatalf("delta %d = %s, %v; want %s…%s", i, b, err, want[2*i], want[2*i+1])
		}
	}
	if e := h.Snapshot().Extensions(); len(e) != 0 {
		t.Fatalf("a removed extension stayed: %+v", e)
	}
	if q := h.Snapshot().Queues(); len(q) != 1 || len(q[0].Callers) != 0 {
		t.Fatalf("queues %+v", q)
	}
}
