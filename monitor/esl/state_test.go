package esl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/esl/esltest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// stateFile reads a file of testdata/state.
func stateFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "state", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// stateEvents decodes a stream of testdata/state as the replay does.
func readState(t *testing.T, name string) []Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "state", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Event
	if err := decodeRecording(t.Context(), f, true, func(e Event) { out = append(out, e) }); err != nil {
		t.Fatal(err)
	}
	return out
}

type lampWant struct {
	state    monitor.DeviceState
	presence monitor.Presence
	message  string
	lamp     monitor.Lamp
}

func checkUser(t *testing.T, tr *Tracker, key string, want lampWant) {
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

// TestPresenceStream plays presence.jsonl (PRESENCE_IN with
// presence-call-info-state, with answer-state alone, person presence,
// sofia::register, unregister and expire) event by event.
func TestPresenceStream(t *testing.T) {
	tr := NewTracker("fs", monitortest.NewRecorder(), nil)
	const a, b, c = "1000@192.0.2.10", "1001@192.0.2.10", "1002@192.0.2.10"
	after := map[int]func(){
		1: func() { checkUser(t, tr, c, lampWant{monitor.DeviceIdle, "", "", monitor.LampFree}) },
		2: func() { checkUser(t, tr, a, lampWant{monitor.DeviceRinging, "", "", monitor.LampRinging}) },
		3: func() { checkUser(t, tr, a, lampWant{monitor.DeviceInUse, "", "", monitor.LampBusy}) },
		4: func() { checkUser(t, tr, a, lampWant{monitor.DeviceOnHold, "", "", monitor.LampBusy}) },
		5: func() { checkUser(t, tr, a, lampWant{monitor.DeviceInUse, "", "", monitor.LampBusy}) },
		6: func() { checkUser(t, tr, a, lampWant{monitor.DeviceIdle, "", "", monitor.LampFree}) },
		7: func() { checkUser(t, tr, b, lampWant{monitor.DeviceUnknown, monitor.PresenceDND, "", monitor.LampDND}) },
		8: func() {
			checkUser(t, tr, b, lampWant{monitor.DeviceUnknown, monitor.PresenceAway, "Out to lunch", monitor.LampAway})
		},
		9: func() {
			checkUser(t, tr, b, lampWant{monitor.DeviceUnknown, monitor.PresenceAvailable, "", monitor.LampUnknown})
		},
		10: func() { checkUser(t, tr, c, lampWant{monitor.DeviceRinging, "", "", monitor.LampRinging}) },
		11: func() { checkUser(t, tr, c, lampWant{monitor.DeviceIdle, "", "", monitor.LampFree}) },
		12: func() { checkUser(t, tr, c, lampWant{monitor.DeviceUnavailable, "", "", monitor.LampOffline}) },
		13: func() {
			checkUser(t, tr, "1003@192.0.2.10", lampWant{monitor.DeviceUnavailable, "", "", monitor.LampOffline})
		},
	}
	for i, e := range readState(t, "presence.jsonl") {
		tr.Handle(e)
		if check := after[i+1]; check != nil {
			check()
		}
	}
	if e, _ := tr.st.exts.Get(a); e.Number != "1000" || e.ID != "fs:1000@192.0.2.10" || !e.Since.Equal(time.UnixMicro(1763901006000000)) {
		t.Fatalf("1000 = %+v", e)
	}
}

// TestCallcenterStream plays callcenter.jsonl: a caller taken by agent
// 1000, another who gives up, agents' status and state changes.
func TestCallcenterStream(t *testing.T) {
	rec := monitortest.NewRecorder()
	tr := NewTracker("fs", rec, nil)
	const q = "support@default"
	support := func() monitor.Queue {
		qu, ok := tr.st.queues.Get(q)
		if !ok {
			t.Fatal("no queue")
		}
		return qu
	}
	member := func(name string) monitor.QueueMember {
		qu := support()
		m := qu.FindMember(name)
		if m == nil {
			t.Fatalf("no member %s in %+v", name, qu.Members)
		}
		return *m
	}
	after := map[int]func(){
		7: func() {
			qu := support()
			if len(qu.Callers) != 2 || qu.Callers[0].Number != "+4930111111" || qu.Callers[1].Name != "Bäckerei Schulz" ||
				!qu.Callers[0].Joined.Equal(time.Unix(1763902002, 0)) || qu.Callers[0].Call != "fs:c6360976-231c-43c6-bda7-7ac4c7d1c125" {
				t.Fatalf("callers %+v", qu.Callers)
			}
		},
		9: func() {
			if m := member("1000@default"); m.State != monitor.DeviceRinging {
				t.Fatalf("agent offered %+v", m)
			}
		},
		11: func() {
			qu := support()
			if m := member("1000@default"); !m.InCall || m.State != monitor.DeviceInUse || m.Call != "fs:c6360976-231c-43c6-bda7-7ac4c7d1c125" {
				t.Fatalf("agent on the call %+v", m)
			}
			if len(qu.Callers) != 1 || qu.Callers[0].Position != 1 {
				t.Fatalf("callers once the first was taken %+v", qu.Callers)
			}
		},
		13: func() {
			if s := support().Stats; s.Abandoned != 1 || s.AbandonedInSL != 0 {
				t.Fatalf("after the abandon %+v", s)
			}
		},
		15: func() {
			// Held 15 s (within the default 20 s), talked 124 s: SL 1 of 1,
			// SL2 (0 + 1) of 2, 1 of 2 abandoned.
			s := support().Stats
			if s.Completed != 1 || s.CompletedInSL != 1 || s.SL != monitor.Known(100) || s.SL2 != monitor.Known(50) ||
				s.AbandonRate != monitor.Known(50) || s.AvgHold != monitor.Known(15) || s.AvgTalk != monitor.Known(124) {
				t.Fatalf("after the completed call %+v", s)
			}
			if m := member("1000@default"); m.CallsTaken != 1 || !m.LastCall.Equal(time.Unix(1763902141, 0)) {
				t.Fatalf("agent after the call %+v", m)
			}
		},
		17: func() {
			if m := member("1000@default"); m.State != monitor.DeviceBusy || m.InCall {
				t.Fatalf("agent in wrap-up %+v", m)
			}
		},
		18: func() {
			if m := member("1000@default"); m.State != monitor.DeviceIdle {
				t.Fatalf("agent waiting %+v", m)
			}
		},
	}
	for i, e := range readState(t, "callcenter.jsonl") {
		tr.Handle(e)
		if check := after[i+1]; check != nil {
			check()
		}
	}
	// 1001 was never in the queue's events: its status changes are kept
	// for when a listing or an offer puts it in one.
	if qu := support(); qu.FindMember("1001@default") != nil {
		t.Fatal("an agent of no known queue joined support")
	}
	ended := rec.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d calls ended", len(ended))
	}
	for _, c := range ended {
		switch c.From.Number {
		case "+4940222222":
			if c.Reason != monitor.ReasonAbandoned || c.Cause != "waited 44 s in queue support@default" || !c.Answered.IsZero() || c.Queue != q || c.Vars["queue_wait"] != "44" {
				t.Fatalf("abandoned call %+v", c)
			}
		case "+4930111111":
			if c.Reason != monitor.ReasonCompleted || c.AnsweredBy == nil || c.AnsweredBy.Number != "1000" || c.Queue != q {
				t.Fatalf("answered call %+v (by %+v)", c, c.AnsweredBy)
			}
		default:
			t.Fatalf("call %+v", c)
		}
	}
}

func TestTable(t *testing.T) {
	rows, err := table(stateFile(t, "queue_agents.txt"))
	if err != nil || len(rows) != 2 || rows[0]["name"] != "1000@default" || rows[0]["status"] != "Available" || rows[1]["calls_answered"] != "0" {
		t.Fatalf("rows %v, %v", rows, err)
	}
	for _, out := range []string{"-ERR callcenter_config Command not found!\n", "+OK\n", ""} {
		if _, err := table(out); err == nil {
			t.Errorf("%q read as a table", out)
		}
	}
}

func TestAgentState(t *testing.T) {
	tests := []struct {
		status, state string
		want          monitor.DeviceState
		paused        bool
	}{
		{"Available", "Waiting", monitor.DeviceIdle, false},
		{"Available (On Demand)", "Receiving", monitor.DeviceRinging, false},
		{"Available", "In a queue call", monitor.DeviceInUse, false},
		{"Available", "Idle", monitor.DeviceBusy, false},
		{"On Break", "Waiting", monitor.DeviceIdle, true},
		{"Logged Out", "Waiting", monitor.DeviceUnavailable, false},
		{"", "", monitor.DeviceUnknown, false},
	}
	for _, tt := range tests {
		if got, paused := agentState(tt.status, tt.state); got != tt.want || paused != tt.paused {
			t.Errorf("agentState(%q, %q) = %s, %v; want %s, %v", tt.status, tt.state, got, paused, tt.want, tt.paused)
		}
	}
}

// TestSourceStateOverTheWire: after connecting, the source lists the
// registrations and mod_callcenter's queues, agents and callers from the
// stand-in's api answers, then follows the documented event streams sent
// over the event socket.
func TestSourceStateOverTheWire(t *testing.T) {
	srv := esltest.New(t)
	srv.SetAPI(func(cmd, args string) string {
		switch cmd + " " + args {
		case "show registrations as json":
			return stateFile(t, "registrations.json")
		case "callcenter_config queue list":
			return stateFile(t, "queue_list.txt")
		case "callcenter_config agent list":
			return stateFile(t, "agent_list.txt")
		case "callcenter_config queue list agents support@default":
			return stateFile(t, "queue_agents.txt")
		case "callcenter_config queue list members support@default":
			return stateFile(t, "queue_members.txt")
		}
		return ""
	})
	_, rec := startSource(t, srv, func(c *Config) { c.StateRefresh = -1 })
	const q = "fs:support@default"
	rec.WaitFor(t, "the listed queue", func() bool {
		qu, ok := rec.Queue(q)
		return ok && len(qu.Members) == 2 && len(qu.Callers) == 1
	})
	qu, _ := rec.Queue(q)
	if qu.Strategy != "longest-idle-agent" || qu.Callers[0].Number != "4385551212" || qu.Callers[0].Name != "CHOUINARD MO" ||
		qu.Members[0].Interface != "1000@default" || qu.Members[0].CallsTaken != 7 || qu.Members[0].State != monitor.DeviceIdle {
		t.Fatalf("listed queue %+v", qu)
	}
	rec.WaitFor(t, "registered users", func() bool {
		e, ok := rec.Extension("fs:1001@192.0.2.10")
		return ok && e.Lamp == monitor.LampFree
	})

	srv.Push(esltest.ReadRecording(t, filepath.Join("testdata", "state", "presence.jsonl"))...)
	srv.Push(esltest.ReadRecording(t, filepath.Join("testdata", "state", "callcenter.jsonl"))...)
	rec.WaitFor(t, "1003 expired", func() bool {
		e, ok := rec.Extension("fs:1003@192.0.2.10")
		return ok && e.Lamp == monitor.LampOffline
	})
	rec.WaitFor(t, "the queue after the calls", func() bool {
		qu, ok := rec.Queue(q)
		m := qu.FindMember("1001@default")
		return ok && len(qu.Callers) == 0 && qu.Stats.Completed == 1 && m != nil && m.State == monitor.DeviceUnavailable
	})
	for id, want := range map[monitor.ExtensionID]monitor.Lamp{
		"fs:1000@192.0.2.10": monitor.LampFree, "fs:1001@192.0.2.10": monitor.LampFree, "fs:1002@192.0.2.10": monitor.LampOffline,
	} {
		if e, ok := rec.Extension(id); !ok || e.Lamp != want {
			t.Errorf("%s = %+v, want %s", id, e, want)
		}
	}
	qu, _ = rec.Queue(q)
	if m := qu.FindMember("1000@default"); m.CallsTaken != 8 || m.State != monitor.DeviceIdle {
		t.Fatalf("agent 1000 %+v", m)
	}
	var cmds []string
	for _, c := range srv.Commands() {
		if strings.HasPrefix(c, "api callcenter_config") || strings.HasPrefix(c, "api show registrations") {
			cmds = append(cmds, c)
		}
	}
	if len(cmds) != 5 {
		t.Fatalf("lists asked: %q", cmds)
	}
}
