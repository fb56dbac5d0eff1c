package ami

import (
	"slices"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// TestResyncPublishesATakenOverCallOnce: a call an earlier run (or the
// node that had the source before) saw answered, re-created by the first
// resync from its two bridged channels, is published once, connected,
// not ringing first; a call the PBX no longer lists ends as failed
// "server restarted".
func TestResyncPublishesATakenOverCallOnce(t *testing.T) {
	started := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	up := monitor.Call{ID: monitor.MakeCallID("pbx", "1.1"), Source: "pbx", Direction: monitor.Internal, State: monitor.Connected,
		From: monitor.Party{Number: "201"}, To: monitor.Party{Number: "202"}, Started: started, Answered: started.Add(3 * time.Second)}
	gone := monitor.Call{ID: monitor.MakeCallID("pbx", "2.1"), Source: "pbx", Direction: monitor.Internal, State: monitor.Ringing, Started: started}
	rec := monitortest.NewRecorder()
	restart := monitor.NewRestart(rec, []monitor.Call{up, gone})
	tr := NewTracker("pbx", restart, nil)
	tr.resync([]Message{
		M("Channel", "PJSIP/201-1", "Uniqueid", "1.1", "Linkedid", "1.1", "CallerIDNum", "201", "Exten", "202", "ChannelStateDesc", "Up", "BridgeId", "b1"),
		M("Channel", "PJSIP/202-2", "Uniqueid", "1.2", "Linkedid", "1.1", "CallerIDNum", "202", "ChannelStateDesc", "Up", "BridgeId", "b1"),
	})
	if got := rec.States(up.ID); !slices.Equal(got, []monitor.State{monitor.Connected}) {
		t.Fatalf("the call taken over was published %v, want once, connected", got)
	}
	if c := rec.Active()[up.ID]; !c.Started.Equal(started) || !c.Answered.Equal(up.Answered) {
		t.Errorf("the call taken over: started %v answered %v, want its first %v, %v", c.Started, c.Answered, started, up.Answered)
	}
	restart.SourceStatus(monitor.SourceStatus{Name: "pbx", State: monitor.LinkConnected})
	if e := rec.Ended(); len(e) != 1 || e[0].ID != gone.ID || e[0].Cause != monitor.CauseServerRestarted {
		t.Errorf("ended %+v, want %s, server restarted", e, gone.ID)
	}
}
