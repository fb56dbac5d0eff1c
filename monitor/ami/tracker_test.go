package ami

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func replayFixture(t *testing.T, path string) []monitor.Call {
	t.Helper()
	ended, _ := replayFixtureTracker(t, path)
	return ended
}

func replayFixtureTracker(t *testing.T, path string) ([]monitor.Call, *Tracker) {
	t.Helper()
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	for _, m := range fixtureEvents(t, path) {
		tr.Handle(m)
	}
	return sink.Ended(), tr
}

// TestEveryFixtureEndsEveryCall replays all recorded logs, transfers
// included: whatever the tracker does not follow yet, no call may be left
// active once every channel has hung up.
func TestEveryFixtureEndsEveryCall(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if len(files) != 21 {
		t.Fatalf("want 21 fixtures, got %d", len(files))
	}
	for _, f := range files {
		ended, tr := replayFixtureTracker(t, f)
		if len(ended) == 0 || tr.t.Len() != 0 {
			t.Errorf("%s: %d calls ended, %d still active", f, len(ended), tr.t.Len())
		}
	}
}

// TestSimpleFixtures replays the recorded simple calls and checks what
// testdata/FIXTURES.md says a correct tracker reports.
func TestSimpleFixtures(t *testing.T) {
	tests := []struct {
		file       string
		calls      int
		from, to   string
		answeredBy string // account of the phone that answered; "" = unanswered
		reason     monitor.Reason
	}{
		{"ab_success_a_hangup", 1, "201", "202", "150010002", monitor.ReasonCompleted},
		{"ab_success_b_hangup", 1, "201", "202", "150010002", monitor.ReasonCompleted},
		{"ab_success_o3", 1, "", "", "100060002", monitor.ReasonCompleted},
		{"ab_success_twoclients", 2, "", "", "*", monitor.ReasonCompleted},
		{"ab_reject", 1, "201", "202", "", monitor.ReasonBusy},
		{"ab_dnd", 1, "201", "202", "", monitor.ReasonBusy},
		{"ab_a_cancel", 1, "201", "202", "", monitor.ReasonCancelled},
		{"ab_callgroup", 1, "201", "401", "150010002", monitor.ReasonCompleted},
		{"ab_callgroup_no_answer", 1, "201", "401", "", monitor.ReasonNoAnswer},
		{"a_created_no_answer", 1, "", "", "", monitor.ReasonCompleted},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := replayFixture(t, filepath.Join("testdata", "simple", tc.file+".json"))
			if len(got) != tc.calls {
				t.Fatalf("%d calls ended, want %d: %+v", len(got), tc.calls, got)
			}
			for _, c := range got {
				if c.Reason != tc.reason {
					t.Errorf("reason = %s (cause %s), want %s", c.Reason, c.Cause, tc.reason)
				}
				if tc.from != "" && (c.From.Number != tc.from || c.To.Number != tc.to) {
					t.Errorf("from %s to %s, want %s to %s", c.From.Number, c.To.Number, tc.from, tc.to)
				}
				if tc.from != "" && c.Direction != monitor.Internal {
					t.Errorf("direction = %s, want internal between extensions", c.Direction)
				}
				if tc.file == "ab_success_twoclients" && c.Direction != monitor.Inbound {
					t.Errorf("direction = %s, want inbound from an outside caller", c.Direction)
				}
				switch tc.answeredBy {
				case "":
					if !c.Answered.IsZero() {
						t.Errorf("answered by %+v, want unanswered", c.AnsweredBy)
					}
				case "*":
					if c.Answered.IsZero() {
						t.Error("unanswered, want answered")
					}
				default:
					if c.AnsweredBy == nil || c.AnsweredBy.Account != tc.answeredBy {
						t.Errorf("answered by %+v, want account %s", c.AnsweredBy, tc.answeredBy)
					}
				}
				if len(c.Ringing) != 0 || c.State != monitor.Ended {
					t.Errorf("ended call still rings: %+v", c)
				}
			}
		})
	}
}

func TestHoldAndUserEvents(t *testing.T) {
	sink := monitortest.NewRecorder()
	tr := NewTracker("pbx", sink, nil)
	for _, m := range []Message{
		M("Event", "Newchannel", "Channel", "PJSIP/201-00000001", "Uniqueid", "1.1", "Linkedid", "1.1", "CallerIDNum", "201", "Exten", "202"),
		M("Event", "Newchannel", "Channel", "PJSIP/202-00000002", "Uniqueid", "1.2", "Linkedid", "1.1", "CallerIDNum", "202"),
		M("Event", "DialBegin", "DestChannel", "PJSIP/202-00000002", "DestUniqueid", "1.2", "DestLinkedid", "1.1", "DestCallerIDNum", "202"),
		M("Event", "DialEnd", "DestChannel", "PJSIP/202-00000002", "DestUniqueid", "1.2", "DestLinkedid", "1.1", "DestCallerIDNum", "202", "DialStatus", "ANSWER"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b1", "Channel", "PJSIP/202-00000002", "Uniqueid", "1.2"),
		M("Event", "BridgeEnter", "BridgeUniqueid", "b1", "Channel", "PJSIP/201-00000001", "Uniqueid", "1.1"),
		M("Event", "Hold", "Channel", "PJSIP/202-00000002", "Uniqueid", "1.2", "MusicClass", "default"),
		M("Event", "Unhold", "Channel", "PJSIP/202-00000002", "Uniqueid", "1.2"),
		M("Event", "UserEvent", "Privilege", "user,all", "UserEvent", "SurveyDone", "Score", "5", "Uniqueid", "1.1"),
		M("Event", "Hangup", "Channel", "PJSIP/201-00000001", "Uniqueid", "1.1", "Linkedid", "1.1", "Cause", "16", "Cause-txt", "Normal Clearing"),
		M("Event", "Hangup", "Channel", "PJSIP/202-00000002", "Uniqueid", "1.2", "Linkedid", "1.1", "Cause", "16", "Cause-txt", "Normal Clearing"),
	} {
		tr.Handle(m)
	}
	var states []monitor.State
	for _, c := range sink.Calls() {
		states = append(states, c.State)
	}
	want := []monitor.State{monitor.Ringing, monitor.Ringing, monitor.Connected, monitor.Held, monitor.Connected, monitor.Ended}
	if len(states) != len(want) {
		t.Fatalf("states = %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("states = %v, want %v", states, want)
		}
	}
	if last := sink.Calls()[len(sink.Calls())-1]; last.Reason != monitor.ReasonCompleted || last.Cause != "Normal Clearing (16)" {
		t.Fatalf("end = %s %q", last.Reason, last.Cause)
	}
	if len(sink.Users()) != 1 || sink.Users()[0].Name != "SurveyDone" || sink.Users()[0].Fields["Score"] != "5" || sink.Users()[0].Fields["Privilege"] != "" {
		t.Fatalf("user events = %+v", sink.Users())
	}
}

func TestBlindTransferUnansweredFixtures(t *testing.T) {
	tests := []struct {
		file      string
		transfers int
		reason    monitor.Reason
		targets   []string // accounts of the phones the transfer rang
	}{
		{"xfer_blind_a_no_answer", 0, monitor.ReasonCompleted, nil},
		{"xfer_blind_b_no_answer", 0, monitor.ReasonCompleted, nil},
		{"xfer_blind_group_no_answer", 0, monitor.ReasonCompleted, nil},
		{"xfer_blind_reject", 1, monitor.ReasonNoAnswer, []string{"150010003"}},
		{"xfer_blind_group", 1, monitor.ReasonCompleted, []string{"150010002", "150010003"}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ended := replayFixture(t, filepath.Join("testdata", "xfer_blind", tc.file+".json"))
			if len(ended) != 1 {
				t.Fatalf("%d calls ended, want 1", len(ended))
			}
			c := ended[0]
			if len(c.Transfers) != tc.transfers || c.Reason != tc.reason {
				t.Fatalf("transfers %+v, reason %s; want %d transfers, %s", c.Transfers, c.Reason, tc.transfers, tc.reason)
			}
			if tc.transfers == 0 {
				return
			}
			var got []string
			for _, p := range c.Transfers[0].Targets {
				got = append(got, p.Account)
			}
			if strings.Join(got, ",") != strings.Join(tc.targets, ",") {
				t.Errorf("targets = %v, want %v", got, tc.targets)
			}
		})
	}
}

func TestBlindTransferFixtures(t *testing.T) {
	tests := []struct {
		file                      string
		transferer, transferred   string
		target, answeredByAccount string
	}{
		{"xfer_blind_abbcac", "202", "201", "203", "150010003"},
		{"xfer_blind_abacbc", "201", "202", "203", "150010003"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ended := replayFixture(t, filepath.Join("testdata", "xfer_blind", tc.file+".json"))
			if len(ended) != 1 {
				t.Fatalf("%d calls ended, want 1", len(ended))
			}
			c := ended[0]
			if len(c.Transfers) != 1 {
				t.Fatalf("transfers = %+v", c.Transfers)
			}
			x := c.Transfers[0]
			if x.Kind != monitor.TransferBlind || x.Transferer.Number != tc.transferer || x.Transferred.Number != tc.transferred || x.Targets[0].Number != tc.target {
				t.Fatalf("transfer = %+v", x)
			}
			if c.From.Number != tc.transferred || c.To.Number != tc.target {
				t.Errorf("parties after the transfer: %s → %s", c.From.Number, c.To.Number)
			}
			if c.Reason != monitor.ReasonCompleted || c.AnsweredBy == nil || c.AnsweredBy.Account != tc.answeredByAccount {
				t.Errorf("end %s, answered by %+v", c.Reason, c.AnsweredBy)
			}
		})
	}
}

func TestAttendedTransferFixtures(t *testing.T) {
	tests := []struct {
		file                            string
		transferer, transferred, target string
		private                         bool
	}{
		{"xfer_abacbc", "201", "202", "203", false},
		{"xfer_abbcac", "202", "201", "203", false},
		{"xfer_abbcac_anon", "+31150010001", "+31260xxxxxx", "203", true},
		{"xfer_abcbac", "201", "203", "202", false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ended := replayFixture(t, filepath.Join("testdata", "xfer_attended", tc.file+".json"))
			var with []monitor.Call
			for _, c := range ended {
				if len(c.Transfers) > 0 {
					with = append(with, c)
				}
				if c.Reason != monitor.ReasonCompleted {
					t.Errorf("call %s ended %s, want completed", c.ID, c.Reason)
				}
			}
			if len(with) != 1 || len(with[0].Transfers) != 1 {
				t.Fatalf("calls with transfers: %+v", with)
			}
			x := with[0].Transfers[0]
			if x.Kind != monitor.TransferAttended || x.Transferer.Number != tc.transferer || x.Transferred.Number != tc.transferred || x.Targets[0].Number != tc.target {
				t.Fatalf("transfer = %+v", x)
			}
			if x.Transferred.Private != tc.private {
				t.Errorf("transferred private = %v, want %v", x.Transferred.Private, tc.private)
			}
			if c := with[0]; c.From.Number != tc.transferred || c.To.Number != tc.target {
				t.Errorf("parties after the transfer: %s → %s", c.From.Number, c.To.Number)
			}
		})
	}
}
