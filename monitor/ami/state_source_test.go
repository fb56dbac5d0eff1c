package ami_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/ami"
	"github.com/switchboard/switchboard/monitor/ami/amitest"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// readState reads an event stream of testdata/state for the stand-in:
// the Complete event ending a list is the server's to send.
func readState(t *testing.T, name string) []ami.Message {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "state", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []ami.Message
	sink := func(m ami.Message) {
		if m.Event() != "QueueStatusComplete" {
			out = append(out, m)
		}
	}
	if err := ami.DecodeRecording(t.Context(), f, sink); err != nil {
		t.Fatal(err)
	}
	return out
}

func stateServer(t *testing.T) *amitest.Server {
	t.Helper()
	srv := amitest.New(t, "admin", "pw")
	srv.SetList("ExtensionStateList", readState(t, "extensionstatelist.jsonl")...)
	srv.SetList("DeviceStateList", readState(t, "devicestatelist.jsonl")...)
	srv.SetList("PresenceStateList", readState(t, "presencestatelist.jsonl")...)
	srv.SetList("QueueStatus", readState(t, "queuestatus.jsonl")...)
	srv.SetList("QueueSummary", readState(t, "queuesummary.jsonl")...)
	return srv
}

func lamp(sink *monitortest.Recorder, id monitor.ExtensionID, want monitor.Lamp) func() bool {
	return func() bool {
		e, ok := sink.Extension(id)
		return ok && e.Lamp == want
	}
}

// TestSourceStateOverTheWire: after the login the source lists hints,
// devices, presence and queues; then the documented event streams,
// pushed over the manager protocol, change them.
func TestSourceStateOverTheWire(t *testing.T) {
	srv := stateServer(t)
	// 203 is on a call already when we connect.
	srv.SetChannels(ami.M("Channel", "PJSIP/203-00000001", "Uniqueid", "3.1", "Linkedid", "3.1", "CallerIDNum", "203", "Exten", "0301234567", "ChannelStateDesc", "Up"))
	cfg := ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour,
		StateConfig: monitor.StateConfig{StateRefresh: -1}}
	sink, _ := run(t, cfg)
	sink.WaitFor(t, "202 lit by DND", lamp(sink, "pbx:202@ext-local", monitor.LampDND))
	sink.WaitFor(t, "205 away", lamp(sink, "pbx:205@ext-local", monitor.LampAway))
	sink.WaitFor(t, "203 on its call", func() bool {
		e, ok := sink.Extension("pbx:203@ext-local")
		return ok && e.Lamp == monitor.LampBusy && len(e.Calls) == 1 && e.Calls[0] == "pbx:3.1"
	})
	sink.WaitFor(t, "the support queue", func() bool {
		q, ok := sink.Queue("pbx:support")
		return ok && len(q.Callers) == 1 && len(q.Members) == 2 && q.Stats.SL == monitor.Known(80)
	})
	if _, ok := sink.Extension("pbx:PJSIP/provider"); ok {
		t.Fatal("a trunk shown as an extension")
	}

	for _, m := range readState(t, "presence_deltas.jsonl") {
		srv.Push(m)
	}
	for _, m := range readState(t, "queue_deltas.jsonl") {
		srv.Push(m)
	}
	sink.WaitFor(t, "204 gone", func() bool {
		_, ok := sink.Extension("pbx:204@ext-local")
		return !ok && len(sink.Extensions()) > 0
	})
	sink.WaitFor(t, "210 in use", lamp(sink, "pbx:PJSIP/210", monitor.LampBusy))
	checkLamps(t, sink, map[monitor.ExtensionID]monitor.Lamp{
		"pbx:201@ext-local": monitor.LampFree, "pbx:202@ext-local": monitor.LampDND,
		"pbx:203@ext-local": monitor.LampFree, "pbx:205@ext-local": monitor.LampFree,
	})
	sink.WaitFor(t, "the queue after the deltas", func() bool {
		q, ok := sink.Queue("pbx:support")
		return ok && q.FindMember("Local/202@from-queue/n") == nil && q.FindMember("PJSIP/205") != nil
	})
	q, _ := sink.Queue("pbx:support")
	if len(q.Callers) != 0 || q.Stats.Completed != 121 || q.Stats.Abandoned != 31 || q.Stats.SL != monitor.Known(79.3) || q.Stats.SL2 != monitor.Known(71.7) {
		t.Fatalf("support after the deltas %+v", q)
	}
	if m := q.FindMember("PJSIP/205"); !m.Paused || m.PauseReason != "break" {
		t.Fatalf("dora %+v", m)
	}
}

func checkLamps(t *testing.T, sink *monitortest.Recorder, want map[monitor.ExtensionID]monitor.Lamp) {
	t.Helper()
	for id, l := range want {
		if e, ok := sink.Extension(id); !ok || e.Lamp != l {
			t.Errorf("%s = %+v, want lamp %s", id, e, l)
		}
	}
}

// TestSourceStateListsAgain: every (re)connect lists the state again, the
// queues are listed every state_refresh, and a list the manager refuses
// (an Asterisk without PresenceStateList) leaves the rest working.
func TestSourceStateListsAgain(t *testing.T) {
	srv := stateServer(t)
	srv.Refuse("PresenceStateList", "Invalid/unknown command")
	cfg := ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour,
		StateConfig: monitor.StateConfig{StateRefresh: 10 * time.Millisecond}}
	sink, _ := run(t, cfg)
	count := func(action string) int {
		n := 0
		for _, a := range srv.Actions() {
			if a.Get("Action") == action {
				n++
			}
		}
		return n
	}
	sink.WaitFor(t, "202 lit by DND", lamp(sink, "pbx:202@ext-local", monitor.LampDND))
	waitServer(t, srv, "QueueStatus listed again", func() bool { return count("QueueStatus") >= 3 && count("QueueSummary") >= 3 })
	if n := count("PresenceStateList"); n != 1 {
		t.Fatalf("the refused PresenceStateList was asked %d times on one connection", n)
	}
	if e, _ := sink.Extension("pbx:205@ext-local"); e.Presence != "" {
		t.Fatalf("205 has presence %q without PresenceStateList", e.Presence)
	}

	// A reconnect lists everything again; an extension gone meanwhile
	// goes.
	srv.SetList("ExtensionStateList", readState(t, "extensionstatelist.jsonl")[:4]...)
	srv.CloseConns()
	waitServer(t, srv, "listed again after the reconnect", func() bool { return count("ExtensionStateList") >= 2 && count("PresenceStateList") >= 2 })
	sink.WaitFor(t, "205 gone", func() bool {
		_, ok := sink.Extension("pbx:205@ext-local")
		return !ok
	})
}

// TestSourceStateAtStop: a source that stops takes its extensions and
// queues with it.
func TestSourceStateAtStop(t *testing.T) {
	srv := stateServer(t)
	src, err := ami.New(ami.Config{Name: "pbx", LinkConfig: testLink(srv.Addr()), Username: "admin", Secret: "pw", PingInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	sink := monitortest.NewRecorder()
	running := monitortest.Start(t, func(ctx context.Context) error { return src.Run(ctx, sink) })
	present := func() (queues, exts int) {
		for _, id := range []monitor.QueueID{"pbx:support", "pbx:sales"} {
			if _, ok := sink.Queue(id); ok {
				queues++
			}
		}
		seen := map[monitor.ExtensionID]bool{}
		for _, e := range sink.Extensions() {
			seen[e.ID] = true
		}
		for id := range seen {
			if _, ok := sink.Extension(id); ok {
				exts++
			}
		}
		return queues, exts
	}
	sink.WaitFor(t, "the state listed", func() bool {
		q, e := present()
		return q == 2 && e == 6
	})
	running.Stop(t)
	if q, e := present(); q != 0 || e != 0 {
		t.Fatalf("after stop: %d queues, %d extensions", q, e)
	}
}

// waitServer waits for cond, checked on every action the stand-in gets
// and every connection change.
func waitServer(t *testing.T, srv *amitest.Server, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), monitortest.WaitTimeout)
	defer cancel()
	if err := srv.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
