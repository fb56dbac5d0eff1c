package ami

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// stateEvents reads one of the event streams in testdata/state.
func stateEvents(t testing.TB, name string) []Message {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "state", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Message
	if err := decodeRecording(t.Context(), f, func(m Message) { out = append(out, m) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// listed gives list items the ActionID of the list action they answer,
// as the manager does, and ends the list with its Complete event.
func asListed(id, complete string, events []Message) []Message {
	out := make([]Message, 0, len(events)+1)
	for _, m := range events {
		if m.Event() == complete {
			continue
		}
		out = append(out, append(M("Event", m.Event(), "ActionID", id), m[1:]...))
	}
	return append(out, M("Event", complete, "ActionID", id, "EventList", "Complete"))
}

// t1 is the tests' clock: list items carry no Timestamp.
var t1 = time.Unix(1700004000, 0)

// stateTracker is a tracker that has seen every list after a connect.
func stateTracker(t *testing.T) (*Tracker, *monitortest.Recorder) {
	t.Helper()
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	tr.SetClock(func() time.Time { return t1 })
	tr.SetStateConfig(monitor.StateConfig{ServiceLevels: map[string]time.Duration{"sales": 30 * time.Second}})
	for _, l := range []struct{ file, complete string }{
		{"extensionstatelist.jsonl", "ExtensionStateListComplete"},
		{"devicestatelist.jsonl", "DeviceStateListComplete"},
		{"presencestatelist.jsonl", "PresenceStateListComplete"},
		{"queuestatus.jsonl", "QueueStatusComplete"},
		{"queuesummary.jsonl", "QueueSummaryComplete"},
	} {
		for _, m := range asListed("7", l.complete, stateEvents(t, l.file)) {
			tr.Handle(m)
		}
	}
	return tr, sink
}

type extWant struct {
	state    monitor.DeviceState
	presence monitor.Presence
	message  string
	lamp     monitor.Lamp
}

func checkExt(t *testing.T, tr *Tracker, key string, want extWant) {
	t.Helper()
	e, ok := tr.st.exts.Get(key)
	if !ok {
		t.Fatalf("no extension %s", key)
	}
	if e.State != want.state || e.Presence != want.presence || e.Message != want.message || e.Lamp != want.lamp {
		t.Fatalf("%s = %s/%q/%q lamp %s; want %s/%q/%q lamp %s", key, e.State, e.Presence, e.Message, e.Lamp,
			want.state, want.presence, want.message, want.lamp)
	}
}

func TestExtensionListsAfterConnect(t *testing.T) {
	tr, _ := stateTracker(t)
	for key, want := range map[string]extWant{
		"201@ext-local": {monitor.DeviceIdle, monitor.PresenceAvailable, "", monitor.LampFree},
		// DND by feature code: the hint says Busy, the phone is idle.
		"202@ext-local": {monitor.DeviceIdle, monitor.PresenceDND, "", monitor.LampDND},
		"203@ext-local": {monitor.DeviceInUse, "", "", monitor.LampBusy},
		"204@ext-local": {monitor.DeviceUnavailable, "", "", monitor.LampOffline},
		"205@ext-local": {monitor.DeviceIdle, monitor.PresenceAway, "Lunch until 2", monitor.LampAway},
		// A phone without a hint is an extension of its own.
		"PJSIP/210": {monitor.DeviceIdle, "", "", monitor.LampFree},
	} {
		checkExt(t, tr, key, want)
	}
	if n := tr.st.exts.Len(); n != 6 {
		tr.st.exts.Each(func(k string, e monitor.Extension) { t.Logf("%s %+v", k, e) })
		t.Fatalf("%d extensions, want 6 (no trunk, queue or park device)", n)
	}
	if e, _ := tr.st.exts.Get("201@ext-local"); e.Number != "201" || e.Device != "PJSIP/201&Custom:DND201,CustomPresence:201" || e.ID != "pbx:201@ext-local" {
		t.Fatalf("201 = %+v", e)
	}
	if e, _ := tr.st.exts.Get("PJSIP/210"); e.Number != "210" {
		t.Fatalf("210 = %+v", e)
	}

	// A later listing without 205 and without PJSIP/210 removes them.
	var exts, devs []Message
	for _, m := range stateEvents(t, "extensionstatelist.jsonl") {
		if m.Get("Exten") != "205" {
			exts = append(exts, m)
		}
	}
	for _, m := range stateEvents(t, "devicestatelist.jsonl") {
		if m.Get("Device") != "PJSIP/210" {
			devs = append(devs, m)
		}
	}
	for _, m := range append(asListed("8", "ExtensionStateListComplete", exts), asListed("9", "DeviceStateListComplete", devs)...) {
		tr.Handle(m)
	}
	if _, ok := tr.st.exts.Get("205@ext-local"); ok {
		t.Fatal("205 kept after a listing without it")
	}
	if _, ok := tr.st.exts.Get("PJSIP/210"); ok {
		t.Fatal("PJSIP/210 kept after a listing without it")
	}
}

// TestPresenceDeltas plays presence_deltas.jsonl (ExtensionStatus values,
// DeviceStateChange, PresenceStateChange, PresenceStatus) event by event.
func TestPresenceDeltas(t *testing.T) {
	tr, _ := stateTracker(t)
	events := stateEvents(t, "presence_deltas.jsonl")
	after := map[int]func(){
		1: func() { checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceRinging, "", "", monitor.LampRinging}) },
		2: func() {
			checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceRingingInUse, "", "", monitor.LampBusy})
		},
		3: func() { checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceInUse, "", "", monitor.LampBusy}) },
		4: func() { checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceOnHold, "", "", monitor.LampBusy}) },
		5: func() { checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceOnHold, "", "", monitor.LampBusy}) },
		6: func() { checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceBusy, "", "", monitor.LampBusy}) },
		7: func() {
			checkExt(t, tr, "203@ext-local", extWant{monitor.DeviceIdle, "", "", monitor.LampFree})
			if e, _ := tr.st.exts.Get("203@ext-local"); !e.Since.Equal(time.Unix(1700005007, 0)) {
				t.Fatalf("203 since %v", e.Since)
			}
		},
		// DND on: the lamp lights although the phone is idle.
		9: func() {
			checkExt(t, tr, "201@ext-local", extWant{monitor.DeviceIdle, monitor.PresenceDND, "", monitor.LampDND})
		},
		10: func() {
			checkExt(t, tr, "201@ext-local", extWant{monitor.DeviceRinging, monitor.PresenceDND, "", monitor.LampRinging})
		},
		13: func() {
			checkExt(t, tr, "201@ext-local", extWant{monitor.DeviceIdle, monitor.PresenceAvailable, "", monitor.LampFree})
		},
		14: func() {
			checkExt(t, tr, "205@ext-local", extWant{monitor.DeviceIdle, monitor.PresenceDND, "Do not disturb", monitor.LampDND})
		},
		15: func() {
			checkExt(t, tr, "205@ext-local", extWant{monitor.DeviceIdle, monitor.PresenceXA, "On holiday", monitor.LampAway})
		},
		16: func() {
			checkExt(t, tr, "205@ext-local", extWant{monitor.DeviceIdle, monitor.PresenceAvailable, "", monitor.LampFree})
		},
		17: func() { checkExt(t, tr, "204@ext-local", extWant{monitor.DeviceIdle, "", "", monitor.LampFree}) },
		18: func() { checkExt(t, tr, "PJSIP/210", extWant{monitor.DeviceInUse, "", "", monitor.LampBusy}) },
		20: func() {
			if _, ok := tr.st.exts.Get("204@ext-local"); ok {
				t.Fatal("204 kept after its hint was removed")
			}
			if _, ok := tr.st.exts.Get("299@ext-local"); ok {
				t.Fatal("a removed extension never seen appeared")
			}
		},
	}
	for i, m := range events {
		tr.Handle(m)
		if check := after[i+1]; check != nil {
			check()
		}
	}
}

func TestQueueStatusAfterConnect(t *testing.T) {
	tr, _ := stateTracker(t)
	q, ok := tr.st.queues.Get("support")
	if !ok {
		t.Fatal("no queue support")
	}
	s := q.Stats
	// 96 of 120 within 20 s (80.0 %), (96 + 12) of 150 (72.0 %), 30 of 150
	// abandoned (20 %), averages as Asterisk reports them.
	if s.ServiceLevel != 20 || s.Completed != 120 || s.CompletedInSL != 96 || s.Abandoned != 30 || s.AbandonedInSL != 12 ||
		s.SL != monitor.Known(80) || s.SL2 != monitor.Known(72) || s.AbandonRate != monitor.Known(20) ||
		s.AvgHold != monitor.Known(15) || s.AvgTalk != monitor.Known(180) {
		t.Fatalf("support stats %+v", s)
	}
	if q.Strategy != "ringall" || len(q.Members) != 2 || len(q.Callers) != 1 {
		t.Fatalf("support %+v", q)
	}
	anna, ben := q.Members[1], q.Members[0] // by interface: Local/… before PJSIP/…
	if anna.Interface != "PJSIP/201" || anna.Name != "Anna" || anna.State != monitor.DeviceIdle || anna.CallsTaken != 12 ||
		!anna.LastCall.Equal(time.Unix(1700000000, 0)) || anna.Paused || anna.Membership != "static" {
		t.Fatalf("anna (older field names) %+v", anna)
	}
	if ben.Interface != "Local/202@from-queue/n" || ben.Name != "Ben" || !ben.Paused || ben.PauseReason != "lunch" ||
		!ben.PausedSince.Equal(time.Unix(1700003000, 0)) || ben.Penalty != 1 {
		t.Fatalf("ben %+v", ben)
	}
	c := q.Callers[0]
	if c.ID != "1700003500.7" || c.Position != 1 || c.Number != "0301234567" || c.Name != "" || !c.Joined.Equal(t1.Add(-42*time.Second)) || q.LongestWait != 42 {
		t.Fatalf("caller %+v, longest %d", c, q.LongestWait)
	}
	sales, _ := tr.st.queues.Get("sales")
	if sales.Stats.ServiceLevel != 30 || sales.Stats.SL.OK || len(sales.Members) != 1 || !sales.Members[0].InCall || sales.Members[0].State != monitor.DeviceInUse {
		t.Fatalf("sales (threshold from the configuration) %+v", sales)
	}
}

// TestQueueDeltas plays queue_deltas.jsonl (QueueCaller*, QueueMember*,
// Agent*) on top of the listing.
func TestQueueDeltas(t *testing.T) {
	tr, _ := stateTracker(t)
	support := func() monitor.Queue {
		q, _ := tr.st.queues.Get("support")
		return q
	}
	member := func(iface string) monitor.QueueMember {
		q := support()
		if m := q.FindMember(iface); m != nil {
			return *m
		}
		t.Fatalf("no member %s in %+v", iface, q.Members)
		return monitor.QueueMember{}
	}
	after := map[int]func(){
		1: func() {
			q := support()
			if len(q.Callers) != 2 || q.Callers[1].ID != "1700004000.9" || q.Callers[1].Number != "+4940555123" || !q.Callers[1].Joined.Equal(time.Unix(1700004001, 0)) {
				t.Fatalf("after a join %+v", q.Callers)
			}
		},
		2: func() {
			if m := member("PJSIP/201"); m.State != monitor.DeviceRinging {
				t.Fatalf("anna while called %+v", m)
			}
		},
		5: func() {
			q := support()
			if len(q.Callers) != 1 || q.Callers[0].ID != "1700004000.9" || q.Callers[0].Position != 1 {
				t.Fatalf("after the first caller was taken %+v", q.Callers)
			}
			if m := member("PJSIP/201"); !m.InCall || m.State != monitor.DeviceInUse {
				t.Fatalf("anna on the call %+v", m)
			}
		},
		7: func() {
			if m := member("Local/202@from-queue/n"); m.Paused || m.PauseReason != "" {
				t.Fatalf("ben unpaused %+v", m)
			}
		},
		9: func() {
			// A status event while paused carries no reason: the one given
			// at the pause stays.
			if m := member("Local/202@from-queue/n"); !m.Paused || m.PauseReason != "meeting" || m.State != monitor.DeviceInUse ||
				!m.PausedSince.Equal(time.Unix(1700004008, 0)) {
				t.Fatalf("ben paused again %+v", m)
			}
		},
		10: func() {
			if s := support().Stats; s.Abandoned != 31 || s.AbandonedInSL != 13 {
				t.Fatalf("after the abandon %+v", s)
			}
		},
		12: func() {
			q := support()
			s := q.Stats
			// 96 of 121 (79.3 %), (13 + 96) of 152 (71.7 %), 31 of 152
			// abandoned (20.4 %), 1850 s / 121 (15.3 s), 21720 s / 121
			// (179.5 s).
			if len(q.Callers) != 0 || s.Completed != 121 || s.CompletedInSL != 96 || s.HoldTotal != 1850 || s.TalkTotal != 21720 ||
				s.SL != monitor.Known(79.3) || s.SL2 != monitor.Known(71.7) || s.AbandonRate != monitor.Known(20.4) ||
				s.AvgHold != monitor.Known(15.3) || s.AvgTalk != monitor.Known(179.5) {
				t.Fatalf("after the agent completed %+v, callers %+v", s, q.Callers)
			}
			if m := member("PJSIP/201"); m.InCall || m.CallsTaken != 13 || !m.LastCall.Equal(time.Unix(1700004012, 0)) {
				t.Fatalf("anna after the call %+v", m)
			}
		},
		14: func() {
			if m := member("PJSIP/205"); m.Name != "Dora" || !m.Paused || m.PauseReason != "break" {
				t.Fatalf("dora paused the old way %+v", m)
			}
		},
		15: func() {
			if q := support(); q.FindMember("Local/202@from-queue/n") != nil {
				t.Fatal("ben not removed")
			}
		},
	}
	for i, m := range stateEvents(t, "queue_deltas.jsonl") {
		tr.Handle(m)
		if check := after[i+1]; check != nil {
			check()
		}
	}
	// A QueueStatus without sales and without the callers: sales goes.
	var list []Message
	for _, m := range stateEvents(t, "queuestatus.jsonl") {
		if m.Get("Queue") != "sales" && m.Event() != "QueueEntry" {
			list = append(list, m)
		}
	}
	for _, m := range asListed("10", "QueueStatusComplete", list) {
		tr.Handle(m)
	}
	if _, ok := tr.st.queues.Get("sales"); ok {
		t.Fatal("sales kept after a listing without it")
	}
	if q := support(); q.FindMember("PJSIP/205") != nil || len(q.Members) != 2 {
		t.Fatalf("members after the listing %+v", q.Members)
	}
}

// TestQueueChangedDuringListing: a member added and a caller who joined
// while a QueueStatus listing is on its way (Asterisk sends events
// between a listing's items) stay when the listing ends without them;
// what neither the listing nor an event named goes.
func TestQueueChangedDuringListing(t *testing.T) {
	tr, _ := stateTracker(t)
	deltas := stateEvents(t, "queue_deltas.jsonl")
	pick := func(event string) Message {
		for _, m := range deltas {
			if m.Event() == event {
				return m
			}
		}
		t.Fatalf("no %s in queue_deltas.jsonl", event)
		return nil
	}
	join, added := pick("QueueCallerJoin"), pick("QueueMemberAdded") // 1700004000.9, PJSIP/205
	// The listing names support's members but not ben (gone since) and
	// none of its callers; the two events come after its first item.
	var list []Message
	for _, m := range stateEvents(t, "queuestatus.jsonl") {
		if m.Get("Queue") == "sales" || m.Event() == "QueueEntry" || m.Get("Name") == "Ben" || m.Get("MemberName") == "Ben" {
			continue
		}
		list = append(list, m)
	}
	listed := asListed("11", "QueueStatusComplete", list)
	for i, m := range listed {
		tr.Handle(m)
		if i == 0 {
			tr.Handle(join)
			tr.Handle(added)
		}
	}
	q, _ := tr.st.queues.Get("support")
	if q.FindMember("PJSIP/205") == nil || q.FindMember("PJSIP/201") == nil {
		t.Fatalf("members after the listing %+v: the one added during it, or the listed one, went", q.Members)
	}
	if q.FindMember("Local/202@from-queue/n") != nil {
		t.Fatalf("ben kept though neither the listing nor an event named him: %+v", q.Members)
	}
	if len(q.Callers) != 1 || q.Callers[0].ID != "1700004000.9" {
		t.Fatalf("callers after the listing %+v, want the one who joined during it", q.Callers)
	}
	// The next listing without them ends them as any listing does.
	for _, m := range asListed("12", "QueueStatusComplete", list) {
		tr.Handle(m)
	}
	if q, _ := tr.st.queues.Get("support"); q.FindMember("PJSIP/205") != nil || len(q.Callers) != 0 {
		t.Fatalf("after a listing without them: members %+v, callers %+v", q.Members, q.Callers)
	}
}

// TestQueueStatusRecordingAlone: a recording holding only a QueueStatus
// reply (no ActionID, as a recording of another client's listing has
// them) already yields the queues.
func TestQueueStatusRecordingAlone(t *testing.T) {
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	for _, m := range stateEvents(t, "queuestatus.jsonl") {
		tr.Handle(m)
	}
	q, ok := sink.Queue("pbx:support")
	if !ok || len(q.Members) != 2 || len(q.Callers) != 1 || q.Stats.SL != monitor.Known(80) {
		t.Fatalf("support %+v", q)
	}
	if _, ok := sink.Queue("pbx:sales"); !ok {
		t.Fatal("no sales")
	}
}

// TestExtensionCalls: an extension names the calls its phone is on, and
// lets a call go when it ends.
func TestExtensionCalls(t *testing.T) {
	tr, _ := stateTracker(t)
	for _, m := range []Message{
		M("Event", "Newchannel", "Channel", "PJSIP/201-00000011", "Uniqueid", "9.1", "Linkedid", "9.1", "CallerIDNum", "201", "Exten", "203", "ChannelStateDesc", "Ring"),
		M("Event", "Newchannel", "Channel", "PJSIP/203-00000012", "Uniqueid", "9.2", "Linkedid", "9.1", "CallerIDNum", "203", "ChannelStateDesc", "Down"),
		M("Event", "DialBegin", "Channel", "PJSIP/201-00000011", "Uniqueid", "9.1", "DestChannel", "PJSIP/203-00000012", "DestUniqueid", "9.2", "DestCallerIDNum", "203"),
		M("Event", "DeviceStateChange", "Device", "PJSIP/201", "State", "INUSE"),
		M("Event", "ExtensionStatus", "Exten", "203", "Context", "ext-local", "Hint", "PJSIP/203", "Status", "8"),
	} {
		tr.Handle(m)
	}
	for _, key := range []string{"201@ext-local", "203@ext-local"} {
		if e, _ := tr.st.exts.Get(key); len(e.Calls) != 1 || e.Calls[0] != "pbx:9.1" {
			t.Fatalf("%s calls %v", key, e.Calls)
		}
	}
	tr.Handle(M("Event", "Hangup", "Channel", "PJSIP/203-00000012", "Uniqueid", "9.2", "Linkedid", "9.1", "Cause", "16"))
	tr.Handle(M("Event", "Hangup", "Channel", "PJSIP/201-00000011", "Uniqueid", "9.1", "Linkedid", "9.1", "Cause", "16"))
	for _, key := range []string{"201@ext-local", "203@ext-local"} {
		if e, _ := tr.st.exts.Get(key); len(e.Calls) != 0 {
			t.Fatalf("%s still shows %v after the hang-up", key, e.Calls)
		}
	}
}

func TestHintState(t *testing.T) {
	for s, want := range map[int]monitor.DeviceState{
		0: monitor.DeviceIdle, 1: monitor.DeviceInUse, 2: monitor.DeviceBusy, 4: monitor.DeviceUnavailable,
		8: monitor.DeviceRinging, 9: monitor.DeviceRingingInUse, 16: monitor.DeviceOnHold, 17: monitor.DeviceOnHold,
		10: monitor.DeviceRingingInUse, -1: monitor.DeviceUnknown, -2: monitor.DeviceUnknown, 32: monitor.DeviceUnknown,
	} {
		if got := hintState(s); got != want {
			t.Errorf("hintState(%d) = %s, want %s", s, got, want)
		}
	}
}
