package monitor

import (
	"encoding/json"
	"testing"
	"time"
)

func TestQueueCallers(t *testing.T) {
	var q Queue
	q.AddCaller(QueueCaller{ID: "a", Joined: at(0)})
	q.AddCaller(QueueCaller{ID: "b", Joined: at(5)})
	q.AddCaller(QueueCaller{ID: "c", Position: 1, Joined: at(7)}) // a priority caller goes first
	if ids := callerIDs(q); ids != "c1 a2 b3" {
		t.Fatalf("callers %s", ids)
	}
	q.AddCaller(QueueCaller{ID: "a", Position: 3, Joined: at(0)}) // moved
	if ids := callerIDs(q); ids != "c1 b2 a3" {
		t.Fatalf("after a move: %s", ids)
	}
	if _, ok := q.RemoveCaller("b"); !ok {
		t.Fatal("b not removed")
	}
	if _, ok := q.RemoveCaller("b"); ok {
		t.Fatal("b removed twice")
	}
	if ids := callerIDs(q); ids != "c1 a2" {
		t.Fatalf("after b left: %s", ids)
	}
	if w := longestWait(q.Callers, at(42)); w != 42 {
		t.Fatalf("longest wait %d, want 42", w)
	}
}

func callerIDs(q Queue) string {
	s := ""
	for i, c := range q.Callers {
		if i > 0 {
			s += " "
		}
		s += c.ID + string(rune('0'+c.Position))
	}
	return s
}

func TestQueueMemberPauseReasonKept(t *testing.T) {
	var m QueueMember
	m.Pause(true, "lunch", at(1))
	m.Pause(true, "", at(2)) // a later status event without a reason
	if !m.Paused || m.PauseReason != "lunch" || !m.PausedSince.Equal(at(1)) {
		t.Fatalf("paused: %+v", m)
	}
	m.Pause(true, "meeting", at(3))
	if m.PauseReason != "meeting" || !m.PausedSince.Equal(at(1)) {
		t.Fatalf("new reason: %+v", m)
	}
	m.Pause(false, "", at(4))
	if m.Paused || m.PauseReason != "" || !m.PausedSince.IsZero() {
		t.Fatalf("unpaused: %+v", m)
	}
}

func TestQueueTracker(t *testing.T) {
	hub := NewHub(HubConfig{})
	tr := NewQueueTracker("pbx", hub, func(q string) int {
		if q == "support" {
			return 30
		}
		return 20
	})
	tr.Update("support", at(10), func(q *Queue) {
		q.AddCaller(QueueCaller{ID: "1.1", Number: "0301234567", Joined: at(0)})
		m := q.Member("PJSIP/201")
		m.State = DeviceIdle
	})
	if tr.Update("support", at(11), func(q *Queue) {}) {
		t.Fatal("an unchanged queue was published again")
	}
	tr.Update("support", at(40), func(q *Queue) {
		c, _ := q.RemoveCaller("1.1")
		q.Stats.Abandon(at(40).Sub(c.Joined))
	})
	q, _ := tr.Get("support")
	if q.Stats.ServiceLevel != 30 || q.Stats.Abandoned != 1 || q.Stats.AbandonedInSL != 0 || q.Stats.AbandonRate != Known(100) || q.Stats.SL.OK {
		t.Fatalf("stats %+v", q.Stats)
	}
	snap := hub.Snapshot().Queues()
	if len(snap) != 1 || snap[0].ID != "pbx:support" || len(snap[0].Callers) != 0 || len(snap[0].Members) != 1 {
		t.Fatalf("snapshot %+v", snap)
	}
	tr.Update("sales", at(50), func(q *Queue) { q.AddCaller(QueueCaller{ID: "2.1", Joined: at(20)}) })
	s, _ := tr.Get("sales")
	if s.LongestWait != 30 || !s.Updated.Equal(at(50)) || s.Stats.ServiceLevel != 20 {
		t.Fatalf("sales %+v", s)
	}
	tr.Unknown()
	if s, _ := tr.Get("sales"); len(s.Callers) != 0 {
		t.Fatalf("callers kept after the link was lost: %+v", s.Callers)
	}
	if q, _ := tr.Get("support"); q.Members[0].State != DeviceUnknown || q.Stats.Abandoned != 1 {
		t.Fatalf("support after the link was lost: %+v", q)
	}
	tr.Retain(func(n string) bool { return n == "sales" })
	if got := hub.Snapshot().Queues(); len(got) != 1 || got[0].Name != "sales" {
		t.Fatalf("after support went: %+v", got)
	}
	b, err := json.Marshal(hub.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil || len(back.Queues()) != 1 || back.Queues()[0].Stats.SL.OK {
		t.Fatalf("snapshot round trip %s: %v", b, err)
	}
}

// book is a NameLookup over a map.
type book map[string]string

func (b book) LookupName(n string) (string, bool) { v, ok := b[n]; return v, ok }

func TestNamesFillsNumbersOnly(t *testing.T) {
	hub := NewHub(HubConfig{})
	names := NewNames(hub, book{"0301234567": "Bäckerei Schulz", "201": "Anna (book)"})
	ringing := []Party{{Number: "201", Name: "Anna"}, {Number: "0301234567"}}
	c := Call{ID: "pbx:1", Source: "pbx", State: Ringing, Started: t0,
		From: Party{Number: "0301234567"}, To: Party{Number: "201"}, Ringing: ringing}
	names.Call(c)
	got := hub.Snapshot().Calls()[0]
	if got.From.Name != "Bäckerei Schulz" || got.To.Name != "Anna (book)" || got.Ringing[0].Name != "Anna" || got.Ringing[1].Name != "Bäckerei Schulz" {
		t.Fatalf("named call %+v", got)
	}
	if ringing[1].Name != "" {
		t.Fatal("the tracker's slice was changed")
	}
	names.Call(Call{ID: "pbx:2", Source: "pbx", State: Ringing, Started: t0.Add(time.Second), From: Party{Number: "0301234567", Private: true}})
	if got := hub.Snapshot().Calls()[1]; got.From.Name != "" {
		t.Fatalf("a withheld number was named: %+v", got.From)
	}
	if err := names.Publish(&Queue{ID: "pbx:q", Source: "pbx", Name: "q", Callers: []QueueCaller{{ID: "x", Number: "0301234567"}}}); err != nil {
		t.Fatal(err)
	}
	if q := hub.Snapshot().Queues()[0]; q.Callers[0].Name != "Bäckerei Schulz" {
		t.Fatalf("queue caller %+v", q.Callers[0])
	}
}

// TestNamesFillsPeers: the other parties of a busy lamp's calls are
// named like any party; the extension a source sent is left unchanged.
func TestNamesFillsPeers(t *testing.T) {
	hub := NewHub(HubConfig{})
	names := NewNames(hub, book{"0301234567": "Bäckerei Schulz"})
	peers := []Party{{Number: "0301234567"}, {Number: "202", Name: "Ben"}}
	e := &Extension{ID: "desk:blf:201", Source: "desk", Number: "201", Name: "Anna", State: DeviceRingingInUse, Lamp: LampBusy, Peers: peers}
	if err := names.Publish(e); err != nil {
		t.Fatal(err)
	}
	got := hub.Snapshot().Extensions()[0]
	if got.Name != "Anna" || got.Peers[0].Name != "Bäckerei Schulz" || got.Peers[1].Name != "Ben" {
		t.Fatalf("named extension %+v", got)
	}
	if peers[0].Name != "" {
		t.Fatal("the source's slice was changed")
	}
}
