package esl

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func newRecorder() *monitortest.Recorder { return monitortest.NewRecorder() }

func replayFile(t *testing.T, name string) *monitortest.Recorder {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := newRecorder()
	if err := Replay(context.Background(), "fs", f, rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		file       string
		direction  monitor.Direction
		from, to   string
		answeredBy string
		reason     monitor.Reason
		cause      string
		states     []monitor.State
		ringing    bool // some change listed a ringing phone
		transfers  []string
		line       string
	}{
		{file: "simple.jsonl", direction: monitor.Internal, from: "1000", to: "1001", answeredBy: "1001",
			reason: monitor.ReasonCompleted, cause: "NORMAL_CLEARING (16)", ringing: true,
			states: []monitor.State{monitor.Ringing, monitor.Connected, monitor.Ended}},
		{file: "missed.jsonl", direction: monitor.Inbound, from: "+4930123456", to: "1001",
			reason: monitor.ReasonNoAnswer, cause: "NO_ANSWER (19)", ringing: true, line: "external",
			states: []monitor.State{monitor.Ringing, monitor.Ended}},
		{file: "busy.jsonl", direction: monitor.Internal, from: "1000", to: "1002",
			reason: monitor.ReasonBusy, cause: "USER_BUSY (17)"},
		{file: "rejected.jsonl", direction: monitor.Inbound, from: "+4989555000", to: "1001",
			reason: monitor.ReasonRejected, cause: "CALL_REJECTED (21)", ringing: true},
		{file: "cancelled.jsonl", direction: monitor.Inbound, from: "+4940777888", to: "1001",
			reason: monitor.ReasonCancelled, cause: "ORIGINATOR_CANCEL (487)", ringing: true},
		{file: "held.jsonl", direction: monitor.Inbound, from: "+4930123456", to: "1001", answeredBy: "1001",
			reason: monitor.ReasonCompleted, cause: "NORMAL_CLEARING (16)", ringing: true,
			states: []monitor.State{monitor.Ringing, monitor.Connected, monitor.Held, monitor.Connected, monitor.Ended}},
		{file: "blind.jsonl", direction: monitor.Inbound, from: "+4930123456", to: "1002", answeredBy: "1002",
			reason: monitor.ReasonCompleted, ringing: true,
			transfers: []string{"blind 1001: +4930123456 -> 1002"}},
		{file: "attended.jsonl", direction: monitor.Internal, from: "1000", to: "1002", answeredBy: "1002",
			reason: monitor.ReasonCompleted, ringing: true,
			transfers: []string{"attended 1001: 1000 -> 1002"}},
		{file: "originate.jsonl", direction: monitor.Internal, from: "1000", to: "1002", answeredBy: "1002",
			reason: monitor.ReasonCompleted, ringing: true},
		{file: "ringgroup.jsonl", direction: monitor.Inbound, from: "+4930123456", to: "600", answeredBy: "1002",
			reason: monitor.ReasonCompleted, ringing: true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rec := replayFile(t, tt.file)
			ended := rec.Ended()
			var c monitor.Call
			for _, e := range ended {
				if !strings.Contains(e.Cause, "joined by attended transfer") {
					if c.ID != "" {
						t.Fatalf("more than one call ended: %+v", ended)
					}
					c = e
				}
			}
			if c.ID == "" {
				t.Fatalf("no call ended; changes: %+v", rec.Calls())
			}
			if c.Direction != tt.direction || c.From.Number != tt.from || c.To.Number != tt.to {
				t.Errorf("call %s %s -> %s, want %s %s -> %s", c.Direction, c.From.Number, c.To.Number, tt.direction, tt.from, tt.to)
			}
			got := ""
			if c.AnsweredBy != nil {
				got = c.AnsweredBy.Number
			}
			if got != tt.answeredBy {
				t.Errorf("answered by %q, want %q", got, tt.answeredBy)
			}
			if c.Reason != tt.reason {
				t.Errorf("reason %q (cause %q), want %q", c.Reason, c.Cause, tt.reason)
			}
			if tt.cause != "" && c.Cause != tt.cause {
				t.Errorf("cause %q, want %q", c.Cause, tt.cause)
			}
			if tt.line != "" && c.Line != tt.line {
				t.Errorf("line %q, want %q", c.Line, tt.line)
			}
			if tt.states != nil {
				if got := rec.States(c.ID); !slices.Equal(got, tt.states) {
					t.Errorf("states %v, want %v", got, tt.states)
				}
			}
			rang := false
			for _, ch := range rec.Calls() {
				rang = rang || len(ch.Ringing) > 0
			}
			if rang != tt.ringing {
				t.Errorf("ringing seen = %v, want %v", rang, tt.ringing)
			}
			var xfers []string
			for _, x := range c.Transfers {
				var targets []string
				for _, p := range x.Targets {
					targets = append(targets, p.Number)
				}
				xfers = append(xfers, string(x.Kind)+" "+x.Transferer.Number+": "+x.Transferred.Number+" -> "+strings.Join(targets, ","))
			}
			if !slices.Equal(xfers, tt.transfers) {
				t.Errorf("transfers %q, want %q", xfers, tt.transfers)
			}
			if c.Started.IsZero() || c.Ended.Before(c.Started) {
				t.Errorf("times: started %v ended %v", c.Started, c.Ended)
			}
			if c.Duration < 0 || (c.Answered.IsZero() && c.Duration != 0) {
				t.Errorf("duration %d", c.Duration)
			}
		})
	}
}

// TestFixtureTimesComeFromEvents checks that a replay keeps FreeSWITCH's
// own times: the simple call talked for 42 s.
func TestFixtureTimesComeFromEvents(t *testing.T) {
	c := replayFile(t, "simple.jsonl").Ended()[0]
	if c.Duration < 42 || c.Duration > 43 {
		t.Errorf("duration %d s, want 42", c.Duration)
	}
	if c.Started.Year() != 2025 {
		t.Errorf("started %v, want the event's own time", c.Started)
	}
}

func TestAttendedTransferEndsConsultation(t *testing.T) {
	ended := replayFile(t, "attended.jsonl").Ended()
	if len(ended) != 2 || ended[0].Cause != "joined by attended transfer" {
		t.Fatalf("ended %+v", ended)
	}
	if ended[0].From.Number != "1001" || ended[0].To.Number != "1002" {
		t.Errorf("consultation call %s -> %s, want 1001 -> 1002", ended[0].From.Number, ended[0].To.Number)
	}
}

func TestUserEventsPassThrough(t *testing.T) {
	rec := newRecorder()
	tr := NewTracker("fs", rec, nil)
	tr.Handle(Event{hEventName: "CUSTOM", hSubclass: "callcenter::info", "Cc-Queue": "support@default", "Variable_secret": "x"})
	if len(rec.Users()) != 1 || rec.Users()[0].Name != "callcenter::info" || rec.Users()[0].Fields["Cc-Queue"] != "support@default" {
		t.Fatalf("user events %+v", rec.Users())
	}
	if _, ok := rec.Users()[0].Fields["Variable_secret"]; ok {
		t.Error("channel variables passed on")
	}
}

func TestReasonFor(t *testing.T) {
	tests := []struct {
		cause    string
		answered bool
		want     monitor.Reason
	}{
		{"NORMAL_CLEARING", true, monitor.ReasonCompleted},
		{"NORMAL_CLEARING", false, monitor.ReasonCancelled},
		{"NO_ANSWER", false, monitor.ReasonNoAnswer},
		{"NO_USER_RESPONSE", false, monitor.ReasonNoAnswer},
		{"ALLOTTED_TIMEOUT", false, monitor.ReasonNoAnswer},
		{"USER_BUSY", false, monitor.ReasonBusy},
		{"CALL_REJECTED", false, monitor.ReasonRejected},
		{"ORIGINATOR_CANCEL", false, monitor.ReasonCancelled},
		{"LOSE_RACE", false, monitor.ReasonAnsweredElsewhere},
		{"PICKED_OFF", true, monitor.ReasonAnsweredElsewhere},
		{"UNALLOCATED_NUMBER", false, monitor.ReasonFailed},
		{"DESTINATION_OUT_OF_ORDER", true, monitor.ReasonFailed},
	}
	for _, tt := range tests {
		if got := reasonFor(tt.cause, tt.answered); got != tt.want {
			t.Errorf("reasonFor(%s, %v) = %s, want %s", tt.cause, tt.answered, got, tt.want)
		}
	}
}
