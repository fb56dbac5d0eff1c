package ami

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

// Scenarios the recorded logs do not show, written from the Asterisk 13+
// AMI event documentation (app_queue QueueCaller*, AttendedTransfer).
func TestQueueScenarios(t *testing.T) {
	caller := M("Event", "Newchannel", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "Linkedid", "7.1", "CallerIDNum", "+4930123456", "Exten", "600")
	join := M("Event", "QueueCallerJoin", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "Linkedid", "7.1", "Queue", "support", "Position", "1", "Count", "1")
	agent := M("Event", "DialBegin", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "DestChannel", "PJSIP/201-00000002", "DestUniqueid", "7.2", "DestLinkedid", "7.1", "DestCallerIDNum", "201")
	agentNew := M("Event", "Newchannel", "Channel", "PJSIP/201-00000002", "Uniqueid", "7.2", "Linkedid", "7.1", "CallerIDNum", "201", "ChannelStateDesc", "Down")
	answer := M("Event", "DialEnd", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "DestChannel", "PJSIP/201-00000002", "DestUniqueid", "7.2", "DestLinkedid", "7.1", "DestCallerIDNum", "201", "DialStatus", "ANSWER")
	agentIn := M("Event", "BridgeEnter", "BridgeUniqueid", "q1", "Channel", "PJSIP/201-00000002", "Uniqueid", "7.2")
	callerIn := M("Event", "BridgeEnter", "BridgeUniqueid", "q1", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1")
	connect := M("Event", "AgentConnect", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "DestChannel", "PJSIP/201-00000002", "DestUniqueid", "7.2", "Queue", "support", "MemberName", "Anna Agent", "Interface", "PJSIP/201", "HoldTime", "7", "RingTime", "3")
	leave := M("Event", "QueueCallerLeave", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "Queue", "support")
	abandon := M("Event", "QueueCallerAbandon", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "Queue", "support", "Position", "1", "OriginalPosition", "1", "HoldTime", "42")
	hangup := M("Event", "Hangup", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "Linkedid", "7.1", "Cause", "16", "Cause-txt", "Normal Clearing")
	agentCancel := M("Event", "DialEnd", "Channel", "PJSIP/trunk-00000001", "Uniqueid", "7.1", "DestChannel", "PJSIP/201-00000002", "DestUniqueid", "7.2", "DialStatus", "CANCEL")
	agentHangup := M("Event", "Hangup", "Channel", "PJSIP/201-00000002", "Uniqueid", "7.2", "Linkedid", "7.1", "Cause", "16")
	tests := []struct {
		name      string
		events    []Message
		reason    monitor.Reason
		answered  bool
		abandoned bool
	}{
		{"answered by an agent", []Message{caller, join, agentNew, agent, answer, agentIn, callerIn, connect, leave, hangup, agentHangup}, monitor.ReasonCompleted, true, false},
		{"caller abandons while an agent rings", []Message{caller, join, agentNew, agent, abandon, hangup, agentCancel, agentHangup}, monitor.ReasonAbandoned, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := monitortest.NewRecorder()
			tr := NewTracker("pbx", sink, nil)
			for _, m := range tc.events {
				tr.Handle(m)
			}
			last := sink.Calls()[len(sink.Calls())-1]
			if last.State != monitor.Ended || last.Reason != tc.reason || last.Queue != "support" || last.Direction != monitor.Inbound {
				t.Fatalf("call = %+v", last)
			}
			if !last.Answered.IsZero() != tc.answered || (last.Vars["queue_wait"] == "42") != tc.abandoned {
				t.Fatalf("answered %v, vars %v", last.Answered, last.Vars)
			}
			if tc.answered && (last.AnsweredBy == nil || last.AnsweredBy.Name != "Anna Agent" || last.AnsweredBy.Number != "201") {
				t.Fatalf("answered by %+v, want the agent by name", last.AnsweredBy)
			}
			if tc.abandoned && last.Cause != "waited 42 s in queue support" {
				t.Fatalf("cause = %q", last.Cause)
			}
		})
	}
}

func TestBlondeTransfer(t *testing.T) {
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	for _, m := range []Message{
		// 201 talks to 202.
		M("Event", "Newchannel", "Channel", "PJSIP/201-1", "Uniqueid", "1.1", "Linkedid", "1.1", "CallerIDNum", "201", "Exten", "202"),
		M("Event", "Newchannel", "Channel", "PJSIP/202-2", "Uniqueid", "1.2", "Linkedid", "1.1", "CallerIDNum", "202"),
		M("Event", "DialBegin", "DestChannel", "PJSIP/202-2", "DestUniqueid", "1.2", "DestLinkedid", "1.1", "DestCallerIDNum", "202"),
		M("Event", "DialEnd", "DestChannel", "PJSIP/202-2", "DestUniqueid", "1.2", "DestLinkedid", "1.1", "DestCallerIDNum", "202", "DialStatus", "ANSWER"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b1", "Channel", "PJSIP/202-2", "Uniqueid", "1.2"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b1", "Channel", "PJSIP/201-1", "Uniqueid", "1.1"),
		// 201 puts 202 on hold and calls 203, who is still ringing when
		// 201 completes the transfer.
		M("Event", "Newchannel", "Channel", "PJSIP/201-3", "Uniqueid", "2.1", "Linkedid", "2.1", "CallerIDNum", "201", "Exten", "203"),
		M("Event", "Newchannel", "Channel", "PJSIP/203-4", "Uniqueid", "2.2", "Linkedid", "2.1", "CallerIDNum", "203"),
		M("Event", "DialBegin", "DestChannel", "PJSIP/203-4", "DestUniqueid", "2.2", "DestLinkedid", "2.1", "DestCallerIDNum", "203"),
		M("Event", "AttendedTransfer", "Result", "Success", "DestType", "Bridge",
			"OrigTransfererChannel", "PJSIP/201-1", "OrigTransfererCallerIDNum", "201", "OrigTransfererLinkedid", "1.1", "OrigTransfererUniqueid", "1.1",
			"SecondTransfererChannel", "PJSIP/201-3", "SecondTransfererCallerIDNum", "201", "SecondTransfererLinkedid", "2.1", "SecondTransfererUniqueid", "2.1",
			"TransfereeChannel", "PJSIP/202-2", "TransfereeCallerIDNum", "202", "TransfereeUniqueid", "1.2",
			"TransferTargetChannel", "PJSIP/203-4", "TransferTargetCallerIDNum", "203", "TransferTargetUniqueid", "2.2"),
		M("Event", "Hangup", "Channel", "PJSIP/201-1", "Uniqueid", "1.1", "Linkedid", "1.1", "Cause", "16"),
		M("Event", "Hangup", "Channel", "PJSIP/201-3", "Uniqueid", "2.1", "Linkedid", "1.1", "Cause", "16"),
		M("Event", "DialEnd", "DestChannel", "PJSIP/203-4", "DestUniqueid", "2.2", "DestLinkedid", "2.1", "DestCallerIDNum", "203", "DialStatus", "ANSWER"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b2", "Channel", "PJSIP/203-4", "Uniqueid", "2.2"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b2", "Channel", "PJSIP/202-2", "Uniqueid", "1.2"),
		M("Event", "Hangup", "Channel", "PJSIP/202-2", "Uniqueid", "1.2", "Linkedid", "1.1", "Cause", "16"),
		M("Event", "Hangup", "Channel", "PJSIP/203-4", "Uniqueid", "2.2", "Linkedid", "1.1", "Cause", "16"),
	} {
		tr.Handle(m)
	}
	var first monitor.Call
	for _, c := range sink.Calls() {
		if c.ID == "pbx:1.1" && c.State == monitor.Ended {
			first = c
		}
	}
	if len(first.Transfers) != 1 {
		t.Fatalf("first call = %+v", first)
	}
	x := first.Transfers[0]
	if x.Kind != monitor.TransferBlonde || x.Transferer.Number != "201" || x.Transferred.Number != "202" || x.Targets[0].Number != "203" {
		t.Fatalf("transfer = %+v", x)
	}
	if first.Reason != monitor.ReasonCompleted || first.From.Number != "202" || first.To.Number != "203" {
		t.Fatalf("first call ended %s between %s and %s", first.Reason, first.From.Number, first.To.Number)
	}
}

func TestPickup(t *testing.T) {
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	for _, m := range []Message{
		M("Event", "Newchannel", "Channel", "PJSIP/201-1", "Uniqueid", "3.1", "Linkedid", "3.1", "CallerIDNum", "201", "Exten", "202"),
		M("Event", "Newchannel", "Channel", "PJSIP/202-2", "Uniqueid", "3.2", "Linkedid", "3.1", "CallerIDNum", "202"),
		M("Event", "DialBegin", "DestChannel", "PJSIP/202-2", "DestUniqueid", "3.2", "DestLinkedid", "3.1", "DestCallerIDNum", "202"),
		// 203 dials *8 and picks up the call ringing at 202.
		M("Event", "Pickup", "Channel", "PJSIP/203-3", "Uniqueid", "4.1", "CallerIDNum", "203", "TargetChannel", "PJSIP/202-2", "TargetUniqueid", "3.2", "TargetLinkedid", "3.1"),
		M("Event", "DialEnd", "DestChannel", "PJSIP/202-2", "DestUniqueid", "3.2", "DestLinkedid", "3.1", "DestCallerIDNum", "202", "DialStatus", "CANCEL"),
		M("Event", "Hangup", "Channel", "PJSIP/202-2", "Uniqueid", "3.2", "Linkedid", "3.1", "Cause", "26", "Cause-txt", "Answered elsewhere"),
		M("Event", "Hangup", "Channel", "PJSIP/201-1", "Uniqueid", "3.1", "Linkedid", "3.1", "Cause", "16", "Cause-txt", "Normal Clearing"),
	} {
		tr.Handle(m)
	}
	last := sink.Calls()[len(sink.Calls())-1]
	if last.Reason != monitor.ReasonCompleted || last.AnsweredBy == nil || last.AnsweredBy.Number != "203" || len(last.Ringing) != 0 {
		t.Fatalf("call = %+v", last)
	}
}

func TestReplaySourceLoops(t *testing.T) {
	src, err := NewReplaySource(ReplayConfig{Name: "demo-pbx", Path: "testdata/simple/ab_reject.json", Interval: time.Microsecond})
	if err != nil {
		t.Fatal(err)
	}
	sink := monitortest.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	sink.WaitFor(t, "two loops", func() bool { return len(sink.Ended()) >= 2 })
	first, second := sink.Ended()[0], sink.Ended()[1]
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if first.Reason != monitor.ReasonBusy || second.Reason != monitor.ReasonBusy || first.ID == second.ID {
		t.Fatalf("loops ended %s %s / %s %s", first.ID, first.Reason, second.ID, second.Reason)
	}
}

// TestOriginatedCall: click-to-dial by Originate of the phone itself
// (Channel PJSIP/201, no Local channel): Asterisk dials the phone with no
// calling channel, and once it answers runs the dialplan on it, which
// dials the customer.
func TestOriginatedCall(t *testing.T) {
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	for i, m := range []Message{
		M("Event", "Newchannel", "Channel", "PJSIP/201-00000010", "ChannelState", "0", "ChannelStateDesc", "Down", "Uniqueid", "8.1", "Linkedid", "8.1", "CallerIDNum", "", "Exten", "s", "Context", "from-internal"),
		M("Event", "DialBegin", "DestChannel", "PJSIP/201-00000010", "DestUniqueid", "8.1", "DestLinkedid", "8.1", "DialString", "201"),
		M("Event", "NewCallerid", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "Linkedid", "8.1", "CallerIDNum", "201", "CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),
		M("Event", "Newstate", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "ChannelState", "5", "ChannelStateDesc", "Ringing"),
		M("Event", "Newstate", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "ChannelState", "6", "ChannelStateDesc", "Up"),
		M("Event", "DialEnd", "DestChannel", "PJSIP/201-00000010", "DestUniqueid", "8.1", "DestLinkedid", "8.1", "DialStatus", "ANSWER"),
		M("Event", "NewExten", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "Exten", "0301234567", "Application", "Dial"),
		M("Event", "Newchannel", "Channel", "PJSIP/trunk-00000011", "ChannelState", "0", "ChannelStateDesc", "Down", "Uniqueid", "8.2", "Linkedid", "8.1", "CallerIDNum", "201"),
		M("Event", "DialBegin", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "DestChannel", "PJSIP/trunk-00000011", "DestUniqueid", "8.2", "DestLinkedid", "8.1", "DestCallerIDNum", "0301234567"),
		M("Event", "Newstate", "Channel", "PJSIP/trunk-00000011", "Uniqueid", "8.2", "ChannelState", "6", "ChannelStateDesc", "Up"),
		M("Event", "DialEnd", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "DestChannel", "PJSIP/trunk-00000011", "DestUniqueid", "8.2", "DestLinkedid", "8.1", "DestCallerIDNum", "0301234567", "DialStatus", "ANSWER"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b8", "Channel", "PJSIP/trunk-00000011", "Uniqueid", "8.2"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b8", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1"),
		M("Event", "OriginateResponse", "Response", "Success", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1"),
		M("Event", "Hangup", "Channel", "PJSIP/trunk-00000011", "Uniqueid", "8.2", "Linkedid", "8.1", "Cause", "16"),
		M("Event", "Hangup", "Channel", "PJSIP/201-00000010", "Uniqueid", "8.1", "Linkedid", "8.1", "Cause", "16", "Cause-txt", "Normal Clearing"),
	} {
		tr.Handle(m)
		if i == 7 && len(sink.Calls()) != 0 {
			t.Fatalf("published before the second leg was dialled: %+v", sink.Calls())
		}
	}
	last := sink.Calls()[len(sink.Calls())-1]
	if last.State != monitor.Ended || last.Reason != monitor.ReasonCompleted || last.From.Number != "201" ||
		last.AnsweredBy == nil || last.AnsweredBy.Number != "0301234567" || last.To.Number != "0301234567" || last.Direction != monitor.Outbound {
		t.Fatalf("originated call = %+v", last)
	}
}
