package fritz

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/monitor"
	"github.com/switchboard/switchboard/monitor/monitortest"
)

func newRecorder() *monitortest.Recorder { return monitortest.NewRecorder() }

// isKey reports whether id is a call of source on connection conn.
func isKey(id monitor.CallID, source, conn string) bool {
	return strings.HasPrefix(string(id), source+":"+conn+"-")
}

// connStates returns the states the calls on connection conn went
// through.
func connStates(rec *monitortest.Recorder, conn string) []monitor.State {
	var out []monitor.State
	for _, c := range rec.Calls() {
		if isKey(c.ID, "home", conn) {
			out = append(out, c.State)
		}
	}
	return out
}

func feed(t *testing.T, tr *Tracker, lines string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		if err := tr.Handle([]byte(l)); err != nil {
			t.Fatalf("Handle(%q): %v", l, err)
		}
	}
}

// endedCall is what a test expects of one ended call.
type endedCall struct {
	id         string
	dir        monitor.Direction
	reason     monitor.Reason
	duration   int64
	from, to   string
	answeredBy string // extension
	line       string
}

func TestTrackerLines(t *testing.T) {
	tests := []struct {
		name      string
		lines     string
		want      []endedCall
		states    map[string][]monitor.State
		active    int
		unknown   uint64
		wantCause map[string]string
	}{
		{
			name: "inbound answered is completed with the reported talk time",
			lines: `
23.11.26 10:15:03;RING;0;01701234567;1234567;SIP0;
23.11.26 10:15:07;CONNECT;0;10;01701234567;
23.11.26 10:16:30;DISCONNECT;0;83;`,
			want:   []endedCall{{id: "0", dir: monitor.Inbound, reason: monitor.ReasonCompleted, duration: 83, from: "01701234567", to: "1234567", answeredBy: "10", line: "SIP0"}},
			states: map[string][]monitor.State{"0": {monitor.Ringing, monitor.Connected, monitor.Ended}},
		},
		{
			name: "inbound unanswered is missed",
			lines: `
23.11.26 10:15:03;RING;3;04011122233;7654321;SIP1;
23.11.26 10:15:23;DISCONNECT;3;0;`,
			want:   []endedCall{{id: "3", dir: monitor.Inbound, reason: monitor.ReasonNoAnswer, from: "04011122233", to: "7654321", line: "SIP1"}},
			states: map[string][]monitor.State{"3": {monitor.Ringing, monitor.Ended}},
		},
		{
			name: "outbound answered is completed",
			lines: `
23.11.26 10:20:00;CALL;1;20;1234567;0891234567;SIP1;
23.11.26 10:20:05;CONNECT;1;20;0891234567;
23.11.26 10:21:05;DISCONNECT;1;60;`,
			want:   []endedCall{{id: "1", dir: monitor.Outbound, reason: monitor.ReasonCompleted, duration: 60, from: "1234567", to: "0891234567", line: "SIP1"}},
			states: map[string][]monitor.State{"1": {monitor.Dialing, monitor.Connected, monitor.Ended}},
		},
		{
			name: "outbound unanswered is cancelled",
			lines: `
23.11.26 10:20:00;CALL;1;20;1234567;0891234567;SIP0;
23.11.26 10:20:09;DISCONNECT;1;0;`,
			want: []endedCall{{id: "1", dir: monitor.Outbound, reason: monitor.ReasonCancelled, from: "1234567", to: "0891234567", line: "SIP0"}},
		},
		{
			name: "long call keeps the reported duration",
			lines: `
23.11.26 10:00:00;CALL;2;20;1234567;0891234567;SIP0;
23.11.26 10:00:05;CONNECT;2;20;0891234567;
23.11.26 10:47:35;DISCONNECT;2;2850;`,
			want: []endedCall{{id: "2", dir: monitor.Outbound, reason: monitor.ReasonCompleted, duration: 2850, from: "1234567", to: "0891234567", line: "SIP0"}},
		},
		{
			name: "internal call to a handset",
			lines: `
23.11.26 10:23:00;CALL;3;11;1234567;**611;SIP0;
23.11.26 10:23:02;CONNECT;3;11;**611;
23.11.26 10:23:09;DISCONNECT;3;7;`,
			want: []endedCall{{id: "3", dir: monitor.Internal, reason: monitor.ReasonCompleted, duration: 7, from: "1234567", to: "**611", answeredBy: "11", line: "SIP0"}},
		},
		{
			name: "internal caller ringing unanswered",
			lines: `
23.11.26 10:23:00;RING;3;**610;**611;;
23.11.26 10:23:09;DISCONNECT;3;0;`,
			want: []endedCall{{id: "3", dir: monitor.Internal, reason: monitor.ReasonNoAnswer, from: "**610", to: "**611"}},
		},
		{
			name: "two calls at once end independently",
			lines: `
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:00:01;RING;1;0302;7654321;SIP1;
23.11.26 10:00:03;CONNECT;1;21;0302;
23.11.26 10:00:04;CONNECT;0;10;0301;
23.11.26 10:00:10;DISCONNECT;0;6;
23.11.26 10:00:20;DISCONNECT;1;17;`,
			want: []endedCall{
				{id: "0", dir: monitor.Inbound, reason: monitor.ReasonCompleted, duration: 6, from: "0301", to: "1234567", answeredBy: "10", line: "SIP0"},
				{id: "1", dir: monitor.Inbound, reason: monitor.ReasonCompleted, duration: 17, from: "0302", to: "7654321", answeredBy: "21", line: "SIP1"},
			},
		},
		{
			name: "reused id ends the old call first",
			lines: `
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:05:00;RING;0;0302;1234567;SIP0;`,
			want:      []endedCall{{id: "0", dir: monitor.Inbound, reason: monitor.ReasonNoAnswer, from: "0301", to: "1234567", line: "SIP0"}},
			wantCause: map[string]string{"0": "connection id reused"},
			active:    1,
		},
		{
			name: "duplicate ring is ignored",
			lines: `
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:00:10;DISCONNECT;0;0;`,
			want:    []endedCall{{id: "0", dir: monitor.Inbound, reason: monitor.ReasonNoAnswer, from: "0301", to: "1234567", line: "SIP0"}},
			unknown: 1,
		},
		{
			name: "lines for unknown ids and a second connect are ignored",
			lines: `
23.11.26 10:00:00;CONNECT;7;10;0301;
23.11.26 10:00:01;DISCONNECT;8;12;
23.11.26 10:00:02;RING;0;0301;1234567;SIP0;
23.11.26 10:00:03;CONNECT;0;10;0301;
23.11.26 10:00:04;CONNECT;0;11;0301;
23.11.26 10:00:05;DISCONNECT;0;2;
23.11.26 10:00:06;DISCONNECT;0;2;`,
			want:    []endedCall{{id: "0", dir: monitor.Inbound, reason: monitor.ReasonCompleted, duration: 2, from: "0301", to: "1234567", answeredBy: "10", line: "SIP0"}},
			unknown: 4,
		},
		{
			name: "withheld caller is private",
			lines: `
23.11.26 10:00:00;RING;0;;1234567;SIP0;
23.11.26 10:00:04;DISCONNECT;0;0;`,
			want: []endedCall{{id: "0", dir: monitor.Inbound, reason: monitor.ReasonNoAnswer, to: "1234567", line: "SIP0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder()
			var counters monitor.Counters
			tr := NewTracker("home", rec, berlin, nil, WithCounters(&counters))
			feed(t, tr, tt.lines)
			got := rec.Ended()
			if len(got) != len(tt.want) {
				t.Fatalf("%d calls ended, want %d: %+v", len(got), len(tt.want), got)
			}
			for i, w := range tt.want {
				c := got[i]
				if !isKey(c.ID, "home", w.id) || c.Source != "home" {
					t.Errorf("call %d: id %q source %q, want key %s", i, c.ID, c.Source, w.id)
				}
				if c.Direction != w.dir || c.Reason != w.reason || c.Duration != w.duration {
					t.Errorf("call %s: direction %s reason %s duration %d, want %s %s %d", w.id, c.Direction, c.Reason, c.Duration, w.dir, w.reason, w.duration)
				}
				if c.From.Number != w.from || c.To.Number != w.to || c.Line != w.line {
					t.Errorf("call %s: from %q to %q line %q, want %q %q %q", w.id, c.From.Number, c.To.Number, c.Line, w.from, w.to, w.line)
				}
				if c.From.Private != (w.from == "") {
					t.Errorf("call %s: private = %v with caller %q", w.id, c.From.Private, w.from)
				}
				var by string
				if c.AnsweredBy != nil {
					by = c.AnsweredBy.Extension
				}
				if by != w.answeredBy {
					t.Errorf("call %s: answered by extension %q, want %q", w.id, by, w.answeredBy)
				}
				if c.Ended.Before(c.Started) || (w.reason == monitor.ReasonCompleted && c.Answered.IsZero()) {
					t.Errorf("call %s: times started %v answered %v ended %v", w.id, c.Started, c.Answered, c.Ended)
				}
				if cause, ok := tt.wantCause[w.id]; ok && c.Cause != cause {
					t.Errorf("call %s: cause %q, want %q", w.id, c.Cause, cause)
				}
			}
			for key, want := range tt.states {
				if got := connStates(rec, key); !equalStates(got, want) {
					t.Errorf("call %s went through %v, want %v", key, got, want)
				}
			}
			if n := tr.Calls().Len(); n != tt.active {
				t.Errorf("%d calls active, want %d", n, tt.active)
			}
			if n := counters.Unknown.Load(); n != tt.unknown {
				t.Errorf("unknown = %d, want %d", n, tt.unknown)
			}
			if n := counters.ParseErrors.Load(); n != 0 {
				t.Errorf("parse errors = %d", n)
			}
		})
	}
}

func equalStates(a, b []monitor.State) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTrackerCountsBadLines(t *testing.T) {
	rec := newRecorder()
	var counters monitor.Counters
	tr := NewTracker("home", rec, berlin, nil, WithCounters(&counters))
	for _, l := range []string{"garbage", "23.11.26 10:00:00;HOLD;0;", "23.11.26 10:00:00;RING;0;1;2;SIP0;", "32.11.26 10:00:00;RING;0;1;2;SIP0;"} {
		_ = tr.Handle([]byte(l))
	}
	if got := counters.Events.Load(); got != 4 {
		t.Errorf("events = %d, want 4", got)
	}
	if got := counters.ParseErrors.Load(); got != 2 {
		t.Errorf("parse errors = %d, want 2", got)
	}
	if got := counters.Unknown.Load(); got != 1 {
		t.Errorf("unknown = %d, want 1", got)
	}
	if tr.Calls().Len() != 1 {
		t.Errorf("the good line did not start a call")
	}
}

func TestTrackerEndAll(t *testing.T) {
	rec := newRecorder()
	now := time.Date(2026, 11, 23, 11, 0, 0, 0, berlin)
	tr := NewTracker("home", rec, berlin, nil, WithClock(func() time.Time { return now }))
	feed(t, tr, `
23.11.26 10:59:00;RING;0;0301;1234567;SIP0;
23.11.26 10:59:01;CALL;1;20;1234567;0891234567;SIP0;
23.11.26 10:59:05;CONNECT;1;20;0891234567;`)
	if n := tr.EndAll("link lost"); n != 2 {
		t.Fatalf("EndAll ended %d, want 2", n)
	}
	for _, c := range rec.Ended() {
		if c.Reason != monitor.ReasonFailed || c.Cause != "link lost" || !c.Ended.Equal(now) {
			t.Errorf("call %s: reason %s cause %q ended %v", c.ID, c.Reason, c.Cause, c.Ended)
		}
	}
	if tr.Calls().Len() != 0 {
		t.Error("calls left active")
	}
}

func TestTrackerCallIDsStayUniqueWhenTheRouterReusesIDs(t *testing.T) {
	rec := newRecorder()
	tr := NewTracker("home", rec, berlin, nil)
	feed(t, tr, `
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:00:09;DISCONNECT;0;0;
23.11.26 10:01:00;RING;0;0302;1234567;SIP0;
23.11.26 10:01:09;DISCONNECT;0;0;`)
	got := rec.Ended()
	if len(got) != 2 || got[0].ID == got[1].ID {
		t.Fatalf("two calls on connection 0 share an id: %+v", got)
	}
	if got[0].ID != "home:0-1" || got[1].ID != "home:0-2" {
		t.Errorf("ids %q %q, want home:0-1 home:0-2 (connection id and a key of the allocator)", got[0].ID, got[1].ID)
	}
}

// TestTrackerTellsApartTwoCallsInOneSecond: a missed call and an instant
// redial on the same connection id within the same second (the router's
// times have whole seconds) are two calls with two ids.
func TestTrackerTellsApartTwoCallsInOneSecond(t *testing.T) {
	rec := newRecorder()
	tr := NewTracker("home", rec, berlin, nil)
	feed(t, tr, `
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:00:00;DISCONNECT;0;0;
23.11.26 10:00:00;RING;0;0301;1234567;SIP0;
23.11.26 10:00:00;CONNECT;0;10;0301;
23.11.26 10:00:30;DISCONNECT;0;30;`)
	got := rec.Ended()
	if len(got) != 2 || got[0].ID == got[1].ID || !got[0].Started.Equal(got[1].Started) {
		t.Fatalf("want two calls with one start time and two ids, got %+v", got)
	}
	if got[0].Reason != monitor.ReasonNoAnswer || got[1].Reason != monitor.ReasonCompleted {
		t.Errorf("reasons %s %s, want no-answer completed", got[0].Reason, got[1].Reason)
	}
}

// TestTrackerKeysComeFromTheAllocator: the key after the connection id is
// the allocator's, so a persistent allocator (the history's) keeps ids
// unique across runs.
func TestTrackerKeysComeFromTheAllocator(t *testing.T) {
	keys := monitor.NewSequence("17.")
	for run := range 2 {
		rec := newRecorder()
		tr := NewTracker("home", rec, berlin, nil, WithKeys(keys))
		feed(t, tr, `23.11.26 10:00:00;RING;3;0301;1234567;SIP0;`)
		want := monitor.CallID(fmt.Sprintf("home:3-17.%d", run+1))
		if got := rec.Calls()[0].ID; got != want {
			t.Errorf("run %d: id %q, want %q", run, got, want)
		}
	}
}
