package monitor_test

import (
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

var restartT0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// keptCall is a call the previous run had active.
func keptCall(source monitor.SourceName, key string, answered bool) monitor.Call {
	c := monitor.Call{ID: monitor.MakeCallID(source, key), Source: source, Direction: monitor.Inbound, State: monitor.Ringing,
		From: monitor.Party{Number: key}, Started: restartT0}
	if answered {
		c.State = monitor.Connected
		c.Answered = restartT0.Add(5 * time.Second)
		c.AnsweredBy = &monitor.Party{Number: "201"}
	}
	return c
}

// TestRestartResyncKeepsCallsThePBXStillHas: after a restart, a source
// whose link resyncs takes over, under the same ids and with their first
// start and answer times, the calls the PBX still lists; the others end,
// once the resync is done, as failed "server restarted".
func TestRestartResyncKeepsCallsThePBXStillHas(t *testing.T) {
	t.Parallel()
	var restart *monitor.Restart
	kept := []monitor.Call{keptCall("pbx", "up", true), keptCall("pbx", "gone", false), keptCall("pbx", "gone2", true)}
	r := startLinkVia(t, monitor.LinkConfig{}, time.Hour, func(s monitor.Sink) monitor.Sink {
		restart = monitor.NewRestart(s, kept)
		return restart
	})
	r.connect(t, connectResult{live: []string{"up", "new"}})
	r.rec.WaitFor(t, "the leftovers ended", func() bool { return len(r.rec.Ended()) == 2 })
	if restart.Kept() != 0 {
		t.Errorf("%d calls still kept after the first resync", restart.Kept())
	}
	active := r.rec.Active()
	up, ok := active["pbx:up"]
	if !ok || len(active) != 2 {
		t.Fatalf("active after the resync: %v, want pbx:up and pbx:new", active)
	}
	if !up.Started.Equal(restartT0) || !up.Answered.Equal(restartT0.Add(5*time.Second)) || up.AnsweredBy == nil || up.AnsweredBy.Number != "201" {
		t.Errorf("the call taken over lost its times: %+v", up)
	}
	if c := active["pbx:new"]; c.Started.Equal(restartT0) {
		t.Errorf("a new call got a kept call's start: %+v", c)
	}
	for _, c := range r.rec.Ended() {
		if c.Reason != monitor.ReasonFailed || c.Cause != monitor.CauseServerRestarted || c.Ended.IsZero() {
			t.Errorf("leftover %s ended %s %q at %v, want failed, server restarted", c.ID, c.Reason, c.Cause, c.Ended)
		}
		if c.ID == "pbx:gone2" && c.Duration <= 0 {
			t.Errorf("answered leftover has no talk time: %+v", c)
		}
	}
	r.stop(t)
}

// TestRestartWithoutResyncEndsEveryKeptCall: a source that cannot list
// its calls (the Fritz!Box) cannot take a call over; its kept calls end
// at its first connect, and a kept id started later is a call of its own.
func TestRestartWithoutResyncEndsEveryKeptCall(t *testing.T) {
	t.Parallel()
	var restart *monitor.Restart
	r := startLinkVia(t, monitor.LinkConfig{}, time.Hour, func(s monitor.Sink) monitor.Sink {
		restart = monitor.NewRestart(s, []monitor.Call{keptCall("pbx", "a", false), keptCall("other", "x", false)})
		return restart
	})
	r.connect(t, connectResult{})
	r.rec.WaitFor(t, "the kept call ended", func() bool { return len(r.rec.Ended()) == 1 })
	if c := r.rec.Ended()[0]; c.ID != "pbx:a" || c.Cause != monitor.CauseServerRestarted {
		t.Fatalf("ended %+v", c)
	}
	r.p.tr.Start("a", monitor.Call{})
	if c, _ := r.p.tr.Get("a"); c.Started.Equal(restartT0) {
		t.Error("a call started after the settle was taken for the kept one")
	}
	if restart.Kept() != 1 {
		t.Errorf("kept %d, want the other source's call", restart.Kept())
	}
	r.stop(t)
}

// TestRestartFirstConnectFailedSettles: a link that cannot connect at
// first says down; whether the PBX still has the calls cannot be known,
// so they end (a later resync that finds one re-creates it).
func TestRestartFirstConnectFailedSettles(t *testing.T) {
	t.Parallel()
	r := startLinkVia(t, monitor.LinkConfig{}, time.Hour, func(s monitor.Sink) monitor.Sink {
		return monitor.NewRestart(s, []monitor.Call{keptCall("pbx", "a", true)})
	})
	r.connect(t, connectResult{err: errRefused})
	r.rec.WaitFor(t, "the kept call ended", func() bool { return len(r.rec.Ended()) == 1 })
	if st := r.rec.LastStatus(); st.State != monitor.LinkDown {
		t.Errorf("status %s, want down", st.State)
	}
	r.stop(t)
}

func TestRestartSettleAllBut(t *testing.T) {
	t.Parallel()
	rec := monitortest.NewRecorder()
	ended := keptCall("home", "done", false)
	ended.State = monitor.Ended
	r := monitor.NewRestart(rec, []monitor.Call{keptCall("home", "1", false), keptCall("gone", "1", false), keptCall("gone", "2", true), ended})
	if r.Kept() != 3 {
		t.Fatalf("kept %d, want 3 (ended calls are not kept)", r.Kept())
	}
	if n := r.SettleAllBut("home"); n != 2 {
		t.Fatalf("SettleAllBut ended %d, want 2", n)
	}
	if n := r.Settle("gone"); n != 0 {
		t.Fatalf("Settle again ended %d", n)
	}
	got := rec.Ended()
	if len(got) != 2 || got[0].ID != "gone:1" || got[1].ID != "gone:2" || got[1].Duration == 0 {
		t.Fatalf("ended %+v", got)
	}
	// A softphone account says registering first: its calls cannot go on.
	r.SourceStatus(monitor.SourceStatus{Name: "home", State: monitor.LinkRegistering})
	if r.Kept() != 0 || len(rec.Ended()) != 3 || len(rec.Statuses()) != 1 {
		t.Fatalf("after the status: kept %d, ended %d, statuses %d", r.Kept(), len(rec.Ended()), len(rec.Statuses()))
	}
}
